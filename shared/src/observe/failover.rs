//! Observe one protected database for the failover plan ([`crate::plan::failover`]).

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tracing::warn;

use crate::aws::cloudwatch::MetricRef;
use crate::aws::{cloudwatch, rds, route53, AwsError, Clients};
use crate::config::{AlarmRef, FailoverSettings, ProtectedDatabase};
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
/// a metric that cannot be read (the decision treats unknown as "not proven"), and the records
/// when Route 53 does not answer (`records_error`). Every call outside the replica's region is
/// cut at `failover.observe_timeout_seconds` (a cut call did not answer), and all run
/// concurrently: an observation takes at most that bound, or the replica's own read.
///
/// # Errors
/// [`AwsError`] when the replica cannot be read, or Route 53 answers with a refusal or a record
/// pilotlight cannot manage.
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
    // Every call outside the replica's region is cut at the observation's bound: a region that
    // hangs is a region that does not answer, and the decision does not wait on it.
    let bound = std::time::Duration::from_secs(settings.observe_timeout_seconds);
    let replica = async {
        match clients.rds(&db.replica.region) {
            Ok(c) => rds::describe_instance(c, &db.replica.instance_id).await,
            Err(e) => Err(AwsError::unusable("DescribeDBInstances", e.to_string())),
        }
    };
    let records = cut(
        bound,
        "ListResourceRecordSets",
        join_all(
            db.records
                .iter()
                .map(|r| route53::record_state(&clients.route53, r)),
        ),
    );
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
                cut(
                    bound,
                    "GetMetricStatistics",
                    metric(
                        clients,
                        "us-east-1",
                        MetricRef::health_check(id),
                        from,
                        lag_until + chrono::Duration::seconds(60),
                    ),
                )
                .await
                .and_then(|r| r),
            ),
            None => None,
        }
    };
    let logs = cut(
        bound,
        "GetMetricStatistics",
        metric(
            clients,
            &db.primary.region,
            MetricRef::transaction_logs(&db.primary.instance_id),
            from - chrono::Duration::minutes(ACTIVITY_MINUTES),
            lag_until + chrono::Duration::seconds(60),
        ),
    );
    let primary = async {
        cut(bound, "DescribeDBInstances", primary(clients, db))
            .await
            .unwrap_or_else(|e| (Err(e.to_string()), true))
    };
    let alarms = alarms_within(clients, bound, &db.alarms);
    let health_check = health_check_within(&clients.route53, bound, db.health_check_id.as_deref());
    let (primary, replica, lag, health_metric, logs, alarms, health_check, records) = futures::join!(
        primary,
        replica,
        lag,
        health_metric,
        logs,
        alarms,
        health_check,
        records
    );
    let logs = logs.and_then(|r| r);
    // Route 53's control plane not answering does not stop a failover: the records are unknown,
    // the promotion may go on, and DNS is repointed when Route 53 answers again.
    let (records, records_error) = match records
        .map(|all| all.into_iter().collect::<Result<Vec<_>, _>>())
    {
        Ok(Ok(records)) => (records, None),
        Ok(Err(e)) if !e.transient() => return Err(e),
        Ok(Err(e)) | Err(e) => {
            warn!(database = %db.name, error = %e, "records unknown: Route 53 does not answer or throttles");
            (vec![], Some(e.to_string()))
        }
    };
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
        records,
        records_error,
        primary_unreachable,
        lag_history,
        onset,
        primary_activity,
        dr_detection: None,
    })
}

/// How long before the alarm the failure may have begun (health check interval × failure
/// threshold + the alarm's evaluation periods; minutes in practice), in minutes.
pub(crate) const ONSET_MARGIN_MINUTES: i64 = 30;

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
pub(crate) async fn metric(
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

/// `fut`, or an unreachable [`AwsError`] of `operation` when it takes longer than `bound`.
pub(crate) async fn cut<T>(
    bound: std::time::Duration,
    operation: &'static str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, AwsError> {
    tokio::time::timeout(bound, fut)
        .await
        .map_err(|_| AwsError {
            operation,
            message: format!(
            "no answer within {} s (the observation's bound, `failover.observe_timeout_seconds`)",
            bound.as_secs()
        ),
            unreachable: true,
            throttled: false,
        })
}

/// Every alarm unknown, with `e`.
fn unknown_alarms(alarms: &[AlarmRef], e: &AwsError) -> Vec<AlarmState> {
    alarms
        .iter()
        .map(|a| AlarmState {
            name: a.name.clone(),
            state: None,
            updated_at: None,
            error: Some(e.to_string()),
        })
        .collect()
}

/// Every configured alarm's state, one `DescribeAlarms` per region; an alarm whose region cannot
/// be read has an unknown state and the error.
async fn alarms(clients: &Clients, configured: &[AlarmRef]) -> Vec<AlarmState> {
    let mut regions: Vec<&str> = configured.iter().map(|a| &*a.region).collect();
    regions.sort_unstable();
    regions.dedup();
    let per_region = join_all(regions.into_iter().map(|region| async move {
        let names: Vec<String> = configured
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

/// [`alarms`], cut at `bound` (every alarm unknown, with why, when it is).
pub(crate) async fn alarms_within(
    clients: &Clients,
    bound: std::time::Duration,
    configured: &[AlarmRef],
) -> Vec<AlarmState> {
    cut(bound, "DescribeAlarms", alarms(clients, configured))
        .await
        .unwrap_or_else(|e| unknown_alarms(configured, &e))
}

/// [`health_check`], cut at `bound`.
pub(crate) async fn health_check_within(
    r53: &aws_sdk_route53::Client,
    bound: std::time::Duration,
    id: Option<&str>,
) -> Option<Result<HealthCheckState, String>> {
    cut(bound, "GetHealthCheckStatus", health_check(r53, id))
        .await
        .unwrap_or_else(|e| id.map(|_| Err(e.to_string())))
}

/// The health check's checkers, when one is configured, or why they could not be read.
async fn health_check(
    r53: &aws_sdk_route53::Client,
    id: Option<&str>,
) -> Option<Result<HealthCheckState, String>> {
    let id = id?;
    Some(
        route53::health_check_status(r53, id)
            .await
            .map_err(|e| e.to_string()),
    )
}
