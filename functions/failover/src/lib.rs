//! The `failover` function: runs the `failover`, `reconcile`, `status` and `history` commands.
//!
//! `failover` brings a protected database to "the DR replica is the writer and DNS points to it".
//! Every run takes the database's lease in the operations ledger ([`pilotlight::ledger`]), reads
//! the actual state ([`observe`]), asks the pure [`decide_failover`] what is still missing, does
//! only that ([`execute`]), and records it in the database's open operation. A run that cannot
//! finish (a promotion that outlives it, a busy replica, Route 53 not answering) leaves the
//! operation open and answers `in_progress`; the reconcile pass ([`reconcile`], every minute)
//! advances it until it is closed. So a run is safe to repeat, to run concurrently, or to die at
//! any step.

mod aurora;
mod drill;
mod execute;
mod failback;
mod report;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use lambda_runtime::{Context, LambdaEvent};
use pilotlight::aws::dynamodb::Ledger;
use pilotlight::command::{parse_command, Command, DrDetectionTrigger, FailoverRequest};
use pilotlight::config::{AuroraGlobalDatabase, Config, ProtectedDatabase};
use pilotlight::error::WorkerError;
use pilotlight::ledger::{
    brief, Lease, LeaseHolder, LeaseOutcome, Operation, OperationKind, OperationState,
};
use pilotlight::observe::failover::observe;
use pilotlight::plan::failover::{awaiting_evidence, decide_failover, fence_state, Ask, Decision};
use pilotlight::plan::route::unknown_database;
use pilotlight::plan::status::InstanceStatus;
use serde_json::Value;
use tracing::{info, warn};

pub use aurora::AuroraReport;
pub use drill::{differences, drill, DrillReport, DrillsReport};
pub use failback::{failback, FailbackReport};
pub use pilotlight::runtime::WorkerDeps as Deps;
pub use report::{
    FailoverReport, HistoryReport, NotifyEvent, ObservedStatus, OpenOperation, Outcome,
    ReconcileEntry, ReconcileReport, RtoBreakdown, StatusEntry, StatusReport, StepRecord, Timeline,
};

use execute::Run;

use pilotlight::runtime::time_left;
pub use pilotlight::runtime::REPORT_MARGIN_MS;

/// Lambda handler: parse the command, run it, return its JSON report.
///
/// An operation still under way (`in_progress`) is a successful invocation: the reconcile pass
/// finishes it, so the function's error alarm pages only for runs that really failed.
///
/// # Errors
/// [`WorkerError`]: an invalid command, an unknown database, a conflict or a failed AWS call
/// found while executing (the operation stays open unless [`error_policy`] closes it), or a
/// reconcile pass in which a database's run failed.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, WorkerError> {
    let command = parse_command(event.payload)?;
    info!(
        command = command.name(),
        database = command.database().unwrap_or("*"),
        "command received"
    );
    let run = RunId::of(&event.context);
    match command {
        Command::Status { database } => Ok(serde_json::to_value(
            Box::pin(status(deps, database.as_deref())).await?,
        )?),
        Command::History { database, limit } => Ok(serde_json::to_value(
            Box::pin(history(deps, &database, limit)).await?,
        )?),
        Command::Failover(request) if deps.config.aurora(&request.database).is_some() => {
            let time_left = time_left(&event.context);
            let report = Box::pin(aurora_as(
                deps,
                OperationKind::Failover,
                &request,
                Utc::now(),
                time_left,
                &run,
            ))
            .await?;
            Ok(serde_json::to_value(report)?)
        }
        Command::Failover(request) => {
            let time_left = time_left(&event.context);
            let report = failover_as(deps, &request, Utc::now(), time_left, &run).await?;
            Ok(serde_json::to_value(report)?)
        }
        Command::Switchover(request) => {
            let time_left = time_left(&event.context);
            let report = Box::pin(aurora_as(
                deps,
                OperationKind::Switchover,
                &request.as_failover(),
                Utc::now(),
                time_left,
                &run,
            ))
            .await?;
            Ok(serde_json::to_value(report)?)
        }
        Command::Failback(request) => {
            let time_left = time_left(&event.context);
            let report = Box::pin(failback::failback(deps, &request, time_left, &run)).await?;
            Ok(serde_json::to_value(report)?)
        }
        Command::Drill(request) => {
            let time_left = time_left(&event.context);
            let report = Box::pin(drill::drill(deps, &request, time_left, &run)).await?;
            Ok(serde_json::to_value(report)?)
        }
        Command::Reconcile { database } => {
            let time_left = time_left(&event.context);
            let report =
                Box::pin(reconcile_all(deps, database.as_deref(), time_left, &run)).await?;
            let failed: Vec<String> = report
                .databases
                .iter()
                .filter_map(|e| e.error.as_ref().map(|m| format!("`{}`: {m}", e.database)))
                .collect();
            if !failed.is_empty() {
                return Err(WorkerError::ReconcileFailed(format!(
                    "the reconcile pass could not advance {}",
                    failed.join("; ")
                )));
            }
            Ok(serde_json::to_value(report)?)
        }
        other => Err(WorkerError::InvalidCommand(format!(
            "invalid command: this function runs `status`, `history`, `failover`, `switchover`, `failback`, `drill` and `reconcile`, not `{}`",
            other.name()
        ))),
    }
}

/// Who a run is, for the lease: the Lambda request id, or a generated id outside Lambda.
#[derive(Debug, Clone)]
pub struct RunId(pub String);

impl RunId {
    /// The invocation's request id plus a nonce (Lambda may deliver one asynchronous event twice,
    /// and its retries keep the request id: two deliveries must still be two owners), else a
    /// generated id.
    pub fn of(context: &Context) -> Self {
        if context.request_id.is_empty() {
            Self::generate()
        } else {
            Self(format!("{}/{}", context.request_id, nonce()))
        }
    }

    /// `local-<nonce>`: unique within this machine.
    pub fn generate() -> Self {
        Self(format!("local-{}", nonce()))
    }
}

/// `<pid>-<nanoseconds>-<counter>`: unique within this machine.
fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn database<'a>(config: &'a Config, name: &str) -> Result<&'a ProtectedDatabase, WorkerError> {
    config.database(name).ok_or_else(|| {
        if config.aurora(name).is_some() {
            WorkerError::InvalidCommand(format!(
                "invalid command: `{name}` is an Aurora global database (`aurora_global`), not an RDS replica pair"
            ))
        } else {
            WorkerError::UnknownDatabase(unknown_database(config, name))
        }
    })
}

/// Run an Aurora global database's switchover (`kind` [`OperationKind::Switchover`]) or
/// failover: see [`aurora::run`].
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] or [`WorkerError::InvalidCommand`] (an RDS database asked
/// for a switchover, a trigger time outside 24 h) before any call; else as [`aurora::run`].
pub async fn aurora_as(
    deps: &Deps,
    kind: OperationKind,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    time_left: Option<Duration>,
    run: &RunId,
) -> Result<AuroraReport, WorkerError> {
    let db = match deps.config.aurora(&req.database) {
        Some(db) => db,
        None if deps.config.database(&req.database).is_some() => {
            return Err(WorkerError::InvalidCommand(format!(
                "invalid command: `switchover` is for Aurora global databases; `{}` is an RDS read replica pair: use `failover`",
                req.database
            )))
        }
        None => {
            return Err(WorkerError::UnknownDatabase(unknown_database(
                &deps.config,
                &req.database,
            )))
        }
    };
    check_times(req, started)?;
    Box::pin(aurora::run(
        deps, db, kind, req, started, time_left, run, false,
    ))
    .await
}

pub(crate) fn ledger(deps: &Deps) -> Ledger {
    Ledger::new(
        deps.clients.dynamodb.clone(),
        &deps.config.ledger.table_name,
    )
}

pub(crate) fn ledger_error(db: &str, e: pilotlight::aws::AwsError) -> WorkerError {
    WorkerError::aws(
        format!("the operations ledger of `{db}` could not be read or written"),
        e,
    )
}

/// Run `status`: observe every protected database (or `only`), concurrently, with its open
/// operation and lease holder from the ledger. Changes nothing, takes no lease.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`]; a database that cannot be read is an entry with its error.
pub async fn status(deps: &Deps, only: Option<&str>) -> Result<StatusReport, WorkerError> {
    let dbs: Vec<&ProtectedDatabase> = match only {
        Some(name) if deps.config.aurora(name).is_some() => vec![],
        Some(name) => vec![database(&deps.config, name)?],
        None => deps.config.databases.iter().collect(),
    };
    let aurora: Vec<&AuroraGlobalDatabase> = match only {
        Some(name) => deps.config.aurora(name).into_iter().collect(),
        None => deps.config.aurora_global.iter().collect(),
    };
    let now = Utc::now();
    let settings = &deps.config.failover;
    let ledger = ledger(deps);
    let entries = join_all(dbs.iter().map(|db| {
        let ledger = &ledger;
        async move {
            let (observation, state) = futures::join!(
                observe(&deps.clients, settings, db, now, now),
                ledger.state(&db.name)
            );
            let observation = match observation {
                Ok(o) => o,
                Err(e) => {
                    return StatusEntry::Unreadable {
                        database: db.name.clone(),
                        error: format!("status of `{}` failed: {e}", db.name),
                    }
                }
            };
            let (open_operation, lease_holder, ledger_error) =
                ledger_view(ledger, &db.name, state, now).await;
            StatusEntry::Observed(Box::new(ObservedStatus {
                configuration_disagrees: pilotlight::plan::failback::disagreements(
                    db,
                    &observation,
                ),
                fencing: fence_state(db, &observation),
                observation,
                open_operation,
                lease_holder,
                ledger_error,
            }))
        }
    }))
    .await;
    let mut entries = entries;
    entries.extend(join_all(aurora.iter().map(|db| aurora::status(deps, db, now))).await);
    Ok(StatusReport { databases: entries })
}

/// What `status` shows of a database's ledger: its open operation, the lease holder, or why the
/// ledger could not be read. Takes no lease.
pub(crate) async fn ledger_view(
    ledger: &Ledger,
    name: &str,
    state: Result<pilotlight::ledger::DatabaseState, pilotlight::aws::AwsError>,
    now: DateTime<Utc>,
) -> (Option<OpenOperation>, Option<LeaseHolder>, Option<String>) {
    match state {
        Ok(state) => {
            let open = match &state.open_operation {
                Some(sk) => ledger.operation(name, sk).await.ok().flatten(),
                None => None,
            };
            (
                open.map(|o| OpenOperation {
                    operation_id: o.operation_id,
                    waiting_for: o.waiting_for,
                    outcome: o.outcome,
                    opened_at: o.opened_at,
                    runs: o.runs,
                }),
                state.leased_at(now).then(|| LeaseHolder::of(&state)),
                None,
            )
        }
        Err(e) => (None, None, Some(e.to_string())),
    }
}

/// Run `history`: the last `limit` (1..=100) operations of `database`, newest first, with their
/// steps (`orders#drill`: the drills of `orders`). Takes no lease.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`], [`WorkerError::InvalidCommand`] for a limit outside 1..=100,
/// [`WorkerError::Aws`] when the ledger cannot be read.
pub async fn history(deps: &Deps, name: &str, limit: u32) -> Result<HistoryReport, WorkerError> {
    // `<name>#drill`: the database's drills (their own ledger key)
    let base = name.strip_suffix("#drill").unwrap_or(name);
    if deps.config.database(base).is_none() && deps.config.aurora(name).is_none() {
        return Err(WorkerError::UnknownDatabase(unknown_database(
            &deps.config,
            name,
        )));
    }
    if !(1..=100).contains(&limit) {
        return Err(WorkerError::InvalidCommand(format!(
            "invalid command: `limit` {limit} is outside 1..=100"
        )));
    }
    let operations = ledger(deps)
        .history(name, limit)
        .await
        .map_err(|e| ledger_error(name, e))?;
    Ok(HistoryReport {
        database: name.to_owned(),
        operations,
    })
}

/// [`failover_as`] with a generated run id (tests, tools).
///
/// # Errors
/// As [`failover_as`].
pub async fn failover(
    deps: &Deps,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    time_left: Option<Duration>,
) -> Result<FailoverReport, WorkerError> {
    failover_as(deps, req, started, time_left, &RunId::generate()).await
}

/// Run a failover request to its end state, or as far as the deadline allows: take the
/// database's lease (a dry-run takes none), resume its open operation if there is one, observe,
/// decide, execute, record the operation, give the lease back.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] (nothing is called); [`WorkerError::Aws`] naming the call
/// that failed (the ledger's included: without the lease nothing is changed);
/// [`WorkerError::Refused`] or [`WorkerError::Conflict`] when executing found it unsafe to go on.
/// A notification of the failure is published first.
pub async fn failover_as(
    deps: &Deps,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    time_left: Option<Duration>,
    run: &RunId,
) -> Result<FailoverReport, WorkerError> {
    Box::pin(run_failover(deps, req, started, time_left, run, false)).await
}

async fn run_failover(
    deps: &Deps,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    time_left: Option<Duration>,
    run: &RunId,
    resumed: bool,
) -> Result<FailoverReport, WorkerError> {
    let db = database(&deps.config, &req.database)?;
    if !resumed {
        // a request as it arrives; a resumed operation's own request may be old by design
        check_times(req, started)?;
    }
    let budget = time_left
        .unwrap_or(Duration::MAX / 4)
        .min(Duration::from_secs(deps.config.failover.deadline_seconds));
    let run_deadline = tokio::time::Instant::now() + budget;
    if req.dry_run {
        let (obs, decision) =
            Box::pin(decide(deps, db, req, started, run_deadline, resumed)).await?;
        let mut run = Run::new(deps, db, req, &obs, decision.clone(), started);
        match decision {
            Decision::Proceed { steps, rpo, .. } => {
                Box::pin(run.proceed(&steps, rpo, run_deadline)).await?
            }
            Decision::Refused { reasons } => run.refused(reasons).await,
            Decision::Deferred { reasons } => run.deferred(reasons).await,
            Decision::AlreadyFailedOver => run.already_failed_over(),
        }
        return Ok(run.report);
    }
    let leased = with_lease(deps, &db.name, run, |ledger, lease, open| async move {
        Box::pin(act(
            deps,
            db,
            req,
            started,
            run_deadline,
            &ledger,
            &lease,
            open,
            run,
            resumed,
        ))
        .await
    })
    .await?;
    match leased {
        Leased::Ran(report) => Ok(report),
        Leased::Held(holder) => Ok(lease_held(db, req, holder)),
    }
}

/// What [`with_lease`] did.
pub(crate) enum Leased<T> {
    /// The work ran, with the lease.
    Ran(T),
    /// Another run holds the lease: nothing was done.
    Held(LeaseHolder),
}

/// Take `name`'s lease in the ledger, read its open operation (clearing a pointer to a closed
/// one), run `work` with them while a heartbeat renews the lease, and give the lease back. The
/// work ends with [`WorkerError::Conflict`] when the lease is lost or may lapse before the next
/// renewal: a run never acts without it.
///
/// # Errors
/// [`WorkerError::Aws`] when the ledger cannot be read or written, else the work's own error.
pub(crate) async fn with_lease<T, F, Fut>(
    deps: &Deps,
    name: &str,
    run: &RunId,
    work: F,
) -> Result<Leased<T>, WorkerError>
where
    F: FnOnce(Ledger, Lease, Option<Operation>) -> Fut,
    Fut: std::future::Future<Output = Result<T, WorkerError>>,
{
    let ledger = ledger(deps);
    let now = Utc::now();
    let ttl =
        chrono::Duration::seconds(i64::try_from(deps.config.ledger.lease_seconds).unwrap_or(60));
    let (lease, state) = match ledger
        .acquire(name, &run.0, now, now + ttl)
        .await
        .map_err(|e| ledger_error(name, e))?
    {
        LeaseOutcome::Acquired(lease, state) => (lease, state),
        LeaseOutcome::Held(holder) => {
            info!(database = %name, holder = %holder.owner, "lease held by another run: doing nothing");
            return Ok(Leased::Held(holder));
        }
    };
    let open = match &state.open_operation {
        Some(sk) => match ledger.operation(name, sk).await {
            // a pointer to a closed operation (a close whose pointer was not cleared): cleared
            Ok(Some(op)) if op.state != OperationState::Open => ledger
                .clear_pointer(name, sk)
                .await
                .map(|()| None)
                .map_err(|e| ledger_error(name, e)),
            other => other.map_err(|e| ledger_error(name, e)),
        },
        None => Ok(None),
    };
    let heartbeat = async {
        // Renew every third of the lease while the run lives (a killed run stops renewing). The
        // heartbeat ends, and with it the run, when the lease is lost or may lapse before the
        // next renewal: a run never acts without it.
        let every = (ttl / 3).to_std().unwrap_or(Duration::from_secs(20));
        let mut confirmed_until = lease.expires_at;
        loop {
            tokio::time::sleep(every).await;
            let until = Utc::now() + ttl;
            match tokio::time::timeout(every, ledger.renew(&lease, until)).await {
                Ok(Ok(true)) => confirmed_until = until,
                Ok(Ok(false)) => {
                    return format!("the lease on `{name}` was taken over by another run")
                }
                Ok(Err(e)) => {
                    warn!(database = %name, error = %e, "the lease could not be renewed")
                }
                Err(_) => warn!(database = %name, "the lease renewal did not answer in time"),
            }
            let next = chrono::Duration::from_std(every).unwrap_or(ttl / 3);
            if Utc::now() + next >= confirmed_until {
                return format!(
                    "the lease on `{name}` could not be renewed and lapses at {confirmed_until}"
                );
            }
        }
    };
    let work = async {
        match open {
            Ok(open) => work(ledger.clone(), lease.clone(), open).await,
            Err(e) => Err(e),
        }
    };
    let (work, heartbeat) = (Box::pin(work), Box::pin(heartbeat));
    let result = tokio::select! {
        r = work => r,
        lost = heartbeat => {
            warn!(database = %name, reason = %lost, "stopping: the lease is lost");
            Err(WorkerError::Conflict(format!(
                "the run on `{name}` stopped: {lost}; the run that holds it now (or the next reconcile pass) goes on"
            )))
        }
    };
    if let Err(e) = ledger.release(&lease).await {
        warn!(database = %name, error = %e, "the lease could not be released: it expires by itself");
    }
    result.map(Leased::Ran)
}

/// The report of a run that did not get the lease.
fn lease_held(
    db: &ProtectedDatabase,
    req: &FailoverRequest,
    holder: LeaseHolder,
) -> FailoverReport {
    let decision = Decision::Refused {
        reasons: vec![format!(
            "another run (`{}`, fencing token {}) holds the lease on `{}` until {}: it is acting on this database; this run did nothing",
            holder.owner, holder.token, db.name, holder.expires_at
        )],
    };
    FailoverReport {
        outcome: Outcome::LeaseHeld,
        lease_holder: Some(holder),
        ..FailoverReport::begin(&db.name, req, decision)
    }
}

/// Observe and decide, observing again for a while when an alarm's run only lacks the evidence
/// that replication stopped (not on a resumed operation: the reconcile pass comes back anyway).
async fn decide(
    deps: &Deps,
    db: &ProtectedDatabase,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    run_deadline: tokio::time::Instant,
    resumed: bool,
) -> Result<(pilotlight::plan::failover::Observation, Decision), WorkerError> {
    // the detection's first pass stands for the alarm's state change
    let trigger_time = req
        .trigger
        .as_ref()
        .and_then(|t| t.state_change_time)
        .or(req.dr_detection.map(|d| d.since));
    let lag_until = trigger_time.unwrap_or(started).min(started);
    let ask = Ask {
        force: req.force,
        automatic: req.trigger.is_some() || req.dr_detection.is_some(),
        trigger_at: trigger_time,
    };
    let settings = &deps.config.failover;
    let evidence_until =
        tokio::time::Instant::now() + Duration::from_secs(settings.evidence_wait_seconds);
    let mut interval = Duration::from_millis(settings.poll_interval_ms);
    let mut first = true;
    let (obs, decision) = loop {
        let now = if first { started } else { Utc::now() };
        first = false;
        let mut obs = observe(&deps.clients, settings, db, now, lag_until)
            .await
            .map_err(|e| WorkerError::aws(format!("failover of `{}` failed", db.name), e))?
            .with_trigger(req.trigger.as_ref());
        obs.dr_detection = req.dr_detection;
        let decision = decide_failover(db, &obs, ask);
        // An alarm's run whose only gap is the evidence that replication stopped observes again
        // for a while: RDS reports a lost source late. A dry-run or a person's run answers now.
        let waiting = matches!(decision, Decision::Refused { .. })
            && req.trigger.is_some()
            && !req.dry_run
            && !resumed
            && awaiting_evidence(db, &obs);
        let next = tokio::time::Instant::now() + interval;
        if !waiting || next > evidence_until || next > run_deadline {
            break (obs, decision);
        }
        info!(database = %db.name, "primary down, no evidence from the replica yet: observing again");
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(settings.max_poll_interval_ms));
    };
    info!(database = %db.name, decision = ?decision, "failover decision");
    Ok((obs, decision))
}

/// What to do with an operation after a run failed with `error`: the reconcile pass's failure
/// policy (the pattern of kube-rs controller-rs's `error_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Keep the operation open: the next pass (a minute later) tries again. AWS failures
    /// (throttling that outlived the SDK's retries, a region that does not answer), a fence that
    /// did not hold before a promotion.
    Retry,
    /// Close it `failed` and leave it to a person: someone else changed a record during the
    /// failover, or the request itself is wrong.
    Close,
}

/// The failure policy of [`reconcile`] and of every failover run (see [`Policy`]):
/// - someone else changed a record during the failover (`Conflict`): closed `failed`, theirs;
/// - an AWS call that did not answer or was throttled, or a fence that did not hold before the
///   promotion: retried by the next pass;
/// - a refusal by AWS (`AccessDenied`, a validation error) once the replica is `promoted`: retried
///   too, never stranded half-way (fixing the cause is enough; the `failed` page is sent once per
///   kind of failure);
/// - the same refusal before anything changed: closed `failed` (retrying cannot help).
pub fn error_policy(error: &WorkerError, promoted: bool) -> Policy {
    match error {
        WorkerError::Conflict(_) => Policy::Close,
        WorkerError::Aws { source, .. } if source.transient() => Policy::Retry,
        WorkerError::Refused(_) => Policy::Retry,
        _ if promoted => Policy::Retry,
        _ => Policy::Close,
    }
}

/// The lease is held: decide, act, and record the operation.
#[allow(clippy::too_many_arguments)]
async fn act(
    deps: &Deps,
    db: &ProtectedDatabase,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    run_deadline: tokio::time::Instant,
    ledger: &Ledger,
    lease: &Lease,
    open: Option<Operation>,
    run_id: &RunId,
    resumed: bool,
) -> Result<FailoverReport, WorkerError> {
    // A request for a database with an open operation continues that operation (a duplicated
    // alarm, a person's re-run, the reconcile pass) with the operation's own request: the same
    // incident. A person who forces takes it over with their request and reason instead: the
    // on-call is never locked out by an operation that is stuck.
    let forced_by_person = req.force && req.trigger.is_none() && req.dr_detection.is_none();
    if let Some(op) = open.as_ref().filter(|o| o.kind == OperationKind::Failback) {
        return Err(WorkerError::Refused(format!(
            "a failback of `{}` is in progress (operation `{}`, waiting for {}): no failover while it runs; `status` and `history` show it",
            db.name,
            op.operation_id,
            op.waiting_for.as_deref().unwrap_or("its next step")
        )));
    }
    let mut open = open;
    let req = match &mut open {
        Some(op) if !resumed && forced_by_person => {
            info!(database = %db.name, operation = %op.operation_id, "a person forces: taking the open operation over");
            op.request = req.clone();
            op.started_by = pilotlight::ledger::StartedBy::Person {
                reason: req.reason.clone(),
                force: true,
            };
            op.add_steps(&[pilotlight::ledger::StepRecord {
                step: "taken_over".into(),
                at: Utc::now(),
                detail: format!(
                    "a person forced the failover and took this operation over: {}",
                    req.reason.as_deref().unwrap_or("no reason given")
                ),
            }]);
            req.clone()
        }
        Some(op) if !resumed => {
            info!(database = %db.name, operation = %op.operation_id, "an operation is open: continuing it");
            op.request.clone()
        }
        _ => req.clone(),
    };
    let resumed = resumed || open.is_some();
    let (obs, decision) = Box::pin(decide(deps, db, &req, started, run_deadline, resumed)).await?;
    let mut run = Run::new(deps, db, &req, &obs, decision.clone(), started);
    let now = Utc::now();
    let mut op = match open {
        Some(op) => op,
        None if decision == Decision::AlreadyFailedOver => {
            // nothing to do and nothing open: the ledger is left as it is
            run.already_failed_over();
            return Ok(run.report);
        }
        None => {
            let fresh = Operation::open(&req, lease, opened_at(&req, now), &run_id.0);
            // The same incident seen before (a duplicated alarm delivery): its operation.
            let seen = ledger
                .operation(&db.name, &fresh.sk)
                .await
                .map_err(|e| ledger_error(&db.name, e))?;
            match (seen, &decision) {
                (Some(seen), Decision::Refused { reasons }) => {
                    // refused before, refused again: nothing new to record or to say
                    run.notified = seen.notified.clone();
                    run.refused(reasons.clone()).await;
                    run.report.operation_id = Some(seen.operation_id);
                    return Ok(run.report);
                }
                (Some(mut seen), _) => {
                    seen.state = OperationState::Open;
                    seen.closed_at = None;
                    seen
                }
                (None, _) => fresh,
            }
        }
    };
    if op.state == OperationState::Open
        && matches!(
            decision,
            Decision::Proceed { .. } | Decision::Deferred { .. }
        )
    {
        // the intent is recorded before anything changes: a crash leaves the operation open
        op.updated_at = now;
        save(ledger, lease, &op, &db.name).await?;
    }
    run.notified = op.notified.clone();
    run.known_changes = op.dns_changes.clone();
    run.report.operation_id = Some(op.operation_id.clone());
    // the replica was promoted before this run: standalone when observed, or being promoted (a
    // promotion pilotlight started that is not `available` yet, as the plan reads it)
    let promoted_before = obs.replica.as_ref().is_some_and(|r| {
        r.replica_source.is_none()
            || (r.promotion_started_at.is_some() && r.status != InstanceStatus::Available)
    });
    let result = match decision {
        Decision::AlreadyFailedOver => {
            run.already_failed_over();
            // closing an operation a crashed run finished: its result, once
            run.notify(NotifyEvent::Result).await;
            Ok(())
        }
        Decision::Refused { reasons } => {
            run.refused(reasons).await;
            Ok(())
        }
        Decision::Deferred { reasons } => {
            run.deferred(reasons).await;
            Ok(())
        }
        Decision::Proceed { steps, rpo, .. } => {
            Box::pin(run.proceed(&steps, rpo, run_deadline)).await
        }
    };
    let now = Utc::now();
    op.runs += 1;
    op.updated_at = now;
    op.add_steps(&run.report.steps);
    op.notified = run.notified.clone();
    op.dns_changes.extend(run.submitted_changes.iter().cloned());
    op.outcome = run.report.outcome.as_str().to_owned();
    op.waiting_for = run.waiting_for.clone();
    if run.report.rpo_seconds.is_some() {
        op.rpo_seconds = run.report.rpo_seconds;
    }
    if run.report.rto_seconds.is_some() {
        op.rto_seconds = run.report.rto_seconds;
    }
    if run.report.writer_endpoint.is_some() {
        op.writer_endpoint = run.report.writer_endpoint.clone();
    }
    match &result {
        Ok(()) => match run.report.outcome {
            Outcome::FailedOver | Outcome::AlreadyFailedOver if run.fence_pending => {
                op.waiting_for = Some("fencing".into());
            }
            Outcome::FailedOver | Outcome::AlreadyFailedOver => {
                op.close(OperationState::Completed, now)
            }
            Outcome::Refused => {
                op.reasons = run.report.reasons.iter().map(|r| brief(r)).collect();
                // refused after pilotlight promoted: DNS was not repointed, a person decides
                let state = if promoted_before {
                    OperationState::Failed
                } else {
                    OperationState::Refused
                };
                op.close(state, now);
            }
            _ => {}
        },
        Err(e) => {
            op.add_error(format!("{}: {e}", now.to_rfc3339()));
            op.reasons = vec![brief(&e.reason())];
            // promoted: the replica was standalone when observed, or this run's promote was
            // accepted (a step name says nothing: a refused promote is recorded too)
            let promoted = promoted_before || run.report.timeline.promote_issued_at.is_some();
            match error_policy(e, promoted) {
                Policy::Retry => {
                    op.waiting_for = Some(brief(&format!("retry after: {}", e.reason())))
                }
                Policy::Close => op.close(OperationState::Failed, now),
            }
        }
    }
    save(ledger, lease, &op, &db.name).await?;
    result.map(|()| run.report)
}

/// Refuse a request whose times cannot be an incident's: a trigger or detection more than four
/// incident windows (24 hours) in the past, or in the future.
fn check_times(req: &FailoverRequest, now: DateTime<Utc>) -> Result<(), WorkerError> {
    let window = 4 * pilotlight::plan::failover::INCIDENT_WINDOW_SECONDS;
    let times = req
        .trigger
        .as_ref()
        .and_then(|t| t.state_change_time)
        .into_iter()
        .chain(req.dr_detection.map(|d| d.since));
    for t in times {
        let age = now.signed_duration_since(t).num_seconds();
        if !(-300..=window).contains(&age) {
            return Err(WorkerError::InvalidCommand(format!(
                "invalid command: the trigger's time {t} is not within the last {} hours",
                window / 3600
            )));
        }
    }
    Ok(())
}

/// When an operation of `req` opens: the alarm's state change (a duplicated delivery is the same
/// operation), the detection's first pass, else `now`.
pub(crate) fn opened_at(req: &FailoverRequest, now: DateTime<Utc>) -> DateTime<Utc> {
    req.dr_detection
        .map(|d| d.since)
        .or_else(|| req.trigger.as_ref().and_then(|t| t.state_change_time))
        .unwrap_or(now)
}

async fn save(ledger: &Ledger, lease: &Lease, op: &Operation, db: &str) -> Result<(), WorkerError> {
    let written = ledger
        .save(lease, op)
        .await
        .map_err(|e| ledger_error(db, e))?;
    if !written {
        return Err(WorkerError::Conflict(format!(
            "the lease on `{db}` expired and another run (a newer fencing token) took over: this run stops and leaves the operation to it"
        )));
    }
    Ok(())
}

/// Run the reconcile pass for every protected database (or `only`), concurrently: see
/// [`reconcile`].
///
/// # Errors
/// [`WorkerError::UnknownDatabase`]; a database whose pass failed is an entry with its error.
pub async fn reconcile_all(
    deps: &Deps,
    only: Option<&str>,
    time_left: Option<Duration>,
    run: &RunId,
) -> Result<ReconcileReport, WorkerError> {
    reconcile_all_at(deps, only, time_left, run, Utc::now()).await
}

/// [`reconcile_all`] as of `now` (the DR-region detection counts at most one pass a minute).
///
/// # Errors
/// As [`reconcile_all`].
pub async fn reconcile_all_at(
    deps: &Deps,
    only: Option<&str>,
    time_left: Option<Duration>,
    run: &RunId,
    now: DateTime<Utc>,
) -> Result<ReconcileReport, WorkerError> {
    let dbs: Vec<&ProtectedDatabase> = match only {
        Some(name) if deps.config.aurora(name).is_some() => vec![],
        Some(name) => vec![database(&deps.config, name)?],
        None => deps.config.databases.iter().collect(),
    };
    let entries = join_all(dbs.iter().map(|db| async move {
        Box::pin(reconcile(deps, db, time_left, run, now))
            .await
            .unwrap_or_else(|e| ReconcileEntry {
                error: Some(e.to_string()),
                ..ReconcileEntry::new(&db.name, "failed")
            })
    }));
    let aurora: Vec<&AuroraGlobalDatabase> = match only {
        Some(name) => deps.config.aurora(name).into_iter().collect(),
        None => deps.config.aurora_global.iter().collect(),
    };
    let aurora_entries = join_all(aurora.iter().map(|db| async move {
        Box::pin(reconcile_aurora(deps, db, time_left, run, now))
            .await
            .unwrap_or_else(|e| ReconcileEntry {
                error: Some(e.to_string()),
                ..ReconcileEntry::new(&db.name, "failed")
            })
    }));
    let drills = join_all(dbs.iter().map(|db| async move {
        match Box::pin(drill::reconcile_drill(deps, db, time_left, run)).await {
            Ok(None) => None,
            Ok(Some(report)) => Some(ReconcileEntry {
                operation_id: report.operation_id.clone(),
                drill_report: Some(Box::new(report)),
                ..ReconcileEntry::new(&pilotlight::plan::drill::ledger_key(&db.name), "advanced")
            }),
            Err(e) => Some(ReconcileEntry {
                error: Some(e.to_string()),
                ..ReconcileEntry::new(&pilotlight::plan::drill::ledger_key(&db.name), "failed")
            }),
        }
    }));
    let (mut entries, aurora_entries, drills) = futures::join!(entries, aurora_entries, drills);
    entries.extend(aurora_entries);
    entries.extend(drills.into_iter().flatten());
    Ok(ReconcileReport { databases: entries })
}

/// The reconcile pass for one database: advance its open operation by the steps it still
/// misses (one failover run with the operation's own request), or, with `dr_detection` on and
/// nothing open, count the passes that see the primary's region not answering and open an
/// incident when there are enough. A run that fails leaves the operation to [`error_policy`].
///
/// # Errors
/// [`WorkerError`] of the ledger or of the run.
pub async fn reconcile(
    deps: &Deps,
    db: &ProtectedDatabase,
    time_left: Option<Duration>,
    run: &RunId,
    now: DateTime<Utc>,
) -> Result<ReconcileEntry, WorkerError> {
    let ledger = ledger(deps);
    let state = ledger
        .state(&db.name)
        .await
        .map_err(|e| ledger_error(&db.name, e))?;
    let entry = |action: &str| ReconcileEntry::new(&db.name, action);
    if state.open_operation.is_some() {
        let op = match to_advance(&ledger, &db.name, &state, now).await? {
            Ok(op) => op,
            Err(action) => return Ok(entry(action)),
        };
        if let (OperationKind::Failback, Some(record)) = (op.kind, op.failback.as_ref()) {
            let request = pilotlight::command::FailbackRequest {
                database: db.name.clone(),
                phase: record.phase,
                dry_run: false,
                reason: op.request.reason.clone(),
            };
            let report = Box::pin(failback::failback(deps, &request, time_left, run)).await?;
            return Ok(ReconcileEntry {
                operation_id: Some(op.operation_id),
                failback_report: Some(Box::new(report)),
                ..entry("advanced")
            });
        }
        let report = Box::pin(run_failover(
            deps,
            &op.request,
            Utc::now(),
            time_left,
            run,
            true,
        ))
        .await?;
        return Ok(ReconcileEntry {
            outcome: Some(report.outcome),
            operation_id: Some(op.operation_id),
            report: Some(Box::new(report)),
            ..entry("advanced")
        });
    }
    let Some(detection) = db.dr_detection else {
        return Ok(entry("idle"));
    };
    let obs = observe(&deps.clients, &deps.config.failover, db, now, now)
        .await
        .map_err(|e| WorkerError::aws(format!("DR-region detection of `{}` failed", db.name), e))?;
    let not_replicating = obs.replica.as_ref().is_some_and(|r| {
        r.replica_source.is_some()
            && r.replication
                .as_ref()
                .is_some_and(|i| i.status != "replicating" || !i.normal)
    });
    let seen = obs.primary_unreachable && not_replicating;
    let (passes, since) = ledger
        .count_unreachable(&db.name, seen, now)
        .await
        .map_err(|e| ledger_error(&db.name, e))?;
    let watching = ReconcileEntry {
        unreachable_passes: Some(passes),
        ..entry(if seen { "watching" } else { "idle" })
    };
    if !seen || passes < detection.consecutive_passes {
        return Ok(watching);
    }
    let request = FailoverRequest {
        database: db.name.clone(),
        dry_run: false,
        force: false,
        reason: None,
        trigger: None,
        dr_detection: Some(DrDetectionTrigger {
            consecutive_passes: passes,
            since: since.unwrap_or(now),
        }),
    };
    info!(database = %db.name, passes, "DR-region detection: opening an incident");
    let report = Box::pin(run_failover(
        deps,
        &request,
        Utc::now(),
        time_left,
        run,
        true,
    ))
    .await?;
    Ok(ReconcileEntry {
        action: "opened".into(),
        outcome: Some(report.outcome),
        operation_id: report.operation_id.clone(),
        report: Some(Box::new(report)),
        ..watching
    })
}

/// The open operation the reconcile pass advances, or what it does instead (`Err`): `idle` (none,
/// or one already closed, whose pointer is then cleared) or `lease_held` (a run is acting).
///
/// # Errors
/// [`WorkerError::Aws`] when the ledger cannot be read or written.
async fn to_advance(
    ledger: &Ledger,
    name: &str,
    state: &pilotlight::ledger::DatabaseState,
    now: DateTime<Utc>,
) -> Result<Result<Operation, &'static str>, WorkerError> {
    let Some(sk) = &state.open_operation else {
        return Ok(Err("idle"));
    };
    if state.leased_at(now) {
        return Ok(Err("lease_held"));
    }
    let Some(op) = ledger
        .operation(name, sk)
        .await
        .map_err(|e| ledger_error(name, e))?
    else {
        return Ok(Err("idle"));
    };
    if op.state != OperationState::Open {
        // a close whose pointer was not cleared: clear it, nothing to advance
        ledger
            .clear_pointer(name, sk)
            .await
            .map_err(|e| ledger_error(name, e))?;
        return Ok(Err("idle"));
    }
    Ok(Ok(op))
}

/// The reconcile pass for one Aurora global database: advance its open operation (a switchover
/// or failover run with the operation's own request). Aurora has no DR-region detection: the
/// global database's own failover needs a person or an alarm.
///
/// # Errors
/// [`WorkerError`] of the ledger or of the run.
pub async fn reconcile_aurora(
    deps: &Deps,
    db: &AuroraGlobalDatabase,
    time_left: Option<Duration>,
    run: &RunId,
    now: DateTime<Utc>,
) -> Result<ReconcileEntry, WorkerError> {
    let ledger = ledger(deps);
    let state = ledger
        .state(&db.name)
        .await
        .map_err(|e| ledger_error(&db.name, e))?;
    let entry = |action: &str| ReconcileEntry::new(&db.name, action);
    let op = match to_advance(&ledger, &db.name, &state, now).await? {
        Ok(op) => op,
        Err(action) => return Ok(entry(action)),
    };
    let report = Box::pin(aurora::run(
        deps,
        db,
        op.kind,
        &op.request,
        Utc::now(),
        time_left,
        run,
        true,
    ))
    .await?;
    Ok(ReconcileEntry {
        outcome: Some(report.outcome),
        operation_id: Some(op.operation_id),
        aurora_report: Some(Box::new(report)),
        ..entry("advanced")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left_with(deadline_in_ms: i64) -> Duration {
        let mut context = Context::default();
        context.deadline =
            u64::try_from(Utc::now().timestamp_millis() + deadline_in_ms).unwrap_or(0);
        time_left(&context).unwrap_or_default()
    }

    #[test]
    fn only_what_may_pass_is_retried() {
        use pilotlight::aws::AwsError;
        let mut outage = AwsError::unusable("ChangeResourceRecordSets", "503".into());
        outage.unreachable = true;
        let mut throttled = AwsError::unusable("ListResourceRecordSets", "Throttling".into());
        throttled.throttled = true;
        let denied = AwsError::unusable("PromoteReadReplica", "AccessDenied".into());
        let aws = |e| WorkerError::aws("failover of `orders` failed", e);
        assert_eq!(error_policy(&aws(outage), false), Policy::Retry);
        assert_eq!(error_policy(&aws(throttled), false), Policy::Retry);
        let denied = aws(denied);
        assert_eq!(
            error_policy(&denied, false),
            Policy::Close,
            "before any change, retrying a refusal cannot help"
        );
        assert_eq!(
            error_policy(&denied, true),
            Policy::Retry,
            "a promoted replica is never left half-way"
        );
        let conflict = WorkerError::Conflict("a person repointed it".into());
        assert_eq!(error_policy(&conflict, true), Policy::Close);
        let fence = WorkerError::Refused("the fence did not hold".into());
        assert_eq!(error_policy(&fence, false), Policy::Retry);
    }

    #[test]
    fn a_trigger_outside_a_day_is_refused_before_any_call() {
        let now = Utc::now();
        let mut req = FailoverRequest {
            database: "orders".into(),
            dry_run: true,
            force: false,
            reason: None,
            trigger: None,
            dr_detection: Some(DrDetectionTrigger {
                consecutive_passes: 3,
                since: DateTime::<Utc>::MIN_UTC,
            }),
        };
        assert!(check_times(&req, now).is_err_and(|e| e.error_type() == "InvalidCommand"));
        req.dr_detection = Some(DrDetectionTrigger {
            consecutive_passes: 3,
            since: now - chrono::Duration::minutes(5),
        });
        assert!(check_times(&req, now).is_ok());
    }

    #[test]
    fn the_report_margin_outlasts_the_slowest_call_or_is_a_quarter_of_a_short_timeout() {
        // 90 s operation timeout + 15 s to record and notify
        assert_eq!(REPORT_MARGIN_MS, 105_000);
        let long = left_with(900_000).as_millis();
        assert!((794_000..=795_000).contains(&long), "{long}");
        let short = left_with(30_000).as_millis();
        assert!((21_500..=22_500).contains(&short), "{short}");
        // a deadline past at the start is a runtime emulator's, not Lambda's: a bounded budget
        let mut past = Context::default();
        past.deadline = u64::try_from(Utc::now().timestamp_millis() - 5_000).unwrap_or(1);
        assert_eq!(
            time_left(&past),
            Some(Duration::from_secs(
                pilotlight::runtime::PAST_DEADLINE_BUDGET_SECONDS
            ))
        );
        assert_eq!(time_left(&Context::default()), None);
    }
}
