//! Amazon Route 53: health check status (`GetHealthCheckStatus`), record sets
//! (`ListResourceRecordSets`), the compare-and-swap of a record (`ChangeResourceRecordSets`) and
//! its propagation (`GetChange`). Route 53 is global; its control plane is served from
//! `us-east-1`.
//!
//! API reference: <https://docs.aws.amazon.com/Route53/latest/APIReference/Welcome.html>.

use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_smithy_types::error::display::DisplayErrorContext;

use super::AwsError;
use crate::config::DnsRecord;
use crate::plan::failover::{HealthCheckState, RecordState, RecordUpdate};

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
        .map_err(|e| AwsError::from_sdk("GetHealthCheckStatus", e))?;
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

/// `ListResourceRecordSets` starting at the record: the configured record's current values and TTL.
///
/// # Errors
/// [`AwsError`] when the call fails (e.g. `NoSuchHostedZone`), or when the record is an alias or
/// a weighted/latency/failover record (pilotlight manages plain `CNAME`s).
pub async fn record_state(
    r53: &aws_sdk_route53::Client,
    record: &DnsRecord,
) -> Result<RecordState, AwsError> {
    let (values, ttl) = read_cname(r53, record.zone_id(), &record.fqdn()).await?;
    Ok(RecordState {
        record: record.clone(),
        values,
        ttl,
    })
}

/// The values and TTL of the `CNAME` record set `fqdn` in `zone_id` (no values: it does not exist).
///
/// # Errors
/// As [`record_state`].
pub async fn read_cname(
    r53: &aws_sdk_route53::Client,
    zone_id: &str,
    fqdn: &str,
) -> Result<(Vec<String>, Option<i64>), AwsError> {
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .start_record_name(fqdn)
        .start_record_type(RrType::Cname)
        .max_items(1)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListResourceRecordSets", e))?;
    let Some(found) = out
        .resource_record_sets()
        .iter()
        .find(|r| r.name().eq_ignore_ascii_case(fqdn) && r.r#type() == &RrType::Cname)
    else {
        return Ok((vec![], None));
    };
    if found.set_identifier().is_some() || found.alias_target().is_some() {
        return Err(AwsError::unusable(
            "ListResourceRecordSets",
            format!(
                "record `{fqdn}` is an alias or a weighted/latency/failover record: pilotlight manages plain `CNAME` records"
            ),
        ));
    }
    let values = found
        .resource_records()
        .iter()
        .map(|v| v.value().to_owned())
        .collect();
    Ok((values, found.ttl()))
}

/// What a record change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordChange {
    /// Route 53 accepted the change; its `ChangeInfo.Id`.
    Submitted(String),
    /// Route 53 refused the compare-and-swap (`InvalidChangeBatch`: the `DELETE` no longer matches
    /// or the `CREATE` already exists), with its explanation: re-read the record before deciding
    /// ([`crate::plan::failover::after_conflict`]).
    Conflict(String),
}

/// Point the record of `update` at `target`, as a compare-and-swap: one
/// `ChangeResourceRecordSets` batch that deletes the exact record set observed (`update.from`,
/// `update.from_ttl`) and creates the new one, or only creates it when none existed. Route 53
/// applies a batch atomically and rejects a `DELETE` whose values are not the current ones
/// (<https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>),
/// so of two concurrent runs only one changes the record; the other gets
/// [`RecordChange::Conflict`]. The end state is the one an `UPSERT` gives.
///
/// # Errors
/// [`AwsError`] for any failure but a concurrent-change `InvalidChangeBatch`.
pub async fn change_record(
    r53: &aws_sdk_route53::Client,
    update: &RecordUpdate,
    target: &str,
    comment: &str,
) -> Result<RecordChange, AwsError> {
    let batch = compare_and_swap_batch(update, target, comment)
        .map_err(|e| AwsError::new("ChangeResourceRecordSets", e))?;
    match r53
        .change_resource_record_sets()
        .hosted_zone_id(&update.hosted_zone_id)
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
            let conflict = e.as_service_error().and_then(concurrent_change);
            match conflict {
                Some(explanation) => {
                    tracing::info!(record = %update.name, error = %DisplayErrorContext(&e), "record changed concurrently");
                    Ok(RecordChange::Conflict(explanation))
                }
                // a 5xx or no answer is `unreachable`: DNS waits for Route 53, the failover does not
                None => Err(AwsError::from_sdk("ChangeResourceRecordSets", e)),
            }
        }
    }
}

/// `DELETE` of the observed record set (when there is one) and `CREATE` of the new one.
fn compare_and_swap_batch(
    update: &RecordUpdate,
    target: &str,
    comment: &str,
) -> Result<ChangeBatch, aws_sdk_route53::error::BuildError> {
    let rrset = |values: &[String], ttl: i64| {
        ResourceRecordSet::builder()
            .name(&update.name)
            .r#type(RrType::Cname)
            .ttl(ttl)
            .set_resource_records(Some(
                values
                    .iter()
                    .filter_map(|v| ResourceRecord::builder().value(v).build().ok())
                    .collect(),
            ))
            .build()
    };
    let mut changes = Vec::new();
    if !update.from.is_empty() {
        let old = rrset(&update.from, update.from_ttl.unwrap_or(update.ttl))?;
        changes.push(
            Change::builder()
                .action(ChangeAction::Delete)
                .resource_record_set(old)
                .build()?,
        );
    }
    let new = rrset(&[target.to_owned()], update.ttl)?;
    changes.push(
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(new)
            .build()?,
    );
    ChangeBatch::builder()
        .comment(comment)
        .set_changes(Some(changes))
        .build()
}

/// Route 53 explains an `InvalidChangeBatch` in `Messages`; only a `DELETE` that no longer
/// matches or a `CREATE` that already exists is a concurrent change. Its explanation, if so.
fn concurrent_change(e: &ChangeResourceRecordSetsError) -> Option<String> {
    let ChangeResourceRecordSetsError::InvalidChangeBatch(b) = e else {
        return None;
    };
    let text = format!(
        "{} {}",
        b.message().unwrap_or_default(),
        b.messages().join(" ")
    );
    let text = text.trim();
    ["not found", "do not match", "already exists"]
        .iter()
        .any(|c| text.contains(c))
        .then(|| text.to_owned())
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
        .map_err(|e| AwsError::from_sdk("GetChange", e))?;
    Ok(out.change_info().map(|c| c.status()) == Some(&ChangeStatus::Insync))
}
