//! The typed commands pilotlight's workers run, and the JSON a person types to run them.
//!
//! Shape: `{"command": "status"}`, `{"command": "failover", "database": "orders", "dry_run": true}`,
//! `{"command": "failover", "database": "orders", "force": true, "reason": "..."}`. The router sends
//! the same JSON to the workers, adding `trigger` when an alarm asked for the failover. Unknown
//! fields are rejected: a misspelt `dryrun` must never run a real failover.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::WorkerError;
use crate::plan::status::AlarmStateValue;

/// One command for a worker function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    /// Report, per protected database (or only `database`), primary and replica status, replica
    /// lag, where each DNS record points, and the alarm state. Changes nothing.
    Status {
        /// Limit the report to this database.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        database: Option<String>,
    },
    /// Bring `database` to "the DR replica is the writer and DNS points to it".
    Failover(FailoverRequest),
    /// A planned switchover of an Aurora global database to its configured secondary cluster
    /// (`SwitchoverGlobalCluster`: no data loss): `{"command": "switchover", "database":
    /// "ledger", "reason": "CHG-1234", "dry_run": false}`.
    Switchover(SwitchoverRequest),
    /// Reconcile snapshots: a recent one in the source region, a copy in every DR region.
    SnapshotCopy(SnapshotCopyRequest),
    /// Delete pilotlight's snapshots that the retention policy no longer keeps.
    Retention(RetentionRequest),
    /// Advance every open operation (or `database`'s) by the steps it still misses, and run the
    /// DR-region detection where it is on. Run by a schedule every minute.
    Reconcile {
        /// Only this database.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        database: Option<String>,
    },
    /// The DR drill of `database` (or of every RDS database): `kind` `snapshot` (default)
    /// restores the newest DR snapshot copy into a temporary instance, validates it, deletes it
    /// and reports the restore time and the data age; `kind` `failover` is a readiness report
    /// of the automatic failover's conditions, changing nothing.
    Drill(DrillRequest),
    /// Bring `database` home after a failover, in two phases a person starts:
    /// `{"command": "failback", "database": "orders", "phase": "prepare"}` (a new read replica of
    /// the DR writer in the original region) then `"phase": "switch"` (fence the DR writer, wait
    /// until the new replica has every write, promote it, repoint the records).
    Failback(FailbackRequest),
    /// The last `limit` operations of `database` in the ledger, newest first. Changes nothing and
    /// never waits for a lease.
    History {
        /// A protected database's name.
        database: String,
        /// How many (1 to 100, default 10).
        #[serde(default = "default_history_limit")]
        limit: u32,
    },
}

fn default_history_limit() -> u32 {
    10
}

/// `{"command": "snapshot-copy", "database": "orders", "dry_run": true}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotCopyRequest {
    /// Only this database: a protected database's name, or the identifier of a DB instance or
    /// cluster (for tag-discovered ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Return the plan without creating or copying anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Set by the router only, for a run it started through the job gate (RDS snapshot events):
    /// the gate's owner, which the run leaves (or passes once more for a queued request) when
    /// done. A command that carries it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
}

/// `{"command": "retention", "database": "orders", "region": "us-west-2", "dry_run": true}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionRequest {
    /// Only this database (name or DB identifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Only this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Return the decisions without deleting anything.
    #[serde(default)]
    pub dry_run: bool,
}

impl Command {
    /// The command's name as typed (`status`, `failover`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status { .. } => "status",
            Command::Failover(_) => "failover",
            Command::Switchover(_) => "switchover",
            Command::SnapshotCopy(_) => "snapshot-copy",
            Command::Retention(_) => "retention",
            Command::Reconcile { .. } => "reconcile",
            Command::History { .. } => "history",
            Command::Drill(_) => "drill",
            Command::Failback(_) => "failback",
        }
    }

    /// The database the command names, if any.
    pub fn database(&self) -> Option<&str> {
        match self {
            Command::Status { database } => database.as_deref(),
            Command::Failover(r) => Some(&r.database),
            Command::Switchover(r) => Some(&r.database),
            Command::SnapshotCopy(r) => r.database.as_deref(),
            Command::Retention(r) => r.database.as_deref(),
            Command::Reconcile { database } => database.as_deref(),
            Command::History { database, .. } => Some(database),
            Command::Drill(r) => r.database.as_deref(),
            Command::Failback(r) => Some(&r.database),
        }
    }
}

/// `{"command": "failback", "database": "orders", "phase": "prepare", "dry_run": false,
/// "reason": "CHG-1234"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailbackRequest {
    /// A protected RDS database's name.
    pub database: String,
    /// Which phase.
    pub phase: FailbackPhase,
    /// Return the plan of the phase without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Why (a change ticket), recorded in the ledger and the notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The two phases of a failback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailbackPhase {
    /// Create a read replica of the DR writer in the original region and wait until it is
    /// `available` and replicating.
    Prepare,
    /// The planned switchover back: fence the DR writer, wait for the new replica to catch up,
    /// promote it, repoint the records.
    Switch,
}

/// `{"command": "drill", "database": "orders", "kind": "snapshot", "dry_run": false}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillRequest {
    /// A protected RDS database's name; absent: every RDS database (the monthly schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// What is drilled (default `snapshot`).
    #[serde(default)]
    pub kind: DrillKind,
    /// Snapshot drill: name the snapshot and the instance it would restore, restore nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a drill proves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillKind {
    /// The snapshot path: a real restore of the newest DR snapshot copy (RTO and RPO of a
    /// restore).
    #[default]
    Snapshot,
    /// The replica path: which automatic failover conditions hold now, and the RPO a failover
    /// would have; no change.
    Failover,
}

/// The `switchover` command: a person's planned switchover of an Aurora global database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchoverRequest {
    /// The protected database's `name` (an `aurora_global` entry).
    pub database: String,
    /// Plan only: observe and answer with the plan, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Why (a change ticket), recorded in the ledger and the notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl SwitchoverRequest {
    /// The same request in the ledger's shape (an operation records a [`FailoverRequest`]; its
    /// `kind` says it is a switchover).
    pub fn as_failover(&self) -> FailoverRequest {
        FailoverRequest {
            database: self.database.clone(),
            dry_run: self.dry_run,
            force: false,
            reason: self.reason.clone(),
            trigger: None,
            dr_detection: None,
        }
    }
}

/// A request to fail a database over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverRequest {
    /// Name of a protected database from the configuration.
    pub database: String,
    /// Run every check and return the plan without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// Proceed even when the primary does not look down or the replica lag is unknown or over
    /// the RPO budget. Only a person sets it; alarms never do.
    #[serde(default)]
    pub force: bool,
    /// Why a person asked (recorded in the report and the notification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The alarm transition that asked for this failover; absent for a manual command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<AlarmTrigger>,
    /// Set by the reconcile pass when it opens an incident from DR-region evidence alone;
    /// absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_detection: Option<DrDetectionTrigger>,
}

/// The DR-region detection that asked for a failover
/// (see [`crate::config::DrDetection`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrDetectionTrigger {
    /// Consecutive reconcile passes that saw the primary's region not answering and the replica
    /// not replicating.
    pub consecutive_passes: u32,
    /// The first of them (UTC).
    pub since: DateTime<Utc>,
}

/// An alarm state change, as delivered by SNS or EventBridge, reduced to what pilotlight uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmTrigger {
    /// The CloudWatch alarm name.
    pub alarm_name: String,
    /// The new state: `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    pub state: AlarmStateValue,
    /// When the alarm changed state (UTC); the start of the measured RTO.
    pub state_change_time: Option<DateTime<Utc>>,
    /// Region code of the alarm, from its ARN or the event, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The `HealthCheckId` dimension of the alarm's metric, when it watches a Route 53 health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
    /// How the alarm reached pilotlight.
    pub delivered_by: Delivery,
}

/// How an alarm state change reached the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// The alarm's SNS action (`{"Records": [{"Sns": ...}]}`).
    Sns,
    /// An EventBridge "CloudWatch Alarm State Change" rule.
    Eventbridge,
}

/// Parse a worker's input (a command JSON value).
///
/// # Errors
/// [`WorkerError::InvalidCommand`] with serde's account of what is wrong: an unknown `command`, a
/// missing `database`, an unknown field.
pub fn parse_command(value: serde_json::Value) -> Result<Command, WorkerError> {
    serde_json::from_value(value)
        .map_err(|e| WorkerError::InvalidCommand(format!("invalid command: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_status_command_parses() {
        assert_eq!(
            parse_command(json!({"command": "status"})).ok(),
            Some(Command::Status { database: None })
        );
    }

    #[test]
    fn a_misspelt_dry_run_is_an_error_not_a_real_failover() {
        let err =
            parse_command(json!({"command": "failover", "database": "orders", "dryrun": true}));
        assert!(err.is_err_and(|e| e.to_string().contains("dryrun")));
    }

    #[test]
    fn an_unknown_command_is_named() {
        let err = parse_command(json!({"command": "reboot"}));
        assert!(err.is_err_and(|e| e.to_string().contains("reboot")));
    }

    #[test]
    fn a_command_survives_a_round_trip_through_json() {
        let cmd = Command::Failover(FailoverRequest {
            database: "orders".into(),
            dry_run: false,
            force: false,
            reason: None,
            dr_detection: None,
            trigger: Some(AlarmTrigger {
                alarm_name: "a".into(),
                state: AlarmStateValue::Alarm,
                state_change_time: None,
                region: Some("us-east-1".into()),
                health_check_id: None,
                delivered_by: Delivery::Sns,
            }),
        });
        let back = serde_json::to_value(&cmd)
            .ok()
            .and_then(|v| parse_command(v).ok());
        assert_eq!(back, Some(cmd));
    }
}
