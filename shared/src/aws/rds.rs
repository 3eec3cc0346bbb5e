//! Amazon RDS: DB instances (describe, tag, promote) for failover, and DB snapshots and DB
//! cluster snapshots (list, discover tagged databases, create, copy, delete) for snapshot-copy and
//! retention. Modeled faults the logic cares about (`InvalidDBInstanceState` on promote, already
//! exists, quota exceeded, not found, invalid state) become outcomes; everything else an
//! [`AwsError`] naming the call.
//!
//! API reference: <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/Welcome.html>.

use std::collections::BTreeMap;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::Tag;
use aws_smithy_runtime_api::client::result::CreateUnhandledError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use chrono::{DateTime, Utc};

use super::{to_chrono, AwsError};
use crate::plan::failover::{
    InstanceState, ReplicationInfo, TAG_ALARM_AT, TAG_FAILOVER_COMPLETED, TAG_FENCED_AT,
    TAG_LAG_AT_PROMOTION, TAG_PROMOTION_STARTED,
};
use crate::plan::retention::RegionListing;
use crate::plan::snapshot_copy::CopySnapshot;
use crate::plan::snapshots::{DbKind, SnapshotInfo, Tags};
use crate::plan::status::{InstanceStatus, SnapshotStatus};

/// `DescribeDBInstances` of one instance, as the SDK answers it (for the adapters of this
/// module and its siblings only); `Ok(None)` on `DBInstanceNotFound`.
///
/// # Errors
/// [`AwsError`] for any other failure (`unreachable` when the region does not answer).
pub(crate) async fn describe_one(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<aws_sdk_rds::types::DbInstance>, AwsError> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) => {
            if e.as_service_error()
                .is_some_and(|s| s.is_db_instance_not_found_fault())
            {
                return Ok(None);
            }
            Err(AwsError::from_sdk("DescribeDBInstances", e))
        }
    }
}

/// `DescribeDBInstances` for one instance; `Ok(None)` on `DBInstanceNotFound`.
///
/// # Errors
/// [`AwsError`] for any other failure.
pub async fn describe_instance(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<InstanceState>, AwsError> {
    let Some(i) = describe_one(rds, instance_id).await? else {
        return Ok(None);
    };
    let i = &i;
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
        status: InstanceStatus::from(i.db_instance_status().unwrap_or("unknown")),
        endpoint: i.endpoint().and_then(|e| e.address()).map(str::to_owned),
        replica_source: i
            .read_replica_source_db_instance_identifier()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        promotion_started_at: time_tag(TAG_PROMOTION_STARTED),
        alarm_at: time_tag(TAG_ALARM_AT),
        lag_at_promotion_seconds: tag(TAG_LAG_AT_PROMOTION).and_then(|v| v.parse().ok()),
        failover_completed_at: time_tag(TAG_FAILOVER_COMPLETED),
        engine: i.engine().map(str::to_owned),
        replication: i
            .status_infos()
            .iter()
            .find(|s| s.status_type() == Some("read replication"))
            .map(|s| ReplicationInfo {
                status: s.status().unwrap_or("unknown").to_owned(),
                normal: s.normal().unwrap_or(false),
                message: s.message().filter(|m| !m.is_empty()).map(str::to_owned),
            }),
        security_groups: i
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .map(str::to_owned)
            .collect(),
        security_groups_pending: i
            .vpc_security_groups()
            .iter()
            .any(|g| g.status() != Some("active")),
        fenced_at: time_tag(TAG_FENCED_AT),
    }))
}

/// `StopDBInstance` of the old primary. Refused with `InvalidDBInstanceState` while it is already
/// stopping or stopped (a concurrent run): done. RDS also refuses an instance that has a read
/// replica (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html>).
///
/// # Errors
/// [`AwsError`] of the refusal or failure.
pub async fn stop_instance(rds: &aws_sdk_rds::Client, instance_id: &str) -> Result<(), AwsError> {
    if let Err(e) = rds
        .stop_db_instance()
        .db_instance_identifier(instance_id)
        .send()
        .await
    {
        let e = e.into_service_error();
        let stopped = e.is_invalid_db_instance_state_fault()
            && describe_instance(rds, instance_id)
                .await
                .ok()
                .flatten()
                .is_some_and(|i| matches!(i.status.as_str(), "stopped" | "stopping"));
        if !stopped {
            return Err(AwsError::new("StopDBInstance", e));
        }
    }
    Ok(())
}

/// `ModifyDBInstance` `VpcSecurityGroupIds`, with `ApplyImmediately` false: RDS applies a
/// security group change as soon as possible whatever that flag says
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ModifyInstance.Settings.html>),
/// and `true` would also apply every modification pending for the maintenance window to the
/// instance that holds the writes nobody replicated.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn move_to_security_groups(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
    groups: &[String],
) -> Result<(), AwsError> {
    rds.modify_db_instance()
        .db_instance_identifier(instance_id)
        .set_vpc_security_group_ids(Some(groups.to_vec()))
        .apply_immediately(false)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("ModifyDBInstance", e.into_service_error()))
}

/// `RebootDBInstance` (no failover): ends the sessions a security group change leaves open (a
/// security group does not cut connections it already tracks,
/// <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html>).
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn reboot(rds: &aws_sdk_rds::Client, instance_id: &str) -> Result<(), AwsError> {
    rds.reboot_db_instance()
        .db_instance_identifier(instance_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("RebootDBInstance", e.into_service_error()))
}

/// `AddTagsToResource`: [`TAG_FENCED_AT`] on the old primary.
///
/// # Errors
/// [`AwsError`] when tagging fails.
pub async fn tag_fenced(
    rds: &aws_sdk_rds::Client,
    arn: &str,
    at: DateTime<Utc>,
) -> Result<(), AwsError> {
    tag_time(rds, arn, TAG_FENCED_AT, at).await
}

/// `AddTagsToResource` of one tag `key` = `value` on the resource `arn`.
///
/// # Errors
/// [`AwsError`] when tagging fails.
pub async fn tag_value(
    rds: &aws_sdk_rds::Client,
    arn: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    rds.add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key(key).value(value).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("AddTagsToResource", e.into_service_error()))
}

/// `AddTagsToResource` of one tag whose value is a UTC time (RFC 3339).
async fn tag_time(
    rds: &aws_sdk_rds::Client,
    arn: &str,
    key: &str,
    at: DateTime<Utc>,
) -> Result<(), AwsError> {
    rds.add_tags_to_resource()
        .resource_name(arn)
        .tags(Tag::builder().key(key).value(at.to_rfc3339()).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::new("AddTagsToResource", e.into_service_error()))
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
    // Always both keys ("unknown" when not known), so no value of an abandoned promotion stays.
    tags.push(
        Tag::builder()
            .key(TAG_ALARM_AT)
            .value(alarm_at.map_or_else(|| "unknown".to_owned(), |t| t.to_rfc3339()))
            .build(),
    );
    tags.push(
        Tag::builder()
            .key(TAG_LAG_AT_PROMOTION)
            .value(lag_seconds.map_or_else(|| "unknown".to_owned(), |l| l.to_string()))
            .build(),
    );
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
    tag_time(rds, arn, TAG_FAILOVER_COMPLETED, at).await
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

/// Page size of every list call (RDS allows 20–100).
pub const PAGE_SIZE: i32 = 100;

/// What a create, copy or delete call did, when it did not fail outright.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// Accepted.
    Done,
    /// `DBSnapshotAlreadyExists` / `DBClusterSnapshotAlreadyExists`: an earlier run did it.
    AlreadyExists,
    /// `SnapshotQuotaExceeded`: the account's manual snapshot quota in the region is used up.
    QuotaExceeded(String),
    /// `InvalidDBSnapshotState` / `InvalidDBClusterSnapshotStateFault` (e.g. still copying);
    /// the message says why.
    Skipped(String),
    /// Delete: `DBSnapshotNotFound` / `DBClusterSnapshotNotFoundFault`: already gone (an
    /// overlapping run or a person deleted it). The end state a delete wants: not a failure.
    AlreadyGone,
}

/// Map a create/copy/delete result to a [`CallOutcome`]: `skip` faults (already exists, not found,
/// invalid state, by operation) and the snapshot quota become outcomes, anything else an
/// [`AwsError`] naming `operation`.
fn classify<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E, HttpResponse>>,
    already_exists: impl Fn(&E) -> bool,
    quota_exceeded: impl Fn(&E) -> bool,
    skip: impl Fn(&E) -> bool,
) -> Result<CallOutcome, AwsError>
where
    E: std::error::Error + ProvideErrorMetadata + CreateUnhandledError + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(CallOutcome::Done),
        Err(e) => {
            let e = e.into_service_error();
            if already_exists(&e) {
                Ok(CallOutcome::AlreadyExists)
            } else if quota_exceeded(&e) {
                Ok(CallOutcome::QuotaExceeded(e.to_string()))
            } else if skip(&e) {
                Ok(CallOutcome::Skipped(e.to_string()))
            } else {
                Err(AwsError::new(operation, e))
            }
        }
    }
}

fn tags(list: &[Tag]) -> Tags {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

pub(crate) fn sdk_tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Every manual DB snapshot and DB cluster snapshot in the client's region
/// (`DescribeDBSnapshots` and `DescribeDBClusterSnapshots`, `SnapshotType=manual`, paginated by
/// [`PAGE_SIZE`]), with their tags.
///
/// # Errors
/// [`AwsError`] when a page cannot be read.
pub async fn list_snapshots(
    rds: &aws_sdk_rds::Client,
    region: &str,
) -> Result<Vec<SnapshotInfo>, AwsError> {
    // Map each item as its page arrives: the SDK's structs are much larger than ours, and a
    // region may hold tens of thousands of snapshots.
    let mut out = Vec::new();
    let mut push = |s: SnapshotInfo| out.push(s);
    list_instance_snapshots(rds, region, None, &mut push).await?;
    list_cluster_snapshots(rds, region, &mut push).await?;
    out.shrink_to_fit();
    Ok(out)
}

/// Every manual DB snapshot and DB cluster snapshot in the client's region, as retention needs
/// them: each reduced to a [`Listed`] and grouped by database as its page arrives (the SDK's
/// items and pilotlight's full [`SnapshotInfo`] live one at a time), plus the sources of the
/// copies in flight there. A region may hold 100,000 snapshots.
///
/// # Errors
/// [`AwsError`] when a page cannot be read.
pub async fn list_for_retention(
    rds: &aws_sdk_rds::Client,
    region: &str,
    hold_tag: &str,
) -> Result<RegionListing, AwsError> {
    let mut listing = RegionListing::new(region);
    let mut add = |s: SnapshotInfo| listing.add(&s, hold_tag);
    list_instance_snapshots(rds, region, None, &mut add).await?;
    list_cluster_snapshots(rds, region, &mut add).await?;
    listing.shrink();
    Ok(listing)
}

/// The manual DB snapshots of `db_instance_id` in the client's region (`DescribeDBSnapshots`
/// with `DBInstanceIdentifier` and `SnapshotType=manual`, every page), with their tags: what the
/// DR drill chooses from.
///
/// # Errors
/// [`AwsError`] when a page cannot be read.
pub async fn list_db_snapshots(
    rds: &aws_sdk_rds::Client,
    region: &str,
    db_instance_id: &str,
) -> Result<Vec<SnapshotInfo>, AwsError> {
    // only this database's (a copy keeps its source's `DBInstanceIdentifier`): one page or a few,
    // not every snapshot of the region
    let mut out = Vec::new();
    list_instance_snapshots(rds, region, Some(db_instance_id), &mut |s| out.push(s)).await?;
    Ok(out)
}

/// `DescribeDBSnapshots` (`SnapshotType=manual`, only `db_instance_id`'s when given), every
/// page, each to `sink`.
async fn list_instance_snapshots(
    rds: &aws_sdk_rds::Client,
    region: &str,
    db_instance_id: Option<&str>,
    sink: &mut (dyn FnMut(SnapshotInfo) + Send),
) -> Result<(), AwsError> {
    let mut instances = rds
        .describe_db_snapshots()
        .set_db_instance_identifier(db_instance_id.map(str::to_owned))
        .snapshot_type("manual")
        .into_paginator()
        .page_size(PAGE_SIZE)
        .items()
        .send();
    while let Some(item) = instances.next().await {
        let s = item.map_err(|e| AwsError::new("DescribeDBSnapshots", e.into_service_error()))?;
        sink(SnapshotInfo {
            id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
            arn: s.db_snapshot_arn().unwrap_or_default().to_owned(),
            kind: DbKind::Instance,
            region: region.to_owned(),
            status: SnapshotStatus::from(s.status().unwrap_or("unknown")),
            created_at: s.snapshot_create_time().and_then(to_chrono),
            original_created_at: s.original_snapshot_create_time().and_then(to_chrono),
            encrypted: s.encrypted().unwrap_or(false),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            db_id: s.db_instance_identifier().unwrap_or_default().to_owned(),
            engine: s.engine().map(str::to_owned),
            allocated_storage_gib: s.allocated_storage(),
            tags: tags(s.tag_list()),
        });
    }
    Ok(())
}

/// `DescribeDBClusterSnapshots` (`SnapshotType=manual`), every page, into `out`.
async fn list_cluster_snapshots(
    rds: &aws_sdk_rds::Client,
    region: &str,
    sink: &mut (dyn FnMut(SnapshotInfo) + Send),
) -> Result<(), AwsError> {
    let mut clusters = rds
        .describe_db_cluster_snapshots()
        .snapshot_type("manual")
        .into_paginator()
        .page_size(PAGE_SIZE)
        .items()
        .send();
    while let Some(item) = clusters.next().await {
        let s =
            item.map_err(|e| AwsError::new("DescribeDBClusterSnapshots", e.into_service_error()))?;
        sink(SnapshotInfo {
            id: s
                .db_cluster_snapshot_identifier()
                .unwrap_or_default()
                .to_owned(),
            arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_owned(),
            kind: DbKind::Cluster,
            region: region.to_owned(),
            status: SnapshotStatus::from(s.status().unwrap_or("unknown")),
            created_at: s.snapshot_create_time().and_then(to_chrono),
            original_created_at: None,
            encrypted: s.storage_encrypted().unwrap_or(false),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            db_id: s.db_cluster_identifier().unwrap_or_default().to_owned(),
            engine: s.engine().map(str::to_owned),
            allocated_storage_gib: s.allocated_storage(),
            tags: tags(s.tag_list()),
        });
    }
    Ok(())
}

/// The value of tag `key` on snapshot `id` of `kind` in the client's region
/// (`DescribeDBSnapshots` / `DescribeDBClusterSnapshots` by identifier, whose answer carries the
/// tags); `Ok(None)` when the snapshot or the tag does not exist.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn snapshot_tag(
    rds: &aws_sdk_rds::Client,
    kind: DbKind,
    id: &str,
    key: &str,
) -> Result<Option<String>, AwsError> {
    let find = |list: &[Tag]| {
        list.iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    match kind {
        DbKind::Instance => match rds
            .describe_db_snapshots()
            .db_snapshot_identifier(id)
            .send()
            .await
        {
            Ok(out) => Ok(out.db_snapshots().first().and_then(|s| find(s.tag_list()))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_snapshot_not_found_fault()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("DescribeDBSnapshots", e)),
        },
        DbKind::Cluster => match rds
            .describe_db_cluster_snapshots()
            .db_cluster_snapshot_identifier(id)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .db_cluster_snapshots()
                .first()
                .and_then(|s| find(s.tag_list()))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_db_cluster_snapshot_not_found_fault()) =>
            {
                Ok(None)
            }
            Err(e) => Err(AwsError::from_sdk("DescribeDBClusterSnapshots", e)),
        },
    }
}

/// `DescribeAccountAttributes` in the client's region: the manual DB snapshot and manual DB
/// cluster snapshot quotas (`ManualSnapshots`, `ManualClusterSnapshots`: `Used` and `Max`; per
/// region, <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_AccountQuota.html>).
/// A quota the answer does not list is absent from the map.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn snapshot_quotas(
    rds: &aws_sdk_rds::Client,
) -> Result<BTreeMap<DbKind, crate::plan::snapshot_copy::Quota>, AwsError> {
    let out = rds
        .describe_account_attributes()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeAccountAttributes", e))?;
    Ok(out
        .account_quotas()
        .iter()
        .filter_map(|q| {
            let kind = match q.account_quota_name()? {
                "ManualSnapshots" => DbKind::Instance,
                "ManualClusterSnapshots" => DbKind::Cluster,
                _ => return None,
            };
            Some((
                kind,
                crate::plan::snapshot_copy::Quota {
                    used: u64::try_from(q.used()?).unwrap_or(0),
                    max: u64::try_from(q.max()?).unwrap_or(0),
                },
            ))
        })
        .collect())
}

/// A database found by its opt-in tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedDatabase {
    /// Instance or cluster identifier.
    pub db_id: String,
    /// Instance or cluster.
    pub kind: DbKind,
    /// Engine.
    pub engine: Option<String>,
}

/// DB instances (not Aurora cluster members) and DB clusters carrying `tag_key=tag_value`
/// (`DescribeDBInstances`, `DescribeDBClusters`, paginated).
///
/// # Errors
/// [`AwsError`] when a page cannot be read.
pub async fn discover(
    rds: &aws_sdk_rds::Client,
    tag_key: &str,
    tag_value: &str,
) -> Result<Vec<TaggedDatabase>, AwsError> {
    let has = |list: &[Tag]| {
        list.iter()
            .any(|t| t.key() == Some(tag_key) && t.value() == Some(tag_value))
    };
    let instances = rds
        .describe_db_instances()
        .into_paginator()
        .page_size(PAGE_SIZE)
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| AwsError::new("DescribeDBInstances", e.into_service_error()))?;
    let clusters = rds
        .describe_db_clusters()
        .into_paginator()
        .page_size(PAGE_SIZE)
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| AwsError::new("DescribeDBClusters", e.into_service_error()))?;
    let mut out: Vec<TaggedDatabase> = instances
        .iter()
        .filter(|i| i.db_cluster_identifier().is_none() && has(i.tag_list()))
        .map(|i| TaggedDatabase {
            db_id: i.db_instance_identifier().unwrap_or_default().to_owned(),
            kind: DbKind::Instance,
            engine: i.engine().map(str::to_owned),
        })
        .collect();
    out.extend(
        clusters
            .iter()
            .filter(|c| has(c.tag_list()))
            .map(|c| TaggedDatabase {
                db_id: c.db_cluster_identifier().unwrap_or_default().to_owned(),
                kind: DbKind::Cluster,
                engine: c.engine().map(str::to_owned),
            }),
    );
    Ok(out)
}

/// `CreateDBSnapshot` / `CreateDBClusterSnapshot` with `tags`.
///
/// # Errors
/// [`AwsError`] for anything but already-exists and quota-exceeded.
pub async fn create_snapshot(
    rds: &aws_sdk_rds::Client,
    kind: DbKind,
    db_id: &str,
    snapshot_id: &str,
    tag_map: &BTreeMap<String, String>,
) -> Result<CallOutcome, AwsError> {
    match kind {
        DbKind::Instance => classify(
            "CreateDBSnapshot",
            rds.create_db_snapshot()
                .db_instance_identifier(db_id)
                .db_snapshot_identifier(snapshot_id)
                .set_tags(Some(sdk_tags(tag_map)))
                .send()
                .await,
            |e| e.is_db_snapshot_already_exists_fault(),
            |e| e.is_snapshot_quota_exceeded_fault(),
            |_| false,
        ),
        DbKind::Cluster => classify(
            "CreateDBClusterSnapshot",
            rds.create_db_cluster_snapshot()
                .db_cluster_identifier(db_id)
                .db_cluster_snapshot_identifier(snapshot_id)
                .set_tags(Some(sdk_tags(tag_map)))
                .send()
                .await,
            |e| e.is_db_cluster_snapshot_already_exists_fault(),
            |e| e.is_snapshot_quota_exceeded_fault(),
            |_| false,
        ),
    }
}

/// `CopyDBSnapshot` / `CopyDBClusterSnapshot`, called with a client of the destination region:
/// the source by ARN, `CopyTags`, the copy's tags, the destination KMS key for an encrypted
/// source, and the option group when one is configured. (The Rust SDK has no `SourceRegion`
/// pre-signing customisation and needs none outside GovCloud.)
///
/// # Errors
/// [`AwsError`] for anything but already-exists and quota-exceeded.
pub async fn copy_snapshot(
    rds: &aws_sdk_rds::Client,
    copy: &CopySnapshot,
) -> Result<CallOutcome, AwsError> {
    match copy.kind {
        DbKind::Instance => classify(
            "CopyDBSnapshot",
            rds.copy_db_snapshot()
                .source_db_snapshot_identifier(&copy.source_arn)
                .target_db_snapshot_identifier(&copy.target_id)
                .copy_tags(true)
                .set_tags(Some(sdk_tags(&copy.tags)))
                .set_kms_key_id(copy.kms_key_id.clone())
                .set_option_group_name(copy.option_group.clone())
                .send()
                .await,
            |e| e.is_db_snapshot_already_exists_fault(),
            |e| e.is_snapshot_quota_exceeded_fault(),
            |_| false,
        ),
        DbKind::Cluster => classify(
            "CopyDBClusterSnapshot",
            rds.copy_db_cluster_snapshot()
                .source_db_cluster_snapshot_identifier(&copy.source_arn)
                .target_db_cluster_snapshot_identifier(&copy.target_id)
                .copy_tags(true)
                .set_tags(Some(sdk_tags(&copy.tags)))
                .set_kms_key_id(copy.kms_key_id.clone())
                .send()
                .await,
            |e| e.is_db_cluster_snapshot_already_exists_fault(),
            |e| e.is_snapshot_quota_exceeded_fault(),
            |_| false,
        ),
    }
}

/// A delete's "already exists" slot carries not-found: [`CallOutcome::AlreadyGone`].
fn gone(outcome: CallOutcome) -> CallOutcome {
    match outcome {
        CallOutcome::AlreadyExists => CallOutcome::AlreadyGone,
        other => other,
    }
}

/// `DeleteDBSnapshot` / `DeleteDBClusterSnapshot`
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBSnapshot.html>: not
/// found is 404 `DBSnapshotNotFound`, [`CallOutcome::AlreadyGone`]).
///
/// # Errors
/// [`AwsError`] for anything but not-found (already gone) and invalid state (still busy).
pub async fn delete_snapshot(
    rds: &aws_sdk_rds::Client,
    kind: DbKind,
    id: &str,
) -> Result<CallOutcome, AwsError> {
    match kind {
        DbKind::Instance => classify(
            "DeleteDBSnapshot",
            rds.delete_db_snapshot()
                .db_snapshot_identifier(id)
                .send()
                .await,
            |e| e.is_db_snapshot_not_found_fault(),
            |_| false,
            |e| e.is_invalid_db_snapshot_state_fault(),
        )
        .map(gone),
        DbKind::Cluster => classify(
            "DeleteDBClusterSnapshot",
            rds.delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await,
            |e| e.is_db_cluster_snapshot_not_found_fault(),
            |_| false,
            |e| e.is_invalid_db_cluster_snapshot_state_fault(),
        )
        .map(gone),
    }
}
