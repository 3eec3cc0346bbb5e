//! RDS snapshot adapters for snapshot-copy and retention: list (paginated), discover tagged
//! databases (paginated), create, copy, delete — DB instance and Aurora DB cluster alike. Modeled
//! faults the logic cares about (already exists, quota exceeded, not found, invalid state) become
//! [`CallOutcome`]s; everything else an [`AwsError`] naming the call.

use std::collections::BTreeMap;

use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rds::types::Tag;
use aws_smithy_runtime_api::client::result::CreateUnhandledError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use chrono::{DateTime, Utc};

use crate::aws::{AwsError, Clients};
use crate::config::Config;
use crate::snapshot::{CopySnapshot, DbKind, SnapshotInfo, SnapshotSource};

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
    /// `DBSnapshotNotFound` (on delete: already gone) or `InvalidDBSnapshotState` (e.g. still
    /// copying); the message says which.
    Skipped(String),
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

fn to_chrono(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn tags(list: &[Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

fn sdk_tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
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
    let mut instances = rds
        .describe_db_snapshots()
        .snapshot_type("manual")
        .into_paginator()
        .page_size(PAGE_SIZE)
        .items()
        .send();
    while let Some(item) = instances.next().await {
        let s = item.map_err(|e| AwsError::new("DescribeDBSnapshots", e.into_service_error()))?;
        out.push(SnapshotInfo {
            id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
            arn: s.db_snapshot_arn().unwrap_or_default().to_owned(),
            kind: DbKind::Instance,
            region: region.to_owned(),
            status: s.status().unwrap_or("unknown").to_owned(),
            created_at: to_chrono(s.snapshot_create_time()),
            original_created_at: to_chrono(s.original_snapshot_create_time()),
            encrypted: s.encrypted().unwrap_or(false),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            db_id: s.db_instance_identifier().unwrap_or_default().to_owned(),
            engine: s.engine().map(str::to_owned),
            allocated_storage_gib: s.allocated_storage(),
            tags: tags(s.tag_list()),
        });
    }
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
        out.push(SnapshotInfo {
            id: s
                .db_cluster_snapshot_identifier()
                .unwrap_or_default()
                .to_owned(),
            arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_owned(),
            kind: DbKind::Cluster,
            region: region.to_owned(),
            status: s.status().unwrap_or("unknown").to_owned(),
            created_at: to_chrono(s.snapshot_create_time()),
            original_created_at: None,
            encrypted: s.storage_encrypted().unwrap_or(false),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            db_id: s.db_cluster_identifier().unwrap_or_default().to_owned(),
            engine: s.engine().map(str::to_owned),
            allocated_storage_gib: s.allocated_storage(),
            tags: tags(s.tag_list()),
        });
    }
    out.shrink_to_fit();
    Ok(out)
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

/// `DeleteDBSnapshot` / `DeleteDBClusterSnapshot`.
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
            |_| false,
            |_| false,
            |e| e.is_db_snapshot_not_found_fault() || e.is_invalid_db_snapshot_state_fault(),
        ),
        DbKind::Cluster => classify(
            "DeleteDBClusterSnapshot",
            rds.delete_db_cluster_snapshot()
                .db_cluster_snapshot_identifier(id)
                .send()
                .await,
            |_| false,
            |_| false,
            |e| {
                e.is_db_cluster_snapshot_not_found_fault()
                    || e.is_invalid_db_cluster_snapshot_state_fault()
            },
        ),
    }
}

/// The configured databases (each protected database's primary instance) plus, with discovery,
/// every tagged DB instance and cluster; `errors` for regions where discovery failed.
pub async fn sources(config: &Config, clients: &Clients) -> (Vec<SnapshotSource>, Vec<String>) {
    let sn = &config.snapshots;
    let mut out: Vec<SnapshotSource> = config
        .databases
        .iter()
        .map(|d| SnapshotSource {
            db_id: d.primary.instance_id.clone(),
            kind: DbKind::Instance,
            region: d.primary.region.clone(),
            dr_regions: if sn.dr_regions.is_empty() {
                vec![d.replica.region.clone()]
            } else {
                sn.dr_regions.clone()
            },
            engine: None,
            origin: "config".into(),
        })
        .collect();
    let mut errors = Vec::new();
    if let Some(d) = &sn.discover {
        let dr = if d.dr_regions.is_empty() {
            sn.dr_regions.clone()
        } else {
            d.dr_regions.clone()
        };
        let found = futures::future::join_all(d.regions.iter().map(|region| async move {
            let result = match clients.rds(region) {
                Ok(rds) => discover(rds, &d.tag_key, &d.tag_value).await,
                Err(e) => Err(e),
            };
            (region, result)
        }))
        .await;
        for (region, result) in found {
            match result {
                Ok(list) => {
                    for t in list {
                        if out
                            .iter()
                            .any(|s| s.db_id == t.db_id && &s.region == region && s.kind == t.kind)
                        {
                            continue;
                        }
                        out.push(SnapshotSource {
                            db_id: t.db_id,
                            kind: t.kind,
                            region: region.clone(),
                            dr_regions: dr.clone(),
                            engine: t.engine,
                            origin: "tag".into(),
                        });
                    }
                }
                Err(e) => errors.push(format!("discovery in `{region}` failed: {e}")),
            }
        }
    }
    for s in &mut out {
        let own = s.region.clone();
        s.dr_regions.retain(|r| r != &own);
        s.dr_regions.sort();
        s.dr_regions.dedup();
    }
    (out, errors)
}
