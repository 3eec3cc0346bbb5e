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
use crate::command::{AlarmTrigger, DrDetectionTrigger};
use crate::config::{DnsRecord, Fencing, ProtectedDatabase};

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
/// Tag written on the old primary when pilotlight fenced it, RFC 3339 UTC.
pub const TAG_FENCED_AT: &str = "pilotlight:fenced-at";
/// Tag on an old primary fenced by security group: the VPC security groups it had before
/// (comma-separated), which a failback gives the new instance that replaces it.
pub const TAG_GROUPS_BEFORE_FENCE: &str = "pilotlight:groups-before-fence";

/// Route 53 calls an endpoint healthy when more than this share (percent) of its health checkers
/// report it healthy, and unhealthy at this share or less
/// (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html>).
pub const ROUTE53_HEALTHY_PERCENT: usize = 18;

/// How long a promotion pilotlight started belongs to the incident that started it, in seconds:
/// Lambda's longest retention of an asynchronous event (6 hours,
/// <https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html>). A later
/// run that finds the promoted instance not yet in DNS after that treats the alarm as a new
/// incident and checks the primary is down before repointing.
pub const INCIDENT_WINDOW_SECONDS: i64 = 6 * 3600;

/// RDS for PostgreSQL switches the WAL segment every 5 minutes; with no user transactions the
/// replica reports a lag of up to five minutes
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PostgreSQL.Replication.ReadReplicas.html>).
/// A lag that grows past this (plus a minute) without a reset is not that sawtooth.
pub const POSTGRES_IDLE_LAG_SECONDS: f64 = 300.0;

/// How long after an alarm's state change its own notification stands in for a `DescribeAlarms`
/// that cannot be read, in seconds (15 minutes).
pub const TRIGGER_FALLBACK_SECONDS: i64 = 900;

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
    /// Each configured record and where it points now (empty when `records_error` is set).
    pub records: Vec<RecordState>,
    /// Route 53 did not answer when the records were read (its control plane is in us-east-1):
    /// where they point is unknown. A failover may still promote; DNS is pending until a later run
    /// reads and repoints them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_error: Option<String>,
    /// The primary's RDS API did not answer at all (connection refused or reset, timeout, HTTP
    /// 5xx, after the SDK's retries): its region is down or cut off. An answer that refuses (e.g.
    /// `AccessDenied`) is not this.
    #[serde(default)]
    pub primary_unreachable: bool,
    /// The replica's `ReplicaLag` (Maximum per minute, seconds; -1 while MySQL replication is not
    /// running), oldest first, over the look-back window before the trigger and up to now.
    #[serde(default)]
    pub lag_history: Vec<LagPoint>,
    /// When the failure began, and from which signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<FailureOnset>,
    /// The primary's own write activity before the failure (PostgreSQL), when its region's
    /// CloudWatch answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_activity: Option<PrimaryActivity>,
    /// The reconcile pass's DR-region detection asked for this failover: the primary's region
    /// did not answer and the replica did not replicate for this many consecutive passes. It
    /// stands in for the alarm and the health check when those cannot be read (their region is
    /// the one that is down); one that answers "healthy" still refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_detection: Option<DrDetectionTrigger>,
}

impl Observation {
    /// Fill in what the triggering alarm's own notification says when the alarm could not be
    /// read: an alarm in the configuration whose `DescribeAlarms` failed (its region does not
    /// answer) takes the state the notification carried. CloudWatch sent it, so CloudWatch saw it.
    ///
    /// Only within [`TRIGGER_FALLBACK_SECONDS`] of the state change: a later pass resuming the
    /// operation must not take an hours-old notification for the alarm's state now.
    pub fn with_trigger(mut self, trigger: Option<&AlarmTrigger>) -> Self {
        let Some(t) = trigger else { return self };
        let fresh = t
            .state_change_time
            .is_some_and(|at| (self.observed_at - at).num_seconds() <= TRIGGER_FALLBACK_SECONDS);
        if !fresh {
            return self;
        }
        for a in self.alarms.iter_mut() {
            if a.name == t.alarm_name && a.state.is_none() {
                a.state = Some(t.state.clone());
                a.updated_at = t.state_change_time;
                a.error = a
                    .error
                    .take()
                    .map(|e| format!("{e}; state taken from the alarm's own notification"));
            }
        }
        self
    }
}

/// One `ReplicaLag` datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LagPoint {
    /// Start of the minute (UTC).
    pub at: DateTime<Utc>,
    /// Maximum lag in that minute, seconds (-1: replication not active, MySQL/MariaDB).
    pub seconds: f64,
}

/// When the failure began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureOnset {
    /// UTC.
    pub at: DateTime<Utc>,
    /// `health_check_metric`: the first minute of the last unhealthy run of the health check's
    /// `HealthCheckStatus` (`AWS/Route53`, us-east-1, Minimum per minute); `trigger`: the alarm's
    /// state change (no metric could be read), which comes after the failure by the detection time.
    pub source: String,
}

/// The primary's write activity before the failure: `TransactionLogsGeneration` (`AWS/RDS`, bytes
/// per second, PostgreSQL) in the 15 minutes before the onset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrimaryActivity {
    /// The most of any minute, bytes per second; `None`: no datapoint.
    pub max_log_bytes_per_second: Option<f64>,
    /// The configured idle threshold, bytes per second.
    pub idle_threshold: u64,
    /// Minutes with a datapoint.
    pub minutes: usize,
    /// At least 5 minutes seen, every one at or below the threshold.
    pub idle: bool,
}

/// The `read replication` entry of `StatusInfos` (`DescribeDBInstances`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationInfo {
    /// `replicating`, `error`, `stopped`, `terminated`, `replication stop point set|reached`
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceStatusInfo.html>).
    pub status: String,
    /// `Normal`: false in an error state.
    pub normal: bool,
    /// `Message`: the error, blank otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
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
    /// `Engine` (`postgres`, `mysql`, `mariadb`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Read replication status, for a read replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<ReplicationInfo>,
    /// `VpcSecurityGroups[].VpcSecurityGroupId`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// A security group's `Status` is not `active` yet (a change being applied).
    #[serde(default)]
    pub security_groups_pending: bool,
    /// From [`TAG_FENCED_AT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenced_at: Option<DateTime<Utc>>,
}

impl InstanceState {
    /// The engine family, for the rules that depend on it.
    pub fn engine_family(&self) -> EngineFamily {
        match self.engine.as_deref().unwrap_or_default() {
            e if e.starts_with("mysql") || e.starts_with("mariadb") => EngineFamily::MySql,
            e if e.starts_with("postgres") => EngineFamily::Postgres,
            _ => EngineFamily::Other,
        }
    }
}

/// How an engine reports replica lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineFamily {
    /// MySQL and MariaDB: `ReplicaLag` is `Seconds_Behind_Master`, -1 when replication is not
    /// active
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_MySQL.Replication.ReadReplicas.Monitor.html>).
    MySql,
    /// PostgreSQL: the time since the last replayed commit, up to five minutes on an idle source.
    Postgres,
    /// Any other engine.
    Other,
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

/// Route 53's verdict on a health check, from its checkers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthVerdict {
    /// More than [`ROUTE53_HEALTHY_PERCENT`] % of the checkers report success.
    Healthy,
    /// At most that share do.
    Unhealthy,
    /// No checker reported: nothing is known.
    NoReports,
}

impl HealthCheckState {
    /// Route 53's own rule: healthy when more than 18 % of the checkers that reported say so,
    /// unhealthy at 18 % or less; no report at all proves nothing.
    pub fn verdict(&self) -> HealthVerdict {
        if self.checkers == 0 {
            HealthVerdict::NoReports
        } else if self.healthy_checkers * 100 > self.checkers * ROUTE53_HEALTHY_PERCENT {
            HealthVerdict::Healthy
        } else {
            HealthVerdict::Unhealthy
        }
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
    /// The triggering alarm's state change (UTC), when an alarm asked: Lambda's retry of the same
    /// event carries the same time, which is how a run recognises the incident it continues.
    pub trigger_at: Option<DateTime<Utc>>,
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
    /// Point a record at the promoted instance's endpoint and wait for `INSYNC`. A record that
    /// already points there is confirmed: a compare-and-swap of the value onto itself gives a
    /// change to wait for, so a run never reports DNS in sync on the word of an earlier one.
    UpdateRecord(RecordUpdate),
    /// Make the old primary stop taking writes (its region answers), then tag it [`TAG_FENCED_AT`].
    Fence {
        /// The old primary's instance id.
        instance_id: String,
        /// Its region.
        region: String,
        /// How.
        fencing: Fencing,
        /// Before the promotion (the primary answers and may take writes: fenced first, and a
        /// fencing failure stops the run), or after DNS moved (a failure is reported, the next run
        /// tries again).
        #[serde(default)]
        before_promotion: bool,
    },
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
    /// The replica is the writer, every record points to it, the completion is recorded and the
    /// old primary is fenced (or cannot be, or need not be): nothing to do.
    AlreadyFailedOver,
    /// Do not fail over; every reason is listed.
    Refused {
        /// Why, one sentence each.
        reasons: Vec<String>,
    },
    /// Every condition holds but the replica cannot be promoted now (it is busy: `backing-up`,
    /// `modifying`, ...): the operation stays open and a later run (the reconcile pass) promotes
    /// it once it is `available`, if the conditions still hold then.
    Deferred {
        /// Why it waits, one sentence each.
        reasons: Vec<String>,
    },
    /// Do these steps, in order.
    Proceed {
        /// The steps still missing.
        steps: Vec<PlannedStep>,
        /// Checks that failed but were overridden by a person's `force`.
        overridden: Vec<String>,
        /// The recovery point estimate in seconds (see `rpo`).
        rpo_seconds: Option<f64>,
        /// How the recovery point was estimated.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rpo: Option<RpoEstimate>,
        /// The evidence that the primary is gone, as seen from the replica's side.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<String>,
    },
}

/// The recovery point: how much data the promotion may lose, and how that was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpoEstimate {
    /// Seconds of writes that may be lost; `None`: unknown.
    pub seconds: Option<f64>,
    /// The true loss may be larger (MySQL: transactions the replica never received do not show in
    /// its lag).
    pub lower_bound: bool,
    /// How it was read, in one sentence.
    pub basis: String,
}

/// Whether the old primary is fenced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fencing", rename_all = "snake_case")]
pub enum FenceState {
    /// Not applicable: no failover has happened (the replica is still a replica).
    NotFailedOver,
    /// `fencing` is `none`.
    Disabled,
    /// Fenced (tagged at `at`, and stopped or behind the fencing security groups now).
    Fenced {
        /// From [`TAG_FENCED_AT`], if tagged.
        at: Option<DateTime<Utc>>,
    },
    /// Not fenced yet, and why not (its region does not answer; it is `failed`; ...).
    Pending {
        /// Why.
        reason: String,
    },
    /// Its region answers and it is not fenced: the next run fences it.
    Due,
}

/// Decide what failover must do for `db` now.
///
/// Rules, in order:
/// 1. The replica must exist.
/// 2. If it is already standalone: when pilotlight promoted it for this incident (its tag is less
///    than [`INCIDENT_WINDOW_SECONDS`] old) or a person forces, finish what is missing (wait,
///    records, the completion tag, fencing). An older promotion whose records point elsewhere
///    needs the automatic conditions again (the primary down, evidence that replication stopped,
///    no foreign record); one whose completion is recorded is never repointed unless forced (a
///    failback). A standalone "replica" pilotlight did not promote is refused.
/// 3. If it is still a replica, it must replicate from the configured primary. If pilotlight already
///    started the promotion and it is not `available` yet, wait. Otherwise it must be `available`
///    and every automatic condition must hold ([`automatic_conditions`]); a person's `force`
///    overrides them and the overrides are reported. `force` from an alarm counts for nothing.
pub fn decide_failover(db: &ProtectedDatabase, obs: &Observation, ask: Ask) -> Decision {
    let ask = Ask {
        force: ask.force && !ask.automatic,
        ..ask
    };
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

/// The steps that point every record not yet there at `endpoint` (`None`: not known yet, every
/// record).
fn records_to_update(obs: &Observation, endpoint: Option<&str>) -> Vec<PlannedStep> {
    records_where(obs, endpoint, |r| endpoint.is_none_or(|e| !r.points_to(e)))
}

/// Every record, to be repointed or confirmed.
fn all_records(obs: &Observation, endpoint: Option<&str>) -> Vec<PlannedStep> {
    records_where(obs, endpoint, |_| true)
}

fn records_where(
    obs: &Observation,
    endpoint: Option<&str>,
    keep: impl Fn(&RecordState) -> bool,
) -> Vec<PlannedStep> {
    obs.records
        .iter()
        .filter(|r| keep(r))
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

/// The RPO recorded on the replica by the run that promoted it.
fn recorded_rpo(replica: &InstanceState) -> Option<RpoEstimate> {
    replica.lag_at_promotion_seconds.map(|s| RpoEstimate {
        seconds: Some(s),
        lower_bound: replica.engine_family() == EngineFamily::MySql,
        basis: "recorded on the replica when pilotlight decided to promote it".into(),
    })
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
    steps.extend(fence_step(db, obs));
    proceed(steps, vec![], recorded_rpo(replica), vec![])
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
    let endpoint = replica.endpoint.as_deref().filter(|_| available);
    let pointed_at = obs.records_error.is_none()
        && endpoint.is_some_and(|e| obs.records.iter().all(|r| r.points_to(e)));
    if pointed_at {
        if replica.failover_completed_at.is_none() && replica.promotion_started_at.is_some() {
            // An earlier run repointed DNS but did not see it in sync: confirm, record, report.
            let mut steps = all_records(obs, endpoint);
            steps.extend(fence_step(db, obs));
            return proceed(steps, vec![], recorded_rpo(replica), vec![]);
        }
        return match fence_step(db, obs) {
            Some(fence) => proceed(vec![fence], vec![], recorded_rpo(replica), vec![]),
            None => Decision::AlreadyFailedOver,
        };
    }
    let Some(started) = replica.promotion_started_at else {
        if ask.force {
            return finish_standalone(db, obs, replica, vec![]);
        }
        return refused(format!(
            "`{}` is not a read replica and pilotlight did not promote it: check `replica` in the configuration (force to repoint DNS anyway)",
            replica.instance_id
        ));
    };
    if let (Some(done), false) = (replica.failover_completed_at, ask.force) {
        return refused(format!(
            "the failover to `{}` completed at {done} and DNS has since been pointed elsewhere (a failback?): not repointing it (force to repoint DNS anyway)",
            replica.instance_id
        ));
    }
    let mut unmet = unexpected_records(db, obs);
    // The same incident: Lambda's retry of the event whose run promoted (same alarm time, tagged
    // at the promotion), within Lambda's retention of an asynchronous event.
    let same_alarm = matches!(
        (ask.trigger_at, replica.alarm_at),
        (Some(t), Some(a)) if (t - a).num_milliseconds().abs() < 1000
    );
    let this_incident =
        same_alarm && (obs.observed_at - started).num_seconds() < INCIDENT_WINDOW_SECONDS;
    if !this_incident {
        unmet.extend(primary_down_check(db, obs));
        if replication_evidence(db, obs, replica).is_empty() {
            unmet.push(no_evidence_reason(db));
        }
    }
    if !this_incident && !unmet.is_empty() {
        unmet.insert(0, format!(
            "`{}` was promoted at {started} and is not in DNS, and this run is not a retry of the alarm that promoted it (within {} hours): this is not the incident that promoted it",
            replica.instance_id,
            INCIDENT_WINDOW_SECONDS / 3600
        ));
    }
    if !unmet.is_empty() && !ask.force {
        return Decision::Refused { reasons: unmet };
    }
    finish_standalone(db, obs, replica, unmet)
}

/// Wait for the standalone instance if it is not available yet, then repoint and fence.
fn finish_standalone(
    db: &ProtectedDatabase,
    obs: &Observation,
    replica: &InstanceState,
    overridden: Vec<String>,
) -> Decision {
    let available = replica.status == InstanceStatus::Available;
    if !available || replica.endpoint.is_none() {
        let mut steps = vec![wait(replica, &db.replica.region)];
        steps.extend(records_to_update(obs, None));
        steps.extend(fence_step(db, obs));
        return proceed(steps, overridden, recorded_rpo(replica), vec![]);
    }
    let mut steps = records_to_update(obs, replica.endpoint.as_deref());
    steps.extend(fence_step(db, obs));
    proceed(steps, overridden, recorded_rpo(replica), vec![])
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
    let busy = BUSY_STATUSES.contains(&replica.status.as_str());
    if !available && !busy {
        return refused(format!(
            "replica `{}` is `{}`, not `available`",
            replica.instance_id, replica.status
        ));
    }

    let rpo = rpo_estimate(obs, replica);
    let evidence = replication_evidence(db, obs, replica);
    let mut unmet = automatic_conditions(db, obs, &evidence, &rpo);
    // The primary answers and may take writes: only a fence that works on a primary that still
    // has its replica (a security group) may come first; RDS refuses to stop it.
    let writable = primary_may_take_writes(obs);
    let fence_first = writable.is_some() && matches!(db.fencing, Fencing::SecurityGroup { .. });
    if let Some(status) = writable.filter(|_| !fence_first) {
        unmet.push(format!(
            "the primary `{}` answers and RDS reports it `{status}`: it may still take writes, and fencing `{}` cannot stop it before the promotion (RDS refuses to stop an instance that has a read replica): an automatic promotion could make two writers; fence it by security group (`fencing.mode` `security_group`), or a person may force",
            db.primary.instance_id,
            fencing_mode(&db.fencing)
        ));
    }
    if !unmet.is_empty() && !ask.force {
        let mut reasons = unmet;
        if !ask.automatic {
            reasons.push("a person may override with `\"force\": true`".into());
        }
        return Decision::Refused { reasons };
    }
    if busy {
        return Decision::Deferred {
            reasons: vec![format!(
                "replica `{}` is `{}`: RDS promotes only an `available` replica; the failover is decided and the reconcile pass promotes it once it is available",
                replica.instance_id, replica.status
            )],
        };
    }
    let mut steps = Vec::new();
    if fence_first {
        steps.push(PlannedStep::Fence {
            instance_id: db.primary.instance_id.to_string(),
            region: db.primary.region.to_string(),
            fencing: db.fencing.clone(),
            before_promotion: true,
        });
    }
    steps.push(PlannedStep::Promote {
        instance_id: replica.instance_id.clone(),
        region: db.replica.region.to_string(),
    });
    steps.push(wait(replica, &db.replica.region));
    // RDS keeps an instance's endpoint when it promotes it.
    steps.extend(records_to_update(obs, replica.endpoint.as_deref()));
    if !fence_first {
        steps.extend(fence_step(db, obs));
    }
    proceed(steps, unmet, Some(rpo), evidence)
}

/// Statuses of a replica that is busy for a while and then `available` again; RDS refuses to
/// promote it meanwhile (`InvalidDBInstanceState`)
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html#Overview.DBInstance.Status>).
const BUSY_STATUSES: [&str; 14] = [
    "backing-up",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "maintenance",
    "modifying",
    "moving-to-vpc",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "storage-optimization",
    "upgrading",
    "storage-config-upgrade",
];

/// The primary's status when it answers, is not a replica and is in none of the statuses that
/// take no writes: it may still be the writer.
fn primary_may_take_writes(obs: &Observation) -> Option<&str> {
    match &obs.primary {
        Ok(Some(p))
            if p.replica_source.is_none() && !DOWN_STATUSES.contains(&p.status.as_str()) =>
        {
            Some(p.status.as_str())
        }
        _ => None,
    }
}

fn fencing_mode(f: &Fencing) -> &'static str {
    match f {
        Fencing::Stop => "stop",
        Fencing::SecurityGroup { .. } => "security_group",
        Fencing::None => "none",
    }
}

/// An automatic failover that only lacks the evidence that replication stopped (the primary is
/// down by the alarm and the health check, no record is foreign): worth observing again for a
/// while, since RDS reports a lost source late (`ReplicaLag` -1 after the replica's network
/// timeout, a growing lag after a few datapoints, `StatusInfos` when RDS notices).
pub fn awaiting_evidence(db: &ProtectedDatabase, obs: &Observation) -> bool {
    let Some(replica) = obs.replica.as_ref().filter(|r| r.replica_source.is_some()) else {
        return false;
    };
    primary_down_check(db, obs).is_empty()
        && unexpected_records(db, obs).is_empty()
        && (replication_evidence(db, obs, replica).is_empty()
            || primary_may_take_writes(obs).is_some())
}

/// Every automatic-failover condition that does not hold, one sentence each (empty: all hold):
/// 1. the primary is down: an alarm in `ALARM` (when alarms are configured) and the health check
///    unhealthy by Route 53's rule (when one is configured);
/// 2. evidence from the replica's side that replication stopped ([`replication_evidence`]);
/// 3. no record holds a value that is neither the primary's nor the replica's;
/// 4. the recovery point is known and within the RPO budget.
pub fn automatic_conditions(
    db: &ProtectedDatabase,
    obs: &Observation,
    evidence: &[String],
    rpo: &RpoEstimate,
) -> Vec<String> {
    let mut unmet = primary_down_check(db, obs);
    if evidence.is_empty() {
        unmet.push(no_evidence_reason(db));
    }
    unmet.extend(unexpected_records(db, obs));
    match rpo.seconds {
        None => unmet.push(format!("the recovery point is unknown: {}", rpo.basis)),
        Some(s) if s > db.rpo_budget_seconds as f64 => unmet.push(format!(
            "the recovery point, {s} s ({}), is over the RPO budget of {} s",
            rpo.basis, db.rpo_budget_seconds
        )),
        Some(_) => {}
    }
    unmet
}

fn no_evidence_reason(db: &ProtectedDatabase) -> String {
    format!(
        "no evidence from the replica's side that replication from `{}` stopped: the primary's region answers, the primary is not down in RDS, the replica reports no replication error and its lag is neither -1 nor growing with the clock (the primary may still be taking writes)",
        db.primary.instance_id
    )
}

/// The reasons, if any, to believe the primary is not down.
fn primary_down_check(db: &ProtectedDatabase, obs: &Observation) -> Vec<String> {
    if let Some(d) = &obs.dr_detection {
        return dr_detection_check(db, obs, d);
    }
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
        Some(Ok(hc)) => match hc.verdict() {
            HealthVerdict::Healthy => reasons.push(format!(
                "health check `{}` reports the primary healthy by Route 53's rule (more than {ROUTE53_HEALTHY_PERCENT}% of checkers healthy): {} of {} checkers ({}%)",
                hc.id,
                hc.healthy_checkers,
                hc.checkers,
                hc.healthy_checkers * 100 / hc.checkers.max(1)
            )),
            HealthVerdict::NoReports => reasons.push(format!(
                "health check `{}` has no checker reports: the primary's health is unknown",
                hc.id
            )),
            HealthVerdict::Unhealthy => {}
        },
        Some(Err(e)) if db.alarms.is_empty() => {
            reasons.push(format!("health check status is unknown: {e}"))
        }
        _ => {}
    }
    reasons
}

/// The DR-region detection stands in for the alarm and the health check, which usually cannot be
/// read then (their region is down): it still holds now (the primary's RDS API does not answer
/// and the replica does not replicate), and no alarm or health check that does answer says the
/// primary is fine (a partition between the regions looks the same from the DR side).
fn dr_detection_check(
    db: &ProtectedDatabase,
    obs: &Observation,
    d: &DrDetectionTrigger,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if !obs.primary_unreachable {
        reasons.push(format!(
            "DR-region detection ({} passes since {}): the RDS API of `{}` answers now",
            d.consecutive_passes, d.since, db.primary.region
        ));
    }
    let replicating = obs
        .replica
        .as_ref()
        .and_then(|r| r.replication.as_ref())
        .is_some_and(|r| r.status == "replicating" && r.normal);
    if replicating {
        reasons.push(
            "DR-region detection: the replica reports read replication `replicating` now".into(),
        );
    }
    let ok: Vec<&str> = obs
        .alarms
        .iter()
        .filter(|a| a.state == Some(AlarmStateValue::Ok))
        .map(|a| a.name.as_str())
        .collect();
    if !ok.is_empty()
        && !obs
            .alarms
            .iter()
            .any(|a| a.state == Some(AlarmStateValue::Alarm))
    {
        reasons.push(format!(
            "DR-region detection: alarm(s) {ok:?} answer `OK`: the primary may be up and only cut off from the DR region"
        ));
    }
    if let Some(Ok(hc)) = &obs.health_check {
        if hc.verdict() == HealthVerdict::Healthy {
            reasons.push(format!(
                "DR-region detection: health check `{}` answers healthy by Route 53's rule ({} of {} checkers): the primary may be up and only cut off from the DR region",
                hc.id, hc.healthy_checkers, hc.checkers
            ));
        }
    }
    reasons
}

/// RDS statuses in which an instance takes no writes
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html#Overview.DBInstance.Status>).
const DOWN_STATUSES: [&str; 11] = [
    "failed",
    "stopped",
    "stopping",
    "storage-full",
    "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable",
    "incompatible-network",
    "incompatible-parameters",
    "incompatible-restore",
    "restore-error",
    "deleting",
];

/// Evidence that the primary is gone, from the replica's side or from RDS itself, one sentence
/// each (empty: none). The signals and their sources:
/// - the primary's region RDS API does not answer (`DescribeDBInstances` there: connection
///   failure, timeout or 5xx after the SDK's retries);
/// - the primary does not exist, or RDS reports it in a status that takes no writes;
/// - the replica's `StatusInfos` read replication status is not `replicating` or not `Normal`
///   (`DescribeDBInstances` in the DR region);
/// - MySQL/MariaDB: the latest `ReplicaLag` since the onset is -1, "replication is currently not
///   active";
/// - PostgreSQL: since the onset the lag grows with the clock (three or more minutes, each higher
///   by at least 80 % of the time between them), and either the primary was busy before (its
///   `TransactionLogsGeneration` above the idle threshold) or the lag is past the five-minute idle
///   sawtooth.
///
/// The first signal does not count when the replica's lag fell after the onset: it replayed
/// something, so replication still runs.
pub fn replication_evidence(
    db: &ProtectedDatabase,
    obs: &Observation,
    replica: &InstanceState,
) -> Vec<String> {
    let mut evidence = Vec::new();
    let onset = onset_at(obs);
    let since: Vec<&LagPoint> = obs.lag_history.iter().filter(|p| p.at >= onset).collect();
    // The replica replayed something after the onset (its lag fell): replication still runs, so
    // an RDS API that does not answer is not the database being gone (e.g. the function's own
    // network path to that region).
    let progressed = since
        .windows(2)
        .any(|w| w[0].seconds >= 0.0 && w[1].seconds >= 0.0 && w[1].seconds < w[0].seconds);
    match &obs.primary {
        Err(e) if obs.primary_unreachable && !progressed => evidence.push(format!(
            "the RDS API of the primary's region `{}` does not answer: {e}",
            db.primary.region
        )),
        Ok(None) => evidence.push(format!(
            "the primary `{}` does not exist in `{}`",
            db.primary.instance_id, db.primary.region
        )),
        Ok(Some(p)) if DOWN_STATUSES.contains(&p.status.as_str()) => evidence.push(format!(
            "RDS reports the primary `{}` `{}`",
            p.instance_id, p.status
        )),
        _ => {}
    }
    if let Some(r) = &replica.replication {
        if r.status != "replicating" || !r.normal {
            evidence.push(format!(
                "the replica reports read replication `{}`{}",
                r.status,
                r.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
    }
    match replica.engine_family() {
        EngineFamily::MySql => {
            if let Some(last) = since.last().filter(|p| p.seconds < 0.0) {
                evidence.push(format!(
                    "`ReplicaLag` is {} at {}: MySQL replication is not active",
                    last.seconds, last.at
                ));
            }
        }
        EngineFamily::Postgres => {
            let busy = obs
                .primary_activity
                .as_ref()
                .is_some_and(|a| !a.idle && a.minutes >= 5);
            if let Some(text) = postgres_lag_growing(&since, busy) {
                evidence.push(text);
            }
        }
        EngineFamily::Other => {}
    }
    evidence
}

fn postgres_lag_growing(since: &[&LagPoint], busy_before: bool) -> Option<String> {
    if since.len() < 3 || since.iter().any(|p| p.seconds < 0.0) {
        return None;
    }
    let steady = since.windows(2).all(|w| {
        let dt = (w[1].at - w[0].at).num_seconds() as f64;
        w[1].seconds - w[0].seconds >= 0.8 * dt
    });
    let last = since.last()?.seconds;
    (steady && (busy_before || last > POSTGRES_IDLE_LAG_SECONDS + 60.0)).then(|| {
        format!(
            "`ReplicaLag` has grown with the clock since {} (now {last} s): nothing is replayed",
            since[0].at
        )
    })
}

/// The failure's onset: the observed one, else now.
fn onset_at(obs: &Observation) -> DateTime<Utc> {
    obs.onset.as_ref().map_or(obs.observed_at, |o| o.at)
}

/// The last sound (non-negative) lag before the onset: the newest datapoint of a minute that
/// started before it, else of the onset's own minute.
fn lag_at_onset(obs: &Observation) -> Option<f64> {
    let onset = onset_at(obs);
    let before = |strict: bool| {
        obs.lag_history
            .iter()
            .filter(|p| p.seconds >= 0.0 && if strict { p.at < onset } else { p.at <= onset })
            .max_by_key(|p| p.at)
            .map(|p| p.seconds)
    };
    before(true).or_else(|| before(false))
}

/// MySQL: the last non-negative lag before the first -1 at or after the onset ("replication is
/// currently not active"); `None` when no -1 came.
fn last_before_replication_stopped(obs: &Observation) -> Option<f64> {
    let onset = onset_at(obs);
    let stopped = obs
        .lag_history
        .iter()
        .filter(|p| p.at >= onset && p.seconds < 0.0)
        .map(|p| p.at)
        .min()?;
    obs.lag_history
        .iter()
        .filter(|p| p.at < stopped && p.seconds >= 0.0)
        .max_by_key(|p| p.at)
        .map(|p| p.seconds)
}

/// The recovery point of a promotion now: the replica lag at the failure's onset, read by engine.
/// - MySQL/MariaDB: the last sound lag before `ReplicaLag` turned -1 after the onset (else the
///   lag at the onset), a lower bound (what the replica never received does not show).
/// - PostgreSQL with an idle primary ([`PrimaryActivity::idle`]): ~0 — the lag metric only counts
///   the time since the last replayed commit, and there was none to lose.
/// - Otherwise: that lag.
pub fn rpo_estimate(obs: &Observation, replica: &InstanceState) -> RpoEstimate {
    let onset = onset_at(obs);
    let source = obs.onset.as_ref().map_or("now", |o| o.source.as_str());
    let lag = match replica.engine_family() {
        EngineFamily::MySql => last_before_replication_stopped(obs).or_else(|| lag_at_onset(obs)),
        _ => lag_at_onset(obs),
    };
    let Some(lag) = lag else {
        return RpoEstimate {
            seconds: None,
            lower_bound: false,
            basis: format!(
                "no `ReplicaLag` datapoint of `{}` before the failure's onset ({onset}, {source})",
                replica.instance_id
            ),
        };
    };
    match replica.engine_family() {
        EngineFamily::MySql => RpoEstimate {
            seconds: Some(lag),
            lower_bound: true,
            basis: format!(
                "MySQL `ReplicaLag`, the last sound datapoint before replication stopped (onset {onset}, {source}); a lower bound: transactions the replica never received do not show in it"
            ),
        },
        EngineFamily::Postgres => match &obs.primary_activity {
            Some(a) if a.idle => RpoEstimate {
                seconds: Some(0.0),
                lower_bound: false,
                basis: format!(
                    "the primary was idle before the failure (`TransactionLogsGeneration` at most {} B/s over {} minutes, threshold {} B/s): the {lag} s of `ReplicaLag` is the time since its last commit, not data behind",
                    a.max_log_bytes_per_second.unwrap_or(0.0),
                    a.minutes,
                    a.idle_threshold
                ),
            },
            _ => RpoEstimate {
                seconds: Some(lag),
                lower_bound: false,
                basis: format!(
                    "PostgreSQL `ReplicaLag` before the failure's onset ({onset}, {source}); the primary was not shown idle"
                ),
            },
        },
        EngineFamily::Other => RpoEstimate {
            seconds: Some(lag),
            lower_bound: false,
            basis: format!("`ReplicaLag` before the failure's onset ({onset}, {source})"),
        },
    }
}

/// Whether `value` is the primary's endpoint: the one read from RDS, else the configured one,
/// else RDS's naming of instance endpoints, `<instance id>.<opaque id>.<region>.rds.amazonaws.com`
/// (`.com.cn` in China), which lets the guard work while the primary's region is down.
pub fn is_primary_endpoint(db: &ProtectedDatabase, obs: &Observation, value: &str) -> bool {
    let read = obs
        .primary
        .as_ref()
        .ok()
        .and_then(|p| p.as_ref())
        .and_then(|p| p.endpoint.as_deref());
    if let Some(e) = read.or(db.primary.endpoint.as_deref()) {
        return same_host(value, e);
    }
    let host = value.trim_end_matches('.').to_ascii_lowercase();
    let suffix = format!(".{}.rds.amazonaws.com", db.primary.region);
    let rest = host
        .strip_suffix(&suffix)
        .or_else(|| host.strip_suffix(&format!("{suffix}.cn")));
    rest.and_then(|r| r.split_once('.'))
        .is_some_and(|(id, opaque)| {
            id.eq_ignore_ascii_case(&db.primary.instance_id)
                && !opaque.is_empty()
                && !opaque.contains('.')
        })
}

/// Records that point neither at the primary, nor at the replica, nor nowhere: someone else
/// pointed them there, and pilotlight does not overwrite that unless forced.
fn unexpected_records(db: &ProtectedDatabase, obs: &Observation) -> Vec<String> {
    let replica = obs.replica.as_ref().and_then(|r| r.endpoint.as_deref());
    obs.records
        .iter()
        .filter(|r| !r.values.is_empty())
        .filter(|r| !replica.is_some_and(|e| r.points_to(e)))
        .filter(|r| !(r.values.len() == 1 && is_primary_endpoint(db, obs, &r.values[0])))
        .map(|r| {
            format!(
                "record `{}` points to {:?}, neither the primary nor the replica: not overwriting it",
                r.record.fqdn(),
                r.values
            )
        })
        .collect()
}

/// Whether the old primary is fenced, from what was observed.
pub fn fence_state(db: &ProtectedDatabase, obs: &Observation) -> FenceState {
    let failed_over = obs
        .replica
        .as_ref()
        .is_some_and(|r| r.replica_source.is_none() && r.promotion_started_at.is_some());
    if !failed_over {
        return FenceState::NotFailedOver;
    }
    if db.fencing == Fencing::None {
        return FenceState::Disabled;
    }
    let primary = match &obs.primary {
        Err(e) => {
            return FenceState::Pending {
                reason: format!("the primary's region does not answer: {e}"),
            }
        }
        Ok(None) => {
            return FenceState::Pending {
                reason: format!(
                    "`{}` does not exist in `{}`: nothing takes writes there",
                    db.primary.instance_id, db.primary.region
                ),
            }
        }
        Ok(Some(p)) => p,
    };
    if primary.replica_source.is_some() {
        return FenceState::Pending {
            reason: format!(
                "`{}` is now a read replica: it takes no writes",
                primary.instance_id
            ),
        };
    }
    if db.fencing == Fencing::Stop && primary.status.as_str() == "stopping" {
        return FenceState::Pending {
            reason: format!(
                "`{}` is stopping: it may take writes until it is stopped",
                primary.instance_id
            ),
        };
    }
    let fenced = match &db.fencing {
        Fencing::Stop => primary.status.as_str() == "stopped",
        Fencing::SecurityGroup { security_group_ids } => {
            same_groups(security_group_ids, &primary.security_groups)
                && !primary.security_groups_pending
        }
        Fencing::None => true,
    };
    if fenced && primary.fenced_at.is_some() {
        return FenceState::Fenced {
            at: primary.fenced_at,
        };
    }
    if primary.status != InstanceStatus::Available && !fenced {
        return FenceState::Pending {
            reason: format!(
                "`{}` is `{}`: it is fenced once it is `available`",
                primary.instance_id, primary.status
            ),
        };
    }
    FenceState::Due
}

/// Whether two sets of security group ids are the same.
pub fn same_groups(a: &[String], b: &[String]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// The fencing step, when the old primary's region answers and it is not fenced yet. Planned with
/// the promotion too: the old primary is fenced once DNS points at the new writer.
fn fence_step(db: &ProtectedDatabase, obs: &Observation) -> Option<PlannedStep> {
    if db.fencing == Fencing::None {
        return None;
    }
    let due = match fence_state(db, obs) {
        FenceState::Due => true,
        // Not promoted yet: the run that promotes fences an answering, writable primary after DNS.
        FenceState::NotFailedOver => matches!(
            &obs.primary,
            Ok(Some(p)) if p.status == InstanceStatus::Available && p.replica_source.is_none()
        ),
        _ => false,
    };
    due.then(|| PlannedStep::Fence {
        instance_id: db.primary.instance_id.to_string(),
        region: db.primary.region.to_string(),
        fencing: db.fencing.clone(),
        before_promotion: false,
    })
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

fn proceed(
    steps: Vec<PlannedStep>,
    overridden: Vec<String>,
    rpo: Option<RpoEstimate>,
    evidence: Vec<String>,
) -> Decision {
    Decision::Proceed {
        steps,
        overridden,
        rpo_seconds: rpo.as_ref().and_then(|r| r.seconds),
        rpo,
        evidence,
    }
}

/// Where the RTO is measured from: the alarm time the run that promoted tagged on the replica (so
/// every run that finishes the failover reports the same RTO), else the triggering alarm's state
/// change, else the earliest state change of a configured alarm now in `ALARM`. The tag counts
/// only while the promotion is real (the instance is standalone or changing): on an `available`
/// replica it is left from an abandoned promotion and is ignored.
pub fn rto_start(obs: &Observation, trigger_time: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    obs.replica
        .as_ref()
        .filter(|r| r.replica_source.is_none() || r.status != InstanceStatus::Available)
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
