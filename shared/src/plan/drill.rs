//! The DR drill's decisions (snapshot path): which snapshot copy to restore, under which
//! identifier, what a drill must still do given what its temporary instance looks like now, and
//! which instances a drill may ever delete. Pure: [`crate::aws::drill`] observes and acts.
//!
//! A drill is one ledger operation under its own key ([`ledger_key`]), so that a drill waiting for
//! a restore never holds the database's failover lease or open operation. Its steps, each
//! recorded before the call that makes it happen and decided again from the instance on every
//! run (a crash between any two resumes; see [`next_step`]):
//! 1. restore the newest available copy (`RestoreDBInstanceFromDBSnapshot`, tagged
//!    [`TAG_DRILL`]);
//! 2. wait until the instance is `available` (tens of minutes: across invocations, the reconcile
//!    pass advances it every minute);
//! 3. validate (the user's Lambda function, optional);
//! 4. delete it (`DeleteDBInstance`, `SkipFinalSnapshot`), only when it carries this drill's tag;
//! 5. report, publish and close.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::failover::Observation;
use super::snapshots::{fit_identifier, DbKind, SnapshotInfo, SnapshotSource};
use super::status::{InstanceStatus, SnapshotStatus};
use crate::config::{Fencing, ProtectedDatabase};

/// Tag on a drill's temporary instance: the drill's id. The drill deletes only instances that
/// carry it with its own id, and the IAM policy only allows `DeleteDBInstance` on instances that
/// carry the key.
pub const TAG_DRILL: &str = "pilotlight:drill";
/// Tag on a drill's instance: the protected database's name.
pub const TAG_DATABASE: &str = "pilotlight:database";
/// Every drill instance identifier starts with it (the IAM policy names `db:pilotlight-drill-*`).
pub const INSTANCE_PREFIX: &str = "pilotlight-drill-";
/// Longest DB instance identifier RDS accepts (1 to 63 characters,
/// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceFromDBSnapshot.html>).
pub const MAX_INSTANCE_ID: usize = 63;

/// The ledger key of `database`'s drills: its own lease and open operation, apart from the
/// failover's (`orders#drill`; a database name never holds `#`).
pub fn ledger_key(database: &str) -> String {
    format!("{database}#drill")
}

/// The drill id of a drill of `database` started at `at`: `<database>@<RFC 3339, seconds, UTC>`.
pub fn drill_id(database: &str, at: DateTime<Utc>) -> String {
    format!(
        "{database}@{}",
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// The temporary instance's identifier: `pilotlight-drill-<database>-<yyyymmddhhmmss>`, at most
/// 63 characters (a long name is cut and hashed, see [`fit_identifier`]).
pub fn instance_id(database: &str, at: DateTime<Utc>) -> String {
    fit_identifier(
        &format!("{INSTANCE_PREFIX}{database}"),
        &at.format("%Y%m%d%H%M%S").to_string(),
        MAX_INSTANCE_ID,
    )
}

/// Whether a drill may delete an instance with `identifier` and `tags`: only one of pilotlight's
/// drill instances ([`INSTANCE_PREFIX`]) carrying [`TAG_DRILL`] = `drill_id`. Everything else,
/// the protected databases among them, is never deleted.
pub fn may_delete(identifier: &str, tags: &BTreeMap<String, String>, drill_id: &str) -> bool {
    identifier.starts_with(INSTANCE_PREFIX)
        && !drill_id.is_empty()
        && tags.get(TAG_DRILL).map(String::as_str) == Some(drill_id)
}

/// The newest `available` pilotlight copy of `source` among `snapshots` (any DR region), by the
/// time its data was captured; `None` when there is none.
pub fn newest_copy<'a>(
    snapshots: &'a [SnapshotInfo],
    source: &SnapshotSource,
) -> Option<&'a SnapshotInfo> {
    snapshots
        .iter()
        .filter(|s| {
            s.kind == DbKind::Instance
                && s.is_pilotlights()
                && s.belongs_to(source)
                && s.region != source.region
                && s.status == SnapshotStatus::Available
        })
        .max_by_key(|s| (s.data_time(), s.id.clone()))
}

/// Where a temporary instance can be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// DNS name.
    pub address: String,
    /// Port.
    pub port: i32,
}

/// What a DB instance is, for the report's comparison of the restored instance with its source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceFacts {
    /// `Engine`.
    pub engine: Option<String>,
    /// `EngineVersion`.
    pub engine_version: Option<String>,
    /// `AllocatedStorage`, GiB.
    pub allocated_storage_gib: Option<i32>,
    /// `StorageType` (`gp3`, `io1`, ...).
    pub storage_type: Option<String>,
    /// `DBInstanceClass`.
    pub instance_class: Option<String>,
    /// `StorageEncrypted`.
    pub encrypted: Option<bool>,
}

/// A drill's temporary instance as `DescribeDBInstances` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillInstance {
    /// `DBInstanceIdentifier`.
    pub identifier: String,
    /// `DBInstanceStatus` (`creating`, `available`, `deleting`, `failed`, ...).
    pub status: String,
    /// Its endpoint, once RDS reports one.
    pub endpoint: Option<Endpoint>,
    /// `PubliclyAccessible`.
    pub publicly_accessible: bool,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Engine, version, storage, class.
    pub facts: InstanceFacts,
}

/// The validation function's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The restored database passed the user's checks.
    pub passed: bool,
    /// What the function said (its `detail`, or its error).
    pub detail: String,
    /// When it answered (UTC).
    pub at: DateTime<Utc>,
}

/// A drill as the ledger records it (the operation's `drill` field): every fact a later run needs
/// to resume and to report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRecord {
    /// [`drill_id`]: the value of the instance's [`TAG_DRILL`] tag.
    pub drill_id: String,
    /// DR region of the restore.
    pub region: String,
    /// The snapshot copy restored.
    pub snapshot_id: String,
    /// When its data was captured (UTC): `OriginalSnapshotCreateTime` of the copy.
    pub snapshot_data_time: Option<DateTime<Utc>>,
    /// The temporary instance.
    pub instance_id: String,
    /// When the drill started (UTC).
    pub started_at: DateTime<Utc>,
    /// When `RestoreDBInstanceFromDBSnapshot` was sent (UTC); recorded before the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_requested_at: Option<DateTime<Utc>>,
    /// When a run first saw the instance `available` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_at: Option<DateTime<Utc>>,
    /// The instance's endpoint once available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// What the restored instance is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored: Option<InstanceFacts>,
    /// What the protected primary is (read once, best effort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<InstanceFacts>,
    /// The validation's verdict, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why the drill failed (a restore that failed or took too long, an instance that is not
    /// the drill's), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// When `DeleteDBInstance` was accepted, or the instance found gone (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl DrillRecord {
    /// Seconds from the restore request to `available`: the snapshot path's RTO (without the
    /// DNS change an application would also need).
    pub fn restore_seconds(&self) -> Option<f64> {
        match (self.restore_requested_at, self.available_at) {
            (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        }
    }

    /// Age of the restored data when the drill started, seconds: the snapshot path's RPO.
    pub fn data_age_seconds(&self) -> Option<f64> {
        self.snapshot_data_time
            .map(|t| (self.started_at - t).num_milliseconds() as f64 / 1000.0)
    }

    /// Passed: restored, available, validated (or no validation asked), and no failure.
    pub fn passed(&self, validation_asked: bool) -> bool {
        self.failure.is_none()
            && self.available_at.is_some()
            && (!validation_asked || self.verdict.as_ref().is_some_and(|v| v.passed))
    }
}

/// What a drill must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrillStep {
    /// Send `RestoreDBInstanceFromDBSnapshot` (again: `DBInstanceAlreadyExists` is the earlier
    /// request's instance when it carries this drill's tag).
    Restore,
    /// The instance is being created: come back later.
    WaitForRestore,
    /// Record that the instance is `available` (time, endpoint, facts).
    RecordAvailable,
    /// Invoke the validation function.
    Validate,
    /// Record a failure, then delete (the string says why).
    Fail(String),
    /// Send `DeleteDBInstance`.
    Delete,
    /// The instance with the drill's identifier is not the drill's (no tag, or another
    /// drill's): close the drill failed and leave the instance alone.
    NotOurs(String),
    /// Deleted (or gone): report, publish, close.
    Finish,
}

/// Statuses after which a restore will not become `available` by itself
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html#Overview.DBInstance.Status>).
const DEAD_STATUSES: &[&str] = &[
    "failed",
    "incompatible-restore",
    "incompatible-parameters",
    "incompatible-network",
    "incompatible-option-group",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "restore-error",
    "storage-full",
];

/// The next step of `drill` given its instance as observed now (`None`: not found).
/// `validation_asked`: a validation function is configured; `max_restore_seconds`: how long a
/// restore may take before the drill gives up.
pub fn next_step(
    drill: &DrillRecord,
    instance: Option<&DrillInstance>,
    now: DateTime<Utc>,
    validation_asked: bool,
    max_restore_seconds: u64,
) -> DrillStep {
    let Some(instance) = instance else {
        // gone: deleted by us (or never made: restore it, unless the drill has failed already or
        // its restores have not produced an instance within the limit)
        if drill.deleted_at.is_some() || drill.failure.is_some() {
            return DrillStep::Finish;
        }
        if let Some(since) = drill.restore_requested_at {
            let waited = (now - since).num_seconds();
            if waited > i64::try_from(max_restore_seconds).unwrap_or(i64::MAX) {
                return DrillStep::Fail(format!(
                    "no instance `{}` {waited} s after the first restore request (limit drill.max_restore_seconds = {max_restore_seconds})",
                    drill.instance_id
                ));
            }
        }
        return DrillStep::Restore;
    };
    if !may_delete(&instance.identifier, &instance.tags, &drill.drill_id) {
        return DrillStep::NotOurs(format!(
            "DB instance `{}` exists without this drill's tag `{TAG_DRILL}={}` (tags: {:?}): it is not the drill's, and the drill leaves it alone",
            instance.identifier, drill.drill_id, instance.tags.get(TAG_DRILL)
        ));
    }
    if instance.status == "deleting" || drill.deleted_at.is_some() {
        return DrillStep::Finish;
    }
    if drill.failure.is_some() {
        return DrillStep::Delete;
    }
    if DEAD_STATUSES.contains(&instance.status.as_str()) {
        return DrillStep::Fail(format!(
            "the restore of `{}` ended `{}`",
            drill.snapshot_id, instance.status
        ));
    }
    if instance.status != "available" {
        let since = drill.restore_requested_at.unwrap_or(drill.started_at);
        let waited = (now - since).num_seconds();
        if drill.available_at.is_none()
            && waited > i64::try_from(max_restore_seconds).unwrap_or(i64::MAX)
        {
            return DrillStep::Fail(format!(
                "the restore of `{}` was not available after {waited} s (status `{}`; limit drill.max_restore_seconds = {max_restore_seconds})",
                drill.snapshot_id, instance.status
            ));
        }
        if drill.available_at.is_none() {
            return DrillStep::WaitForRestore;
        }
        // available once, busy now (RDS backs up a restored instance right away): go on
    }
    if drill.available_at.is_none() {
        return DrillStep::RecordAvailable;
    }
    if validation_asked && drill.verdict.is_none() {
        return DrillStep::Validate;
    }
    DrillStep::Delete
}

/// One check of the failover drill (readiness report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessCheck {
    /// `replica_exists`, `replica_replicates_from_primary`, `replica_available`,
    /// `replica_lag_within_rpo_budget`, `records_point_to_primary`, `alarms_readable`,
    /// `health_check_readable`, `fencing` (fails for `none`: nothing would stop the old primary).
    pub check: String,
    /// It holds.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// The failover drill's answer: whether a failover could run when it is needed, what an
/// automatic failover would find now, and the RPO it would have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Readiness {
    /// Every prerequisite check holds.
    pub ready: bool,
    /// The prerequisites, each with what was seen.
    pub checks: Vec<ReadinessCheck>,
    /// The automatic failover's conditions that do not hold now (with a healthy primary, "the
    /// primary is not down" and "no evidence that replication stopped" are expected).
    pub automatic_conditions_unmet: Vec<String>,
    /// An alarm now would fail over automatically (every condition holds).
    pub would_fail_over_now: bool,
    /// The recovery point a promotion now would have, seconds (`None`: unknown).
    pub rpo_seconds: Option<f64>,
    /// How the RPO was read.
    pub rpo_basis: Option<String>,
}

/// The readiness of `db`'s replica path from an observation made now.
pub fn readiness(db: &ProtectedDatabase, obs: &Observation) -> Readiness {
    use super::failover::{automatic_conditions, is_source, replication_evidence, rpo_estimate};
    let mut checks = Vec::new();
    let mut check = |name: &str, ok: bool, detail: String| {
        checks.push(ReadinessCheck {
            check: name.to_owned(),
            ok,
            detail,
        })
    };
    let replica = obs.replica.as_ref();
    check(
        "replica_exists",
        replica.is_some(),
        match replica {
            Some(r) => format!("`{}` in `{}`", r.instance_id, db.replica.region),
            None => format!(
                "`{}` not found in `{}`",
                db.replica.instance_id, db.replica.region
            ),
        },
    );
    let source = replica
        .and_then(|r| r.replica_source.clone())
        .unwrap_or_default();
    check(
        "replica_replicates_from_primary",
        is_source(&source, &db.primary.region, &db.primary.instance_id),
        if source.is_empty() {
            "the replica has no source: it is not a read replica (promoted already?)".into()
        } else {
            format!("source `{source}`")
        },
    );
    check(
        "replica_available",
        replica.is_some_and(|r| r.status == InstanceStatus::Available),
        format!(
            "status `{}`",
            replica.map_or("missing", |r| r.status.as_str())
        ),
    );
    let budget = db.rpo_budget_seconds as f64;
    check(
        "replica_lag_within_rpo_budget",
        obs.replica_lag_seconds
            .is_some_and(|l| (0.0..=budget).contains(&l)),
        match obs.replica_lag_seconds {
            Some(l) => format!("`ReplicaLag` {l} s, budget {budget} s"),
            None => {
                format!("no `ReplicaLag` datapoint in the look-back window (budget {budget} s)")
            }
        },
    );
    let primary_endpoint = match &obs.primary {
        Ok(Some(p)) => p.endpoint.clone(),
        _ => None,
    };
    let foreign: Vec<String> = obs
        .records
        .iter()
        .filter(|r| {
            !r.values.iter().all(|v| {
                super::failover::is_primary_endpoint(db, obs, v)
                    || primary_endpoint
                        .as_deref()
                        .is_some_and(|e| super::failover::same_host(v, e))
            }) || r.values.is_empty()
        })
        .map(|r| format!("`{}` = {:?}", r.record.name, r.values))
        .collect();
    check(
        "records_point_to_primary",
        obs.records_error.is_none() && foreign.is_empty(),
        match &obs.records_error {
            Some(e) => format!("the records could not be read: {e}"),
            None if foreign.is_empty() => {
                format!("{} record(s) point to the primary", obs.records.len())
            }
            None => format!("not pointing to the primary: {}", foreign.join(", ")),
        },
    );
    let unreadable: Vec<String> = obs
        .alarms
        .iter()
        .filter(|a| a.state.is_none())
        .map(|a| {
            format!(
                "`{}`: {}",
                a.name,
                a.error.as_deref().unwrap_or("not found")
            )
        })
        .collect();
    check(
        "alarms_readable",
        unreadable.is_empty(),
        if unreadable.is_empty() {
            obs.alarms
                .iter()
                .map(|a| {
                    format!(
                        "`{}` {}",
                        a.name,
                        a.state.as_ref().map_or("?", |s| s.as_str())
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            unreadable.join("; ")
        },
    );
    check(
        "health_check_readable",
        !matches!(obs.health_check, Some(Err(_))),
        match &obs.health_check {
            None => "no health check configured".into(),
            Some(Ok(h)) => format!(
                "`{}`: {} of {} checkers healthy",
                h.id, h.healthy_checkers, h.checkers
            ),
            Some(Err(e)) => e.clone(),
        },
    );
    check(
        "fencing",
        !matches!(db.fencing, Fencing::None),
        match &db.fencing {
            Fencing::Stop => "`stop` after the promotion; while the primary still answers, RDS refuses to stop an instance that has a read replica, so an automatic failover is then refused (two writers): `security_group` fences before the promotion".into(),
            Fencing::SecurityGroup { security_group_ids } => format!("`security_group` {security_group_ids:?}: applied before the promotion"),
            Fencing::None => "fencing `none`: nothing stops the old primary taking writes".into(),
        },
    );
    let (unmet, rpo) = match replica {
        Some(r) => {
            let rpo = rpo_estimate(obs, r);
            let evidence = replication_evidence(db, obs, r);
            (automatic_conditions(db, obs, &evidence, &rpo), Some(rpo))
        }
        None => (vec!["the replica does not exist".to_owned()], None),
    };
    Readiness {
        ready: checks.iter().all(|c| c.ok),
        would_fail_over_now: unmet.is_empty(),
        automatic_conditions_unmet: unmet,
        rpo_seconds: rpo.as_ref().and_then(|r| r.seconds),
        rpo_basis: rpo.map(|r| r.basis),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0)
            .single()
            .unwrap_or_default()
    }

    fn record() -> DrillRecord {
        DrillRecord {
            drill_id: drill_id("orders", at(6, 0)),
            region: "us-west-2".into(),
            snapshot_id: "pilotlight-orders-primary-20261201-0500-us-east-1".into(),
            snapshot_data_time: Some(at(5, 0)),
            instance_id: instance_id("orders", at(6, 0)),
            started_at: at(6, 0),
            restore_requested_at: Some(at(6, 0)),
            available_at: None,
            endpoint: None,
            restored: None,
            source: None,
            verdict: None,
            failure: None,
            deleted_at: None,
        }
    }

    fn instance(r: &DrillRecord, status: &str) -> DrillInstance {
        DrillInstance {
            identifier: r.instance_id.clone(),
            status: status.into(),
            endpoint: None,
            publicly_accessible: false,
            tags: BTreeMap::from([(TAG_DRILL.to_owned(), r.drill_id.clone())]),
            facts: InstanceFacts::default(),
        }
    }

    #[test]
    fn a_drill_goes_restore_wait_record_validate_delete_finish() {
        let mut r = record();
        r.restore_requested_at = None;
        assert_eq!(
            next_step(&r, None, at(6, 0), true, 3600),
            DrillStep::Restore
        );
        r.restore_requested_at = Some(at(6, 0));
        let creating = instance(&r, "creating");
        assert_eq!(
            next_step(&r, Some(&creating), at(6, 20), true, 3600),
            DrillStep::WaitForRestore
        );
        let available = instance(&r, "available");
        assert_eq!(
            next_step(&r, Some(&available), at(6, 30), true, 3600),
            DrillStep::RecordAvailable
        );
        r.available_at = Some(at(6, 30));
        assert_eq!(
            next_step(&r, Some(&available), at(6, 30), true, 3600),
            DrillStep::Validate
        );
        // busy after being available (a backup) does not stop the drill
        let backing_up = instance(&r, "backing-up");
        assert_eq!(
            next_step(&r, Some(&backing_up), at(6, 31), true, 3600),
            DrillStep::Validate
        );
        assert_eq!(
            next_step(&r, Some(&available), at(6, 31), false, 3600),
            DrillStep::Delete
        );
        r.deleted_at = Some(at(6, 32));
        assert_eq!(
            next_step(&r, Some(&instance(&r, "deleting")), at(6, 33), false, 3600),
            DrillStep::Finish
        );
        assert_eq!(
            next_step(&r, None, at(6, 40), false, 3600),
            DrillStep::Finish
        );
        assert_eq!(r.restore_seconds(), Some(1800.0));
        assert_eq!(r.data_age_seconds(), Some(3600.0));
    }

    #[test]
    fn a_restore_that_fails_or_takes_too_long_is_a_failure_and_still_deleted() {
        let r = record();
        let failed = instance(&r, "incompatible-restore");
        assert!(matches!(
            next_step(&r, Some(&failed), at(6, 5), false, 3600),
            DrillStep::Fail(_)
        ));
        let creating = instance(&r, "creating");
        assert!(matches!(
            next_step(&r, Some(&creating), at(7, 1), false, 3600),
            DrillStep::Fail(_)
        ));
        let mut r = r;
        r.failure = Some("x".into());
        assert_eq!(
            next_step(&r, Some(&creating), at(7, 2), false, 3600),
            DrillStep::Delete
        );
        assert!(!r.passed(false));
    }

    #[test]
    fn an_instance_without_the_drill_tag_is_never_deleted() {
        let r = record();
        let mut other = instance(&r, "available");
        other.tags.clear();
        assert!(matches!(
            next_step(&r, Some(&other), at(6, 5), false, 3600),
            DrillStep::NotOurs(_)
        ));
        other
            .tags
            .insert(TAG_DRILL.into(), "orders@2026-11-01T06:00:00Z".into());
        assert!(matches!(
            next_step(&r, Some(&other), at(6, 5), false, 3600),
            DrillStep::NotOurs(_)
        ));
    }

    #[test]
    fn instance_ids_are_valid_and_bounded() {
        let long = "a".repeat(80);
        let id = instance_id(&long, at(6, 0));
        assert!(
            id.len() <= MAX_INSTANCE_ID && id.starts_with(INSTANCE_PREFIX),
            "{id}"
        );
        assert_eq!(
            instance_id("orders", at(6, 0)),
            "pilotlight-drill-orders-20261201060000"
        );
    }
}
