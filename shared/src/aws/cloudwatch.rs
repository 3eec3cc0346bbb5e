//! Amazon CloudWatch: the replica lag metric (`GetMetricStatistics`) and alarm states
//! (`DescribeAlarms`).
//!
//! API reference: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/Welcome.html>.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Statistic};
use chrono::{DateTime, Utc};

use super::{to_chrono, AwsError};
use crate::plan::failover::AlarmState;
use crate::plan::status::AlarmStateValue;

/// The replica lag at `until` (UTC): the newest non-negative `AWS/RDS` `ReplicaLag` datapoint
/// (Maximum per minute, seconds) of `instance_id` in the `lookback` window ending at `until`
/// (`GetMetricStatistics`); `None` when there is none.
///
/// `until` is the alarm's state change when known: once the primary is gone, PostgreSQL reports a
/// lag that keeps growing and MySQL reports `-1` ("replication not running"), so the recovery
/// point is the last sound datapoint before the failure. Negative datapoints are ignored.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn replica_lag(
    cw: &aws_sdk_cloudwatch::Client,
    instance_id: &str,
    until: DateTime<Utc>,
    lookback: Duration,
) -> Result<Option<f64>, AwsError> {
    let lookback = i64::try_from(lookback.as_secs()).unwrap_or(i64::MAX / 2);
    let start = until.timestamp().saturating_sub(lookback);
    let out = cw
        .get_metric_statistics()
        .namespace("AWS/RDS")
        .metric_name("ReplicaLag")
        .dimensions(
            Dimension::builder()
                .name("DBInstanceIdentifier")
                .value(instance_id)
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_secs(start))
        .end_time(aws_smithy_types::DateTime::from_secs(
            until.timestamp() + 60,
        ))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .map_err(|e| AwsError::new("GetMetricStatistics", e.into_service_error()))?;
    Ok(out
        .datapoints()
        .iter()
        .filter_map(|d| Some((d.timestamp()?.secs(), d.maximum()?)))
        .filter(|(t, v)| *v >= 0.0 && *t <= until.timestamp() + 60)
        .max_by_key(|(t, _)| *t)
        .map(|(_, v)| v))
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
