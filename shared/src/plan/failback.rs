//! Failback: bringing a database home after a failover, in two phases a person starts.
//!
//! After a failover the configured replica `R` (DR region) is a standalone writer, the
//! configured primary `P` (original region) is fenced, and the records point at `R`.
//! - **prepare**: a new cross-region read replica `N` of `R` in `P`'s region, with `P`'s class,
//!   subnet group, parameter and option groups, security groups (those it had before a
//!   security-group fence) and, for an encrypted source, `P`'s KMS key
//!   (`CreateDBInstanceReadReplica`); `P` is tagged as replaced, never deleted. Done when `N` is
//!   `available` and replicating.
//! - **switch** (no data loss): refused unless `N` is `available`, replicating from `R` and
//!   within `failback.max_lag_seconds`; then fence `R` (security groups without ingress, then a
//!   reboot to end open sessions), wait for a `ReplicaLag` of 0 measured after the fence,
//!   promote `N`, repoint the records from `R` to `N` (compare-and-swap), report the
//!   write-unavailability window (fence request to DNS in sync).
//!
//! Pure: what a phase must do next, from what was observed and what the ledger recorded.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::failover::{is_source, points_to, same_groups, RecordState};
use super::snapshots::fit_identifier;
use crate::command::FailbackPhase;
use crate::config::ProtectedDatabase;

/// Tag on the old primary once a failback made its replacement: the new instance's identifier.
pub const TAG_REPLACED_BY: &str = "pilotlight:replaced-by";
/// Tag on the new instance: the failback operation that made it.
pub const TAG_FAILBACK: &str = "pilotlight:failback";

/// A DB instance as a failback reads it (`DescribeDBInstances`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FbInstance {
    /// `DBInstanceIdentifier`.
    pub id: String,
    /// `DBInstanceArn`.
    pub arn: String,
    /// `DBInstanceStatus`.
    pub status: String,
    /// `Endpoint.Address`, once RDS reports one.
    pub endpoint: Option<String>,
    /// `ReadReplicaSourceDBInstanceIdentifier` (an ARN across regions); `None`: standalone.
    pub replica_source: Option<String>,
    /// `StatusInfos` "read replication" status (`replicating`, `error`, ...).
    pub replication: Option<String>,
    /// `VpcSecurityGroups` ids.
    pub security_groups: Vec<String>,
    /// A security group change is not active yet.
    pub security_groups_pending: bool,
    /// `DBInstanceClass`.
    pub instance_class: Option<String>,
    /// `DBSubnetGroup.DBSubnetGroupName`.
    pub subnet_group: Option<String>,
    /// The first `DBParameterGroups[].DBParameterGroupName`.
    pub parameter_group: Option<String>,
    /// The first `OptionGroupMemberships[].OptionGroupName`.
    pub option_group: Option<String>,
    /// `KmsKeyId` (an ARN) of an encrypted instance.
    pub kms_key_id: Option<String>,
    /// `StorageEncrypted`.
    pub encrypted: bool,
    /// `MultiAZ`.
    pub multi_az: bool,
    /// `Engine` (`postgres`, `mysql`, `oracle-ee`, ...).
    pub engine: Option<String>,
    /// `BackupRetentionPeriod`, days.
    pub backup_retention_days: Option<i32>,
    /// `DeletionProtection`.
    pub deletion_protection: bool,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// Whether `CreateDBInstanceReadReplica` takes a `DBParameterGroupName` for a cross-Region
/// replica of `engine`: "only supported for MySQL DB instances for cross-Region read replicas
/// ..., for Db2 DB instances, and for Oracle DB instances"
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html>);
/// other engines get the engine's default group and are refused with one.
pub fn cross_region_parameter_group(engine: Option<&str>) -> bool {
    engine.is_some_and(|e| e == "mysql" || e.starts_with("oracle") || e.starts_with("db2"))
}

impl FbInstance {
    /// `available`.
    pub fn available(&self) -> bool {
        self.status == "available"
    }

    /// A standalone instance (not a read replica).
    pub fn standalone(&self) -> bool {
        self.replica_source.is_none()
    }
}

/// A failback as the ledger records it (the operation's `failback` field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailbackRecord {
    /// The phase this operation runs.
    pub phase: FailbackPhase,
    /// The new instance `N`, in the original primary's region.
    pub new_instance_id: String,
    /// Its region (the configured primary's).
    pub new_region: String,
    /// The DR writer `R` (the configured replica, promoted by the failover).
    pub writer_id: String,
    /// Its region.
    pub writer_region: String,
    /// prepare: when `CreateDBInstanceReadReplica` was sent (UTC; recorded before the call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_requested_at: Option<DateTime<Utc>>,
    /// prepare: when `N` was first seen `available` and replicating (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<DateTime<Utc>>,
    /// switch: when the fence of `R` was requested (UTC): writes stop being possible from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fence_requested_at: Option<DateTime<Utc>>,
    /// switch: when `RebootDBInstance` of `R` was accepted (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_requested_at: Option<DateTime<Utc>>,
    /// switch: when `R` was first seen `rebooting` after that (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_seen_at: Option<DateTime<Utc>>,
    /// prepare: the old primary's `BackupRetentionPeriod` (days), given to the promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_retention_days: Option<i32>,
    /// switch: when `R` was seen `available` again after its reboot (UTC): no session of before
    /// the fence is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced_at: Option<DateTime<Utc>>,
    /// switch: `N`'s lag when the fence was requested, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_at_fence_seconds: Option<f64>,
    /// switch: when a `ReplicaLag` of 0 measured after the fence was seen (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_up_at: Option<DateTime<Utc>>,
    /// switch: when `PromoteReadReplica` of `N` was accepted (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_requested_at: Option<DateTime<Utc>>,
    /// switch: when `N` was seen standalone and `available` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<DateTime<Utc>>,
    /// switch: when every record pointed at `N` and Route 53 was in sync (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_in_sync_at: Option<DateTime<Utc>>,
}

impl FailbackRecord {
    /// Seconds during which no write could be made: from the fence request to DNS in sync.
    pub fn write_unavailable_seconds(&self) -> Option<f64> {
        match (self.fence_requested_at, self.dns_in_sync_at) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        }
    }
}

/// The new instance's identifier: `<primary id>-fb-<yyyymmddhhmm>`, at most 63 characters; a
/// long primary id is cut and hashed, the `-fb-<stamp>` suffix is always whole (the IAM policy
/// names `db:*-fb-*`).
pub fn new_instance_id(db: &ProtectedDatabase, at: DateTime<Utc>) -> String {
    fit_identifier(
        &db.primary.instance_id,
        &format!("fb-{}", at.format("%Y%m%d%H%M")),
        63,
    )
}

/// Why the database is not failed over (so there is nothing to fail back): empty when the
/// configured replica is a standalone writer and every record points at it.
pub fn not_failed_over(
    db: &ProtectedDatabase,
    writer: Option<&FbInstance>,
    records: &[RecordState],
) -> Vec<String> {
    let mut reasons = Vec::new();
    match writer {
        None => reasons.push(format!(
            "the configured replica `{}` does not exist in `{}`",
            db.replica.instance_id, db.replica.region
        )),
        Some(w) if !w.standalone() => reasons.push(format!(
            "no failover to fail back from: `{}` is still a read replica (of `{}`)",
            w.id,
            w.replica_source.as_deref().unwrap_or_default()
        )),
        Some(w) => {
            if !w.available() {
                reasons.push(format!(
                    "the DR writer `{}` is `{}`, not `available`",
                    w.id, w.status
                ));
            }
            let endpoint = w.endpoint.as_deref().unwrap_or_default();
            for r in records {
                if !points_to(&r.values, endpoint) {
                    reasons.push(format!(
                        "`{}` points to {:?}, not to the DR writer `{endpoint}`: the failover is not complete (or someone changed it)",
                        r.record.name, r.values
                    ));
                }
            }
        }
    }
    reasons
}

/// What `CreateDBInstanceReadReplica` sends for the new instance (in the primary's region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaSpec {
    /// `DBInstanceIdentifier`.
    pub instance_id: String,
    /// `SourceDBInstanceIdentifier`: the DR writer's ARN (cross-region).
    pub source_arn: String,
    /// `DBInstanceClass` (the old primary's; else the writer's).
    pub instance_class: Option<String>,
    /// `DBSubnetGroupName` (the old primary's).
    pub subnet_group: Option<String>,
    /// `DBParameterGroupName` (the old primary's, for the engines that take one across regions:
    /// [`cross_region_parameter_group`]).
    pub parameter_group: Option<String>,
    /// `OptionGroupName` (the old primary's).
    pub option_group: Option<String>,
    /// `VpcSecurityGroupIds`: the old primary's before its fence.
    pub security_groups: Vec<String>,
    /// `KmsKeyId` in the primary's region (required for an encrypted source across regions):
    /// the old primary's key.
    pub kms_key_id: Option<String>,
    /// `MultiAZ` (the old primary's).
    pub multi_az: bool,
    /// `DeletionProtection` (the old primary's).
    pub deletion_protection: bool,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The new instance's settings, from the old primary and the writer; `Err` with the reason when
/// they cannot be known well enough to create it: the old primary is gone (its subnet group and
/// network are unknown: the instance would land in the default VPC), its security groups before a
/// fence are unknown and `primary_groups` (`failback.primary_security_group_ids`) gives none, or
/// the writer is encrypted and no key in the primary's region is known.
pub fn replica_spec(
    new_id: &str,
    old_primary: Option<&FbInstance>,
    writer: &FbInstance,
    fence_groups: &[String],
    primary_groups: &[String],
    operation_id: &str,
) -> Result<ReplicaSpec, String> {
    let Some(p) = old_primary else {
        return Err(format!(
            "the old primary does not exist any more: its subnet group, parameter and option groups and security groups are unknown; create the new replica of `{}` by hand, or restore the old primary first",
            writer.id
        ));
    };
    let groups: Vec<String> = if !primary_groups.is_empty() {
        primary_groups.to_vec()
    } else {
        p.tags
            .get(super::failover::TAG_GROUPS_BEFORE_FENCE)
            .map(|g| {
                g.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_else(|| p.security_groups.clone())
    };
    // never the fence's groups (no ingress): the application could not reach the new primary
    if !fence_groups.is_empty() && same_groups(&groups, fence_groups) {
        return Err(format!(
            "the security groups `{}` had before its fence are unknown (it carries only the fence's {fence_groups:?}): give them in `databases[].failback.primary_security_group_ids`",
            p.id
        ));
    }
    // a key only for an encrypted source: RDS refuses KmsKeyId for an unencrypted one
    let kms_key_id = if writer.encrypted {
        match p.kms_key_id.clone() {
            Some(k) => Some(k),
            None => {
                return Err(format!(
                    "`{}` is encrypted and the old primary's KMS key is unknown: a cross-region read replica needs a key in the primary's region",
                    writer.id
                ))
            }
        }
    } else {
        None
    };
    Ok(ReplicaSpec {
        instance_id: new_id.to_owned(),
        source_arn: writer.arn.clone(),
        instance_class: p
            .instance_class
            .clone()
            .or_else(|| writer.instance_class.clone()),
        subnet_group: p.subnet_group.clone(),
        parameter_group: p
            .parameter_group
            .clone()
            .filter(|_| cross_region_parameter_group(writer.engine.as_deref())),
        option_group: p.option_group.clone(),
        security_groups: groups,
        kms_key_id,
        multi_az: p.multi_az,
        deletion_protection: p.deletion_protection,
        tags: BTreeMap::from([
            (TAG_FAILBACK.to_owned(), operation_id.to_owned()),
            (
                super::snapshots::TAG_MANAGED_BY.to_owned(),
                super::snapshots::MANAGED_BY.to_owned(),
            ),
        ]),
    })
}

/// Why the new instance is not ready for the switch: empty when it is `available`, a read
/// replica of the writer that replicates, and its lag is known and at most `max_lag_seconds`.
pub fn not_ready(
    new: Option<&FbInstance>,
    writer: &FbInstance,
    writer_region: &str,
    lag_seconds: Option<f64>,
    max_lag_seconds: u64,
) -> Vec<String> {
    let Some(n) = new else {
        return vec![
            "the new instance does not exist: run `failback` with `\"phase\": \"prepare\"` first"
                .into(),
        ];
    };
    let mut reasons = vec![];
    if !n.available() {
        reasons.push(format!(
            "the new instance `{}` is `{}`, not `available`",
            n.id, n.status
        ));
    }
    match n.replica_source.as_deref() {
        Some(src) if is_source(src, writer_region, &writer.id) => {}
        Some(src) => reasons.push(format!(
            "`{}` replicates from `{src}`, not from the DR writer `{}`",
            n.id, writer.id
        )),
        None => reasons.push(format!("`{}` is not a read replica", n.id)),
    }
    if n.replication.as_deref().is_some_and(|r| r != "replicating") {
        reasons.push(format!(
            "`{}` reports read replication `{}`",
            n.id,
            n.replication.as_deref().unwrap_or_default()
        ));
    }
    match lag_seconds {
        None => reasons.push(format!(
            "no `ReplicaLag` datapoint of `{}` yet: it has not caught up",
            n.id
        )),
        Some(l) if l < 0.0 || l > max_lag_seconds as f64 => reasons.push(format!(
            "`{}` lags {l} s, more than `failback.max_lag_seconds` ({max_lag_seconds} s): not caught up",
            n.id
        )),
        Some(_) => {}
    }
    reasons
}

/// Whether a lag series shows the new instance caught up after the fence: a datapoint of 0
/// whose minute starts at or after `fenced_at` (its writes all came after the last write).
pub fn caught_up_after(points: &[(DateTime<Utc>, f64)], fenced_at: DateTime<Utc>) -> bool {
    points.iter().any(|(t, v)| *t >= fenced_at && *v == 0.0)
}

/// Where the configuration's roles disagree with what RDS reports (empty: they agree), for
/// `status`: a configured primary that is a read replica or gone, a configured replica that is a
/// standalone writer (a failover happened: `failback` brings the database home, then the
/// configuration names the new primary) or gone.
pub fn disagreements(db: &ProtectedDatabase, obs: &super::failover::Observation) -> Vec<String> {
    let mut out = vec![];
    match &obs.primary {
        Ok(Some(p)) if p.replica_source.is_some() => out.push(format!(
            "the configured primary `{}` is a read replica (of `{}`): the configuration's roles are out of date",
            db.primary.instance_id,
            p.replica_source.as_deref().unwrap_or_default()
        )),
        Ok(None) => out.push(format!(
            "the configured primary `{}` does not exist in `{}`",
            db.primary.instance_id, db.primary.region
        )),
        _ => {}
    }
    match &obs.replica {
        Some(r) if r.replica_source.is_none() => out.push(format!(
            "the configured replica `{}` is a standalone writer: the database is failed over; `failback` (`prepare`, then `switch`) brings it home, after which `databases[].primary.instance_id` names the new primary and `replica` a new DR replica",
            db.replica.instance_id
        )),
        None => out.push(format!(
            "the configured replica `{}` does not exist in `{}`",
            db.replica.instance_id, db.replica.region
        )),
        _ => {}
    }
    out
}

/// An operation id for a failback phase started by a person's request.
pub fn operation_label(phase: FailbackPhase, at: DateTime<Utc>) -> String {
    format!(
        "failback-{}@{}",
        match phase {
            FailbackPhase::Prepare => "prepare",
            FailbackPhase::Switch => "switch",
        },
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> FbInstance {
        FbInstance {
            id: "orders-replica".into(),
            arn: "arn:aws:rds:us-west-2:123456789012:db:orders-replica".into(),
            status: "available".into(),
            endpoint: Some("orders-replica.x.us-west-2.rds.amazonaws.com".into()),
            ..FbInstance::default()
        }
    }

    #[test]
    fn the_new_instance_takes_the_groups_the_old_primary_had_before_its_fence() {
        let mut p = FbInstance {
            id: "orders-primary".into(),
            security_groups: vec!["sg-0fence0000000000".into()],
            instance_class: Some("db.r6g.large".into()),
            ..FbInstance::default()
        };
        p.tags.insert(
            super::super::failover::TAG_GROUPS_BEFORE_FENCE.into(),
            "sg-0aaaaaaaaaaaaaaaa,sg-0bbbbbbbbbbbbbbbb".into(),
        );
        let fence = ["sg-0fence0000000000".to_owned()];
        let spec = replica_spec("n", Some(&p), &writer(), &fence, &[], "op").ok();
        assert_eq!(
            spec.as_ref().map(|s| s.security_groups.clone()),
            Some(vec![
                "sg-0aaaaaaaaaaaaaaaa".to_owned(),
                "sg-0bbbbbbbbbbbbbbbb".to_owned()
            ])
        );
        assert_eq!(
            spec.and_then(|s| s.instance_class).as_deref(),
            Some("db.r6g.large")
        );
        // no record of the groups before: the fence's own groups are never copied; the
        // configuration may name them
        p.tags.clear();
        assert!(replica_spec("n", Some(&p), &writer(), &fence, &[], "op").is_err());
        let given = ["sg-0cccccccccccccccc".to_owned()];
        let spec = replica_spec("n", Some(&p), &writer(), &fence, &given, "op").ok();
        assert_eq!(spec.map(|s| s.security_groups), Some(given.to_vec()));
        // the old primary gone: refused (the default VPC is no place for it)
        assert!(replica_spec("n", None, &writer(), &fence, &given, "op").is_err());
        // an encrypted writer without a known key in the primary's region is refused
        let mut w = writer();
        w.encrypted = true;
        assert!(replica_spec("n", Some(&p), &w, &[], &given, "op").is_err());
        // an unencrypted writer never gets a key (RDS refuses KmsKeyId for it)
        p.kms_key_id = Some("arn:aws:kms:us-east-1:123456789012:key/k".into());
        let spec = replica_spec("n", Some(&p), &writer(), &[], &given, "op").ok();
        assert_eq!(spec.and_then(|s| s.kms_key_id), None);
    }

    #[test]
    fn a_long_primary_id_keeps_the_failback_suffix() {
        let mut db: ProtectedDatabase = serde_json::from_value(serde_json::json!({
            "name": "orders",
            "primary": {"region": "us-east-1", "instance_id": "a".repeat(60)},
            "replica": {"region": "us-west-2", "instance_id": "orders-replica"},
            "records": [], "rpo_budget_seconds": 60
        }))
        .unwrap_or_else(|_| unreachable!());
        let at = DateTime::<Utc>::from_timestamp(1_796_000_000, 0).unwrap_or_default();
        let id = new_instance_id(&db, at);
        assert!(id.len() <= 63 && id.contains("-fb-"), "{id}");
        db.primary.instance_id = "orders-primary".parse().unwrap_or_else(|_| unreachable!());
        assert!(new_instance_id(&db, at).starts_with("orders-primary-fb-"));
    }

    #[test]
    fn the_switch_waits_for_a_zero_lag_measured_after_the_fence() {
        let t =
            |m: i64| DateTime::<Utc>::from_timestamp(1_700_000_000 + m * 60, 0).unwrap_or_default();
        let fenced = t(10) + chrono::Duration::seconds(20);
        assert!(
            !caught_up_after(&[(t(9), 0.0), (t(10), 0.0)], fenced),
            "before the fence"
        );
        assert!(!caught_up_after(&[(t(11), 2.0)], fenced));
        assert!(caught_up_after(&[(t(11), 0.0)], fenced));
    }

    #[test]
    fn a_switch_is_refused_until_the_new_instance_replicates_and_has_caught_up() {
        let w = writer();
        assert!(!not_ready(None, &w, "us-west-2", Some(0.0), 30).is_empty());
        let mut n = FbInstance {
            id: "orders-primary-fb".into(),
            status: "creating".into(),
            replica_source: Some(w.arn.clone()),
            replication: Some("replicating".into()),
            ..FbInstance::default()
        };
        assert!(!not_ready(Some(&n), &w, "us-west-2", Some(0.0), 30).is_empty());
        n.status = "available".into();
        assert!(!not_ready(Some(&n), &w, "us-west-2", Some(120.0), 30).is_empty());
        assert!(!not_ready(Some(&n), &w, "us-west-2", None, 30).is_empty());
        assert!(not_ready(Some(&n), &w, "us-west-2", Some(3.0), 30).is_empty());
    }
}
