//! What a switchover or failover of an Aurora global database must still do, from what was
//! observed: pure, so the plan of a dry-run is the plan a real run executes.
//!
//! AWS's behaviour this follows (Aurora User Guide, "Using switchover or failover in an Amazon
//! Aurora global database",
//! <https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html>):
//! - a **switchover** (`SwitchoverGlobalCluster`) waits until the target is fully synchronized,
//!   makes the primary read-only and promotes the target: RPO 0; it needs the members at the same
//!   major and minor engine version, and a primary that answers;
//! - a **failover** (`FailoverGlobalCluster` with `AllowDataLoss`) promotes the target at once and
//!   loses what had not replicated (the lag); Aurora adds the old primary back as a read-only
//!   secondary when its region recovers, after taking the snapshot
//!   `rds:unplanned-global-failover-<old primary>-<timestamp>`, kept for the old primary's backup
//!   retention period;
//! - the global writer endpoint follows the writer in both cases; regional cluster endpoints do not.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::failover::{
    points_to, same_host, AlarmState, HealthCheckState, HealthVerdict, RecordState, RecordUpdate,
};
use super::status::AlarmStateValue;
use crate::config::AuroraGlobalDatabase;

/// Prefix of the snapshot Aurora takes of the old primary after a failover with data loss.
pub const UNPLANNED_SNAPSHOT_PREFIX: &str = "rds:unplanned-global-failover-";

/// How long after a failover with data loss pilotlight looks for Aurora's unplanned-failover
/// snapshot of the old primary before it gives up (the old region may stay down for longer; the
/// report then says so), in seconds.
pub const UNPLANNED_SNAPSHOT_WAIT_SECONDS: i64 = 6 * 3600;

/// One member of a global database (`GlobalClusterMember`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalMember {
    /// `DBClusterArn`.
    pub cluster_arn: String,
    /// `IsWriter`: the primary cluster.
    pub is_writer: bool,
    /// `SynchronizationStatus` (`connected`, `pending-resync`), when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronization: Option<String>,
}

/// `FailoverState` of a global database: a switchover or failover pending or under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalFailover {
    /// `pending`, `failing-over`, `switching-over`, `cancelling`.
    pub status: String,
    /// `FromDbClusterArn`: the cluster being demoted.
    pub from_arn: Option<String>,
    /// `ToDbClusterArn`: the cluster being promoted.
    pub to_arn: Option<String>,
    /// `IsDataLossAllowed`: a failover (`true`) or a switchover.
    pub data_loss_allowed: bool,
}

/// `DescribeGlobalClusters` for one global database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalClusterState {
    /// `GlobalClusterIdentifier`.
    pub id: String,
    /// `Status` (`available` when no operation is under way).
    pub status: String,
    /// `EngineVersion` of the global database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// `Endpoint`: the global writer endpoint, which always points at the current primary's writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The member clusters.
    pub members: Vec<GlobalMember>,
    /// A switchover or failover pending or under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<GlobalFailover>,
}

impl GlobalClusterState {
    /// The member whose `DBClusterArn` is `arn`.
    pub fn member(&self, arn: &str) -> Option<&GlobalMember> {
        self.members.iter().find(|m| m.cluster_arn == arn)
    }

    /// The writer member's ARN.
    pub fn writer(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.is_writer)
            .map(|m| m.cluster_arn.as_str())
    }
}

/// `DescribeDBClusters` for one cluster, what the decision needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// `DBClusterIdentifier`.
    pub id: String,
    /// `DBClusterArn`.
    pub arn: String,
    /// `Status` (`available`, `failing-over`, `inaccessible-encryption-credentials`, ...).
    pub status: String,
    /// `EngineVersion`.
    pub engine_version: Option<String>,
    /// `Endpoint`: the cluster (writer) endpoint; regional endpoints do not move on switchover.
    pub endpoint: Option<String>,
    /// `VpcSecurityGroups[].VpcSecurityGroupId`.
    pub security_groups: Vec<String>,
}

/// What was read of a cluster: its state, `None` when it does not exist, or why it could not
/// be read (with whether its region answered at all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum ClusterRead {
    /// It answered.
    Found(ClusterState),
    /// `DBClusterNotFoundFault`.
    NotFound,
    /// No answer (no connection, a timeout, 5xx, throttled after the SDK's retries).
    Unreachable {
        /// The error.
        error: String,
    },
    /// Another failure (e.g. `AccessDenied`).
    Failed {
        /// The error.
        error: String,
    },
}

impl ClusterRead {
    /// The state, when found.
    pub fn found(&self) -> Option<&ClusterState> {
        match self {
            Self::Found(c) => Some(c),
            _ => None,
        }
    }
}

/// Everything a decision about an Aurora global database reads, at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuroraObservation {
    /// When it was read (UTC).
    pub at: DateTime<Utc>,
    /// The global database, read in the secondary's region (it answers while the primary's
    /// region is down): `Ok(None)` when it does not exist.
    pub global: Result<Option<GlobalClusterState>, String>,
    /// The configured primary cluster, read in its region.
    pub primary: ClusterRead,
    /// The configured secondary cluster, read in its region.
    pub secondary: ClusterRead,
    /// The secondary's lag in milliseconds at the failure: the newest datapoint of
    /// `AuroraGlobalDBRPOLag` (else `AuroraGlobalDBReplicationLag`) at or before the failure's
    /// minute; `None` without a datapoint.
    pub lag_ms: Option<f64>,
    /// Which metric `lag_ms` is (`AuroraGlobalDBRPOLag` or `AuroraGlobalDBReplicationLag`).
    pub lag_metric: Option<String>,
    /// The configured alarms.
    pub alarms: Vec<AlarmState>,
    /// The health check's status, when one is configured (`Err`: it could not be read).
    pub health_check: Option<Result<HealthCheckState, String>>,
    /// The configured records.
    pub records: Vec<RecordState>,
    /// Why the records could not be read (Route 53 did not answer).
    pub records_error: Option<String>,
}

/// What is asked of the global database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuroraIntent {
    /// A person's planned switchover.
    Switchover,
    /// An emergency failover: by an alarm (`automatic`), or a person (who may `force` it past
    /// the health and lag checks).
    Failover {
        /// A person forced it.
        force: bool,
        /// An alarm asked.
        automatic: bool,
    },
}

/// The AWS operation a decision calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuroraAction {
    /// `SwitchoverGlobalCluster`, called in the primary's region: no data loss.
    Switchover,
    /// `FailoverGlobalCluster` with `AllowDataLoss`, called in the secondary's region.
    Failover,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AuroraDecision {
    /// The secondary is the writer, the global database is `available`: only the records, the
    /// fencing and (after a failover) the snapshot may be left.
    WriterMoved,
    /// A switchover or failover to the secondary is under way: wait.
    InProgress {
        /// What is under way.
        reasons: Vec<String>,
    },
    /// Call `action`.
    Proceed {
        /// The call.
        action: AuroraAction,
        /// The RPO it accepts in seconds (0 for a switchover; the lag at the onset for a
        /// failover, `None` when unknown and forced).
        rpo_seconds: Option<f64>,
        /// Why this action (e.g. "the primary still answers: switchover, no data loss").
        why: String,
    },
    /// Nothing is done.
    Refused {
        /// Every reason, each naming what failed.
        reasons: Vec<String>,
    },
}

/// Decide what an Aurora switchover or failover of `db` must do now.
///
/// Refused, whatever is asked: the global database, the primary or the secondary cluster does
/// not exist or could not be read; the secondary is not a member of the global database; the
/// writer is neither configured cluster (the configuration disagrees with reality); another
/// switchover or failover is under way. A switchover also needs both clusters `available` and at
/// the same engine version. An automatic failover needs every configured alarm in `ALARM`, the
/// health check unhealthy by Route 53's rule, evidence that the primary is gone (its region does
/// not answer, the cluster does not exist, or it is not `available`), the lag at the onset within
/// `rpo_budget_seconds`, and no record holding a value that is neither cluster's endpoint. A
/// person's failover while the primary answers `available` is a switchover (no data loss); a
/// forced one otherwise skips the health and lag checks (not the record check).
pub fn decide_aurora(
    db: &AuroraGlobalDatabase,
    obs: &AuroraObservation,
    intent: AuroraIntent,
) -> AuroraDecision {
    let refused = |r: String| AuroraDecision::Refused { reasons: vec![r] };
    let secondary = match &obs.secondary {
        ClusterRead::Found(c) => c,
        ClusterRead::NotFound => {
            return refused(format!(
                "the secondary cluster `{}` does not exist in {}",
                db.secondary.cluster_id, db.secondary.region
            ))
        }
        ClusterRead::Unreachable { error } | ClusterRead::Failed { error } => {
            return refused(format!(
                "the secondary cluster `{}` could not be read in {}: {error}",
                db.secondary.cluster_id, db.secondary.region
            ))
        }
    };
    let global = match &obs.global {
        Ok(Some(g)) => g,
        Ok(None) => {
            return refused(format!(
                "the global database `{}` does not exist",
                db.global_cluster_id
            ))
        }
        Err(e) => {
            return refused(format!(
                "the global database `{}` could not be read: {e}",
                db.global_cluster_id
            ))
        }
    };
    let Some(member) = global.member(&secondary.arn) else {
        return refused(format!(
            "the secondary cluster `{}` ({}) is not a member of the global database `{}` (members: {})",
            db.secondary.cluster_id,
            secondary.arn,
            db.global_cluster_id,
            global
                .members
                .iter()
                .map(|m| m.cluster_arn.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if let Some(f) = &global.failover {
        return if f.to_arn.as_deref() == Some(secondary.arn.as_str()) {
            AuroraDecision::InProgress {
                reasons: vec![format!(
                    "a {} to `{}` is under way ({})",
                    if f.data_loss_allowed {
                        "failover"
                    } else {
                        "switchover"
                    },
                    db.secondary.cluster_id,
                    f.status
                )],
            }
        } else {
            refused(format!(
                "another switchover or failover of `{}` is under way ({}, to {})",
                db.global_cluster_id,
                f.status,
                f.to_arn.as_deref().unwrap_or("an unknown cluster")
            ))
        };
    }
    if member.is_writer {
        // no operation under way and the secondary is the writer: it takes writes (the global
        // database's own status may stay busy while the old primary's region is down)
        return AuroraDecision::WriterMoved;
    }
    let primary_arn = primary_arn(db, secondary);
    if let Some(w) = global.writer() {
        if w != primary_arn && obs.primary.found().is_none_or(|p| p.arn != w) {
            return refused(format!(
                "the writer of `{}` is {w}, neither the configured primary `{}` nor the secondary: the configuration disagrees with reality",
                db.global_cluster_id, db.primary.cluster_id
            ));
        }
    }
    if global.status != "available" {
        return refused(format!(
            "the global database `{}` is `{}` with no switchover or failover under way: try again when it is `available`",
            db.global_cluster_id, global.status
        ));
    }
    let foreign = foreign_records(db, obs, secondary);
    match intent {
        AuroraIntent::Switchover => {
            let mut reasons = switchover_blockers(db, obs, secondary);
            reasons.extend(foreign);
            if reasons.is_empty() {
                AuroraDecision::Proceed {
                    action: AuroraAction::Switchover,
                    rpo_seconds: Some(0.0),
                    why: "a planned switchover: Aurora synchronizes the secondary before it promotes it (no data loss)".into(),
                }
            } else {
                AuroraDecision::Refused { reasons }
            }
        }
        AuroraIntent::Failover { force, automatic } => {
            let primary_healthy = obs.primary.found().is_some_and(|p| p.status == "available");
            if primary_healthy && !automatic {
                // a person asks while the primary answers: switch over, lose nothing
                let mut reasons = switchover_blockers(db, obs, secondary);
                if reasons.is_empty() && foreign.is_empty() {
                    return AuroraDecision::Proceed {
                        action: AuroraAction::Switchover,
                        rpo_seconds: Some(0.0),
                        why: "the primary still answers `available`: a switchover instead of a failover (no data loss)".into(),
                    };
                }
                if !force {
                    reasons.insert(0, format!(
                        "the primary `{}` still answers `available`: a failover would lose data; use `switchover`, or `force` to fail over anyway",
                        db.primary.cluster_id
                    ));
                    reasons.extend(foreign);
                    return AuroraDecision::Refused { reasons };
                }
            }
            let mut reasons = foreign;
            let lag_s = obs.lag_ms.map(|ms| ms / 1000.0);
            if !force {
                reasons.extend(automatic_blockers(db, obs, lag_s));
            }
            if reasons.is_empty() {
                AuroraDecision::Proceed {
                    action: AuroraAction::Failover,
                    rpo_seconds: lag_s,
                    why: if force {
                        "forced by a person: `FailoverGlobalCluster` with `AllowDataLoss`".into()
                    } else {
                        "the primary is down and the secondary's lag is within the RPO budget: `FailoverGlobalCluster` with `AllowDataLoss`".into()
                    },
                }
            } else {
                AuroraDecision::Refused { reasons }
            }
        }
    }
}

/// The configured primary's ARN: as read, else built from the secondary's ARN (same partition
/// and account, the primary's region and id).
pub fn primary_arn(db: &AuroraGlobalDatabase, secondary: &ClusterState) -> String {
    let parts: Vec<&str> = secondary.arn.split(':').collect();
    let (partition, account) = match parts.as_slice() {
        ["arn", p, "rds", _, a, ..] => (*p, *a),
        _ => ("aws", ""),
    };
    format!(
        "arn:{partition}:rds:{}:{account}:cluster:{}",
        db.primary.region, db.primary.cluster_id
    )
}

/// Why a switchover cannot be called now (empty: it can).
fn switchover_blockers(
    db: &AuroraGlobalDatabase,
    obs: &AuroraObservation,
    secondary: &ClusterState,
) -> Vec<String> {
    let mut reasons = vec![];
    let primary = match &obs.primary {
        ClusterRead::Found(p) => p,
        ClusterRead::NotFound => {
            return vec![format!(
                "the primary cluster `{}` does not exist in {}: a switchover needs a primary that answers (failover instead)",
                db.primary.cluster_id, db.primary.region
            )]
        }
        ClusterRead::Unreachable { error } | ClusterRead::Failed { error } => {
            return vec![format!(
                "the primary cluster `{}` could not be read in {} ({error}): a switchover needs a primary that answers (failover instead)",
                db.primary.cluster_id, db.primary.region
            )]
        }
    };
    for c in [primary, secondary] {
        if c.status != "available" {
            reasons.push(format!(
                "cluster `{}` is `{}`, not `available`",
                c.id, c.status
            ));
        }
    }
    if !same_major_minor(
        primary.engine_version.as_deref(),
        secondary.engine_version.as_deref(),
    ) {
        reasons.push(format!(
            "the engine versions differ (`{}` {}, `{}` {}): a switchover needs the members at the same major and minor version; upgrade first, or fail over",
            primary.id,
            primary.engine_version.as_deref().unwrap_or("unknown"),
            secondary.id,
            secondary.engine_version.as_deref().unwrap_or("unknown"),
        ));
    }
    reasons
}

/// Why an automatic failover may not go on (empty: it may).
fn automatic_blockers(
    db: &AuroraGlobalDatabase,
    obs: &AuroraObservation,
    lag_s: Option<f64>,
) -> Vec<String> {
    let mut reasons = vec![];
    for a in &obs.alarms {
        if a.state != Some(AlarmStateValue::Alarm) {
            reasons.push(format!(
                "alarm `{}` is {}, not ALARM",
                a.name,
                a.state
                    .as_ref()
                    .map(ToString::to_string)
                    .or(a.error.clone())
                    .unwrap_or_else(|| "unknown".into())
            ));
        }
    }
    match &obs.health_check {
        Some(Ok(hc)) => match hc.verdict() {
            HealthVerdict::Unhealthy => {}
            HealthVerdict::Healthy => reasons.push(format!(
                "health check `{}` is healthy by Route 53's rule ({} of {} checkers report success, more than 18 %)",
                hc.id, hc.healthy_checkers, hc.checkers
            )),
            HealthVerdict::NoReports => reasons.push(format!(
                "health check `{}` has no checker reports: unknown",
                hc.id
            )),
        },
        Some(Err(e)) => reasons.push(format!("the health check could not be read: {e}")),
        None => {}
    }
    match &obs.primary {
        ClusterRead::Unreachable { .. } | ClusterRead::NotFound => {}
        ClusterRead::Found(p) if is_down(&p.status) => {}
        ClusterRead::Found(p) => reasons.push(format!(
            "the primary `{}` still answers `{}`: no evidence it is gone (a person can `switchover`)",
            p.id, p.status
        )),
        ClusterRead::Failed { error } => reasons.push(format!(
            "the primary `{}` could not be read and did not fail for want of an answer ({error}): no evidence it is gone",
            db.primary.cluster_id
        )),
    }
    match lag_s {
        Some(lag) if lag <= db.rpo_budget_seconds as f64 => {}
        Some(lag) => reasons.push(format!(
            "the secondary's lag at the failure was {lag:.1} s ({}), above the RPO budget of {} s",
            obs.lag_metric.as_deref().unwrap_or("lag"),
            db.rpo_budget_seconds
        )),
        None => reasons.push(format!(
            "no `AuroraGlobalDBRPOLag` or `AuroraGlobalDBReplicationLag` datapoint of `{}`: the data loss is unknown",
            db.secondary.cluster_id
        )),
    }
    reasons
}

/// Records holding a value that is neither cluster's endpoint (someone else's change): refused.
fn foreign_records(
    db: &AuroraGlobalDatabase,
    obs: &AuroraObservation,
    secondary: &ClusterState,
) -> Vec<String> {
    obs.records
        .iter()
        .filter(|r| {
            !r.values.is_empty()
                && !r.values.iter().all(|v| {
                    secondary.endpoint.as_deref().is_some_and(|e| same_host(v, e))
                        || is_primary_endpoint(db, obs, v)
                        || is_global_endpoint(obs, v)
                })
        })
        .map(|r| {
            format!(
                "record `{}` holds {:?}, neither cluster's endpoint: someone else changed it; pilotlight does not overwrite it",
                r.record.name, r.values
            )
        })
        .collect()
}

/// Whether `value` is the primary cluster's endpoint: as read, else by RDS's naming of cluster
/// endpoints, `<cluster id>.cluster-<opaque>.<region>.rds.amazonaws.com` (works while the
/// primary's region is down).
pub fn is_primary_endpoint(
    db: &AuroraGlobalDatabase,
    obs: &AuroraObservation,
    value: &str,
) -> bool {
    if let Some(e) = obs.primary.found().and_then(|p| p.endpoint.as_deref()) {
        return same_host(value, e);
    }
    let v = value.trim_end_matches('.').to_ascii_lowercase();
    v.starts_with(&format!("{}.cluster-", db.primary.cluster_id))
        && v.contains(&format!(".{}.", db.primary.region))
}

/// The record changes that point every configured record at `endpoint` (the new writer's
/// cluster endpoint); records already there need none, and a record that holds the global writer
/// endpoint is left alone (Aurora moves that endpoint itself).
pub fn record_updates(obs: &AuroraObservation, endpoint: &str) -> Vec<RecordUpdate> {
    obs.records
        .iter()
        .filter(|r| !points_to(&r.values, endpoint))
        .filter(|r| !(r.values.len() == 1 && is_global_endpoint(obs, &r.values[0])))
        .map(|r| RecordUpdate {
            hosted_zone_id: r.record.zone_id().to_owned(),
            name: r.record.fqdn(),
            from: r.values.clone(),
            from_ttl: r.ttl,
            to: Some(endpoint.to_owned()),
            ttl: r.record.ttl,
        })
        .collect()
}

/// Whether `value` is the global database's writer endpoint (`GlobalCluster.Endpoint`).
fn is_global_endpoint(obs: &AuroraObservation, value: &str) -> bool {
    obs.global
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .and_then(|g| g.endpoint.as_deref())
        .is_some_and(|e| same_host(value, e))
}

/// Cluster statuses that say the cluster cannot take writes: evidence that the primary is gone
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Aurora.Status>).
/// Busy statuses (`backing-up`, `modifying`, `upgrading`, `maintenance`, ...) are not.
pub fn is_down(status: &str) -> bool {
    matches!(
        status,
        "inaccessible-encryption-credentials"
            | "inaccessible-encryption-credentials-recoverable"
            | "migration-failed"
            | "cloning-failed"
            | "stopped"
            | "stopping"
            | "deleting"
            | "failed"
    )
}

/// Whether two Aurora engine versions have the same major and minor version: Aurora MySQL
/// `8.0.mysql_aurora.3.05.2` is 3.05, Aurora PostgreSQL `15.4` is 15.4 (AWS needs the same major
/// and minor version for a switchover; patch levels may differ where AWS allows it).
pub fn same_major_minor(a: Option<&str>, b: Option<&str>) -> bool {
    fn key(v: &str) -> Vec<&str> {
        let tail = v.rsplit_once("mysql_aurora.").map_or(v, |(_, t)| t);
        tail.split('.').take(2).collect()
    }
    match (a, b) {
        (Some(a), Some(b)) => key(a) == key(b),
        _ => false,
    }
}

/// Whether `arn` is the cluster `id` in `region`.
pub fn is_cluster(arn: &str, region: &str, id: &str) -> bool {
    arn.ends_with(&format!(":cluster:{id}")) && arn.contains(&format!(":rds:{region}:"))
}

/// What fencing the old primary needs once the secondary is the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fence", rename_all = "snake_case")]
pub enum AuroraFence {
    /// Nothing to do: it is a read-only member of the global database (Aurora demoted it), it
    /// does not exist, or fencing is `none`.
    Done {
        /// Why.
        detail: String,
    },
    /// Its region does not answer: try again when it does.
    Pending {
        /// Why.
        detail: String,
    },
    /// `ModifyDBCluster` `VpcSecurityGroupIds` to these groups.
    MoveToSecurityGroups {
        /// The configured groups.
        groups: Vec<String>,
    },
}

/// Fencing of the old primary (`db.primary`) after the writer moved to the secondary.
pub fn aurora_fence(db: &AuroraGlobalDatabase, obs: &AuroraObservation) -> AuroraFence {
    use crate::config::Fencing;
    let member = |arn: &str| {
        obs.global
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .and_then(|g| g.member(arn))
            .cloned()
    };
    match &obs.primary {
        ClusterRead::NotFound => AuroraFence::Done {
            detail: format!("the old primary `{}` no longer exists", db.primary.cluster_id),
        },
        ClusterRead::Unreachable { error } | ClusterRead::Failed { error } => match db.fencing {
            Fencing::SecurityGroup { .. } => AuroraFence::Pending {
                detail: format!(
                    "the old primary `{}` could not be read ({error}): fenced when its region answers",
                    db.primary.cluster_id
                ),
            },
            _ => AuroraFence::Done {
                detail: format!(
                    "fencing `none`: Aurora adds the old primary `{}` back as a read-only secondary when its region recovers",
                    db.primary.cluster_id
                ),
            },
        },
        ClusterRead::Found(p) => match member(&p.arn) {
            Some(m) if !m.is_writer => AuroraFence::Done {
                detail: format!(
                    "the old primary `{}` is a read-only secondary of the global database",
                    p.id
                ),
            },
            _ => match &db.fencing {
                Fencing::SecurityGroup { security_group_ids }
                    if !super::failover::same_groups(&p.security_groups, security_group_ids) =>
                {
                    AuroraFence::MoveToSecurityGroups {
                        groups: security_group_ids.clone(),
                    }
                }
                Fencing::SecurityGroup { .. } => AuroraFence::Done {
                    detail: format!("the old primary `{}` is in the fencing security groups", p.id),
                },
                _ => AuroraFence::Done {
                    detail: format!(
                        "fencing `none`: the old primary `{}` is left as it is (`{}`, outside the global database)",
                        p.id, p.status
                    ),
                },
            },
        },
    }
}

/// The manual copy's identifier of Aurora's unplanned-failover snapshot `source_id`
/// (`rds:unplanned-global-failover-<cluster>-<YYYY-MM-DD-HH-MM>`):
/// `pilotlight-<database>-unplanned-<YYYYMMDDHHMM>`, within the 63 characters of a DB cluster
/// snapshot identifier (a long database name is cut and hashed), never AWS's `rds:` prefix.
pub fn unplanned_copy_id(database: &str, source_id: &str) -> String {
    // the time stamp: the digits at the end of the source id (the last 12), else none
    let digits: String = source_id.chars().filter(char::is_ascii_digit).collect();
    let stamp = digits
        .get(digits.len().saturating_sub(12)..)
        .unwrap_or_default()
        .to_owned();
    crate::plan::snapshots::fit_identifier(
        &format!("pilotlight-{database}-unplanned"),
        &stamp,
        crate::plan::snapshots::MAX_CLUSTER_SNAPSHOT_ID,
    )
}

/// `true` once the unplanned-failover snapshot has been waited for long enough after `done_at`.
pub fn unplanned_wait_over(done_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now.signed_duration_since(done_at).num_seconds() > UNPLANNED_SNAPSHOT_WAIT_SECONDS
}
