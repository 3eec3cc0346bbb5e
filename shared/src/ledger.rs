//! The operations ledger: one DynamoDB table that is pilotlight's audit trail, the state a later
//! run resumes from, and the per-database lease. The adapter is [`crate::aws::dynamodb`].
//!
//! # Items (table keys `pk`, `sk`, both strings)
//! * **Database state**, `pk` = `database#<name>`, `sk` = `state`: the lease (`lease_owner`,
//!   `lease_expires_at_ms`, `lease_token`, `lease_acquired_at`), the open operation's `sk`
//!   (`open_operation`), and the DR-region detection counter (`unreachable_passes`,
//!   `unreachable_since`). See [`DatabaseState`].
//! * **Operation**, `pk` = `database#<name>`, `sk` = `operation#<opened_at, RFC 3339 ms>#<id>`:
//!   one failover incident (automatic or manual), from the decision to act to its close. See
//!   [`Operation`]. `history` is a `Query` on `pk` with `begins_with(sk, "operation#")`, newest
//!   first.
//!
//! # The lease
//! A run acts on a database only while it holds the lease: an `UpdateItem` on the state item with
//! `ConditionExpression` `attribute_not_exists(lease_owner) OR lease_expires_at_ms < :now`, which
//! sets the owner, the expiry and `lease_token = lease_token + 1` (the fencing token). An
//! operation and the state's pointer to it are written in one `TransactWriteItems`, conditioned
//! on this run's owner and token. DynamoDB
//! applies a conditional write atomically
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithItems.html#WorkingWithItems.ConditionalUpdate>),
//! so of two runs exactly one gets it; the other reads the holder and reports it. Every write of
//! an operation is conditioned on the writer's token being at least the one stored on the item, so
//! a run whose lease expired while it was stalled cannot overwrite the work of the run that took
//! over. The lease lasts `ledger.lease_seconds` and the run renews it every third of that while
//! it lives: a run that is killed frees the database by then. The owner is the Lambda request id
//! plus a nonce (Lambda may deliver one asynchronous event twice, with the same request id).
//! `status` and `history` never take the lease.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::command::{Delivery, FailoverRequest};

/// `sk` of a database's state item.
pub const STATE_SK: &str = "state";
/// Prefix of an operation's `sk`.
pub const OPERATION_PREFIX: &str = "operation#";
/// Most errors an operation item keeps (the newest).
pub const MAX_ERRORS: usize = 20;
/// Most steps an operation item keeps (the oldest beyond this are dropped and counted): an item
/// must stay under DynamoDB's 400 KB item limit.
pub const MAX_STEPS: usize = 300;

/// Most characters of one error or reason the ledger keeps: an SDK error with its whole context
/// (the raw response included) runs to kilobytes; the function's log keeps it whole.
pub const MAX_MESSAGE_CHARS: usize = 600;

/// `message`, cut to [`MAX_MESSAGE_CHARS`] characters (with `…` when cut).
pub fn brief(message: &str) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}

/// `pk` of every item of `database`.
pub fn pk(database: &str) -> String {
    format!("database#{database}")
}

/// `sk` of an operation opened at `opened_at` with `id`.
pub fn operation_sk(opened_at: DateTime<Utc>, id: &str) -> String {
    format!(
        "{OPERATION_PREFIX}{}#{id}",
        opened_at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// A database's state item (without its keys). Every field is absent on a new database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseState {
    /// The run holding the lease (its Lambda request id, or a generated id outside Lambda).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_owner: Option<String>,
    /// When the lease ends, epoch milliseconds (UTC).
    pub lease_expires_at_ms: i64,
    /// The fencing token: +1 at every acquisition, never reset.
    pub lease_token: u64,
    /// When the holder took it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_acquired_at: Option<DateTime<Utc>>,
    /// The `sk` of the open operation, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_operation: Option<String>,
    /// Consecutive reconcile passes that saw the primary's region not answering and the replica
    /// not replicating (DR-region detection).
    pub unreachable_passes: u32,
    /// The first of those passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<DateTime<Utc>>,
}

impl DatabaseState {
    /// The lease is held by someone at `now`.
    pub fn leased_at(&self, now: DateTime<Utc>) -> bool {
        self.lease_owner.is_some() && self.lease_expires_at_ms >= now.timestamp_millis()
    }
}

/// A lease this run holds on one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The database.
    pub database: String,
    /// This run.
    pub owner: String,
    /// The fencing token it was given.
    pub token: u64,
    /// When it ends (UTC).
    pub expires_at: DateTime<Utc>,
}

/// Who holds a database's lease, as a run that did not get it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseHolder {
    /// The run holding it.
    pub owner: String,
    /// Its fencing token.
    pub token: u64,
    /// Since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acquired_at: Option<DateTime<Utc>>,
    /// Until when (UTC).
    pub expires_at: DateTime<Utc>,
}

impl LeaseHolder {
    /// The holder recorded in `state`.
    pub fn of(state: &DatabaseState) -> Self {
        Self {
            owner: state.lease_owner.clone().unwrap_or_default(),
            token: state.lease_token,
            acquired_at: state.lease_acquired_at,
            expires_at: DateTime::from_timestamp_millis(state.lease_expires_at_ms)
                .unwrap_or_default(),
        }
    }
}

/// What an attempt to take the lease found.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseOutcome {
    /// This run holds it; the state as it is now (with the open operation, if any).
    Acquired(Lease, DatabaseState),
    /// Another run holds it and it has not expired.
    Held(LeaseHolder),
}

/// The kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Make the DR replica (or an Aurora global database's secondary cluster) the writer and
    /// point DNS at it; for Aurora, `FailoverGlobalCluster` with `AllowDataLoss`.
    Failover,
    /// A planned switchover of an Aurora global database (`SwitchoverGlobalCluster`, no data loss).
    Switchover,
    /// A DR drill: a snapshot copy restored into a temporary instance, validated, deleted
    /// (recorded under the database's drill key, [`crate::plan::drill::ledger_key`]).
    Drill,
    /// A failback phase (`prepare` or `switch`): bringing the database home after a failover.
    Failback,
}

/// Who or what started an operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum StartedBy {
    /// A CloudWatch alarm's state change.
    Alarm {
        /// The alarm.
        alarm_name: String,
        /// Its state change (UTC).
        #[serde(skip_serializing_if = "Option::is_none")]
        state_change_time: Option<DateTime<Utc>>,
        /// SNS or EventBridge.
        delivered_by: Delivery,
    },
    /// A person's command.
    Person {
        /// The reason they gave.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// They forced it past the automatic conditions.
        force: bool,
    },
    /// The reconcile pass, from DR-region evidence alone.
    DrDetection {
        /// Consecutive passes that saw the primary's region not answering.
        consecutive_passes: u32,
        /// The first of them (UTC).
        since: DateTime<Utc>,
    },
}

/// Where an operation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Decided and not finished: every run and the reconcile pass advance it.
    Open,
    /// Finished: the replica is the writer, DNS points to it and is in sync (and the old
    /// primary is fenced, or fencing is off).
    Completed,
    /// The checks said no; nothing was changed.
    Refused,
    /// Stopped for good (someone else changed a record during the failover); a person decides.
    Failed,
}

/// One step of a run, as the report and the ledger record it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// `fence`, `promote`, `wait_for_promotion`, `update_record`, `dns_in_sync`, `notify`, ...
    pub step: String,
    /// When it ended (UTC).
    pub at: DateTime<Utc>,
    /// What happened.
    pub detail: String,
}

/// One operation: a failover incident, from the decision to act to its close.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// `database#<name>`.
    pub pk: String,
    /// `operation#<opened_at>#<id>`.
    pub sk: String,
    /// Stable id: `alarm:<name>@<state change>` for an alarm (a duplicated delivery is the same
    /// operation), `manual:<request id>` for a person, `dr-detection@<since>`.
    pub operation_id: String,
    /// The protected database.
    pub database: String,
    /// What it does.
    pub kind: OperationKind,
    /// Who or what started it.
    pub started_by: StartedBy,
    /// The request that started it; a later run resumes with it.
    pub request: FailoverRequest,
    /// Where it stands.
    pub state: OperationState,
    /// The last run's outcome (`failed_over`, `in_progress`, `refused`, ...).
    pub outcome: String,
    /// What it waits for while open (`promotion`, `replica_available`, `dns_pending`,
    /// `fencing`, `retry`), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// When it was opened (UTC).
    pub opened_at: DateTime<Utc>,
    /// The last write (UTC).
    pub updated_at: DateTime<Utc>,
    /// When it was closed (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Every step of every run, oldest first (at most [`MAX_STEPS`]).
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// Steps dropped to keep the item small.
    #[serde(default)]
    pub steps_dropped: u32,
    /// Runs that worked on it.
    #[serde(default)]
    pub runs: u32,
    /// The refusal's reasons, or the last failure's.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Every error a run met, oldest first (a resumed operation keeps them).
    #[serde(default)]
    pub errors: Vec<String>,
    /// RTO, seconds, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_seconds: Option<f64>,
    /// RPO, seconds (a lower bound for MySQL), from the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpo_seconds: Option<f64>,
    /// The writer's endpoint once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer_endpoint: Option<String>,
    /// Route 53 change ids its runs submitted: a later run waits for them (`GetChange`) instead
    /// of changing a record that already points at the writer again.
    #[serde(default)]
    pub dns_changes: Vec<String>,
    /// The notifications published for it (`decision`, `result`, `refused`, `failed`,
    /// `fenced`): each is published once per operation.
    #[serde(default)]
    pub notified: Vec<String>,
    /// Aurora: when `FailoverGlobalCluster` with `AllowDataLoss` was accepted (UTC); the run
    /// then keeps Aurora's unplanned-failover snapshot of the old primary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_failover_at: Option<DateTime<Utc>>,
    /// Aurora: the manual copy (id) of the unplanned-failover snapshot, tagged with the retention
    /// hold tag, once made; or why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_snapshot: Option<String>,
    /// Drill: the drill's record (snapshot, instance, times, verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<crate::plan::drill::DrillRecord>,
    /// Failback: the phase's record (new instance, fence, promotion, DNS times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<crate::plan::failback::FailbackRecord>,
    /// The lease token of the last run that wrote it.
    pub lease_token: u64,
}

impl Operation {
    /// A new open operation of `request` on `database`, opened at `now` by the run holding
    /// `lease`; `request_id` names a person's run.
    pub fn open(
        request: &FailoverRequest,
        lease: &Lease,
        now: DateTime<Utc>,
        request_id: &str,
    ) -> Self {
        let (operation_id, started_by) = origin(request, request_id);
        Self {
            pk: pk(&request.database),
            sk: operation_sk(now, &operation_id),
            operation_id,
            database: request.database.clone(),
            kind: OperationKind::Failover,
            started_by,
            request: request.clone(),
            state: OperationState::Open,
            outcome: "in_progress".into(),
            waiting_for: None,
            opened_at: now,
            updated_at: now,
            closed_at: None,
            steps: vec![],
            steps_dropped: 0,
            runs: 0,
            reasons: vec![],
            errors: vec![],
            rto_seconds: None,
            rpo_seconds: None,
            writer_endpoint: None,
            dns_changes: vec![],
            notified: vec![],
            data_loss_failover_at: None,
            held_snapshot: None,
            drill: None,
            failback: None,
            lease_token: lease.token,
        }
    }

    /// Append a run's steps (details kept [`brief`]), keeping at most [`MAX_STEPS`] (the
    /// newest).
    pub fn add_steps(&mut self, steps: &[StepRecord]) {
        self.steps.extend(steps.iter().map(|st| StepRecord {
            detail: brief(&st.detail),
            ..st.clone()
        }));
        if self.steps.len() > MAX_STEPS {
            let drop = self.steps.len() - MAX_STEPS;
            self.steps.drain(..drop);
            self.steps_dropped = self.steps_dropped.saturating_add(drop as u32);
        }
    }

    /// Record a run's error (brief), keeping the newest [`MAX_ERRORS`].
    pub fn add_error(&mut self, error: String) {
        self.errors.push(brief(&error));
        if self.errors.len() > MAX_ERRORS {
            let drop = self.errors.len() - MAX_ERRORS;
            self.errors.drain(..drop);
        }
    }

    /// `event` was published for this operation already.
    pub fn was_notified(&self, event: &str) -> bool {
        self.notified.iter().any(|e| e == event)
    }

    /// Close it in `state` at `now`.
    pub fn close(&mut self, state: OperationState, now: DateTime<Utc>) {
        self.state = state;
        self.closed_at = Some(now);
        self.waiting_for = None;
    }
}

/// The operation id and origin of `request`.
pub fn origin(request: &FailoverRequest, request_id: &str) -> (String, StartedBy) {
    match (&request.trigger, &request.dr_detection) {
        (_, Some(d)) => (
            format!(
                "dr-detection@{}",
                d.since.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            StartedBy::DrDetection {
                consecutive_passes: d.consecutive_passes,
                since: d.since,
            },
        ),
        (Some(t), None) => (
            format!(
                "alarm:{}@{}",
                t.alarm_name,
                t.state_change_time
                    .map(|s| s.to_rfc3339_opts(SecondsFormat::Millis, true))
                    .unwrap_or_else(|| "unknown".into())
            ),
            StartedBy::Alarm {
                alarm_name: t.alarm_name.clone(),
                state_change_time: t.state_change_time,
                delivered_by: t.delivered_by,
            },
        ),
        (None, None) => (
            format!("manual:{request_id}"),
            StartedBy::Person {
                reason: request.reason.clone(),
                force: request.force,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> FailoverRequest {
        FailoverRequest {
            database: "orders".into(),
            dry_run: false,
            force: false,
            reason: Some("drill".into()),
            trigger: None,
            dr_detection: None,
        }
    }

    fn lease() -> Lease {
        Lease {
            database: "orders".into(),
            owner: "run-1".into(),
            token: 7,
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn an_operation_is_keyed_by_database_and_sorts_by_its_opening() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T03:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let op = Operation::open(&request(), &lease(), at, "req-9");
        assert_eq!(op.pk, "database#orders");
        assert_eq!(op.sk, "operation#2026-11-22T03:00:00.000Z#manual:req-9");
        assert_eq!(op.lease_token, 7);
        assert_eq!(op.state, OperationState::Open);
    }

    #[test]
    fn steps_are_capped_keeping_the_newest() {
        let mut op = Operation::open(&request(), &lease(), Utc::now(), "r");
        let step = |i: usize| StepRecord {
            step: "wait_for_promotion".into(),
            at: Utc::now(),
            detail: i.to_string(),
        };
        let steps: Vec<StepRecord> = (0..MAX_STEPS + 5).map(step).collect();
        op.add_steps(&steps);
        assert_eq!(op.steps.len(), MAX_STEPS);
        assert_eq!(op.steps_dropped, 5);
        assert_eq!(op.steps[0].detail, "5");
    }

    #[test]
    fn an_expired_lease_is_free() {
        let now = Utc::now();
        let mut s = DatabaseState {
            lease_owner: Some("a".into()),
            lease_expires_at_ms: now.timestamp_millis() - 1,
            ..DatabaseState::default()
        };
        assert!(!s.leased_at(now));
        s.lease_expires_at_ms = now.timestamp_millis() + 1000;
        assert!(s.leased_at(now));
    }
}
