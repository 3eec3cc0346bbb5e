//! Observe one Aurora global database for the plan of [`crate::plan::aurora`].

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tracing::warn;

use super::failover::{alarms_within, cut, health_check_within, metric, ONSET_MARGIN_MINUTES};
use crate::aws::cloudwatch::MetricRef;
use crate::aws::{aurora, route53, AwsError, Clients};
use crate::config::{AuroraGlobalDatabase, FailoverSettings};
use crate::plan::aurora::{AuroraObservation, ClusterRead};

/// Read the actual state of an Aurora global database, all concurrently: the global database
/// (`DescribeGlobalClusters`, in the secondary's region, which answers while the primary's is
/// down), both clusters (`DescribeDBClusters`, each in its region), the secondary's
/// `AuroraGlobalDBRPOLag` and `AuroraGlobalDBReplicationLag` (`GetMetricStatistics`, in the
/// secondary's region), the alarms, the health check and the records.
///
/// `lag_until` is the failure's time (the alarm's state change, else `now`): the lag read is the
/// newest datapoint at or before its minute. Calls outside the secondary's region are cut at
/// `failover.observe_timeout_seconds`; a read that fails is recorded, never an error here (the
/// decision refuses on what it needs and cannot know).
pub async fn observe_aurora(
    clients: &Clients,
    settings: &FailoverSettings,
    db: &AuroraGlobalDatabase,
    now: DateTime<Utc>,
    lag_until: DateTime<Utc>,
) -> AuroraObservation {
    let bound = std::time::Duration::from_secs(settings.observe_timeout_seconds);
    let lookback =
        chrono::Duration::seconds(i64::try_from(settings.lag_lookback_seconds).unwrap_or(86_400));
    let from = lag_until - lookback - chrono::Duration::minutes(ONSET_MARGIN_MINUTES);
    let until = lag_until + chrono::Duration::seconds(60);
    let secondary_rds = clients.rds(&db.secondary.region);
    let global = async {
        match &secondary_rds {
            Ok(c) => aurora::describe_global_cluster(c, &db.global_cluster_id)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    let secondary = async {
        match &secondary_rds {
            Ok(c) => aurora::read_cluster(c, &db.secondary.cluster_id).await,
            Err(e) => ClusterRead::Failed {
                error: e.to_string(),
            },
        }
    };
    let primary = async {
        match clients.rds(&db.primary.region) {
            Ok(c) => cut(
                bound,
                "DescribeDBClusters",
                aurora::read_cluster(c, &db.primary.cluster_id),
            )
            .await
            .unwrap_or_else(|e| ClusterRead::Unreachable {
                error: e.to_string(),
            }),
            Err(e) => ClusterRead::Failed {
                error: e.to_string(),
            },
        }
    };
    let (region, secondary_id) = (&*db.secondary.region, &*db.secondary.cluster_id);
    let source = &*db.primary.region;
    // each metric with `SourceRegion` (how AWS publishes a secondary's global database metrics)
    // and without (the exact dimension set is not documented): the first with datapoints counts
    let lag_metrics = join_all(
        [
            MetricRef::aurora_rpo_lag(secondary_id).with("SourceRegion", source),
            MetricRef::aurora_rpo_lag(secondary_id),
            MetricRef::aurora_replication_lag(secondary_id).with("SourceRegion", source),
            MetricRef::aurora_replication_lag(secondary_id),
        ]
        .into_iter()
        .map(|m| async move {
            let name = m.name;
            (name, metric(clients, region, m, from, until).await)
        }),
    );
    let alarm_states = alarms_within(clients, bound, &db.alarms);
    let health = health_check_within(&clients.route53, bound, db.health_check_id.as_deref());
    let records = cut(
        bound,
        "ListResourceRecordSets",
        join_all(
            db.records
                .iter()
                .map(|r| route53::record_state(&clients.route53, r)),
        ),
    );
    let (global, secondary, primary, lag_metrics, alarms, health_check, records) = futures::join!(
        global,
        secondary,
        primary,
        lag_metrics,
        alarm_states,
        health,
        records
    );
    let (records, records_error) =
        match records.map(|all| all.into_iter().collect::<Result<Vec<_>, AwsError>>()) {
            Ok(Ok(records)) => (records, None),
            Ok(Err(e)) | Err(e) => {
                warn!(database = %db.name, error = %e, "records unknown");
                (vec![], Some(e.to_string()))
            }
        };
    let lag = lag_metrics.into_iter().find_map(|(name, points)| {
        points
            .map_err(|e| warn!(database = %db.name, metric = name, error = %e, "lag unknown"))
            .ok()
            .and_then(|p| {
                p.into_iter()
                    .filter(|(at, v)| *at <= until && *v >= 0.0)
                    .max_by_key(|p| p.0)
            })
            .map(|(_, v)| (v, name.to_owned()))
    });
    AuroraObservation {
        at: now,
        global,
        primary,
        secondary,
        lag_ms: lag.as_ref().map(|l| l.0),
        lag_metric: lag.map(|l| l.1),
        alarms,
        health_check,
        records,
        records_error,
    }
}
