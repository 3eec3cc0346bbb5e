//! AWS adapters: SDK clients per region, and the calls failover makes, with the SDK's modeled
//! faults that the logic cares about mapped into outcomes. Every other SDK error becomes an
//! [`AwsError`] naming the operation (logged with `DisplayErrorContext`).
//!
//! Retries of throttling and transient errors are the SDK's (standard mode, [`MAX_ATTEMPTS`]
//! attempts with exponential backoff and jitter); nothing here loops on an error.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::types::{AlarmType, Dimension, Statistic};
use aws_sdk_rds::types::Tag;
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use chrono::{DateTime, Utc};

use crate::config::{Config, DnsRecord};
use crate::decision::{
    AlarmState, HealthCheckState, InstanceState, RecordState, TAG_ALARM_AT, TAG_FAILOVER_COMPLETED,
    TAG_LAG_AT_PROMOTION, TAG_PROMOTION_STARTED,
};

/// Attempts per AWS call (first try included) under the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 5;

/// A failed AWS call, after the SDK's retries.
#[derive(Debug, thiserror::Error)]
#[error("`{operation}` failed: {message}")]
pub struct AwsError {
    /// The API action, e.g. `PromoteReadReplica`.
    pub operation: &'static str,
    /// The SDK's error with its whole context.
    pub message: String,
}

impl AwsError {
    /// Wrap an SDK (or builder) error of `operation`, with its whole context, and log it.
    pub fn new(operation: &'static str, err: impl std::error::Error) -> Self {
        let message = DisplayErrorContext(&err).to_string();
        tracing::warn!(operation, error = %message, "aws call failed");
        Self { operation, message }
    }
}

/// Seconds one attempt of an AWS call may take before the SDK abandons it (and retries).
pub const ATTEMPT_TIMEOUT_SECONDS: u64 = 20;
/// Seconds one AWS call may take, retries included: a call into a region that is down fails
/// instead of eating the Lambda's time.
pub const OPERATION_TIMEOUT_SECONDS: u64 = 90;

/// Load the shared SDK configuration once at start-up: the default credential and region chain
/// (`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` are honoured), standard retries with
/// [`MAX_ATTEMPTS`] attempts, and [`ATTEMPT_TIMEOUT_SECONDS`] / [`OPERATION_TIMEOUT_SECONDS`].
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(ATTEMPT_TIMEOUT_SECONDS))
                .operation_timeout(Duration::from_secs(OPERATION_TIMEOUT_SECONDS))
                .build(),
        )
        .load()
        .await
}

/// The SDK clients failover and status use: RDS and CloudWatch in every configured region,
/// Route 53 (global, signed in `us-east-1`) and SNS in the topic's region. Building them makes no
/// network call.
#[derive(Debug, Clone)]
pub struct Clients {
    rds: HashMap<String, aws_sdk_rds::Client>,
    cloudwatch: HashMap<String, aws_sdk_cloudwatch::Client>,
    /// Route 53.
    pub route53: aws_sdk_route53::Client,
    /// SNS in the notification topic's region.
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    /// One client per service and region, from one `SdkConfig`.
    pub fn new(sdk: &SdkConfig, config: &Config) -> Self {
        let regional = |r: &str| {
            let mut b = sdk.to_builder();
            b.set_region(Some(Region::new(r.to_owned())));
            b.build()
        };
        let mut rds = HashMap::new();
        let mut cloudwatch = HashMap::new();
        for region in config.regions() {
            let c = regional(&region);
            rds.insert(region.clone(), aws_sdk_rds::Client::new(&c));
            cloudwatch.insert(region, aws_sdk_cloudwatch::Client::new(&c));
        }
        Self {
            rds,
            cloudwatch,
            route53: aws_sdk_route53::Client::new(&regional("us-east-1")),
            sns: aws_sdk_sns::Client::new(&regional(config.notifications.topic_region())),
        }
    }

    /// Build from explicit clients (tests with `aws-smithy-mocks`).
    pub fn from_parts(
        rds: HashMap<String, aws_sdk_rds::Client>,
        cloudwatch: HashMap<String, aws_sdk_cloudwatch::Client>,
        route53: aws_sdk_route53::Client,
        sns: aws_sdk_sns::Client,
    ) -> Self {
        Self {
            rds,
            cloudwatch,
            route53,
            sns,
        }
    }

    /// The RDS client for `region`; the configuration's regions are known at start-up.
    ///
    /// # Errors
    /// [`AwsError`] when `region` is not one of the configured regions.
    pub fn rds(&self, region: &str) -> Result<&aws_sdk_rds::Client, AwsError> {
        self.rds.get(region).ok_or_else(|| no_client("rds", region))
    }

    /// The CloudWatch client for `region`.
    ///
    /// # Errors
    /// [`AwsError`] when `region` is not one of the configured regions.
    pub fn cloudwatch(&self, region: &str) -> Result<&aws_sdk_cloudwatch::Client, AwsError> {
        self.cloudwatch
            .get(region)
            .ok_or_else(|| no_client("cloudwatch", region))
    }
}

fn no_client(service: &'static str, region: &str) -> AwsError {
    AwsError {
        operation: service,
        message: format!("no client for region `{region}`: it is not in the configuration"),
    }
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// `DescribeDBInstances` for one instance; `Ok(None)` on `DBInstanceNotFound`.
///
/// # Errors
/// [`AwsError`] for any other failure.
pub async fn describe_instance(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<InstanceState>, AwsError> {
    let out = match rds
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let e = e.into_service_error();
            if e.is_db_instance_not_found_fault() {
                return Ok(None);
            }
            return Err(AwsError::new("DescribeDBInstances", e));
        }
    };
    let Some(i) = out.db_instances().first() else {
        return Ok(None);
    };
    let tag = |k: &str| {
        i.tag_list()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    let time_tag = |k: &str| {
        tag(k)
            .and_then(|v| DateTime::parse_from_rfc3339(&v).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    Ok(Some(InstanceState {
        instance_id: i.db_instance_identifier().unwrap_or(instance_id).to_owned(),
        arn: i.db_instance_arn().map(str::to_owned),
        status: i.db_instance_status().unwrap_or("unknown").to_owned(),
        endpoint: i.endpoint().and_then(|e| e.address()).map(str::to_owned),
        replica_source: i
            .read_replica_source_db_instance_identifier()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        promotion_started_at: time_tag(TAG_PROMOTION_STARTED),
        alarm_at: time_tag(TAG_ALARM_AT),
        lag_at_promotion_seconds: tag(TAG_LAG_AT_PROMOTION).and_then(|v| v.parse().ok()),
        failover_completed_at: time_tag(TAG_FAILOVER_COMPLETED),
    }))
}

/// `AddTagsToResource`: record the promotion decision on the replica before promoting it, so a
/// later run knows the promotion is pilotlight's and measures RTO and RPO from the same start.
///
/// # Errors
/// [`AwsError`] when tagging fails.
pub async fn tag_promotion(
    rds: &aws_sdk_rds::Client,
    arn: &str,
    started_at: DateTime<Utc>,
    alarm_at: Option<DateTime<Utc>>,
    lag_seconds: Option<f64>,
) -> Result<(), AwsError> {
    let mut tags = vec![Tag::builder()
        .key(TAG_PROMOTION_STARTED)
        .value(started_at.to_rfc3339())
        .build()];
    if let Some(t) = alarm_at {
        tags.push(
            Tag::builder()
                .key(TAG_ALARM_AT)
                .value(t.to_rfc3339())
                .build(),
        );
    }
    if let Some(l) = lag_seconds {
        tags.push(
            Tag::builder()
                .key(TAG_LAG_AT_PROMOTION)
                .value(l.to_string())
                .build(),
        );
    }
    rds.add_tags_to_resource()
        .resource_name(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("AddTagsToResource", e.into_service_error()))
}

/// `AddTagsToResource`: record on the promoted instance that the failover finished.
///
/// # Errors
/// [`AwsError`] when tagging fails.
pub async fn tag_completed(
    rds: &aws_sdk_rds::Client,
    arn: &str,
    at: DateTime<Utc>,
) -> Result<(), AwsError> {
    rds.add_tags_to_resource()
        .resource_name(arn)
        .tags(
            Tag::builder()
                .key(TAG_FAILOVER_COMPLETED)
                .value(at.to_rfc3339())
                .build(),
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("AddTagsToResource", e.into_service_error()))
}

/// What `PromoteReadReplica` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromoteOutcome {
    /// RDS accepted the promotion.
    Started,
    /// `InvalidDBInstanceState`: the instance is already being promoted or is no longer a
    /// replica (a concurrent or repeated run got there first). Not a failure.
    AlreadyPromoting,
}

/// `PromoteReadReplica`.
///
/// # Errors
/// [`AwsError`] for anything but `InvalidDBInstanceState` (including `DBInstanceNotFound`).
pub async fn promote(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<PromoteOutcome, AwsError> {
    match rds
        .promote_read_replica()
        .db_instance_identifier(instance_id)
        .send()
        .await
    {
        Ok(_) => Ok(PromoteOutcome::Started),
        Err(e) => {
            let e = e.into_service_error();
            if e.is_invalid_db_instance_state_fault() {
                tracing::info!(
                    instance = instance_id,
                    "promotion already under way or done"
                );
                Ok(PromoteOutcome::AlreadyPromoting)
            } else {
                Err(AwsError::new("PromoteReadReplica", e))
            }
        }
    }
}

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
    let mut states: HashMap<&str, (Option<String>, Option<DateTime<Utc>>)> = HashMap::new();
    for a in out.metric_alarms() {
        if let Some(n) = a.alarm_name() {
            let state = a.state_value().map(|s| s.as_str().to_owned());
            states.insert(n, (state, a.state_updated_timestamp().and_then(to_chrono)));
        }
    }
    for a in out.composite_alarms() {
        if let Some(n) = a.alarm_name() {
            let state = a.state_value().map(|s| s.as_str().to_owned());
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

/// `GetHealthCheckStatus`, counting the checkers whose report starts with `Success`.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn health_check_status(
    r53: &aws_sdk_route53::Client,
    id: &str,
) -> Result<HealthCheckState, AwsError> {
    let out = r53
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .map_err(|e| AwsError::new("GetHealthCheckStatus", e.into_service_error()))?;
    let obs = out.health_check_observations();
    Ok(HealthCheckState {
        id: id.to_owned(),
        healthy_checkers: obs
            .iter()
            .filter(|o| {
                o.status_report()
                    .and_then(|r| r.status())
                    .is_some_and(|s| s.starts_with("Success"))
            })
            .count(),
        checkers: obs.len(),
    })
}

/// `ListResourceRecordSets` starting at the record: its current values and TTL.
///
/// # Errors
/// [`AwsError`] when the call fails (e.g. `NoSuchHostedZone`).
pub async fn record_state(
    r53: &aws_sdk_route53::Client,
    record: &DnsRecord,
) -> Result<RecordState, AwsError> {
    let fqdn = record.fqdn();
    let rr_type = RrType::from(record.record_type.as_str());
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(record.zone_id())
        .start_record_name(&fqdn)
        .start_record_type(rr_type.clone())
        .max_items(1)
        .send()
        .await
        .map_err(|e| AwsError::new("ListResourceRecordSets", e.into_service_error()))?;
    let found = out
        .resource_record_sets()
        .iter()
        .find(|r| r.name().eq_ignore_ascii_case(&fqdn) && r.r#type() == &rr_type);
    if let Some(r) = found {
        if r.set_identifier().is_some() || r.alias_target().is_some() {
            return Err(AwsError {
                operation: "ListResourceRecordSets",
                message: format!(
                    "record `{fqdn}` is an alias or a weighted/latency/failover record: pilotlight manages plain `CNAME` records"
                ),
            });
        }
    }
    Ok(RecordState {
        record: record.clone(),
        values: found
            .map(|r| {
                r.resource_records()
                    .iter()
                    .map(|v| v.value().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
        ttl: found.and_then(|r| r.ttl()),
    })
}

/// What a record change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    /// Route 53 accepted the change; its `ChangeInfo.Id`.
    Submitted(String),
    /// The record changed under us (a concurrent run): re-read before deciding.
    Conflict,
}

/// Point `record` at `target`, as a compare-and-swap: one `ChangeResourceRecordSets` batch that
/// deletes the exact current record set (`current`, as read) and creates the new one, or only
/// creates it when none exists. Route 53 applies a batch atomically and rejects a `DELETE` whose
/// values are not the current ones, so of two concurrent runs only one changes the record; the
/// other gets [`RecordChange::Conflict`]. The end state is the one an `UPSERT` gives.
///
/// # Errors
/// [`AwsError`] for any failure but `InvalidChangeBatch`.
pub async fn change_record(
    r53: &aws_sdk_route53::Client,
    current: &RecordState,
    target: &str,
    comment: &str,
) -> Result<RecordChange, AwsError> {
    let record = &current.record;
    let rrset = |values: &[String], ttl: i64| {
        ResourceRecordSet::builder()
            .name(record.fqdn())
            .r#type(RrType::from(record.record_type.as_str()))
            .ttl(ttl)
            .set_resource_records(Some(
                values
                    .iter()
                    .filter_map(|v| ResourceRecord::builder().value(v).build().ok())
                    .collect(),
            ))
            .build()
    };
    let build =
        |e: aws_sdk_route53::error::BuildError| AwsError::new("ChangeResourceRecordSets", e);
    let mut changes = Vec::new();
    if !current.values.is_empty() {
        let old = rrset(&current.values, current.ttl.unwrap_or(record.ttl)).map_err(build)?;
        changes.push(
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(old)
                .build()
                .map_err(build)?,
        );
    }
    let new = rrset(&[target.to_owned()], record.ttl).map_err(build)?;
    changes.push(
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(new)
            .build()
            .map_err(build)?,
    );
    let batch = ChangeBatch::builder()
        .comment(comment)
        .set_changes(Some(changes))
        .build()
        .map_err(build)?;
    match r53
        .change_resource_record_sets()
        .hosted_zone_id(record.zone_id())
        .change_batch(batch)
        .send()
        .await
    {
        Ok(out) => Ok(RecordChange::Submitted(
            out.change_info()
                .map(|c| c.id().to_owned())
                .unwrap_or_default(),
        )),
        Err(e) => {
            let e = e.into_service_error();
            // Route 53 explains an InvalidChangeBatch in `Messages`; only a DELETE that no longer
            // matches or a CREATE that already exists is a concurrent change.
            let concurrent = ["not found", "do not match", "already exists"];
            let text = match &e {
                ChangeResourceRecordSetsError::InvalidChangeBatch(b) => {
                    format!(
                        "{} {}",
                        b.message().unwrap_or_default(),
                        b.messages().join(" ")
                    )
                }
                _ => String::new(),
            };
            if concurrent.iter().any(|c| text.contains(c)) {
                tracing::info!(record = %record.fqdn(), error = %DisplayErrorContext(&e), "record changed concurrently");
                Ok(RecordChange::Conflict)
            } else {
                Err(AwsError::new("ChangeResourceRecordSets", e))
            }
        }
    }
}

/// `GetChange`: whether the change is `INSYNC` on all Route 53 authoritative servers.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn change_in_sync(
    r53: &aws_sdk_route53::Client,
    change_id: &str,
) -> Result<bool, AwsError> {
    let out = r53
        .get_change()
        .id(change_id.trim_start_matches("/change/"))
        .send()
        .await
        .map_err(|e| AwsError::new("GetChange", e.into_service_error()))?;
    Ok(out.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync))
}

/// `Publish` to the notification topic, with `String` message attributes subscribers can filter on.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    subject: &str,
    message: &str,
    attributes: &[(&str, &str)],
) -> Result<(), AwsError> {
    let mut req = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(truncate(subject, 100))
        .message(message);
    for (k, v) in attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*v)
            .build()
            .map_err(|e| AwsError::new("Publish", e))?;
        req = req.message_attributes(*k, attr);
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("Publish", e.into_service_error()))
}

/// Largest SNS message body, in bytes (256 KiB).
pub const SNS_MAX_MESSAGE_BYTES: usize = 262_144;

/// An alert's JSON body `{"event", "alerts": [...], "omitted": n, "summary"}` that fits in one SNS
/// message: alerts are added while the whole stays under 200 KiB, and the rest are counted in
/// `omitted` (the function's own report has them all).
pub fn alert_message(event: &str, alerts: &[String], summary: serde_json::Value) -> String {
    const BUDGET: usize = 200 * 1024;
    let mut used = summary.to_string().len() + event.len() + 64;
    let mut kept = Vec::new();
    for a in alerts {
        used += a.len() + 4;
        if used > BUDGET {
            break;
        }
        kept.push(a.as_str());
    }
    serde_json::json!({
        "event": event,
        "alerts": kept,
        "omitted": alerts.len() - kept.len(),
        "summary": summary,
    })
    .to_string()
}

/// SNS subjects are at most 100 ASCII characters.
fn truncate(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_with_thousands_of_lines_still_fits_in_one_sns_message() {
        let alerts: Vec<String> = (0..10_000)
            .map(|i| {
                format!(
                    "`db{i:05}` in `us-west-2`: no available copy yet {}",
                    "x".repeat(60)
                )
            })
            .collect();
        let msg = alert_message(
            "snapshot-copy",
            &alerts,
            serde_json::json!({"databases": 10_000}),
        );
        assert!(msg.len() < SNS_MAX_MESSAGE_BYTES, "{}", msg.len());
        let v: serde_json::Value = serde_json::from_str(&msg).unwrap_or_default();
        let kept = v["alerts"].as_array().map(Vec::len).unwrap_or(0);
        assert!(kept > 1000);
        assert_eq!(v["omitted"].as_u64(), Some((10_000 - kept) as u64));
    }
}
