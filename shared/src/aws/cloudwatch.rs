//! Amazon CloudWatch: the replica lag metric (`GetMetricStatistics`) and alarm states
//! (`DescribeAlarms`).
//!
//! API reference: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/Welcome.html>.

use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Statistic};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

use super::{to_chrono, AwsError};
use crate::plan::failover::AlarmState;
use crate::plan::status::AlarmStateValue;

/// One metric's datapoints, oldest first: `(start of the minute (UTC), statistic)`, one per
/// minute from `start` to `end` (`GetMetricStatistics`, period 60 s; the window is cut to the
/// newest 1,440 minutes, the most one call returns).
///
/// Sources: `AWS/RDS` `ReplicaLag` (seconds; Maximum), `TransactionLogsGeneration` (bytes per
/// second; Maximum) with dimension `DBInstanceIdentifier`
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html>); `AWS/Route53`
/// `HealthCheckStatus` (1 healthy, 0 unhealthy; Minimum; us-east-1 only) with dimension
/// `HealthCheckId` (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-cloudwatch.html>).
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn series(
    cw: &aws_sdk_cloudwatch::Client,
    metric: MetricRef<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>, AwsError> {
    // Whole minutes, as CloudWatch aggregates them: a datapoint's timestamp is the start of its
    // minute, so the minute holding the onset starts at or before it.
    let start = start.max(end - chrono::Duration::minutes(1440));
    let start = start.timestamp().div_euclid(60) * 60;
    let end = (end.timestamp() + 59).div_euclid(60) * 60;
    let statistic = metric.statistic.clone();
    let out = cw
        .get_metric_statistics()
        .namespace(metric.namespace)
        .metric_name(metric.name)
        .dimensions(
            Dimension::builder()
                .name(metric.dimension.0)
                .value(metric.dimension.1)
                .build(),
        )
        .set_dimensions(Some(
            std::iter::once(metric.dimension)
                .chain(metric.extra)
                .map(|(n, v)| Dimension::builder().name(n).value(v).build())
                .collect(),
        ))
        .start_time(aws_smithy_types::DateTime::from_secs(start))
        .end_time(aws_smithy_types::DateTime::from_secs(end))
        .period(60)
        .statistics(statistic.clone())
        .send()
        .await
        .map_err(|e| AwsError::new("GetMetricStatistics", e.into_service_error()))?;
    let mut points: Vec<(DateTime<Utc>, f64)> = out
        .datapoints()
        .iter()
        .filter_map(|d| {
            let at = to_chrono(d.timestamp()?)?;
            let v = match statistic {
                Statistic::Minimum => d.minimum(),
                _ => d.maximum(),
            }?;
            Some((at, v))
        })
        .collect();
    points.sort_by_key(|p| p.0);
    Ok(points)
}

/// A metric and the statistic read: see [`series`].
#[derive(Debug, Clone)]
pub struct MetricRef<'a> {
    /// `AWS/RDS`, `AWS/Route53`.
    pub namespace: &'a str,
    /// Metric name.
    pub name: &'a str,
    /// The dimension: (name, value).
    pub dimension: (&'a str, &'a str),
    /// A second dimension, when the metric is published with two (`GetMetricStatistics` matches
    /// the exact set).
    pub extra: Option<(&'a str, &'a str)>,
    /// `Maximum` or `Minimum`.
    pub statistic: Statistic,
}

impl<'a> MetricRef<'a> {
    /// `AWS/RDS` `ReplicaLag` of `instance_id`, Maximum.
    pub fn replica_lag(instance_id: &'a str) -> Self {
        Self {
            namespace: "AWS/RDS",
            name: "ReplicaLag",
            dimension: ("DBInstanceIdentifier", instance_id),
            statistic: Statistic::Maximum,
            extra: None,
        }
    }

    /// `AWS/RDS` `OldestReplicationSlotLag` of a PostgreSQL source `instance_id` (bytes of WAL
    /// its most lagging replica has not received), Maximum
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html>).
    pub fn oldest_replication_slot_lag(instance_id: &'a str) -> Self {
        Self {
            namespace: "AWS/RDS",
            name: "OldestReplicationSlotLag",
            dimension: ("DBInstanceIdentifier", instance_id),
            statistic: Statistic::Maximum,
            extra: None,
        }
    }

    /// `AWS/RDS` `TransactionLogsGeneration` of `instance_id`, Maximum.
    pub fn transaction_logs(instance_id: &'a str) -> Self {
        Self {
            namespace: "AWS/RDS",
            name: "TransactionLogsGeneration",
            dimension: ("DBInstanceIdentifier", instance_id),
            statistic: Statistic::Maximum,
            extra: None,
        }
    }

    /// `AWS/RDS` `AuroraGlobalDBRPOLag` (milliseconds) of an Aurora global database's secondary
    /// cluster, Maximum: how far it is behind on user transactions (Aurora PostgreSQL, Aurora
    /// MySQL 3.04+/2.12+;
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.AuroraMonitoring.Metrics.html>).
    /// Read with the `DBClusterIdentifier` dimension ([`MetricRef::with`] adds `SourceRegion`).
    pub fn aurora_rpo_lag(cluster_id: &'a str) -> Self {
        Self {
            namespace: "AWS/RDS",
            name: "AuroraGlobalDBRPOLag",
            dimension: ("DBClusterIdentifier", cluster_id),
            statistic: Statistic::Maximum,
            extra: None,
        }
    }

    /// `AWS/RDS` `AuroraGlobalDBReplicationLag` (milliseconds) of a secondary cluster, Maximum:
    /// the storage replication lag, for engines without `AuroraGlobalDBRPOLag`.
    pub fn aurora_replication_lag(cluster_id: &'a str) -> Self {
        Self {
            namespace: "AWS/RDS",
            name: "AuroraGlobalDBReplicationLag",
            dimension: ("DBClusterIdentifier", cluster_id),
            statistic: Statistic::Maximum,
            extra: None,
        }
    }

    /// The same metric with a second dimension, e.g. `("SourceRegion", "us-east-1")`: AWS
    /// publishes the global database metrics of a secondary per source region
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/dimensions.html>).
    pub fn with(mut self, name: &'a str, value: &'a str) -> Self {
        self.extra = Some((name, value));
        self
    }

    /// `AWS/Route53` `HealthCheckStatus` of `health_check_id`, Minimum.
    pub fn health_check(health_check_id: &'a str) -> Self {
        Self {
            namespace: "AWS/Route53",
            name: "HealthCheckStatus",
            dimension: ("HealthCheckId", health_check_id),
            statistic: Statistic::Minimum,
            extra: None,
        }
    }
}

/// `DescribeAlarms` for `names` in one region; an alarm that does not exist has state `None`.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn alarm_states(
    cw: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<Vec<AlarmState>, AwsError> {
    let out = cw
        .describe_alarms()
        .set_alarm_names(Some(names.to_vec()))
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .send()
        .await
        .map_err(|e| AwsError::new("DescribeAlarms", e.into_service_error()))?;
    // (state, state updated) of metric and composite alarms by name
    let mut states: HashMap<&str, (Option<AlarmStateValue>, Option<DateTime<Utc>>)> =
        HashMap::new();
    for a in out.metric_alarms() {
        if let Some(n) = a.alarm_name() {
            let state = a.state_value().map(|s| AlarmStateValue::from(s.as_str()));
            states.insert(n, (state, a.state_updated_timestamp().and_then(to_chrono)));
        }
    }
    for a in out.composite_alarms() {
        if let Some(n) = a.alarm_name() {
            let state = a.state_value().map(|s| AlarmStateValue::from(s.as_str()));
            states.insert(n, (state, a.state_updated_timestamp().and_then(to_chrono)));
        }
    }
    Ok(names
        .iter()
        .map(|name| {
            let found = states.get(name.as_str());
            AlarmState {
                name: name.clone(),
                state: found.and_then(|f| f.0.clone()),
                updated_at: found.and_then(|f| f.1),
                error: found.is_none().then(|| "alarm not found".to_owned()),
            }
        })
        .collect())
}
