//! The `failback` command: bring a database home after a failover (see
//! [`pilotlight::plan::failback`] for the two phases and their rules).
//!
//! Each phase is a ledger operation under the database's own key, so it holds the database's
//! lease while it acts (never a failover and a failback at once), and is resumed by any later run
//! of the same phase and by the reconcile pass. Every step is recorded before the call that makes
//! it, and decided again from what AWS shows, so a crash between any two resumes without acting
//! twice.

use std::time::Duration;

use chrono::Utc;
use pilotlight::aws::dynamodb::Ledger;
use pilotlight::aws::failback::{self as fb, CreateOutcome};
use pilotlight::aws::route53::{self, RecordChange};
use pilotlight::aws::{cloudwatch, rds, sns, AwsError};
use pilotlight::command::{FailbackPhase, FailbackRequest, FailoverRequest};
use pilotlight::config::ProtectedDatabase;
use pilotlight::error::WorkerError;
use pilotlight::ledger::{
    Lease, LeaseHolder, Operation, OperationKind, OperationState, StepRecord,
};
use pilotlight::plan::failback::{
    caught_up_after, new_instance_id, not_failed_over, not_ready, replica_spec, FailbackRecord,
    FbInstance, TAG_REPLACED_BY,
};
use pilotlight::plan::failover::{
    after_conflict, points_to, same_groups, AfterConflict, RecordState, RecordUpdate,
    TAG_GROUPS_BEFORE_FENCE,
};
use serde::Serialize;
use tokio::time::Instant;
use tracing::info;

use crate::{ledger, ledger_error, with_lease, Deps, Leased, RunId};

/// Seconds after `RebootDBInstance` an `available` writer counts as rebooted even if no run saw it
/// `rebooting` (a reboot takes longer than the polls between two looks).
const REBOOT_UNSEEN_SECONDS: i64 = 120;
/// Seconds after its request a new replica not visible in `DescribeDBInstances` is requested again.
const CREATE_VISIBLE_SECONDS: i64 = 300;
/// Seconds prepare waits for the new replica to be `available` and replicating (a cross-region
/// replica of a large database copies a snapshot across regions first: hours).
const PREPARE_LIMIT_SECONDS: i64 = 24 * 3600;

/// The `failback` command's answer.
#[derive(Debug, Clone, Serialize)]
pub struct FailbackReport {
    /// The protected database.
    pub database: String,
    /// The phase asked for.
    pub phase: FailbackPhase,
    /// `planned` (dry-run), `refused` (nothing changed), `in_progress` (the reconcile pass goes
    /// on), `prepared` (the new replica is ready for `switch`), `switched` (home), `failed`,
    /// `lease_held`.
    pub outcome: String,
    /// The phase's record: new instance, fence, promotion and DNS times.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<FailbackRecord>,
    /// Dry-run: what each phase would do now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<String>,
    /// Why it was refused or failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// What this run did, in order.
    pub steps: Vec<StepRecord>,
    /// Seconds in which no write could be made: from the fence request to DNS in sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub write_unavailable_seconds: Option<f64>,
    /// What the person does next (configuration, protection).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next: Vec<String>,
    /// The ledger operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The run that holds the database's lease (`lease_held`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<LeaseHolder>,
    /// Notifications that could not be published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

impl FailbackReport {
    fn new(db: &str, phase: FailbackPhase, outcome: &str) -> Self {
        Self {
            database: db.to_owned(),
            phase,
            outcome: outcome.to_owned(),
            record: None,
            plan: vec![],
            reasons: vec![],
            steps: vec![],
            write_unavailable_seconds: None,
            next: vec![],
            operation_id: None,
            lease_holder: None,
            notification_errors: vec![],
        }
    }

    fn step(&mut self, step: &str, detail: String) {
        info!(database = %self.database, step, %detail, "failback step");
        self.steps.push(StepRecord {
            step: step.to_owned(),
            at: Utc::now(),
            detail,
        });
    }
}

/// What a phase reads: the DR writer, the old primary (its region may not answer), the records.
struct Seen {
    writer: Option<FbInstance>,
    old_primary: Result<Option<FbInstance>, String>,
    records: Vec<RecordState>,
}

fn aws_err(db: &ProtectedDatabase, e: AwsError) -> WorkerError {
    WorkerError::aws(format!("failback of `{}`", db.name), e)
}

async fn see(deps: &Deps, db: &ProtectedDatabase) -> Result<Seen, WorkerError> {
    let rds_dr = deps
        .clients
        .rds(&db.replica.region)
        .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
    let writer = fb::describe(rds_dr, &db.replica.instance_id)
        .await
        .map_err(|e| aws_err(db, e))?;
    let old_primary = match deps.clients.rds(&db.primary.region) {
        Ok(c) => fb::describe(c, &db.primary.instance_id)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut records = Vec::new();
    for r in &db.records {
        let (values, ttl) = route53::read_cname(&deps.clients.route53, r.zone_id(), &r.fqdn())
            .await
            .map_err(|e| aws_err(db, e))?;
        records.push(RecordState {
            record: r.clone(),
            values,
            ttl,
        });
    }
    Ok(Seen {
        writer,
        old_primary,
        records,
    })
}

/// Run a failback phase to its end, or as far as the run's time allows.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] / [`WorkerError::InvalidCommand`] before any call;
/// [`WorkerError::Aws`] naming the call that failed (the operation stays open: the reconcile pass
/// retries); [`WorkerError::Conflict`] when someone else changed a record or took the lease.
pub async fn failback(
    deps: &Deps,
    req: &FailbackRequest,
    time_left: Option<Duration>,
    run: &RunId,
) -> Result<FailbackReport, WorkerError> {
    let db = crate::database(&deps.config, &req.database)?;
    let deadline = Instant::now()
        + time_left
            .unwrap_or(Duration::MAX / 4)
            .min(Duration::from_secs(deps.config.failover.deadline_seconds));
    if req.dry_run {
        return plan(deps, db).await;
    }
    let leased = with_lease(deps, &db.name, run, |ledger, lease, open| async move {
        Box::pin(advance(deps, db, req, &ledger, &lease, open, deadline, run)).await
    })
    .await?;
    Ok(match leased {
        Leased::Ran(r) => r,
        Leased::Held(holder) => {
            let mut r = FailbackReport::new(&db.name, req.phase, "lease_held");
            r.reasons.push(format!(
                "another run (`{}`) holds the lease on `{}` until {}: it is acting on this database; this run did nothing",
                holder.owner, db.name, holder.expires_at
            ));
            r.lease_holder = Some(holder);
            r
        }
    })
}

/// The plan of both phases as things are now; changes nothing.
async fn plan(deps: &Deps, db: &ProtectedDatabase) -> Result<FailbackReport, WorkerError> {
    let mut report = FailbackReport::new(&db.name, FailbackPhase::Prepare, "planned");
    let seen = see(deps, db).await?;
    let refusals = not_failed_over(db, seen.writer.as_ref(), &seen.records);
    if !refusals.is_empty() {
        report.outcome = "refused".into();
        report.reasons = refusals;
        return Ok(report);
    }
    let prepared = prepared_instance(deps, db).await?;
    match &prepared {
        None => {
            let id = new_instance_id(db, Utc::now());
            report.plan.push(format!(
                "prepare: CreateDBInstanceReadReplica `{id}` in `{}` from `{}` with the old primary's class, subnet, parameter and option groups, security groups and KMS key{}; wait until it is available and replicating; tag `{}` `{TAG_REPLACED_BY}` (never deleted)",
                db.primary.region,
                db.replica.instance_id,
                match &seen.old_primary {
                    Ok(Some(_)) => String::new(),
                    Ok(None) => " (the old primary is gone: the writer's class, RDS's default groups)".into(),
                    Err(e) => format!(" (the old primary cannot be read now: {e}; prepare waits for its region)"),
                },
                db.primary.instance_id
            ));
        }
        Some(id) => report.plan.push(format!(
            "prepare: done, `{id}` exists (`failback` `prepare` again re-checks it)"
        )),
    }
    report.plan.push(match &db.failback {
        None => "switch: refused until `databases[].failback.security_group_ids` names a security group without ingress in the replica's VPC (how the DR writer is fenced)".into(),
        Some(f) => format!(
            "switch: when `{}` is available, replicating and within {} s: move `{}` to {:?} and reboot it (writes stop), wait for a ReplicaLag of 0 measured after that, PromoteReadReplica `{}`, repoint {} record(s) to it, notify with the write-unavailability window",
            prepared.as_deref().unwrap_or("the new instance"),
            f.max_lag_seconds,
            db.replica.instance_id,
            f.security_group_ids,
            prepared.as_deref().unwrap_or("the new instance"),
            db.records.len()
        ),
    });
    Ok(report)
}

/// The new instance of the last completed `prepare`, if any (the ledger's history).
async fn prepared_instance(
    deps: &Deps,
    db: &ProtectedDatabase,
) -> Result<Option<String>, WorkerError> {
    let history = ledger(deps)
        .history(&db.name, 100)
        .await
        .map_err(|e| ledger_error(&db.name, e))?;
    // newest first: a failover after the prepare makes it void
    for op in history {
        match (&op.kind, &op.failback, op.state) {
            (OperationKind::Failback, Some(r), OperationState::Completed)
                if r.phase == FailbackPhase::Prepare =>
            {
                return Ok(Some(r.new_instance_id.clone()))
            }
            (OperationKind::Failback, Some(r), OperationState::Completed)
                if r.phase == FailbackPhase::Switch =>
            {
                return Ok(None)
            }
            (OperationKind::Failover, _, OperationState::Completed) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
async fn advance(
    deps: &Deps,
    db: &ProtectedDatabase,
    req: &FailbackRequest,
    ledger: &Ledger,
    lease: &Lease,
    open: Option<Operation>,
    deadline: Instant,
    run: &RunId,
) -> Result<FailbackReport, WorkerError> {
    let mut report = FailbackReport::new(&db.name, req.phase, "in_progress");
    let mut op = match open {
        Some(op) if op.kind == OperationKind::Failback => {
            let phase = op.failback.as_ref().map(|r| r.phase);
            if phase != Some(req.phase) {
                report.outcome = "refused".into();
                report.reasons.push(format!(
                    "a failback `{}` is in progress (operation `{}`): let it finish (`status`, `history`) before `{}`",
                    phase_name(phase.unwrap_or(FailbackPhase::Prepare)),
                    op.operation_id,
                    phase_name(req.phase)
                ));
                return Ok(report);
            }
            report.step(
                "resume",
                format!("continuing operation `{}`", op.operation_id),
            );
            op
        }
        Some(op) => {
            report.outcome = "refused".into();
            report.reasons.push(format!(
                "a failover operation is open (`{}`, waiting for {}): a failback waits until it is closed",
                op.operation_id,
                op.waiting_for.as_deref().unwrap_or("its next step")
            ));
            return Ok(report);
        }
        None => match Box::pin(open_phase(deps, db, req, lease, run, &mut report)).await? {
            Some(op) => op,
            None => return Ok(report),
        },
    };
    report.operation_id = Some(op.operation_id.clone());
    let result = match req.phase {
        FailbackPhase::Prepare => {
            Box::pin(prepare(
                deps,
                db,
                ledger,
                lease,
                &mut op,
                deadline,
                &mut report,
            ))
            .await
        }
        FailbackPhase::Switch => {
            Box::pin(switch(
                deps,
                db,
                ledger,
                lease,
                &mut op,
                deadline,
                &mut report,
            ))
            .await
        }
    };
    op.runs = op.runs.saturating_add(1);
    op.add_steps(&report.steps);
    op.updated_at = Utc::now();
    if let Err(e) = &result {
        op.add_error(e.to_string());
    }
    save(ledger, lease, &op, db).await?;
    result?;
    report.record = op.failback.clone();
    report.write_unavailable_seconds = op
        .failback
        .as_ref()
        .and_then(FailbackRecord::write_unavailable_seconds);
    if op.state != OperationState::Open {
        report.outcome = op.outcome.clone();
        report.reasons = op.reasons.clone();
    }
    Ok(report)
}

fn phase_name(p: FailbackPhase) -> &'static str {
    match p {
        FailbackPhase::Prepare => "prepare",
        FailbackPhase::Switch => "switch",
    }
}

/// Check the phase may start and open its operation; `None` (with the report refused) when not.
async fn open_phase(
    deps: &Deps,
    db: &ProtectedDatabase,
    req: &FailbackRequest,
    lease: &Lease,
    run: &RunId,
    report: &mut FailbackReport,
) -> Result<Option<Operation>, WorkerError> {
    let seen = see(deps, db).await?;
    let mut reasons = not_failed_over(db, seen.writer.as_ref(), &seen.records);
    let now = Utc::now();
    let (new_id, new_region) = match req.phase {
        FailbackPhase::Prepare => {
            // prepared already (and the instance is there): nothing to do again
            if let Some(id) = prepared_instance(deps, db).await? {
                let rds_new = deps
                    .clients
                    .rds(&db.primary.region)
                    .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
                if let Some(n) = fb::describe(rds_new, &id)
                    .await
                    .map_err(|e| aws_err(db, e))?
                {
                    report.outcome = "prepared".into();
                    report.step(
                        "prepared",
                        format!("`{id}` exists already (`{}`): nothing to do; next: `\"phase\": \"switch\"`", n.status),
                    );
                    return Ok(None);
                }
            }
            (new_instance_id(db, now), db.primary.region.to_string())
        }
        FailbackPhase::Switch => {
            if db.failback.is_none() {
                reasons.push(format!(
                    "`databases[].failback.security_group_ids` is not configured for `{}`: the switch fences the DR writer by moving it to a security group without ingress in its VPC, and will not promote without a fence",
                    db.name
                ));
            }
            match prepared_instance(deps, db).await? {
                Some(id) => (id, db.primary.region.to_string()),
                None => {
                    reasons.push("no completed failback `prepare` since the last failover: run `failback` with `\"phase\": \"prepare\"` first".into());
                    (String::new(), String::new())
                }
            }
        }
    };
    if req.phase == FailbackPhase::Switch && reasons.is_empty() {
        // the new instance must be ready before anything changes
        if let (Some(writer), Some(f)) = (seen.writer.as_ref(), db.failback.as_ref()) {
            let rds_new = deps
                .clients
                .rds(&new_region)
                .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
            let n = fb::describe(rds_new, &new_id)
                .await
                .map_err(|e| aws_err(db, e))?;
            let lag = latest_lag(deps, &new_region, &new_id).await?;
            reasons.extend(not_ready(
                n.as_ref(),
                writer,
                &db.replica.region,
                lag,
                f.max_lag_seconds,
            ));
        }
    }
    if !reasons.is_empty() {
        report.outcome = "refused".into();
        report.reasons = reasons;
        return Ok(None);
    }
    let request = FailoverRequest {
        database: db.name.clone(),
        dry_run: false,
        force: false,
        reason: req.reason.clone(),
        trigger: None,
        dr_detection: None,
    };
    let mut op = Operation::open(&request, lease, now, &run.0);
    op.kind = OperationKind::Failback;
    op.failback = Some(FailbackRecord {
        phase: req.phase,
        new_instance_id: new_id,
        new_region,
        writer_id: db.replica.instance_id.to_string(),
        writer_region: db.replica.region.to_string(),
        create_requested_at: None,
        ready_at: None,
        fence_requested_at: None,
        reboot_requested_at: None,
        reboot_seen_at: None,
        backup_retention_days: None,
        fenced_at: None,
        lag_at_fence_seconds: None,
        caught_up_at: None,
        promotion_requested_at: None,
        promoted_at: None,
        dns_in_sync_at: None,
    });
    report.step(
        "open",
        format!(
            "failback `{}` of `{}`: new instance `{}`",
            phase_name(req.phase),
            db.name,
            op.failback
                .as_ref()
                .map_or("", |r| r.new_instance_id.as_str())
        ),
    );
    Ok(Some(op))
}

async fn save(
    ledger: &Ledger,
    lease: &Lease,
    op: &Operation,
    db: &ProtectedDatabase,
) -> Result<(), WorkerError> {
    match ledger.save(lease, op).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(WorkerError::Conflict(format!(
            "the failback of `{}` was taken over by another run: this run stops",
            db.name
        ))),
        Err(e) => Err(ledger_error(&db.name, e)),
    }
}

/// The newest `ReplicaLag` of `id` in `region` over the last 10 minutes.
async fn latest_lag(deps: &Deps, region: &str, id: &str) -> Result<Option<f64>, WorkerError> {
    let cw = deps
        .clients
        .cloudwatch(region)
        .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
    let now = Utc::now();
    let points = cloudwatch::series(
        cw,
        cloudwatch::MetricRef::replica_lag(id),
        now - chrono::Duration::minutes(10),
        now + chrono::Duration::minutes(5),
    )
    .await
    .map_err(|e| WorkerError::aws(format!("the lag of `{id}`"), e))?;
    Ok(points.last().map(|p| p.1))
}

fn intervals(deps: &Deps) -> (Duration, Duration) {
    let f = &deps.config.failover;
    (
        Duration::from_millis(f.poll_interval_ms),
        Duration::from_millis(f.max_poll_interval_ms),
    )
}

/// Sleep `interval` (doubling it up to the cap) unless that passes `deadline`: `false` then.
async fn pause(deps: &Deps, interval: &mut Duration, deadline: Instant) -> bool {
    if Instant::now() + *interval > deadline {
        return false;
    }
    tokio::time::sleep(*interval).await;
    *interval = (*interval * 2).min(intervals(deps).1);
    true
}

/// prepare: create the new replica (once), wait until it is available and replicating, tag the
/// old primary as replaced, close.
async fn prepare(
    deps: &Deps,
    db: &ProtectedDatabase,
    ledger: &Ledger,
    lease: &Lease,
    op: &mut Operation,
    deadline: Instant,
    report: &mut FailbackReport,
) -> Result<(), WorkerError> {
    let Some(mut record) = op.failback.clone() else {
        return Ok(());
    };
    let rds_new = deps
        .clients
        .rds(&record.new_region)
        .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
    let mut interval = intervals(deps).0;
    loop {
        let n = fb::describe(rds_new, &record.new_instance_id)
            .await
            .map_err(|e| aws_err(db, e))?;
        match n {
            None if record.create_requested_at.is_none() => {
                let seen = see(deps, db).await?;
                let Some(writer) = seen.writer.as_ref() else {
                    return Err(WorkerError::Refused(format!(
                        "the DR writer `{}` is gone",
                        db.replica.instance_id
                    )));
                };
                let old = match &seen.old_primary {
                    Ok(p) => p.as_ref(),
                    Err(e) => {
                        // its settings (subnet group, parameter group, KMS key) are unknown
                        op.waiting_for = Some("the old primary's region".into());
                        return Err(WorkerError::Refused(format!(
                            "the old primary `{}` cannot be read ({e}): its subnet, parameter and option groups and KMS key are unknown; the reconcile pass retries",
                            db.primary.instance_id
                        )));
                    }
                };
                let fence_groups = match &db.fencing {
                    pilotlight::config::Fencing::SecurityGroup { security_group_ids } => {
                        security_group_ids.clone()
                    }
                    _ => vec![],
                };
                let primary_groups = db
                    .failback
                    .as_ref()
                    .map(|f| f.primary_security_group_ids.clone())
                    .unwrap_or_default();
                record.backup_retention_days = old.and_then(|p| p.backup_retention_days);
                let spec = match replica_spec(
                    &record.new_instance_id,
                    old,
                    writer,
                    &fence_groups,
                    &primary_groups,
                    &op.operation_id,
                ) {
                    Ok(spec) => spec,
                    Err(why) => {
                        op.outcome = "failed".into();
                        op.reasons = vec![why];
                        op.close(OperationState::Failed, Utc::now());
                        return Ok(());
                    }
                };
                record.create_requested_at = Some(Utc::now());
                op.failback = Some(record.clone());
                op.waiting_for = Some("the new replica".into());
                save(ledger, lease, op, db).await?;
                match fb::create_replica(rds_new, &spec).await.map_err(|e| aws_err(db, e))? {
                    CreateOutcome::Started | CreateOutcome::AlreadyExists => report.step(
                        "create_replica",
                        format!(
                            "CreateDBInstanceReadReplica `{}` in `{}` from `{}` (class {:?}, subnet group {:?}, parameter group {:?}, option group {:?}, security groups {:?}, KMS key {:?})",
                            spec.instance_id, record.new_region, spec.source_arn, spec.instance_class, spec.subnet_group, spec.parameter_group, spec.option_group, spec.security_groups, spec.kms_key_id
                        ),
                    ),
                    CreateOutcome::Refused(why) => {
                        op.outcome = "failed".into();
                        op.reasons = vec![format!("RDS refused the new replica: {why}")];
                        op.close(OperationState::Failed, Utc::now());
                        report.step("create_replica", format!("refused: {why}"));
                        return Ok(());
                    }
                }
            }
            Some(n)
                if n.tags.get(pilotlight::plan::failback::TAG_FAILBACK)
                    != Some(&op.operation_id) =>
            {
                op.outcome = "failed".into();
                op.reasons = vec![format!(
                    "`{}` exists and was not made by this failback (tag {:?}): not using it",
                    n.id,
                    n.tags.get(pilotlight::plan::failback::TAG_FAILBACK)
                )];
                op.close(OperationState::Failed, Utc::now());
                return Ok(());
            }
            Some(n)
                if n.available()
                    && n.replica_source.is_some()
                    && n.replication.as_deref().is_none_or(|r| r == "replicating") =>
            {
                record.ready_at = Some(Utc::now());
                report.step(
                    "ready",
                    format!(
                        "`{}` is available and replicating from `{}`",
                        n.id,
                        n.replica_source.as_deref().unwrap_or_default()
                    ),
                );
                // the old primary is kept, tagged as replaced (best effort: its region may not answer)
                if let Ok(Some(p)) = see(deps, db).await.map(|s| s.old_primary.ok().flatten()) {
                    if let Ok(c) = deps.clients.rds(&db.primary.region) {
                        match rds::tag_value(c, &p.arn, TAG_REPLACED_BY, &record.new_instance_id).await {
                            Ok(()) => report.step("tag_old_primary", format!("`{}` tagged `{TAG_REPLACED_BY}={}`: kept, never deleted by pilotlight", p.id, record.new_instance_id)),
                            Err(e) => report.step("tag_old_primary", format!("not tagged: {e}")),
                        }
                    }
                }
                op.failback = Some(record.clone());
                op.outcome = "prepared".into();
                op.close(OperationState::Completed, Utc::now());
                report.next.push(format!(
                    "when ready (a change window), run {{\"command\": \"failback\", \"database\": \"{}\", \"phase\": \"switch\"}}",
                    db.name
                ));
                notify(
                    deps,
                    db,
                    op,
                    report,
                    "prepared",
                    format!(
                        "pilotlight failback {}: `{}` is ready for the switch",
                        db.name, record.new_instance_id
                    ),
                )
                .await;
                return Ok(());
            }
            other => {
                let since = record.create_requested_at.unwrap_or_else(Utc::now);
                let waited = (Utc::now() - since).num_seconds();
                if other.is_none() && waited > CREATE_VISIBLE_SECONDS {
                    // the create was recorded but never made it (a crash, an error the run did
                    // not survive): send it again (`DBInstanceAlreadyExists` is harmless)
                    report.step(
                        "create_replica",
                        format!(
                            "`{}` not visible {waited} s after its request: requesting it again",
                            record.new_instance_id
                        ),
                    );
                    record.create_requested_at = None;
                    op.failback = Some(record.clone());
                    continue;
                }
                if waited > PREPARE_LIMIT_SECONDS {
                    op.outcome = "failed".into();
                    op.reasons = vec![format!(
                        "`{}` is not available and replicating {waited} s after its request ({}): prepare gave up; see the instance in RDS",
                        record.new_instance_id,
                        other.as_ref().map_or("not visible", |n| n.status.as_str())
                    )];
                    op.close(OperationState::Failed, Utc::now());
                    op.failback = Some(record);
                    notify(
                        deps,
                        db,
                        op,
                        report,
                        "failed",
                        format!("pilotlight failback {}: prepare FAILED", db.name),
                    )
                    .await;
                    return Ok(());
                }
                let status = other
                    .as_ref()
                    .map_or("not visible yet".to_owned(), |n| format!("`{}`", n.status));
                op.waiting_for = Some(format!(
                    "the new replica `{}` ({status})",
                    record.new_instance_id
                ));
                op.failback = Some(record.clone());
                if !pause(deps, &mut interval, deadline).await {
                    report.step(
                        "wait",
                        format!(
                            "`{}` is {status}: the reconcile pass goes on",
                            record.new_instance_id
                        ),
                    );
                    return Ok(());
                }
            }
        }
        op.failback = Some(record.clone());
    }
}

/// switch: fence the DR writer, wait for the new replica to have every write, promote it,
/// repoint the records, close.
async fn switch(
    deps: &Deps,
    db: &ProtectedDatabase,
    ledger: &Ledger,
    lease: &Lease,
    op: &mut Operation,
    deadline: Instant,
    report: &mut FailbackReport,
) -> Result<(), WorkerError> {
    let (Some(mut record), Some(settings)) = (op.failback.clone(), db.failback.clone()) else {
        return Ok(());
    };
    let rds_dr = deps
        .clients
        .rds(&record.writer_region)
        .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
    let rds_new = deps
        .clients
        .rds(&record.new_region)
        .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
    let mut interval = intervals(deps).0;
    // past the write-outage limit before the promotion: give the writer back its groups
    if record.promotion_requested_at.is_none() {
        if let Some(since) = record.fence_requested_at {
            let out = (Utc::now() - since).num_seconds();
            if out > i64::try_from(settings.max_write_outage_seconds).unwrap_or(i64::MAX) {
                return Box::pin(abort(deps, db, ledger, lease, op, record, report, out)).await;
            }
        }
    }
    // 1. fence the DR writer: its security groups, then a reboot to end open sessions; fenced
    //    once it was seen rebooting and is available again (no session of before is left)
    while record.fenced_at.is_none() {
        let w = fb::describe(rds_dr, &record.writer_id)
            .await
            .map_err(|e| aws_err(db, e))?
            .ok_or_else(|| {
                WorkerError::Refused(format!("the DR writer `{}` is gone", record.writer_id))
            })?;
        if record.fence_requested_at.is_none() {
            record.fence_requested_at = Some(Utc::now());
            record.lag_at_fence_seconds =
                latest_lag(deps, &record.new_region, &record.new_instance_id).await?;
            op.failback = Some(record.clone());
            op.waiting_for = Some("the fence of the DR writer".into());
            save(ledger, lease, op, db).await?;
        }
        if record.reboot_requested_at.is_some() {
            if w.status == "rebooting" && record.reboot_seen_at.is_none() {
                record.reboot_seen_at = Some(Utc::now());
            }
            let long_ago = record
                .reboot_requested_at
                .is_some_and(|t| (Utc::now() - t).num_seconds() > REBOOT_UNSEEN_SECONDS);
            if w.available() && (record.reboot_seen_at.is_some() || long_ago) {
                record.fenced_at = Some(Utc::now());
                rds::tag_fenced(rds_dr, &w.arn, Utc::now())
                    .await
                    .map_err(|e| aws_err(db, e))?;
                report.step(
                    "fence",
                    format!("`{}` is available again after its reboot: fenced", w.id),
                );
                op.failback = Some(record.clone());
                save(ledger, lease, op, db).await?;
                break;
            }
        } else if !same_groups(&settings.security_group_ids, &w.security_groups) {
            if !w.security_groups.is_empty() && !w.tags.contains_key(TAG_GROUPS_BEFORE_FENCE) {
                rds::tag_value(
                    rds_dr,
                    &w.arn,
                    TAG_GROUPS_BEFORE_FENCE,
                    &w.security_groups.join(","),
                )
                .await
                .map_err(|e| aws_err(db, e))?;
            }
            if !w.security_groups_pending {
                rds::move_to_security_groups(rds_dr, &w.id, &settings.security_group_ids)
                    .await
                    .map_err(|e| aws_err(db, e))?;
                report.step(
                    "fence",
                    format!(
                        "`{}` moved to security groups {:?} (ModifyDBInstance): no new connection",
                        w.id, settings.security_group_ids
                    ),
                );
            }
        } else if w.available() && !w.security_groups_pending {
            // recorded before the call: a crash after it does not reboot the writer twice
            record.reboot_requested_at = Some(Utc::now());
            op.failback = Some(record.clone());
            save(ledger, lease, op, db).await?;
            rds::reboot(rds_dr, &w.id)
                .await
                .map_err(|e| aws_err(db, e))?;
            report.step(
                "fence",
                format!(
                    "`{}` rebooting (RebootDBInstance) to end open sessions",
                    w.id
                ),
            );
        }
        if !pause(deps, &mut interval, deadline).await {
            op.waiting_for = Some("the fence of the DR writer".into());
            op.failback = Some(record);
            return Ok(());
        }
    }
    // 2. the new instance has every write: after the fence, a `ReplicaLag` of 0 on it, or (for
    //    PostgreSQL, whose ReplicaLag grows on an idle source) an `OldestReplicationSlotLag` of 0
    //    bytes on the writer: the replica received all of its WAL, which the promotion replays
    let fenced_at = record.fenced_at.unwrap_or_else(Utc::now);
    let postgres = fb::describe(rds_new, &record.new_instance_id)
        .await
        .map_err(|e| aws_err(db, e))?
        .and_then(|n| n.engine)
        .is_some_and(|e| e.starts_with("postgres"));
    while record.caught_up_at.is_none() {
        let window = (
            fenced_at - chrono::Duration::minutes(1),
            Utc::now() + chrono::Duration::minutes(5),
        );
        let cw_new = deps
            .clients
            .cloudwatch(&record.new_region)
            .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
        let lag = cloudwatch::series(
            cw_new,
            cloudwatch::MetricRef::replica_lag(&record.new_instance_id),
            window.0,
            window.1,
        )
        .await
        .map_err(|e| aws_err(db, e))?;
        let slot = if postgres {
            let cw_dr = deps
                .clients
                .cloudwatch(&record.writer_region)
                .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
            cloudwatch::series(
                cw_dr,
                cloudwatch::MetricRef::oldest_replication_slot_lag(&record.writer_id),
                window.0,
                window.1,
            )
            .await
            .map_err(|e| aws_err(db, e))?
        } else {
            vec![]
        };
        let by = if caught_up_after(&lag, fenced_at) {
            Some("its ReplicaLag is 0")
        } else if caught_up_after(&slot, fenced_at) {
            Some("the writer's OldestReplicationSlotLag is 0 bytes")
        } else {
            None
        };
        if let Some(by) = by {
            record.caught_up_at = Some(Utc::now());
            report.step(
                "caught_up",
                format!(
                    "`{}` has every write: after the fence, {by}",
                    record.new_instance_id
                ),
            );
            op.failback = Some(record.clone());
            save(ledger, lease, op, db).await?;
            break;
        }
        let out = (Utc::now() - record.fence_requested_at.unwrap_or(fenced_at)).num_seconds();
        if out > i64::try_from(settings.max_write_outage_seconds).unwrap_or(i64::MAX) {
            return Box::pin(abort(deps, db, ledger, lease, op, record, report, out)).await;
        }
        if !pause(deps, &mut interval, deadline).await {
            op.waiting_for = Some(format!(
                "`{}` to catch up (the DR writer is fenced: writes are unavailable)",
                record.new_instance_id
            ));
            report.step(
                "wait",
                "no zero lag after the fence yet: the reconcile pass goes on".into(),
            );
            if !op.was_notified("waiting") {
                notify(
                    deps,
                    db,
                    op,
                    report,
                    "waiting",
                    format!(
                        "pilotlight failback {}: writes stopped, waiting for `{}` to catch up",
                        db.name, record.new_instance_id
                    ),
                )
                .await;
            }
            op.failback = Some(record);
            return Ok(());
        }
    }
    // 3. promote the new instance (sent again whenever it is still a replica and available:
    //    RDS answers a repeated promotion `InvalidDBInstanceState`)
    let endpoint = loop {
        let n = fb::describe(rds_new, &record.new_instance_id)
            .await
            .map_err(|e| aws_err(db, e))?
            .ok_or_else(|| {
                WorkerError::Refused(format!(
                    "the new instance `{}` is gone",
                    record.new_instance_id
                ))
            })?;
        if n.standalone() && n.available() {
            if record.promoted_at.is_none() {
                record.promoted_at = Some(Utc::now());
                report.step("promoted", format!("`{}` is a standalone writer", n.id));
                op.failback = Some(record.clone());
                save(ledger, lease, op, db).await?;
            }
            break n.endpoint.unwrap_or_default();
        }
        if !n.standalone() && n.available() {
            if record.promotion_requested_at.is_none() {
                record.promotion_requested_at = Some(Utc::now());
                op.failback = Some(record.clone());
                op.waiting_for = Some("the promotion of the new instance".into());
                save(ledger, lease, op, db).await?;
            }
            let outcome = fb::promote(rds_new, &n.id, record.backup_retention_days)
                .await
                .map_err(|e| aws_err(db, e))?;
            report.step(
                "promote",
                format!(
                    "PromoteReadReplica `{}` (backup retention {}): {outcome:?}",
                    n.id,
                    record.backup_retention_days.map_or(
                        "RDS's default: the old primary's is unknown".to_owned(),
                        |d| format!("{d} days, the old primary's")
                    )
                ),
            );
        }
        if !pause(deps, &mut interval, deadline).await {
            op.waiting_for = Some("the promotion of the new instance".into());
            op.failback = Some(record);
            return Ok(());
        }
    };
    // 4. repoint the records from the DR writer to the new instance, compare-and-swap
    let writer_endpoint = fb::describe(rds_dr, &record.writer_id)
        .await
        .map_err(|e| aws_err(db, e))?
        .and_then(|w| w.endpoint)
        .unwrap_or_default();
    if record.dns_in_sync_at.is_none() {
        let r53 = &deps.clients.route53;
        for r in &db.records {
            let (values, ttl) = route53::read_cname(r53, r.zone_id(), &r.fqdn())
                .await
                .map_err(|e| aws_err(db, e))?;
            if points_to(&values, &endpoint) && !op.dns_changes.is_empty() {
                continue;
            }
            if !points_to(&values, &writer_endpoint) && !points_to(&values, &endpoint) {
                op.outcome = "failed".into();
                op.reasons = vec![format!(
                    "`{}` holds {values:?}, neither the DR writer's nor the new instance's endpoint: someone changed it; not overwriting it (the new instance `{}` is the writer now)",
                    r.name, record.new_instance_id
                )];
                op.close(OperationState::Failed, Utc::now());
                op.failback = Some(record);
                return Err(WorkerError::Conflict(op.reasons[0].clone()));
            }
            let update = RecordUpdate {
                hosted_zone_id: r.zone_id().to_owned(),
                name: r.fqdn(),
                from: values.clone(),
                from_ttl: ttl,
                to: Some(endpoint.clone()),
                ttl: r.ttl,
            };
            let comment = format!("pilotlight failback of {}", db.name);
            match route53::change_record(r53, &update, &endpoint, &comment)
                .await
                .map_err(|e| aws_err(db, e))?
            {
                RecordChange::Submitted(id) => {
                    report.step(
                        "update_record",
                        format!("`{}` {values:?} -> `{endpoint}` (change `{id}`)", r.name),
                    );
                    op.dns_changes.push(id);
                    save(ledger, lease, op, db).await?;
                }
                RecordChange::Conflict(_) => {
                    let (current, _) = route53::read_cname(r53, r.zone_id(), &r.fqdn())
                        .await
                        .map_err(|e| aws_err(db, e))?;
                    if after_conflict(&update, &current, &endpoint)
                        != AfterConflict::DoneByConcurrentRun
                    {
                        return Err(WorkerError::Conflict(format!(
                            "`{}` changed during the failback to {current:?}: not overwriting it",
                            r.name
                        )));
                    }
                }
            }
        }
        for change in op.dns_changes.clone() {
            while !route53::change_in_sync(r53, &change)
                .await
                .map_err(|e| aws_err(db, e))?
            {
                if !pause(deps, &mut interval, deadline).await {
                    op.waiting_for = Some("DNS in sync".into());
                    op.failback = Some(record);
                    return Ok(());
                }
            }
        }
        record.dns_in_sync_at = Some(Utc::now());
        report.step(
            "dns_in_sync",
            format!("{} record(s) point to `{endpoint}`", db.records.len()),
        );
    }
    op.failback = Some(record.clone());
    op.outcome = "switched".into();
    op.writer_endpoint = Some(endpoint.clone());
    op.rto_seconds = record.write_unavailable_seconds();
    op.close(OperationState::Completed, Utc::now());
    report.next = vec![
        format!(
            "change the configuration: `databases[].primary.instance_id` of `{}` = `{}` (region `{}`); until then `status` shows the configuration disagreeing with reality",
            db.name, record.new_instance_id, record.new_region
        ),
        format!(
            "re-establish protection: `{}` (fenced, kept) is no longer a replica; create a cross-region read replica of `{}` in `{}` and set `databases[].replica.instance_id` to it; delete `{}` and the old primary `{}` when no longer needed (pilotlight never deletes them)",
            record.writer_id, record.new_instance_id, record.writer_region, record.writer_id, db.primary.instance_id
        ),
    ];
    if let Ok(Ok(Some(p))) = see(deps, db).await.map(|s| s.old_primary) {
        report.next.push(format!(
            "compare the new primary's settings with the old primary's: parameter group `{}` (a cross-Region read replica of {} starts with the engine's default unless the engine is MySQL, Oracle or Db2), backup retention {} days (PromoteReadReplica defaults to 1)",
            p.parameter_group.as_deref().unwrap_or("unknown"),
            p.engine.as_deref().unwrap_or("this engine"),
            p.backup_retention_days.map_or("unknown".to_owned(), |d| d.to_string())
        ));
    }
    let subject = format!(
        "pilotlight failback {}: home on `{}` (writes unavailable {:.0} s)",
        db.name,
        record.new_instance_id,
        record.write_unavailable_seconds().unwrap_or_default()
    );
    notify(deps, db, op, report, "result", subject).await;
    Ok(())
}

/// The write outage outlived `failback.max_write_outage_seconds` before the promotion: give the
/// DR writer back the security groups its fence replaced (the `pilotlight:groups-before-fence`
/// tag), close the switch failed and page. The database keeps running in the DR region; the new
/// instance stays a replica, ready for another `switch`.
#[allow(clippy::too_many_arguments)]
async fn abort(
    deps: &Deps,
    db: &ProtectedDatabase,
    ledger: &Ledger,
    lease: &Lease,
    op: &mut Operation,
    record: FailbackRecord,
    report: &mut FailbackReport,
    out_seconds: i64,
) -> Result<(), WorkerError> {
    let rds_dr = deps
        .clients
        .rds(&record.writer_region)
        .map_err(|e| WorkerError::InvalidCommand(e.to_string()))?;
    let w = fb::describe(rds_dr, &record.writer_id)
        .await
        .map_err(|e| aws_err(db, e))?;
    let before: Vec<String> = w
        .as_ref()
        .and_then(|w| w.tags.get(TAG_GROUPS_BEFORE_FENCE))
        .map(|g| {
            g.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let restored = if before.is_empty() {
        format!("its groups before the fence are not recorded: give `{}` its security groups back by hand", record.writer_id)
    } else {
        rds::move_to_security_groups(rds_dr, &record.writer_id, &before)
            .await
            .map_err(|e| aws_err(db, e))?;
        format!(
            "`{}` moved back to {before:?} (ModifyDBInstance): it takes writes again",
            record.writer_id
        )
    };
    report.step("abort", restored.clone());
    op.outcome = "failed".into();
    op.reasons = vec![format!(
        "the new instance `{}` did not show every write within {out_seconds} s of the fence (`failback.max_write_outage_seconds`): the switch is aborted, {restored}; the database stays in `{}`",
        record.new_instance_id, record.writer_region
    )];
    op.failback = Some(record);
    op.close(OperationState::Failed, Utc::now());
    notify(
        deps,
        db,
        op,
        report,
        "failed",
        format!(
            "pilotlight failback {}: switch ABORTED, writes back on the DR writer",
            db.name
        ),
    )
    .await;
    save(ledger, lease, op, db).await
}

/// Publish `event` once per operation.
async fn notify(
    deps: &Deps,
    db: &ProtectedDatabase,
    op: &mut Operation,
    report: &mut FailbackReport,
    event: &str,
    subject: String,
) {
    if op.was_notified(event) {
        return;
    }
    report.record = op.failback.clone();
    report.write_unavailable_seconds = op
        .failback
        .as_ref()
        .and_then(FailbackRecord::write_unavailable_seconds);
    let message =
        serde_json::json!({"event": format!("failback_{event}"), "report": report}).to_string();
    let attrs = [
        ("database", db.name.as_str()),
        ("event", "failback"),
        ("outcome", op.outcome.as_str()),
    ];
    match sns::publish(
        &deps.clients.sns,
        &deps.config.notifications.topic_arn,
        &subject,
        &message,
        &attrs,
    )
    .await
    {
        Ok(()) => {
            op.notified.push(event.to_owned());
            report.step("notify", subject);
        }
        Err(e) => report.notification_errors.push(e.to_string()),
    }
}
