//! Aurora global databases: the `switchover` command and the `failover` of an `aurora_global`
//! database, with the same lease, ledger operation and reconcile pass as the RDS path.
//!
//! The AWS calls of a run, in order (each read concurrent within its step):
//! 1. observe ([`observe_aurora`]): `DescribeGlobalClusters` and `DescribeDBClusters` (secondary's
//!    region), `DescribeDBClusters` (primary's region, cut at `observe_timeout_seconds`),
//!    `GetMetricStatistics` ×2 (the secondary's lag), `DescribeAlarms`, `GetHealthCheckStatus`,
//!    `ListResourceRecordSets`;
//! 2. the decision ([`decide_aurora`]); the ledger records the intent (`TransactWriteItems`);
//! 3. `SwitchoverGlobalCluster` in the primary's region, or `FailoverGlobalCluster`
//!    (`AllowDataLoss`) in the secondary's region; recorded;
//! 4. `DescribeGlobalClusters` every `poll_interval_ms` (backing off to `max_poll_interval_ms`)
//!    until the secondary is the writer and the global database `available`, or the deadline
//!    (then `in_progress`: the reconcile pass goes on);
//! 5. observe again; `ChangeResourceRecordSets` (compare-and-swap) per configured record not
//!    pointing at the new writer's cluster endpoint, then `GetChange` until `INSYNC`;
//! 6. fencing (`ModifyDBCluster` with `security_group` fencing, when the old primary is still a
//!    writer outside the global database);
//! 7. after a failover with data loss: `DescribeDBClusterSnapshots` of the old primary and
//!    `CopyDBClusterSnapshot` of `rds:unplanned-global-failover-…` to a manual snapshot carrying
//!    the retention hold tag;
//! 8. `Publish` the result with RTO and RPO; the ledger closes the operation.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use pilotlight::aws::aurora::{self, GlobalCallOutcome};
use pilotlight::aws::route53::{self, RecordChange};
use pilotlight::aws::{rds, sns, AwsError};
use pilotlight::command::{AlarmTrigger, FailoverRequest};
use pilotlight::config::AuroraGlobalDatabase;
use pilotlight::error::WorkerError;
use pilotlight::ledger::{brief, Operation, OperationKind, OperationState, StepRecord};
use pilotlight::observe::aurora::observe_aurora;
use pilotlight::plan::aurora::{
    aurora_fence, decide_aurora, is_cluster, record_updates, unplanned_copy_id,
    unplanned_wait_over, AuroraAction, AuroraDecision, AuroraFence, AuroraIntent,
    AuroraObservation, ClusterRead, GlobalClusterState,
};
use pilotlight::plan::failover::{after_conflict, AfterConflict};
use pilotlight::plan::snapshot_copy::CopySnapshot;
use pilotlight::plan::snapshots::DbKind;
use serde::Serialize;
use tracing::info;

use crate::report::{NotifyEvent, Outcome};
use crate::{error_policy, ledger_error, opened_at, save, with_lease, Deps, Leased, Policy, RunId};

/// `waiting_for` of a failover that only waits for Aurora's unplanned-failover snapshot.
const SNAPSHOT_PENDING: &str = "unplanned-failover snapshot";

/// The JSON report of an Aurora switchover or failover run (also the SNS message's `report`).
#[derive(Debug, Clone, Serialize)]
pub struct AuroraReport {
    /// The database.
    pub database: String,
    /// Always `aurora_global`.
    pub kind: &'static str,
    /// `failover` or `switchover`: the operation this run worked on (a request that finds one
    /// open continues it; a person's failover while the primary answers is carried out as a
    /// switchover: see `decision`).
    pub operation: OperationKind,
    /// The outcome.
    pub outcome: Outcome,
    /// Whether this was a dry-run.
    pub dry_run: bool,
    /// Whether a person forced it.
    pub force: bool,
    /// A person's reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The alarm that asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<AlarmTrigger>,
    /// The decision (the plan of a dry-run).
    pub decision: AuroraDecision,
    /// Why it was refused, or what it waits for.
    pub reasons: Vec<String>,
    /// The global database as observed: members, which is the writer, any operation under way.
    pub global_cluster: Option<GlobalClusterState>,
    /// The secondary's lag at the failure, milliseconds, and the metric it is from.
    pub lag_ms: Option<f64>,
    /// `AuroraGlobalDBRPOLag` or `AuroraGlobalDBReplicationLag`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_metric: Option<String>,
    /// Steps taken by this run.
    pub steps: Vec<StepRecord>,
    /// Seconds from the failure (the alarm's state change; a person's request) to the writer
    /// moved and every record in sync.
    pub rto_seconds: Option<f64>,
    /// Seconds of data the operation may have lost: 0 for a switchover, the lag at the onset
    /// for a failover (unknown when forced without a datapoint).
    pub rpo_seconds: Option<f64>,
    /// The new writer cluster's endpoint (what the records point to).
    pub writer_endpoint: Option<String>,
    /// The global writer endpoint (Aurora moves it with the writer).
    pub global_writer_endpoint: Option<String>,
    /// What fencing found or did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fencing: Option<String>,
    /// Aurora's unplanned-failover snapshot of the old primary: its held manual copy, or why none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_snapshot: Option<String>,
    /// Route 53 did not answer: the records are repointed by the reconcile pass.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dns_pending: bool,
    /// The ledger operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The run holding the lease, when this one did not get it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<pilotlight::ledger::LeaseHolder>,
    /// Notifications that could not be published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

/// Run a switchover (`kind` [`OperationKind::Switchover`]) or a failover of an Aurora global
/// database to its end state, or as far as `time_left` and `failover.deadline_seconds` allow;
/// `resumed`: the reconcile pass continues the database's open operation.
///
/// # Errors
/// [`WorkerError::Aws`] naming the call that failed (the ledger's included);
/// [`WorkerError::Conflict`] when a record was changed by someone else or the lease was lost.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    deps: &Deps,
    db: &AuroraGlobalDatabase,
    kind: OperationKind,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    time_left: Option<Duration>,
    run_id: &RunId,
    resumed: bool,
) -> Result<AuroraReport, WorkerError> {
    let budget = time_left
        .unwrap_or(Duration::MAX / 4)
        .min(Duration::from_secs(deps.config.failover.deadline_seconds));
    let deadline = tokio::time::Instant::now() + budget;
    if req.dry_run {
        let obs = observe(deps, db, req, started).await;
        let decision = decide_aurora(db, &obs, intent(kind, req));
        let mut report = AuroraReport::begin(db, kind, req, &obs, decision);
        report.outcome = Outcome::DryRun;
        return Ok(report);
    }
    let leased = with_lease(deps, &db.name, run_id, |ledger, lease, open| async move {
        let mut run = AuroraRun {
            deps,
            db,
            ledger,
            lease,
            deadline,
            notified: vec![],
            report: AuroraReport::placeholder(db, kind, req),
        };
        Box::pin(run.act(kind, req, started, open, run_id, resumed)).await
    })
    .await?;
    Ok(match leased {
        Leased::Ran(report) => report,
        Leased::Held(holder) => {
            let obs = observe(deps, db, req, started).await;
            let mut report = AuroraReport::begin(
                db,
                kind,
                req,
                &obs,
                AuroraDecision::Refused {
                    reasons: vec![format!(
                        "another run (`{}`) holds the lease on `{}` until {}: this run did nothing",
                        holder.owner, db.name, holder.expires_at
                    )],
                },
            );
            report.outcome = Outcome::LeaseHeld;
            report.lease_holder = Some(holder);
            report
        }
    })
}

/// What is asked, from the operation's kind and request.
fn intent(kind: OperationKind, req: &FailoverRequest) -> AuroraIntent {
    match kind {
        OperationKind::Switchover => AuroraIntent::Switchover,
        // drills and failbacks are never Aurora operations: read as a failover (never reached)
        OperationKind::Failover | OperationKind::Drill | OperationKind::Failback => {
            AuroraIntent::Failover {
                force: req.force,
                automatic: req.trigger.is_some(),
            }
        }
    }
}

/// The failure's time: the alarm's state change, else `started`.
fn failure_time(req: &FailoverRequest, started: DateTime<Utc>) -> DateTime<Utc> {
    req.trigger
        .as_ref()
        .and_then(|t| t.state_change_time)
        .unwrap_or(started)
        .min(started)
}

async fn observe(
    deps: &Deps,
    db: &AuroraGlobalDatabase,
    req: &FailoverRequest,
    started: DateTime<Utc>,
) -> AuroraObservation {
    let obs = observe_aurora(
        &deps.clients,
        &deps.config.failover,
        db,
        Utc::now(),
        failure_time(req, started),
    )
    .await;
    // the alarm's own notification stands for an alarm that cannot be read (its region down)
    let mut obs = obs;
    if let Some(t) = &req.trigger {
        for a in obs.alarms.iter_mut().filter(|a| a.name == t.alarm_name) {
            if a.state.is_none() {
                a.state = Some(t.state.clone());
                a.updated_at = t.state_change_time;
            }
        }
    }
    obs
}

impl AuroraReport {
    fn begin(
        db: &AuroraGlobalDatabase,
        kind: OperationKind,
        req: &FailoverRequest,
        obs: &AuroraObservation,
        decision: AuroraDecision,
    ) -> Self {
        let reasons = match &decision {
            AuroraDecision::Refused { reasons } | AuroraDecision::InProgress { reasons } => {
                reasons.clone()
            }
            _ => vec![],
        };
        let outcome = match decision {
            AuroraDecision::Refused { .. } => Outcome::Refused,
            _ => Outcome::InProgress,
        };
        Self {
            outcome,
            decision,
            reasons,
            global_cluster: obs.global.as_ref().ok().cloned().flatten(),
            lag_ms: obs.lag_ms,
            lag_metric: obs.lag_metric.clone(),
            global_writer_endpoint: obs
                .global
                .as_ref()
                .ok()
                .and_then(|g| g.as_ref())
                .and_then(|g| g.endpoint.clone()),
            ..Self::placeholder(db, kind, req)
        }
    }
}

/// One run holding the lease.
struct AuroraRun<'a> {
    deps: &'a Deps,
    db: &'a AuroraGlobalDatabase,
    ledger: pilotlight::aws::dynamodb::Ledger,
    lease: pilotlight::ledger::Lease,
    deadline: tokio::time::Instant,
    notified: Vec<String>,
    report: AuroraReport,
}

impl AuroraRun<'_> {
    fn report(&mut self) -> &mut AuroraReport {
        &mut self.report
    }

    /// The report as it stands.
    fn take_report(&self) -> AuroraReport {
        self.report.clone()
    }

    fn record(&mut self, step: &str, detail: String) {
        info!(database = %self.db.name, step, %detail, "aurora step");
        self.report.steps.push(StepRecord {
            step: step.to_owned(),
            at: Utc::now(),
            detail,
        });
    }

    fn aws(&self, e: AwsError) -> WorkerError {
        WorkerError::aws(format!("aurora operation on `{}` failed", self.db.name), e)
    }

    /// Publish `event` once per operation.
    async fn notify(&mut self, event: NotifyEvent) {
        let key = event.as_str().to_owned();
        if self.notified.contains(&key) {
            return;
        }
        let r = &self.report;
        let secs = |v: Option<f64>| v.map_or("unknown".to_owned(), |s| format!("{s:.0} s"));
        let subject = format!(
            "pilotlight {}: aurora {} {} (RTO {}, RPO {})",
            r.database,
            serde_json::to_value(r.operation)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            match event {
                NotifyEvent::Decision => "started",
                NotifyEvent::Refused => "refused",
                NotifyEvent::Failed => "failed",
                NotifyEvent::DnsPending => "writer moved, DNS pending",
                _ => r.outcome.as_str(),
            },
            secs(r.rto_seconds),
            secs(r.rpo_seconds)
        );
        let message = serde_json::json!({ "event": event, "report": r }).to_string();
        let attrs = [
            ("database", self.db.name.as_str()),
            ("outcome", r.outcome.as_str()),
            ("event", event.as_str()),
        ];
        let topic = &self.deps.config.notifications.topic_arn;
        match sns::publish(&self.deps.clients.sns, topic, &subject, &message, &attrs).await {
            Ok(()) => {
                self.notified.push(key);
                self.record("notify", format!("{}: {subject}", event.as_str()));
            }
            Err(e) => self.report().notification_errors.push(e.to_string()),
        }
    }

    async fn save(&self, op: &Operation) -> Result<(), WorkerError> {
        save(&self.ledger, &self.lease, op, &self.db.name).await
    }

    /// Decide, record, act, wait, finish; record the operation whatever happened.
    async fn act(
        &mut self,
        kind: OperationKind,
        req: &FailoverRequest,
        started: DateTime<Utc>,
        open: Option<Operation>,
        run_id: &RunId,
        resumed: bool,
    ) -> Result<AuroraReport, WorkerError> {
        let forced_by_person = req.force && req.trigger.is_none();
        // an open operation is continued with its own request (the same incident); a person's
        // forced failover takes it over
        if resumed && open.is_none() {
            // the operation the pass found closed meanwhile: nothing to advance
            self.report.outcome = Outcome::AlreadyFailedOver;
            return Ok(self.take_report());
        }
        let open = match open {
            // a failover that only waits for Aurora's unplanned-failover snapshot does not hold
            // up a person's new switchover (a failback): it is closed, the snapshot not kept
            Some(mut op)
                if !resumed
                    && kind == OperationKind::Switchover
                    && op.kind == OperationKind::Failover
                    && op.waiting_for.as_deref() == Some(SNAPSHOT_PENDING) =>
            {
                op.add_steps(&[StepRecord {
                    step: "snapshot_abandoned".into(),
                    at: Utc::now(),
                    detail: "a person's switchover closed this failover while Aurora's unplanned-failover snapshot was still awaited".into(),
                }]);
                op.held_snapshot = Some("none: the wait was ended by a switchover".into());
                op.close(OperationState::Completed, Utc::now());
                self.save(&op).await?;
                None
            }
            other => other,
        };
        let (kind, req, mut open) = match open {
            Some(mut op) if !resumed && forced_by_person && kind == OperationKind::Failover => {
                op.kind = OperationKind::Failover;
                op.request = req.clone();
                (OperationKind::Failover, req.clone(), Some(op))
            }
            Some(op) => (op.kind, op.request.clone(), Some(op)),
            None => (kind, req.clone(), None),
        };
        let mut obs = observe(self.deps, self.db, &req, started).await;
        let mut decision = decide_aurora(self.db, &obs, intent(kind, &req));
        // An alarm's failover whose evidence is only "the primary's region did not answer" looks
        // once more after the poll interval: one lost answer is no outage.
        let unreachable_only = matches!(obs.primary, ClusterRead::Unreachable { .. });
        if req.trigger.is_some()
            && unreachable_only
            && matches!(
                decision,
                AuroraDecision::Proceed {
                    action: AuroraAction::Failover,
                    ..
                }
            )
        {
            tokio::time::sleep(Duration::from_millis(
                self.deps.config.failover.poll_interval_ms,
            ))
            .await;
            obs = observe(self.deps, self.db, &req, started).await;
            decision = decide_aurora(self.db, &obs, intent(kind, &req));
        }
        info!(database = %self.db.name, ?decision, "aurora decision");
        self.report = AuroraReport::begin(self.db, kind, &req, &obs, decision.clone());
        let now = Utc::now();
        let mut op = match open.take() {
            Some(op) => op,
            None => {
                let mut fresh = Operation::open(&req, &self.lease, opened_at(&req, now), &run_id.0);
                fresh.kind = kind;
                let seen = self
                    .ledger
                    .operation(&self.db.name, &fresh.sk)
                    .await
                    .map_err(|e| ledger_error(&self.db.name, e))?;
                match (seen, &decision) {
                    // the same alarm delivered again and refused again: nothing new
                    (Some(seen), AuroraDecision::Refused { .. }) => {
                        self.report().operation_id = Some(seen.operation_id);
                        return Ok(self.take_report());
                    }
                    // the same alarm delivered again after its operation completed: nothing to do
                    (Some(seen), AuroraDecision::WriterMoved)
                        if seen.state == OperationState::Completed && self.finished(&obs) =>
                    {
                        self.report().operation_id = Some(seen.operation_id);
                        self.report().outcome = Outcome::AlreadyFailedOver;
                        return Ok(self.take_report());
                    }
                    // refused (or closed) before, and there is something to do now: reopened
                    (Some(mut seen), _) => {
                        seen.state = OperationState::Open;
                        seen.closed_at = None;
                        seen
                    }
                    (None, AuroraDecision::WriterMoved) if self.finished(&obs) => {
                        // nothing open, nothing to do: the ledger is left as it is
                        self.report().outcome = Outcome::AlreadyFailedOver;
                        return Ok(self.take_report());
                    }
                    (None, _) => fresh,
                }
            }
        };
        self.notified = op.notified.clone();
        self.report().operation_id = Some(op.operation_id.clone());
        if matches!(
            decision,
            AuroraDecision::Proceed { .. } | AuroraDecision::InProgress { .. }
        ) && op.state == OperationState::Open
        {
            // the intent is recorded before anything changes
            op.updated_at = now;
            self.save(&op).await?;
        }
        let result = Box::pin(self.advance(&mut op, &obs, decision, &req, started)).await;
        let now = Utc::now();
        op.runs += 1;
        op.updated_at = now;
        let report = self.take_report();
        op.add_steps(&report.steps);
        op.notified = self.notified.clone();
        op.outcome = report.outcome.as_str().to_owned();
        if report.rto_seconds.is_some() {
            op.rto_seconds = report.rto_seconds;
        }
        if report.writer_endpoint.is_some() {
            op.writer_endpoint = report.writer_endpoint.clone();
        }
        match &result {
            Ok(()) => match report.outcome {
                Outcome::FailedOver | Outcome::SwitchedOver | Outcome::AlreadyFailedOver => {
                    op.waiting_for = None;
                    op.close(OperationState::Completed, now);
                }
                Outcome::Refused => {
                    op.reasons = report.reasons.iter().map(|r| brief(r)).collect();
                    let state = if op.data_loss_failover_at.is_some() {
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
                let moved = op.data_loss_failover_at.is_some()
                    || report.steps.iter().any(|s| s.step == "writer_moved");
                match error_policy(e, moved) {
                    Policy::Retry => {
                        op.waiting_for = Some(brief(&format!("retry after: {}", e.reason())))
                    }
                    Policy::Close => op.close(OperationState::Failed, now),
                }
            }
        }
        self.save(&op).await?;
        result.map(|()| report)
    }

    /// Whether nothing is left once the writer moved: records in place (and readable), and no
    /// fencing to do.
    fn finished(&self, obs: &AuroraObservation) -> bool {
        let endpoint = obs.secondary.found().and_then(|c| c.endpoint.clone());
        let records_done = obs.records_error.is_none()
            && endpoint.is_some_and(|e| record_updates(obs, &e).is_empty());
        records_done && matches!(aurora_fence(self.db, obs), AuroraFence::Done { .. })
    }

    async fn advance(
        &mut self,
        op: &mut Operation,
        obs: &AuroraObservation,
        decision: AuroraDecision,
        req: &FailoverRequest,
        started: DateTime<Utc>,
    ) -> Result<(), WorkerError> {
        match decision {
            AuroraDecision::Refused { reasons } => {
                self.report().reasons = reasons;
                self.report().outcome = Outcome::Refused;
                self.notify(NotifyEvent::Refused).await;
                Ok(())
            }
            AuroraDecision::Proceed {
                action,
                rpo_seconds,
                why,
            } => {
                let Some(secondary) = obs.secondary.found().cloned() else {
                    return Ok(()); // the decision proceeds only with the secondary read
                };
                self.report().rpo_seconds = rpo_seconds;
                op.rpo_seconds = rpo_seconds;
                self.record("decision", why);
                self.notify(NotifyEvent::Decision).await;
                let (region, call) = match action {
                    AuroraAction::Switchover => {
                        (&self.db.primary.region, "SwitchoverGlobalCluster")
                    }
                    AuroraAction::Failover => (&self.db.secondary.region, "FailoverGlobalCluster"),
                };
                let rds = self
                    .deps
                    .clients
                    .rds(region)
                    .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
                // recorded before the call: a crash after it resumes knowing that data may be
                // lost (the snapshot to keep, the RPO), and never calls again blindly
                let before = op.data_loss_failover_at;
                if action == AuroraAction::Failover && before.is_none() {
                    op.data_loss_failover_at = Some(Utc::now());
                }
                op.waiting_for = Some("writer".into());
                op.updated_at = Utc::now();
                self.save(op).await?;
                let outcome = match action {
                    AuroraAction::Switchover => {
                        aurora::switchover(rds, &self.db.global_cluster_id, &secondary.arn).await
                    }
                    AuroraAction::Failover => {
                        aurora::failover(rds, &self.db.global_cluster_id, &secondary.arn).await
                    }
                };
                let outcome = match outcome {
                    Ok(o) => o,
                    Err(e) => {
                        if !e.transient() {
                            // refused: nothing was started
                            op.data_loss_failover_at = before;
                        }
                        return Err(self.aws(e));
                    }
                };
                let detail = match &outcome {
                    GlobalCallOutcome::Started => format!(
                        "{call} to `{}` accepted (in {region})",
                        self.db.secondary.cluster_id
                    ),
                    GlobalCallOutcome::AlreadyUnderWay(m) => {
                        // ours (a concurrent or earlier call), or the global database is busy
                        // with something else: read which
                        let under_way =
                            aurora::describe_global_cluster(rds, &self.db.global_cluster_id)
                                .await
                                .ok()
                                .flatten()
                                .and_then(|g| g.failover)
                                .filter(|f| f.to_arn.as_deref() == Some(secondary.arn.as_str()));
                        match under_way {
                            Some(f) => {
                                if !f.data_loss_allowed {
                                    op.data_loss_failover_at = before;
                                }
                                format!(
                                    "{call}: a {} to `{}` is already under way",
                                    if f.data_loss_allowed {
                                        "failover"
                                    } else {
                                        "switchover"
                                    },
                                    self.db.secondary.cluster_id
                                )
                            }
                            None => {
                                op.data_loss_failover_at = before;
                                return Err(WorkerError::Refused(format!(
                                    "`{}` is busy and not switching to `{}` ({m}): the next pass tries again",
                                    self.db.global_cluster_id, self.db.secondary.cluster_id
                                )));
                            }
                        }
                    }
                };
                self.record(call, detail);
                Box::pin(self.wait_and_finish(op, req, started)).await
            }
            AuroraDecision::InProgress { reasons } => {
                self.report().reasons = reasons;
                Box::pin(self.wait_and_finish(op, req, started)).await
            }
            AuroraDecision::WriterMoved => Box::pin(self.finish(op, req, started)).await,
        }
    }

    /// Poll the global database until the secondary is the writer (then finish), or the deadline
    /// (`in_progress`, waiting for the writer).
    async fn wait_and_finish(
        &mut self,
        op: &mut Operation,
        req: &FailoverRequest,
        started: DateTime<Utc>,
    ) -> Result<(), WorkerError> {
        let settings = &self.deps.config.failover;
        let mut interval = Duration::from_millis(settings.poll_interval_ms);
        let rds = self
            .deps
            .clients
            .rds(&self.db.secondary.region)
            .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
        loop {
            let moved = match aurora::describe_global_cluster(rds, &self.db.global_cluster_id).await
            {
                Ok(Some(g)) => {
                    let writer = g.writer().map(str::to_owned);
                    // no operation under way and the secondary is the writer (the global
                    // database's status may stay busy while the old region is down)
                    let done = g.failover.is_none()
                        && writer.as_deref().is_some_and(|w| {
                            is_cluster(w, &self.db.secondary.region, &self.db.secondary.cluster_id)
                        });
                    self.report().global_cluster = Some(g);
                    done
                }
                Ok(None) => false,
                Err(e) if e.transient() => false,
                Err(e) => return Err(self.aws(e)),
            };
            if moved {
                return Box::pin(self.finish(op, req, started)).await;
            }
            if tokio::time::Instant::now() + interval > self.deadline {
                self.report().outcome = Outcome::InProgress;
                self.report()
                    .reasons
                    .push("the writer has not moved yet: the reconcile pass goes on".into());
                op.waiting_for = Some("writer".into());
                return Ok(());
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(Duration::from_millis(settings.max_poll_interval_ms));
        }
    }

    /// The writer moved: repoint the records, fence, keep the unplanned snapshot, notify.
    async fn finish(
        &mut self,
        op: &mut Operation,
        req: &FailoverRequest,
        started: DateTime<Utc>,
    ) -> Result<(), WorkerError> {
        if !op.steps.iter().any(|s| s.step == "writer_moved") {
            self.record(
                "writer_moved",
                format!(
                    "`{}` is the writer of `{}`",
                    self.db.secondary.cluster_id, self.db.global_cluster_id
                ),
            );
        }
        let obs = observe(self.deps, self.db, req, started).await;
        self.report().global_cluster = obs.global.as_ref().ok().cloned().flatten();
        let Some(endpoint) = obs.secondary.found().and_then(|c| c.endpoint.clone()) else {
            self.report().outcome = Outcome::InProgress;
            op.waiting_for = Some("the new writer's endpoint".into());
            return Ok(());
        };
        self.report().writer_endpoint = Some(endpoint.clone());
        let mut pending: Vec<String> = vec![];
        // records
        if obs.records_error.is_some() && !self.db.records.is_empty() {
            self.report().dns_pending = true;
            pending.push("dns".into());
            self.notify(NotifyEvent::DnsPending).await;
        } else {
            for update in record_updates(&obs, &endpoint) {
                let comment = format!("pilotlight: `{}` to its new writer", self.db.name);
                match route53::change_record(
                    &self.deps.clients.route53,
                    &update,
                    &endpoint,
                    &comment,
                )
                .await
                {
                    Ok(RecordChange::Submitted(id)) => {
                        self.record(
                            "record_changed",
                            format!("{} → {endpoint} ({id})", update.name),
                        );
                        op.dns_changes.push(id);
                    }
                    Ok(RecordChange::Conflict(why)) => {
                        let (current, _) = route53::read_cname(
                            &self.deps.clients.route53,
                            &update.hosted_zone_id,
                            &update.name,
                        )
                        .await
                        .map_err(|e| self.aws(e))?;
                        match after_conflict(&update, &current, &endpoint) {
                            AfterConflict::DoneByConcurrentRun => self.record(
                                "record_changed",
                                format!("{}: repointed by a concurrent run", update.name),
                            ),
                            AfterConflict::ChangedByOthers => {
                                return Err(WorkerError::Conflict(format!(
                                    "aurora operation on `{}` stopped: `{}` changed during it from {:?} to {current:?}: not overwriting it",
                                    self.db.name, update.name, update.from
                                )))
                            }
                            AfterConflict::Unchanged => {
                                return Err(self.aws(AwsError::unusable("ChangeResourceRecordSets", why)))
                            }
                        }
                    }
                    Err(e) if e.transient() => {
                        self.report().dns_pending = true;
                        pending.push("dns".into());
                        self.notify(NotifyEvent::DnsPending).await;
                        break;
                    }
                    Err(e) => return Err(self.aws(e)),
                }
            }
            // every change this operation submitted, INSYNC
            let mut interval = Duration::from_millis(self.deps.config.failover.poll_interval_ms);
            for id in op.dns_changes.clone() {
                loop {
                    match route53::change_in_sync(&self.deps.clients.route53, &id).await {
                        Ok(true) => break,
                        Ok(false) if tokio::time::Instant::now() + interval < self.deadline => {
                            tokio::time::sleep(interval).await;
                            interval = (interval * 2).min(Duration::from_millis(
                                self.deps.config.failover.max_poll_interval_ms,
                            ));
                        }
                        Ok(false) | Err(_) => {
                            pending.push("dns_in_sync".into());
                            break;
                        }
                    }
                }
            }
        }
        // fencing
        match aurora_fence(self.db, &obs) {
            AuroraFence::Done { detail } => self.report().fencing = Some(detail),
            AuroraFence::Pending { detail } => {
                self.report().fencing = Some(detail);
                pending.push("fencing".into());
            }
            AuroraFence::MoveToSecurityGroups { groups } => {
                let rds = self
                    .deps
                    .clients
                    .rds(&self.db.primary.region)
                    .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
                match aurora::move_cluster_to_security_groups(
                    rds,
                    &self.db.primary.cluster_id,
                    &groups,
                )
                .await
                {
                    Ok(()) => {
                        let detail =
                            format!("`{}` moved to {groups:?}", self.db.primary.cluster_id);
                        self.record("fenced", detail.clone());
                        self.report().fencing = Some(detail);
                    }
                    Err(e) => {
                        self.report().fencing = Some(format!("not fenced yet: {e}"));
                        pending.push("fencing".into());
                    }
                }
            }
        }
        // Aurora's unplanned-failover snapshot of the old primary, kept
        if op.data_loss_failover_at.is_some() && op.held_snapshot.is_none() {
            match self.hold_unplanned_snapshot(op, &obs).await {
                Some(held) => {
                    self.record("snapshot_held", held.clone());
                    op.held_snapshot = Some(held);
                }
                None => pending.push(SNAPSHOT_PENDING.into()),
            }
        }
        self.report().held_snapshot = op.held_snapshot.clone();
        // the RTO is measured once: when the writer moved and DNS is in sync (a wait for the
        // snapshot or for fencing afterwards is not part of it)
        let serving = !pending.iter().any(|p| p.starts_with("dns"));
        if serving && op.rto_seconds.is_none() {
            let failure = failure_time(req, op.opened_at);
            let rto = Utc::now().signed_duration_since(failure).num_milliseconds() as f64 / 1000.0;
            op.rto_seconds = Some(rto);
        }
        self.report().rto_seconds = op.rto_seconds;
        if self.report().rpo_seconds.is_none() {
            self.report().rpo_seconds = op.rpo_seconds;
        }
        if pending.is_empty() {
            self.report().outcome = if op.data_loss_failover_at.is_some() {
                Outcome::FailedOver
            } else {
                Outcome::SwitchedOver
            };
            self.notify(NotifyEvent::Result).await;
        } else {
            self.report().outcome = Outcome::InProgress;
            self.report()
                .reasons
                .push(format!("waiting for: {}", pending.join(", ")));
            op.waiting_for = Some(pending.join(", "));
        }
        Ok(())
    }

    /// Copy Aurora's unplanned-failover snapshot of the old primary to a manual one with the
    /// retention hold tag; `Some(what was held, or why nothing will be)`, `None` to look again.
    async fn hold_unplanned_snapshot(
        &mut self,
        op: &Operation,
        obs: &AuroraObservation,
    ) -> Option<String> {
        let done_at = op.data_loss_failover_at.unwrap_or(op.opened_at);
        if matches!(obs.primary, ClusterRead::Unreachable { .. }) {
            return unplanned_wait_over(done_at, Utc::now()).then(|| {
                "none: the old primary's region did not answer within 6 hours of the failover"
                    .into()
            });
        }
        let over = unplanned_wait_over(done_at, Utc::now());
        let rds = self.deps.clients.rds(&self.db.primary.region).ok()?;
        let bound = Duration::from_secs(self.deps.config.failover.observe_timeout_seconds);
        let found = match tokio::time::timeout(
            bound,
            aurora::unplanned_snapshots(rds, &self.db.primary.cluster_id),
        )
        .await
        {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                self.record("snapshot_not_held", e.to_string());
                return over.then(|| {
                    format!(
                        "none: the old primary's snapshots could not be read within 6 hours ({e})"
                    )
                });
            }
            Err(_) => {
                return over
                    .then(|| "none: the old primary's region did not answer within 6 hours".into())
            }
        };
        // Aurora's snapshot of this failover (not an earlier drill's): the newest taken after it
        let since = done_at - chrono::Duration::minutes(5);
        let source = found
            .iter()
            .filter(|s| s.status == "available" && s.created_at.is_none_or(|t| t >= since))
            .max_by_key(|s| s.created_at);
        let Some(source) = source else {
            return unplanned_wait_over(done_at, Utc::now()).then(|| {
                "none: Aurora took no unplanned-failover snapshot of the old primary within 6 hours".into()
            });
        };
        let copy_id = unplanned_copy_id(&self.db.name, &source.id);
        let tags = BTreeMap::from([
            (
                self.deps.config.retention.hold_tag.clone(),
                "unplanned-global-failover".to_owned(),
            ),
            ("pilotlight:database".to_owned(), self.db.name.clone()),
            ("pilotlight:copy-of".to_owned(), source.id.clone()),
        ]);
        let copy = CopySnapshot {
            db_id: self.db.primary.cluster_id.to_string(),
            kind: DbKind::Cluster,
            // in the same region RDS takes the identifier (the `rds:` prefix of an automated
            // snapshot included); an ARN is for a copy across regions
            source_arn: source.id.clone(),
            source_id: source.id.clone(),
            region: self.db.primary.region.to_string(),
            target_id: copy_id.clone(),
            kms_key_id: None,
            option_group: None,
            tags,
            incremental: false,
        };
        match rds::copy_snapshot(rds, &copy).await {
            Ok(rds::CallOutcome::Done) | Ok(rds::CallOutcome::AlreadyExists) => Some(format!(
                "`{}` copied to `{copy_id}` in {} with the hold tag `{}`",
                source.id, self.db.primary.region, self.deps.config.retention.hold_tag
            )),
            Ok(other) => {
                self.record("snapshot_not_held", format!("{other:?}"));
                None
            }
            Err(e) => {
                self.record("snapshot_not_held", e.to_string());
                None
            }
        }
    }
}

/// `status` of one Aurora global database: observe (no lease), the plans of a failover and of
/// a switchover now, the members' roles, and whether the configuration matches reality.
pub(crate) async fn status(
    deps: &Deps,
    db: &AuroraGlobalDatabase,
    now: DateTime<Utc>,
) -> crate::StatusEntry {
    let ledger = crate::ledger(deps);
    let (obs, state) = futures::join!(
        observe_aurora(&deps.clients, &deps.config.failover, db, now, now),
        ledger.state(&db.name)
    );
    let (open_operation, lease_holder, ledger_error) =
        crate::ledger_view(&ledger, &db.name, state, now).await;
    let global = obs.global.as_ref().ok().and_then(|g| g.as_ref());
    let members = global
        .map(|g| {
            g.members
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "cluster_arn": m.cluster_arn,
                        "role": if m.is_writer { "writer" } else { "reader" },
                        "synchronization": m.synchronization,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let configuration_disagrees = global.and_then(|g| g.writer()).and_then(|w| {
        (!is_cluster(w, &db.primary.region, &db.primary.cluster_id)).then(|| {
            format!(
                "the writer is {w}, not the configured primary `{}` in {}: swap `primary` and `secondary` in the configuration once the operation is closed",
                db.primary.cluster_id, db.primary.region
            )
        })
    });
    crate::StatusEntry::Aurora(Box::new(crate::report::AuroraStatus {
        database: db.name.clone(),
        kind: "aurora_global",
        members,
        failover_plan: decide_aurora(
            db,
            &obs,
            AuroraIntent::Failover {
                force: false,
                automatic: true,
            },
        ),
        switchover_plan: decide_aurora(db, &obs, AuroraIntent::Switchover),
        configuration_disagrees,
        open_operation,
        lease_holder,
        ledger_error,
        observation: obs,
    }))
}

impl AuroraReport {
    /// The report before anything is observed (replaced by [`AuroraReport::begin`]).
    fn placeholder(db: &AuroraGlobalDatabase, kind: OperationKind, req: &FailoverRequest) -> Self {
        Self {
            database: db.name.clone(),
            kind: "aurora_global",
            operation: kind,
            outcome: Outcome::InProgress,
            dry_run: req.dry_run,
            force: req.force,
            reason: req.reason.clone(),
            trigger: req.trigger.clone(),
            decision: AuroraDecision::InProgress { reasons: vec![] },
            reasons: vec![],
            global_cluster: None,
            lag_ms: None,
            lag_metric: None,
            steps: vec![],
            rto_seconds: None,
            rpo_seconds: None,
            writer_endpoint: None,
            global_writer_endpoint: None,
            fencing: None,
            held_snapshot: None,
            dns_pending: false,
            operation_id: None,
            lease_holder: None,
            notification_errors: vec![],
        }
    }
}
