//! Observe one protected database for the failover plan ([`crate::plan::failover`]).

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tracing::warn;

use crate::aws::cloudwatch::MetricRef;
use crate::aws::{cloudwatch, rds, route53, AwsError, Clients};
use crate::config::{FailoverSettings, ProtectedDatabase};
use crate::plan::failover::{
    AlarmState, FailureOnset, HealthCheckState, InstanceState, LagPoint, Observation,
    PrimaryActivity,
};

/// Read the actual state of a protected database, all concurrently: primary and replica
/// (`DescribeDBInstances`), the replica's `ReplicaLag` from `lag_until` minus the look-back up to
/// now, the health check's `HealthCheckStatus` and the primary's `TransactionLogsGeneration` over
/// the look-back before `lag_until` (`GetMetricStatistics`), alarms (`DescribeAlarms`), health
/// check (`GetHealthCheckStatus`) and records (`ListResourceRecordSets`). `lag_until` is the
/// alarm's state change for an alarm's failover, else `now`.
///
/// The failure's onset is the first minute of the last unhealthy run of `HealthCheckStatus`, else
/// the alarm's state change (`lag_until` when it is before `now`).
///
/// The primary's region may be the one that is down, so a primary that cannot be read is
/// recorded (with whether its API answered at all), not an error; so is an alarm, a health check,
/// a metric that cannot be read (the decision treats unknown as "not proven").
///
/// # Errors
/// [`AwsError`] when the replica or a record cannot be read.
pub async fn observe(
    clients: &Clients,
    settings: &FailoverSettings,
    db: &ProtectedDatabase,
    now: DateTime<Utc>,
    lag_until: DateTime<Utc>,
) -> Result<Observation, AwsError> {
    let lookback =
        chrono::Duration::seconds(i64::try_from(settings.lag_lookback_seconds).unwrap_or(86_400));
    // The onset comes before the alarm by the detection time: look back from up to
    // ONSET_MARGIN_MINUTES before the alarm, so the look-back holds before the onset too.
    let from = lag_until - lookback - chrono::Duration::minutes(ONSET_MARGIN_MINUTES);
    let replica = async {
        match clients.rds(&db.replica.region) {
            Ok(c) => rds::describe_instance(c, &db.replica.instance_id).await,
            Err(e) => Err(AwsError::unusable("DescribeDBInstances", e.to_string())),
        }
    };
    let records = async {
        join_all(
            db.records
                .iter()
                .map(|r| route53::record_state(&clients.route53, r)),
        )
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
    };
    let end = now + chrono::Duration::seconds(60);
    let lag = metric(
        clients,
        &db.replica.region,
        MetricRef::replica_lag(&db.replica.instance_id),
        from,
        end,
    );
    let health_metric = async {
        match &db.health_check_id {
            Some(id) => Some(
                metric(
                    clients,
                    "us-east-1",
                    MetricRef::health_check(id),
                    from,
                    lag_until + chrono::Duration::seconds(60),
                )
                .await,
            ),
            None => None,
        }
    };
    let logs = metric(
        clients,
        &db.primary.region,
        MetricRef::transaction_logs(&db.primary.instance_id),
        from - chrono::Duration::minutes(ACTIVITY_MINUTES),
        lag_until + chrono::Duration::seconds(60),
    );
    let (primary, replica, lag, health_metric, logs, alarms, health_check, records) = futures::join!(
        primary(clients, db),
        replica,
        lag,
        health_metric,
        logs,
        alarms(clients, db),
        health_check(&clients.route53, db),
        records
    );
    let lag_history: Vec<LagPoint> = lag
        .unwrap_or_else(|e| {
            warn!(database = %db.name, error = %e, "replica lag unknown");
            vec![]
        })
        .into_iter()
        .map(|(at, seconds)| LagPoint { at, seconds })
        .collect();
    let replica_lag_seconds = lag_history
        .iter()
        .filter(|p| p.seconds >= 0.0 && p.at <= lag_until + chrono::Duration::seconds(60))
        .max_by_key(|p| p.at)
        .map(|p| p.seconds);
    let onset = health_metric
        .and_then(|m| m.ok())
        .and_then(|points| unhealthy_since(&points))
        .map(|at| FailureOnset {
            at,
            source: "health_check_metric".into(),
        })
        .or_else(|| {
            (lag_until < now).then(|| FailureOnset {
                at: lag_until,
                source: "trigger".into(),
            })
        });
    let onset_at = onset.as_ref().map_or(lag_until, |o| o.at);
    let primary_activity = logs.ok().map(|points| {
        activity(
            &points,
            onset_at,
            settings.idle_primary_log_bytes_per_second,
        )
    });
    let (primary, primary_unreachable) = primary;
    Ok(Observation {
        database: db.name.clone(),
        observed_at: now,
        primary,
        replica: replica?,
        replica_lag_seconds,
        alarms,
        health_check,
        records: records?,
        primary_unreachable,
        lag_history,
        onset,
        primary_activity,
    })
}

/// How long before the alarm the failure may have begun (health check interval × failure
/// threshold + the alarm's evaluation periods; minutes in practice), in minutes.
const ONSET_MARGIN_MINUTES: i64 = 30;

/// Minutes of the primary's `TransactionLogsGeneration` before the onset that decide "idle".
const ACTIVITY_MINUTES: i64 = 15;

/// The first minute of the trailing run of unhealthy (`< 1`) `HealthCheckStatus` minutes; `None`
/// when the newest minute is healthy or there is no datapoint.
fn unhealthy_since(points: &[(DateTime<Utc>, f64)]) -> Option<DateTime<Utc>> {
    let mut since = None;
    for (at, v) in points.iter().rev() {
        if *v < 1.0 {
            since = Some(*at);
        } else {
            break;
        }
    }
    since
}

/// The primary's activity in the [`ACTIVITY_MINUTES`] before `onset` and the onset's own minute
/// (a burst just before the crash counts).
fn activity(
    points: &[(DateTime<Utc>, f64)],
    onset: DateTime<Utc>,
    threshold: u64,
) -> PrimaryActivity {
    let window: Vec<f64> = points
        .iter()
        .filter(|(at, _)| {
            *at <= onset && *at >= onset - chrono::Duration::minutes(ACTIVITY_MINUTES)
        })
        .map(|(_, v)| *v)
        .collect();
    let max = window.iter().copied().reduce(f64::max);
    PrimaryActivity {
        max_log_bytes_per_second: max,
        idle_threshold: threshold,
        minutes: window.len(),
        idle: window.len() >= 5 && max.is_some_and(|m| m <= threshold as f64),
    }
}

/// The primary, or why it could not be read, and whether its region's RDS API did not answer.
async fn primary(
    clients: &Clients,
    db: &ProtectedDatabase,
) -> (Result<Option<InstanceState>, String>, bool) {
    let rds = match clients.rds(&db.primary.region) {
        Ok(c) => c,
        Err(e) => return (Err(e.to_string()), false),
    };
    match rds::describe_instance(rds, &db.primary.instance_id).await {
        Ok(p) => (Ok(p), false),
        Err(e) => (Err(e.to_string()), e.unreachable),
    }
}

/// A metric's datapoints in `region`.
async fn metric(
    clients: &Clients,
    region: &str,
    metric: MetricRef<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>, AwsError> {
    match clients.cloudwatch(region) {
        Ok(cw) => cloudwatch::series(cw, metric, start, end).await,
        Err(e) => Err(AwsError::unusable("GetMetricStatistics", e.to_string())),
    }
}

/// Every configured alarm's state, one `DescribeAlarms` per region; an alarm whose region cannot
/// be read has an unknown state and the error.
async fn alarms(clients: &Clients, db: &ProtectedDatabase) -> Vec<AlarmState> {
    let mut regions: Vec<&str> = db.alarms.iter().map(|a| &*a.region).collect();
    regions.sort_unstable();
    regions.dedup();
    let per_region = join_all(regions.into_iter().map(|region| async move {
        let names: Vec<String> = db
            .alarms
            .iter()
            .filter(|a| a.region == region)
            .map(|a| a.name.clone())
            .collect();
        let result = match clients.cloudwatch(region) {
            Ok(cw) => cloudwatch::alarm_states(cw, &names).await,
            Err(e) => Err(AwsError::unusable("DescribeAlarms", e.to_string())),
        };
        result.unwrap_or_else(|e| {
            names
                .iter()
                .map(|n| AlarmState {
                    name: n.clone(),
                    state: None,
                    updated_at: None,
                    error: Some(e.to_string()),
                })
                .collect()
        })
    }))
    .await;
    per_region.into_iter().flatten().collect()
}

/// The health check's checkers, when one is configured, or why they could not be read.
async fn health_check(
    r53: &aws_sdk_route53::Client,
    db: &ProtectedDatabase,
) -> Option<Result<HealthCheckState, String>> {
    let id = db.health_check_id.as_ref()?;
    Some(
        route53::health_check_status(r53, id)
            .await
            .map_err(|e| e.to_string()),
    )
}
