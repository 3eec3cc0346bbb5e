//! The failover decision: a pure function of what was observed, what was asked, and the policy.
//!
//! [`observe`](crate::observe::failover) reads the actual state of a protected database;
//! [`decide_failover`] says what
//! failover must do next: nothing (already failed over), refuse (with every reason), or the steps
//! still missing. The plan is what a dry-run returns and what the executor runs, so a re-run after a
//! crash at any step does only what is left.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::status::{AlarmStateValue, InstanceStatus};
use crate::config::{DnsRecord, ProtectedDatabase};

/// Tag written on the replica just before `PromoteReadReplica`: the UTC time (RFC 3339) the
/// failover decided to promote. Lets a later run tell "promotion under way" from "not a replica".
pub const TAG_PROMOTION_STARTED: &str = "pilotlight:promotion-started-at";
/// Tag written with [`TAG_PROMOTION_STARTED`]: the alarm time (RFC 3339) the RTO is measured from.
pub const TAG_ALARM_AT: &str = "pilotlight:alarm-at";
/// Tag written with [`TAG_PROMOTION_STARTED`]: the replica lag in seconds at the decision (the RPO).
pub const TAG_LAG_AT_PROMOTION: &str = "pilotlight:replica-lag-seconds";
/// Tag written when a failover finished (DNS in sync), RFC 3339 UTC. A standalone replica carrying
/// it whose records point elsewhere has been failed back: pilotlight does not repoint DNS to it
/// again unless forced.
pub const TAG_FAILOVER_COMPLETED: &str = "pilotlight:failover-completed-at";

/// What pilotlight saw of one protected database (the `status` command returns it as is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The database's name in the configuration.
    pub database: String,
    /// When the observation was made (UTC).
    pub observed_at: DateTime<Utc>,
    /// The primary, or why it could not be read (its region may be the one that is down).
    pub primary: Result<Option<InstanceState>, String>,
    /// The replica; `None` when it does not exist.
    pub replica: Option<InstanceState>,
    /// Latest `ReplicaLag` datapoint (seconds) within the look-back window; `None` when unknown.
    pub replica_lag_seconds: Option<f64>,
    /// Each configured alarm and its current state.
    pub alarms: Vec<AlarmState>,
    /// The Route 53 health check's checkers, when one is configured.
    pub health_check: Option<Result<HealthCheckState, String>>,
    /// Each configured record and where it points now.
    pub records: Vec<RecordState>,
}

/// An RDS DB instance as `DescribeDBInstances` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    /// `DBInstanceIdentifier`.
    pub instance_id: String,
    /// `DBInstanceArn`.
    pub arn: Option<String>,
    /// `DBInstanceStatus` (`available`, `modifying`, `rebooting`, ...).
    pub status: InstanceStatus,
    /// `Endpoint.Address`, the host name DNS must point to.
    pub endpoint: Option<String>,
    /// `ReadReplicaSourceDBInstanceIdentifier`: the source (an ARN across regions) while it is a
    /// read replica; `None` once standalone.
    pub replica_source: Option<String>,
    /// From [`TAG_PROMOTION_STARTED`]: when pilotlight decided to promote it.
    pub promotion_started_at: Option<DateTime<Utc>>,
    /// From [`TAG_ALARM_AT`].
    pub alarm_at: Option<DateTime<Utc>>,
    /// From [`TAG_LAG_AT_PROMOTION`].
    pub lag_at_promotion_seconds: Option<f64>,
    /// From [`TAG_FAILOVER_COMPLETED`].
    #[serde(default)]
    pub failover_completed_at: Option<DateTime<Utc>>,
}

/// A CloudWatch alarm's state as `DescribeAlarms` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmState {
    /// Alarm name.
    pub name: String,
    /// `ALARM`, `OK`, `INSUFFICIENT_DATA`; `None` when the alarm does not exist or could not be read.
    pub state: Option<AlarmStateValue>,
    /// `StateUpdatedTimestamp` (UTC).
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the state is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GetHealthCheckStatus`, counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckState {
    /// Health check id.
    pub id: String,
    /// Checkers whose last report starts with `Success`.
    pub healthy_checkers: usize,
    /// All checkers that reported.
    pub checkers: usize,
}

impl HealthCheckState {
    /// Route 53 considers an endpoint healthy when more than half of its checkers (by default
    /// 18% in the console, but pilotlight is stricter) report it healthy; `true` here means a
    /// majority reports success.
    pub fn healthy(&self) -> bool {
        self.checkers > 0 && self.healthy_checkers * 2 > self.checkers
    }
}

/// A Route 53 record set's current value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordState {
    /// The configured record.
    pub record: DnsRecord,
    /// Current values (host names), empty when the record does not exist.
    pub values: Vec<String>,
    /// Current TTL in seconds.
    pub ttl: Option<i64>,
}

impl RecordState {
    /// Whether the record is exactly `endpoint` (one value, trailing dot ignored).
    pub fn points_to(&self, endpoint: &str) -> bool {
        points_to(&self.values, endpoint)
    }
}

/// Whether record values are exactly `endpoint` (one value, trailing dot and case ignored).
pub fn points_to(values: &[String], endpoint: &str) -> bool {
    values.len() == 1 && same_host(&values[0], endpoint)
}

/// Host names compare without case and without the trailing dot.
pub fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// What was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    /// A person forced it past the health and lag checks.
    pub force: bool,
    /// An alarm asked (`true`), or a person (`false`).
    pub automatic: bool,
}

/// One step still to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum PlannedStep {
    /// `PromoteReadReplica` on the replica (after tagging it with the decision).
    Promote {
        /// Replica instance id.
        instance_id: String,
        /// Its region.
        region: String,
    },
    /// Poll `DescribeDBInstances` until the instance is `available` and no longer a replica.
    WaitForPromotion {
        /// Replica instance id.
        instance_id: String,
        /// Its region.
        region: String,
    },
    /// Point a record at the promoted instance's endpoint and wait for `INSYNC`.
    UpdateRecord(RecordUpdate),
}

/// A compare-and-swap of one `CNAME` record set: everything the executor needs, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordUpdate {
    /// Hosted zone id, without the `/hostedzone/` prefix.
    pub hosted_zone_id: String,
    /// Record name, fully qualified with its trailing dot.
    pub name: String,
    /// Current values (what a compare-and-swap change deletes; empty: the record is created).
    pub from: Vec<String>,
    /// Current TTL in seconds (the `DELETE` must name the record set exactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_ttl: Option<i64>,
    /// The endpoint it must point to; `None` until the promoted instance reports its endpoint.
    pub to: Option<String>,
    /// TTL in seconds written with the new value (from the configuration).
    pub ttl: i64,
}

/// What a refused compare-and-swap of a record means, once the record is read again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterConflict {
    /// It points at the target: a concurrent run repointed it. Nothing left to do.
    DoneByConcurrentRun,
    /// It holds other values than observed: someone changed it during the failover. pilotlight
    /// does not overwrite a person's change (`Conflict`).
    ChangedByOthers,
    /// It still holds the values observed: nobody changed it, so Route 53 refused the change for
    /// another reason (e.g. a record of another type at the name): an AWS failure.
    Unchanged,
}

/// Classify a refused compare-and-swap from the record's `current` values (read again), the
/// values the plan observed (`update.from`) and the `target` endpoint.
pub fn after_conflict(update: &RecordUpdate, current: &[String], target: &str) -> AfterConflict {
    let same = |a: &[String], b: &[String]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_host(x, y))
    };
    if points_to(current, target) {
        AfterConflict::DoneByConcurrentRun
    } else if same(current, &update.from) {
        AfterConflict::Unchanged
    } else {
        AfterConflict::ChangedByOthers
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The replica is the writer and every record points to it: nothing to do.
    AlreadyFailedOver,
    /// Do not fail over; every reason is listed.
    Refused {
        /// Why, one sentence each.
        reasons: Vec<String>,
    },
    /// Do these steps, in order.
    Proceed {
        /// The steps still missing.
        steps: Vec<PlannedStep>,
        /// Checks that failed but were overridden by `force`.
        overridden: Vec<String>,
        /// Replica lag (seconds) at the decision: the RPO estimate.
        rpo_seconds: Option<f64>,
    },
}

/// Decide what failover must do for `db` now.
///
/// Rules, in order:
/// 1. The replica must exist.
/// 2. If it is already standalone: when pilotlight promoted it (its tag says so) or `force` is set,
///    finish what is missing (wait, records); when every record already points to it, nothing is
///    left. A standalone "replica" pilotlight did not promote is refused: the configuration is wrong.
/// 3. If it is still a replica, it must replicate from the configured primary. If pilotlight already
///    started the promotion and it is not `available` yet, wait. Otherwise it must be `available`,
///    the primary must look down (an alarm in `ALARM`, and the health check, if any, not healthy)
///    and the replica lag must be known and within the RPO budget — `force` overrides these last
///    two, and the overrides are reported.
pub fn decide_failover(db: &ProtectedDatabase, obs: &Observation, ask: Ask) -> Decision {
    let Some(replica) = &obs.replica else {
        return refused(format!(
            "replica `{}` does not exist in `{}`",
            db.replica.instance_id, db.replica.region
        ));
    };
    if replica.replica_source.is_none() {
        return decide_standalone(db, obs, replica, ask);
    }
    decide_replica(db, obs, replica, ask)
}

/// The steps that point every record not yet there at `endpoint` (`None`: not known yet).
fn records_to_update(obs: &Observation, endpoint: Option<&str>) -> Vec<PlannedStep> {
    obs.records
        .iter()
        .filter(|r| endpoint.is_none_or(|e| !r.points_to(e)))
        .map(|r| {
            PlannedStep::UpdateRecord(RecordUpdate {
                hosted_zone_id: r.record.zone_id().to_owned(),
                name: r.record.fqdn(),
                from: r.values.clone(),
                from_ttl: r.ttl,
                to: endpoint.map(str::to_owned),
                ttl: r.record.ttl,
            })
        })
        .collect()
}

/// A promotion pilotlight started is under way: wait for it, then repoint the records (to
/// `endpoint` when it is known), with the RPO the first run recorded.
fn wait_then_repoint(
    db: &ProtectedDatabase,
    obs: &Observation,
    replica: &InstanceState,
    endpoint: Option<&str>,
) -> Decision {
    let mut steps = vec![wait(replica, &db.replica.region)];
    steps.extend(records_to_update(obs, endpoint));
    proceed(steps, vec![], replica.lag_at_promotion_seconds)
}

fn wait(replica: &InstanceState, region: &str) -> PlannedStep {
    PlannedStep::WaitForPromotion {
        instance_id: replica.instance_id.clone(),
        region: region.to_owned(),
    }
}

/// The replica is no longer a read replica: finish a failover pilotlight started (or a person
/// forces), or say there is nothing left.
fn decide_standalone(
    db: &ProtectedDatabase,
    obs: &Observation,
    replica: &InstanceState,
    ask: Ask,
) -> Decision {
    let available = replica.status == InstanceStatus::Available;
    let standalone_and_pointed_at = available
        && replica
            .endpoint
            .as_deref()
            .is_some_and(|e| obs.records.iter().all(|r| r.points_to(e)));
    if standalone_and_pointed_at {
        return Decision::AlreadyFailedOver;
    }
    if replica.promotion_started_at.is_none() && !ask.force {
        return refused(format!(
            "`{}` is not a read replica and pilotlight did not promote it: check `replica` in the configuration (force to repoint DNS anyway)",
            replica.instance_id
        ));
    }
    if let (Some(done), false) = (replica.failover_completed_at, ask.force) {
        return refused(format!(
            "the failover to `{}` completed at {done} and DNS has since been pointed elsewhere (a failback?): not repointing it (force to repoint DNS anyway)",
            replica.instance_id
        ));
    }
    let odd = unexpected_records(obs);
    if !odd.is_empty() && !ask.force {
        return Decision::Refused { reasons: odd };
    }
    if !available || replica.endpoint.is_none() {
        return wait_then_repoint(db, obs, replica, None);
    }
    let steps = records_to_update(obs, replica.endpoint.as_deref());
    if steps.is_empty() {
        return Decision::AlreadyFailedOver;
    }
    proceed(steps, vec![], replica.lag_at_promotion_seconds)
}

/// The replica is still a read replica: check it replicates from the primary, then either wait
/// for a promotion pilotlight started, refuse with every reason, or promote.
fn decide_replica(
    db: &ProtectedDatabase,
    obs: &Observation,
    replica: &InstanceState,
    ask: Ask,
) -> Decision {
    let available = replica.status == InstanceStatus::Available;
    let source = replica.replica_source.as_deref().unwrap_or_default();
    if !is_source(source, &db.primary.region, &db.primary.instance_id) {
        return refused(format!(
            "`{}` replicates from `{source}`, not from the configured primary `{}` in `{}`",
            replica.instance_id, db.primary.instance_id, db.primary.region
        ));
    }
    if replica.promotion_started_at.is_some() && !available {
        return wait_then_repoint(db, obs, replica, replica.endpoint.as_deref());
    }
    if !available {
        return refused(format!(
            "replica `{}` is `{}`, not `available`",
            replica.instance_id, replica.status
        ));
    }

    let unmet = unmet_conditions(db, obs, replica);
    if !unmet.is_empty() && !ask.force {
        let mut reasons = unmet;
        if !ask.automatic {
            reasons.push("a person may override with `\"force\": true`".into());
        }
        return Decision::Refused { reasons };
    }
    let mut steps = vec![
        PlannedStep::Promote {
            instance_id: replica.instance_id.clone(),
            region: db.replica.region.to_string(),
        },
        wait(replica, &db.replica.region),
    ];
    // RDS keeps an instance's endpoint when it promotes it.
    steps.extend(records_to_update(obs, replica.endpoint.as_deref()));
    proceed(steps, unmet, obs.replica_lag_seconds)
}

/// Every automatic condition that does not hold: the primary down, no foreign record value, the
/// replica lag known and within the RPO budget.
fn unmet_conditions(
    db: &ProtectedDatabase,
    obs: &Observation,
    replica: &InstanceState,
) -> Vec<String> {
    let mut unmet = Vec::new();
    unmet.extend(primary_down_check(db, obs));
    unmet.extend(unexpected_records(obs));
    match obs.replica_lag_seconds {
        None => unmet.push(format!(
            "replica lag of `{}` is unknown (no `ReplicaLag` datapoint in the look-back window)",
            replica.instance_id
        )),
        Some(lag) if lag < 0.0 || lag > db.rpo_budget_seconds as f64 => unmet.push(format!(
            "replica lag {lag} s is over the RPO budget of {} s",
            db.rpo_budget_seconds
        )),
        Some(_) => {}
    }
    unmet
}

/// The reasons, if any, to believe the primary is not down.
fn primary_down_check(db: &ProtectedDatabase, obs: &Observation) -> Vec<String> {
    let mut reasons = Vec::new();
    if !db.alarms.is_empty() {
        let in_alarm = obs
            .alarms
            .iter()
            .any(|a| a.state == Some(AlarmStateValue::Alarm));
        if !in_alarm {
            let states: Vec<String> = obs
                .alarms
                .iter()
                .map(|a| {
                    format!(
                        "`{}` is `{}`",
                        a.name,
                        a.state.as_ref().map_or("unknown", AlarmStateValue::as_str)
                    )
                })
                .collect();
            reasons.push(format!(
                "no alarm on the primary is in `ALARM` ({})",
                states.join(", ")
            ));
        }
    }
    match &obs.health_check {
        Some(Ok(hc)) if hc.healthy() => reasons.push(format!(
            "health check `{}` reports the primary healthy ({} of {} checkers)",
            hc.id, hc.healthy_checkers, hc.checkers
        )),
        Some(Err(e)) if db.alarms.is_empty() => {
            reasons.push(format!("health check status is unknown: {e}"))
        }
        _ => {}
    }
    reasons
}

/// Records that point neither at the primary (when its endpoint could be read), nor at the
/// replica, nor nowhere: someone else pointed them there, and pilotlight does not overwrite that
/// unless forced.
fn unexpected_records(obs: &Observation) -> Vec<String> {
    let primary = obs
        .primary
        .as_ref()
        .ok()
        .and_then(|p| p.as_ref())
        .and_then(|p| p.endpoint.as_deref());
    let replica = obs.replica.as_ref().and_then(|r| r.endpoint.as_deref());
    obs.records
        .iter()
        .filter(|r| !r.values.is_empty())
        .filter(|r| !replica.is_some_and(|e| r.points_to(e)))
        .filter(|r| primary.is_some_and(|e| !r.points_to(e)))
        .map(|r| {
            format!(
                "record `{}` points to {:?}, neither the primary nor the replica: not overwriting it",
                r.record.fqdn(),
                r.values
            )
        })
        .collect()
}

/// Whether a `ReadReplicaSourceDBInstanceIdentifier` (an id, or an ARN across regions) names the
/// configured primary.
pub fn is_source(source: &str, region: &str, instance_id: &str) -> bool {
    if let Some(rest) = source.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.split(':').collect();
        // aws:rds:REGION:ACCOUNT:db:ID
        parts.len() == 6
            && parts[2] == region
            && parts[4] == "db"
            && parts[5].eq_ignore_ascii_case(instance_id)
    } else {
        source.eq_ignore_ascii_case(instance_id)
    }
}

fn refused(reason: String) -> Decision {
    Decision::Refused {
        reasons: vec![reason],
    }
}

fn proceed(steps: Vec<PlannedStep>, overridden: Vec<String>, rpo_seconds: Option<f64>) -> Decision {
    Decision::Proceed {
        steps,
        overridden,
        rpo_seconds,
    }
}

/// Where the RTO is measured from: the alarm time the first run tagged on the replica (so every
/// run that finishes the failover reports the same RTO), else the triggering alarm's state change,
/// else the earliest state change of a configured alarm now in `ALARM`.
pub fn rto_start(obs: &Observation, trigger_time: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    obs.replica
        .as_ref()
        .and_then(|r| r.alarm_at)
        .or(trigger_time)
        .or_else(|| {
            obs.alarms
                .iter()
                .filter(|a| a.state == Some(AlarmStateValue::Alarm))
                .filter_map(|a| a.updated_at)
                .min()
        })
}
