//! Observe one protected database for the failover plan ([`crate::plan::failover`]).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tracing::warn;

use crate::aws::{cloudwatch, rds, route53, AwsError, Clients};
use crate::config::{FailoverSettings, ProtectedDatabase};
use crate::plan::failover::{AlarmState, HealthCheckState, InstanceState, Observation};

/// Read the actual state of a protected database: primary and replica (`DescribeDBInstances`),
/// replica lag at `lag_until` (`GetMetricStatistics`; the alarm's time for a failover), alarms
/// (`DescribeAlarms`), health check (`GetHealthCheckStatus`) and records
/// (`ListResourceRecordSets`), all concurrently.
///
/// The primary's region may be the one that is down, so a primary that cannot be read is
/// recorded, not an error; so is an alarm, a health check or a lag that cannot be read (the
/// decision treats unknown as "not proven").
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
    let lookback = Duration::from_secs(settings.lag_lookback_seconds);
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
    let (primary, replica, replica_lag_seconds, alarms, health_check, records) = futures::join!(
        primary(clients, db),
        replica,
        replica_lag(clients, db, lag_until, lookback),
        alarms(clients, db),
        health_check(&clients.route53, db),
        records
    );
    Ok(Observation {
        database: db.name.clone(),
        observed_at: now,
        primary,
        replica: replica?,
        replica_lag_seconds,
        alarms,
        health_check,
        records: records?,
    })
}

/// The primary, or why it could not be read.
async fn primary(
    clients: &Clients,
    db: &ProtectedDatabase,
) -> Result<Option<InstanceState>, String> {
    let rds = clients.rds(&db.primary.region).map_err(|e| e.to_string())?;
    rds::describe_instance(rds, &db.primary.instance_id)
        .await
        .map_err(|e| e.to_string())
}

/// The replica lag at `until`; unknown (`None`) when it cannot be read.
async fn replica_lag(
    clients: &Clients,
    db: &ProtectedDatabase,
    until: DateTime<Utc>,
    lookback: Duration,
) -> Option<f64> {
    let lag = match clients.cloudwatch(&db.replica.region) {
        Ok(cw) => cloudwatch::replica_lag(cw, &db.replica.instance_id, until, lookback).await,
        Err(e) => Err(AwsError::unusable("GetMetricStatistics", e.to_string())),
    };
    lag.unwrap_or_else(|e| {
        warn!(database = %db.name, error = %e, "replica lag unknown");
        None
    })
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
