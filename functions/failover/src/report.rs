//! What a failover run answers (and publishes through SNS): the report, its outcome, the
//! timeline RTO is measured on, and the `status` answer.

use chrono::{DateTime, Utc};
use pilotlight::command::{AlarmTrigger, FailoverRequest};
pub use pilotlight::ledger::StepRecord;
use pilotlight::ledger::{LeaseHolder, Operation};
use pilotlight::plan::failover::{Decision, FenceState, Observation, RpoEstimate};
use serde::Serialize;

/// Result of a failover run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This run finished the failover: the replica is the writer, DNS points to it and is in sync.
    FailedOver,
    /// This run finished an Aurora switchover: the secondary is the writer, DNS in sync.
    SwitchedOver,
    /// Nothing was left to do.
    AlreadyFailedOver,
    /// The checks said no; see `reasons`.
    Refused,
    /// Still under way (the promotion, a busy replica, DNS pending while Route 53 does not
    /// answer, the deadline): the operation stays open and the reconcile pass finishes it. A
    /// successful invocation, not an error.
    InProgress,
    /// Checks run, plan returned, nothing changed.
    DryRun,
    /// Another run holds this database's lease and is acting on it; this run did nothing
    /// (`lease_holder` says who, until when).
    LeaseHeld,
}

impl Outcome {
    /// The outcome as it appears in the report's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::FailedOver => "failed_over",
            Outcome::SwitchedOver => "switched_over",
            Outcome::AlreadyFailedOver => "already_failed_over",
            Outcome::Refused => "refused",
            Outcome::InProgress => "in_progress",
            Outcome::DryRun => "dry_run",
            Outcome::LeaseHeld => "lease_held",
        }
    }
}

/// Which notification a run publishes; the SNS message's `event` and its `event` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// The run decided to fail over and starts.
    Decision,
    /// The run ended (failed over, or in progress at the deadline).
    Result,
    /// The checks refused the failover.
    Refused,
    /// The run failed; the report's `reasons` say why.
    Failed,
    /// A run after the failover fenced the old primary (or tried to; `fencing` says).
    Fenced,
    /// The replica is the writer, and DNS could not be repointed yet (Route 53 did not answer).
    DnsPending,
}

impl NotifyEvent {
    /// The event's name in the message and its attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Decision => "decision",
            NotifyEvent::Result => "result",
            NotifyEvent::Refused => "refused",
            NotifyEvent::Failed => "failed",
            NotifyEvent::Fenced => "fenced",
            NotifyEvent::DnsPending => "dns_pending",
        }
    }
}

/// The moments that make up RTO, all UTC.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    /// When the failure began (the first unhealthy minute of the health check, else the alarm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_onset_at: Option<DateTime<Utc>>,
    /// The alarm's state change to `ALARM` (from the event, the alarm, or the replica's tag).
    pub alarm_at: Option<DateTime<Utc>>,
    /// When this run started: pilotlight's first action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_started_at: Option<DateTime<Utc>>,
    /// When this run decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// When `PromoteReadReplica` was issued (by this run or, from the replica's tag, an earlier one).
    pub promote_issued_at: Option<DateTime<Utc>>,
    /// When the promoted instance was seen `available` and standalone.
    pub promote_done_at: Option<DateTime<Utc>>,
    /// The poll before that one (it saw the promotion still running), or the promote itself:
    /// the instance became available between this and `promote_done_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promote_previous_poll_at: Option<DateTime<Utc>>,
    /// When this run submitted its first record change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_change_issued_at: Option<DateTime<Utc>>,
    /// When every record pointed at it and was `INSYNC`.
    pub dns_in_sync_at: Option<DateTime<Utc>>,
}

/// The RTO in its parts, seconds, from the [`Timeline`] (a part is `None` when this run did not
/// see both of its ends, e.g. a retry that did not promote).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RtoBreakdown {
    /// Failure onset → alarm: Route 53's checks and the alarm's evaluation (set by AWS and the
    /// health check and alarm configuration).
    pub detection_seconds: Option<f64>,
    /// Alarm → this run's start: SNS or EventBridge, the router, Lambda's asynchronous invoke (and,
    /// with reserved concurrency 1, the wait behind other databases' failovers).
    pub delivery_seconds: Option<f64>,
    /// Run start → `PromoteReadReplica` answered: pilotlight's decision (observation included).
    pub decision_seconds: Option<f64>,
    /// Promote answered → seen `available` and standalone: RDS's promotion, plus the last poll gap.
    pub promotion_seconds: Option<f64>,
    /// Upper bound of available → seen: the time since the poll before (the poll interval).
    pub availability_gap_max_seconds: Option<f64>,
    /// Seen available → first record change submitted.
    pub observed_to_change_seconds: Option<f64>,
    /// First record change → `INSYNC`: Route 53's propagation.
    pub dns_seconds: Option<f64>,
    /// What pilotlight added: decision + the availability gap (upper bound) + seen → change;
    /// `None` unless this run saw all three (the run that promoted and repointed).
    pub pilotlight_share_seconds: Option<f64>,
}

impl RtoBreakdown {
    /// The parts of `t`.
    pub fn of(t: &Timeline) -> Self {
        let between = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
            (Some(a), Some(b)) if b >= a => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        };
        // This run issued the promote (a retry finishing an earlier run's has neither a decision
        // nor a delivery of its own: its start is after a first run and Lambda's retry delay).
        let decision = between(t.run_started_at, t.promote_issued_at);
        let gap = between(t.promote_previous_poll_at, t.promote_done_at);
        let to_change = between(t.promote_done_at, t.dns_change_issued_at);
        // The share is the sum of all three, or unknown: never a part passed off as the whole.
        let share = match (decision, gap, to_change) {
            (Some(d), Some(g), Some(c)) => Some(((d + g + c) * 1000.0).round() / 1000.0),
            _ => None,
        };
        Self {
            detection_seconds: between(t.failure_onset_at, t.alarm_at),
            delivery_seconds: decision.and(between(t.alarm_at, t.run_started_at)),
            decision_seconds: decision,
            promotion_seconds: between(t.promote_issued_at, t.promote_done_at),
            availability_gap_max_seconds: gap,
            observed_to_change_seconds: to_change,
            dns_seconds: between(t.dns_change_issued_at, t.dns_in_sync_at),
            pilotlight_share_seconds: share,
        }
    }
}

/// The JSON report of a failover run (also the SNS message body).
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    /// The database.
    pub database: String,
    /// The outcome.
    pub outcome: Outcome,
    /// Whether this was a dry-run.
    pub dry_run: bool,
    /// Whether a person forced it.
    pub force: bool,
    /// A person's reason, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The alarm that asked, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<AlarmTrigger>,
    /// The decision and its plan (the steps it takes, or took).
    pub decision: Decision,
    /// Why it was refused (empty otherwise).
    pub reasons: Vec<String>,
    /// Steps taken by this run, in order.
    pub steps: Vec<StepRecord>,
    /// The timeline.
    pub timeline: Timeline,
    /// Recovery time in seconds: alarm state change to DNS in sync.
    pub rto_seconds: Option<f64>,
    /// The RTO in its parts, pilotlight's own share among them.
    pub rto_breakdown: RtoBreakdown,
    /// Recovery point estimate in seconds: the replica lag at the failure's onset, read by engine
    /// (see `rpo`).
    pub rpo_seconds: Option<f64>,
    /// How the recovery point was estimated, and whether it is a lower bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpo: Option<RpoEstimate>,
    /// What fencing the old primary did in this run, when it was planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing: Option<String>,
    /// The endpoint DNS points to after this run, when known.
    pub writer_endpoint: Option<String>,
    /// Notifications that could not be published (the failover itself is unaffected).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
    /// The operation in the ledger this run worked on (`operation_id`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The replica is the writer but the records could not be read or changed (Route 53 did not
    /// answer): the reconcile pass repoints them when it answers.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dns_pending: bool,
    /// The run that holds the lease, when this one did not get it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<LeaseHolder>,
}

impl FailoverReport {
    /// The report of `req` on `database` that decided `decision`, before it did anything
    /// (outcome `in_progress`, nothing measured).
    pub fn begin(database: &str, req: &FailoverRequest, decision: Decision) -> Self {
        Self {
            database: database.to_owned(),
            outcome: Outcome::InProgress,
            dry_run: req.dry_run,
            force: req.force,
            reason: req.reason.clone(),
            trigger: req.trigger.clone(),
            decision,
            reasons: vec![],
            steps: vec![],
            timeline: Timeline::default(),
            rto_seconds: None,
            rto_breakdown: RtoBreakdown::default(),
            rpo_seconds: None,
            rpo: None,
            fencing: None,
            writer_endpoint: None,
            notification_errors: vec![],
            operation_id: None,
            dns_pending: false,
            lease_holder: None,
        }
    }

    /// The SNS subject: database, outcome (or `failed`), and RTO/RPO in whole seconds.
    pub fn subject(&self, event: NotifyEvent) -> String {
        let detail = match event {
            NotifyEvent::Decision => format!("failover started, RPO {}", secs(self.rpo_seconds)),
            _ => format!(
                "RTO {}, RPO {}",
                secs(self.rto_seconds),
                secs(self.rpo_seconds)
            ),
        };
        format!(
            "pilotlight {}: {} ({detail})",
            self.database,
            self.outcome_of(event)
        )
    }

    /// The `outcome` attribute of a notification: `failed` for a failure, else the outcome.
    pub fn outcome_of(&self, event: NotifyEvent) -> &'static str {
        match event {
            NotifyEvent::Failed => "failed",
            _ => self.outcome.as_str(),
        }
    }
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.0} s"))
        .unwrap_or_else(|| "unknown".into())
}

/// The `history` answer: the last operations of a database, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// The database.
    pub database: String,
    /// Its operations, newest first, each with every step.
    pub operations: Vec<Operation>,
}

/// The `reconcile` answer: one entry per database it looked at.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileReport {
    /// One per protected database (or the one asked for).
    pub databases: Vec<ReconcileEntry>,
}

/// What the reconcile pass did for one database.
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileEntry {
    /// The database.
    pub database: String,
    /// `idle` (no open operation), `advanced` (a run advanced the open operation),
    /// `opened` (the DR-region detection opened one), `watching` (the detection counts passes),
    /// `lease_held` (another run is acting), `failed` (the run failed: `error`).
    pub action: String,
    /// The run's outcome, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// DR-region detection: consecutive passes that saw the primary's region not answering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_passes: Option<u32>,
    /// The error, when the run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run's report, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<FailoverReport>>,
    /// The run's report, when one ran on an Aurora global database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aurora_report: Option<Box<crate::AuroraReport>>,
    /// The drill run's report, when the pass advanced a drill (`database` is `<name>#drill`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill_report: Option<Box<crate::DrillReport>>,
    /// The failback run's report, when the pass advanced a failback phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failback_report: Option<Box<crate::FailbackReport>>,
}

impl ReconcileEntry {
    /// What the pass did for `database` (`action`), nothing else known yet.
    pub fn new(database: &str, action: &str) -> Self {
        Self {
            database: database.to_owned(),
            action: action.to_owned(),
            outcome: None,
            operation_id: None,
            unreachable_passes: None,
            error: None,
            report: None,
            aurora_report: None,
            drill_report: None,
            failback_report: None,
        }
    }
}

/// The `status` report.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// One observation per protected database (or the one asked for).
    pub databases: Vec<StatusEntry>,
}

/// A database's open operation as `status` shows it (read from the ledger, no lease taken).
#[derive(Debug, Clone, Serialize)]
pub struct OpenOperation {
    /// Its id.
    pub operation_id: String,
    /// What it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// Its last outcome.
    pub outcome: String,
    /// When it was opened (UTC).
    pub opened_at: DateTime<Utc>,
    /// Runs so far.
    pub runs: u32,
}

/// A database's status, or why it could not be read (one unreachable region does not hide the
/// other databases).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum StatusEntry {
    /// What was observed, and whether the old primary is fenced.
    Observed(Box<ObservedStatus>),
    /// An Aurora global database.
    Aurora(Box<AuroraStatus>),
    /// The replica or a record could not be read.
    Unreadable {
        /// The database.
        database: String,
        /// The error.
        error: String,
    },
}

/// An Aurora global database's `status`: its members and their roles, the secondary's lag, what
/// a failover and a switchover would do now, and whether the configuration matches reality.
#[derive(Debug, Clone, Serialize)]
pub struct AuroraStatus {
    /// The database.
    pub database: String,
    /// Always `aurora_global`.
    pub kind: &'static str,
    /// What was observed (global database, both clusters, lag, alarms, health check, records).
    pub observation: pilotlight::plan::aurora::AuroraObservation,
    /// Each member's role: `{"cluster_arn", "role": "writer" | "reader"}`.
    pub members: Vec<serde_json::Value>,
    /// What an alarm's failover would decide now (nothing is done).
    pub failover_plan: pilotlight::plan::aurora::AuroraDecision,
    /// What a `switchover` would decide now.
    pub switchover_plan: pilotlight::plan::aurora::AuroraDecision,
    /// Set when the writer is not the configured `primary` (after a switchover or failover, the
    /// configuration's `primary` and `secondary` are to be swapped: README, "Aurora global
    /// databases").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_disagrees: Option<String>,
    /// The open operation in the ledger, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_operation: Option<OpenOperation>,
    /// Who holds the database's lease now, if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<LeaseHolder>,
    /// Why the ledger could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
}

/// One database's `status`: the observation, and the fencing of the old primary.
#[derive(Debug, Clone, Serialize)]
pub struct ObservedStatus {
    /// What was observed.
    #[serde(flatten)]
    pub observation: Observation,
    /// `not_failed_over`, `disabled`, `fenced`, `pending` (with the reason) or `due`.
    pub fencing: FenceState,
    /// The open operation in the ledger, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_operation: Option<OpenOperation>,
    /// Who holds the database's lease now, if anyone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<LeaseHolder>,
    /// Why the ledger could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_error: Option<String>,
    /// Where the configuration's roles disagree with what RDS reports (after a failover, or a
    /// failback not yet written into the configuration).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configuration_disagrees: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn the_rto_splits_into_its_parts_and_pilotlights_share() {
        let t0 = Utc
            .with_ymd_and_hms(2026, 11, 20, 3, 0, 0)
            .single()
            .unwrap_or_default();
        let at = |ms: i64| Some(t0 + Duration::milliseconds(ms));
        let timeline = Timeline {
            failure_onset_at: at(0),
            alarm_at: at(180_000),
            run_started_at: at(181_500),
            decided_at: at(181_700),
            promote_issued_at: at(181_900),
            promote_previous_poll_at: at(400_000),
            promote_done_at: at(405_000),
            dns_change_issued_at: at(405_100),
            dns_in_sync_at: at(445_100),
        };
        let b = RtoBreakdown::of(&timeline);
        assert_eq!(b.detection_seconds, Some(180.0));
        assert_eq!(b.delivery_seconds, Some(1.5));
        assert_eq!(b.decision_seconds, Some(0.4));
        assert_eq!(b.promotion_seconds, Some(223.1));
        assert_eq!(b.availability_gap_max_seconds, Some(5.0));
        assert_eq!(b.observed_to_change_seconds, Some(0.1));
        assert_eq!(b.dns_seconds, Some(40.0));
        let share = b.pilotlight_share_seconds.unwrap_or_default();
        assert!((share - 5.5).abs() < 1e-9, "{share}");
        // a retry that did not promote: no decision part, the rest still measured
        let retry = Timeline {
            run_started_at: at(500_000),
            promote_issued_at: at(181_900),
            ..timeline
        };
        let r = RtoBreakdown::of(&retry);
        assert_eq!(
            (
                r.decision_seconds,
                r.delivery_seconds,
                r.pilotlight_share_seconds
            ),
            (None, None, None)
        );
        assert_eq!(RtoBreakdown::default().pilotlight_share_seconds, None);
    }
}
