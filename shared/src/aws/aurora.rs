//! Amazon RDS for Aurora global databases: `DescribeGlobalClusters`, `DescribeDBClusters`,
//! `SwitchoverGlobalCluster`, `FailoverGlobalCluster`, `ModifyDBCluster` (fencing) and the
//! unplanned-failover snapshot (`DescribeDBClusterSnapshots`, `CopyDBClusterSnapshot`).
//!
//! API reference: <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_FailoverGlobalCluster.html>,
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_SwitchoverGlobalCluster.html>,
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_GlobalCluster.html>.

use aws_sdk_rds::error::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use super::AwsError;
use crate::plan::aurora::{
    ClusterRead, ClusterState, GlobalClusterState, GlobalFailover, GlobalMember,
    UNPLANNED_SNAPSHOT_PREFIX,
};

/// `DescribeGlobalClusters` for `id`; `Ok(None)` on `GlobalClusterNotFoundFault`.
///
/// # Errors
/// [`AwsError`] for any other failure.
pub async fn describe_global_cluster(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> Result<Option<GlobalClusterState>, AwsError> {
    let out = match rds
        .describe_global_clusters()
        .global_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_global_cluster_not_found_fault()) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(AwsError::from_sdk("DescribeGlobalClusters", e)),
    };
    Ok(out.global_clusters().first().map(|g| GlobalClusterState {
        id: g.global_cluster_identifier().unwrap_or(id).to_owned(),
        status: g.status().unwrap_or("unknown").to_owned(),
        engine_version: g.engine_version().map(str::to_owned),
        endpoint: g.endpoint().map(str::to_owned),
        members: g
            .global_cluster_members()
            .iter()
            .map(|m| GlobalMember {
                cluster_arn: m.db_cluster_arn().unwrap_or_default().to_owned(),
                is_writer: m.is_writer().unwrap_or(false),
                synchronization: m.synchronization_status().map(|s| s.as_str().to_owned()),
            })
            .collect(),
        // "empty unless a switchover or failover is scheduled or in progress"
        // (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_FailoverState.html>)
        failover: g
            .failover_state()
            .filter(|f| f.status().is_some() && f.to_db_cluster_arn().is_some())
            .map(|f| GlobalFailover {
                status: f
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                from_arn: f.from_db_cluster_arn().map(str::to_owned),
                to_arn: f.to_db_cluster_arn().map(str::to_owned),
                data_loss_allowed: f.is_data_loss_allowed().unwrap_or(false),
            }),
    }))
}

/// `DescribeDBClusters` for `id`, classified: found, not found, no answer, or another failure.
pub async fn read_cluster(rds: &aws_sdk_rds::Client, id: &str) -> ClusterRead {
    match rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => match out.db_clusters().first() {
            Some(c) => ClusterRead::Found(ClusterState {
                id: c.db_cluster_identifier().unwrap_or(id).to_owned(),
                arn: c.db_cluster_arn().unwrap_or_default().to_owned(),
                status: c.status().unwrap_or("unknown").to_owned(),
                engine_version: c.engine_version().map(str::to_owned),
                endpoint: c.endpoint().map(str::to_owned),
                security_groups: c
                    .vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
                    .collect(),
            }),
            None => ClusterRead::NotFound,
        },
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_cluster_not_found_fault()) =>
        {
            ClusterRead::NotFound
        }
        Err(e) => {
            let e = AwsError::from_sdk("DescribeDBClusters", e);
            // throttled is an answer: the region is up (no evidence the primary is gone)
            if e.unreachable {
                ClusterRead::Unreachable {
                    error: e.to_string(),
                }
            } else {
                ClusterRead::Failed {
                    error: e.to_string(),
                }
            }
        }
    }
}

/// What a switchover or failover call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalCallOutcome {
    /// Aurora accepted it.
    Started,
    /// `InvalidGlobalClusterStateFault`: an operation is already under way on the global database
    /// (a concurrent or repeated run started it); the next observation says which.
    AlreadyUnderWay(String),
}

/// `SwitchoverGlobalCluster` to `target_arn` (call it with a client of the current primary's
/// region, as AWS documents).
///
/// # Errors
/// [`AwsError`] for anything but `InvalidGlobalClusterStateFault`: e.g.
/// `InvalidDBClusterStateFault` (a member not `available`, versions that differ),
/// `GlobalClusterNotFoundFault`, `DBClusterNotFoundFault`, `AccessDenied`.
pub async fn switchover(
    rds: &aws_sdk_rds::Client,
    global_id: &str,
    target_arn: &str,
) -> Result<GlobalCallOutcome, AwsError> {
    started_or_busy(
        "SwitchoverGlobalCluster",
        rds.switchover_global_cluster()
            .global_cluster_identifier(global_id)
            .target_db_cluster_identifier(target_arn)
            .send()
            .await,
        |e| e.is_invalid_global_cluster_state_fault(),
    )
}

/// `FailoverGlobalCluster` with `AllowDataLoss` to `target_arn` (call it with a client of the
/// target's region: it answers while the primary's region is down).
///
/// # Errors
/// As [`switchover`].
pub async fn failover(
    rds: &aws_sdk_rds::Client,
    global_id: &str,
    target_arn: &str,
) -> Result<GlobalCallOutcome, AwsError> {
    started_or_busy(
        "FailoverGlobalCluster",
        rds.failover_global_cluster()
            .global_cluster_identifier(global_id)
            .target_db_cluster_identifier(target_arn)
            .allow_data_loss(true)
            .send()
            .await,
        |e| e.is_invalid_global_cluster_state_fault(),
    )
}

/// Accepted, or `InvalidGlobalClusterStateFault` (`busy`) as [`GlobalCallOutcome::AlreadyUnderWay`],
/// else an [`AwsError`] of `operation` telling "no answer" from a refusal.
fn started_or_busy<O, E>(
    operation: &'static str,
    result: Result<O, SdkError<E, HttpResponse>>,
    busy: impl Fn(&E) -> bool,
) -> Result<GlobalCallOutcome, AwsError>
where
    E: std::error::Error
        + aws_smithy_types::error::metadata::ProvideErrorMetadata
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(_) => Ok(GlobalCallOutcome::Started),
        Err(e) => match e.as_service_error() {
            Some(s) if busy(s) => Ok(GlobalCallOutcome::AlreadyUnderWay(s.to_string())),
            _ => Err(AwsError::from_sdk(operation, e)),
        },
    }
}

/// `ModifyDBCluster` `VpcSecurityGroupIds` with `ApplyImmediately`: the old primary cluster no
/// longer accepts connections but through these groups.
///
/// # Errors
/// [`AwsError`] when the call fails.
pub async fn move_cluster_to_security_groups(
    rds: &aws_sdk_rds::Client,
    cluster_id: &str,
    groups: &[String],
) -> Result<(), AwsError> {
    rds.modify_db_cluster()
        .db_cluster_identifier(cluster_id)
        .set_vpc_security_group_ids(Some(groups.to_vec()))
        .apply_immediately(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("ModifyDBCluster", e))
}

/// A cluster snapshot: id, ARN, status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSnapshotRef {
    /// `DBClusterSnapshotIdentifier`.
    pub id: String,
    /// `DBClusterSnapshotArn`.
    pub arn: String,
    /// `Status` (`creating`, `available`, ...).
    pub status: String,
    /// `SnapshotCreateTime` (UTC).
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The unplanned-failover snapshots Aurora took of `cluster_id` (ids starting with
/// `rds:unplanned-global-failover-`), by `DescribeDBClusterSnapshots` of the cluster, every
/// snapshot type, every page.
///
/// # Errors
/// [`AwsError`] when a call fails.
pub async fn unplanned_snapshots(
    rds: &aws_sdk_rds::Client,
    cluster_id: &str,
) -> Result<Vec<ClusterSnapshotRef>, AwsError> {
    let mut found = vec![];
    let mut marker: Option<String> = None;
    loop {
        let out = rds
            .describe_db_cluster_snapshots()
            .db_cluster_identifier(cluster_id)
            .max_records(super::rds::PAGE_SIZE)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeDBClusterSnapshots", e))?;
        found.extend(out.db_cluster_snapshots().iter().filter_map(|s| {
            let id = s.db_cluster_snapshot_identifier()?;
            id.starts_with(UNPLANNED_SNAPSHOT_PREFIX)
                .then(|| ClusterSnapshotRef {
                    id: id.to_owned(),
                    arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_owned(),
                    status: s.status().unwrap_or_default().to_owned(),
                    created_at: s.snapshot_create_time().and_then(super::to_chrono),
                })
        }));
        match out.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    Ok(found)
}
