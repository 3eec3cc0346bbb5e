//! The `drill` command: the snapshot path's DR drill (restore the newest DR snapshot copy into a
//! temporary instance, wait for it, validate it, delete it, report the restore time and the data
//! age) and the replica path's readiness report (`"kind": "failover"`).
//!
//! A snapshot drill is a ledger operation under the database's drill key
//! ([`ledger_key`]): its own lease and open operation, so a drill never holds up a failover. A
//! run does what the drill's next step asks ([`next_step`]) until the drill waits for RDS, is
//! done, or the run's time is up; it never sleeps waiting for a restore. The reconcile pass
//! (every minute) and any later `drill` command for the database advance it: a second `drill`
//! while one runs answers with the running one. The drill never calls anything that changes the
//! protected database, its replica or its records: it reads the primary (and the replica, if
//! the primary does not answer) once, for the comparison of engines.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use pilotlight::aws::drill::{self as rds_drill, DeleteOutcome, RestoreOutcome, RestoreRequest};
use pilotlight::aws::dynamodb::Ledger;
use pilotlight::aws::{rds, sns, AwsError};
use pilotlight::command::{DrillKind, DrillRequest, FailoverRequest};
use pilotlight::config::ProtectedDatabase;
use pilotlight::error::WorkerError;
use pilotlight::ledger::{
    Lease, LeaseHolder, Operation, OperationKind, OperationState, StepRecord,
};
use pilotlight::metrics;
use pilotlight::observe::failover::observe;
use pilotlight::plan::drill::{
    drill_id, instance_id, ledger_key, newest_copy, next_step, readiness, DrillRecord, DrillStep,
    InstanceFacts, Readiness, Verdict, TAG_DATABASE, TAG_DRILL,
};
use pilotlight::plan::route::unknown_database;
use pilotlight::plan::snapshots::{DbKind, Origin, SnapshotSource, MANAGED_BY, TAG_MANAGED_BY};
use serde::Serialize;
use tracing::{info, warn};

use crate::{ledger_error, with_lease, Deps, Leased, RunId};

/// The `drill` command's answer: one entry per database drilled.
#[derive(Debug, Clone, Serialize)]
pub struct DrillsReport {
    /// `snapshot` or `failover`.
    pub kind: DrillKind,
    /// One per database.
    pub drills: Vec<DrillReport>,
}

/// One database's drill, as far as this run took it.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The protected database.
    pub database: String,
    /// `planned` (dry-run), `restoring` / `deleting` (waiting for RDS: the reconcile pass goes
    /// on), `passed`, `failed`, `lease_held` (another run is advancing it), `ready` /
    /// `not_ready` (failover drill).
    pub outcome: String,
    /// This run found the drill already running (opened by an earlier command or the schedule)
    /// and advanced it instead of starting another.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_running: bool,
    /// The drill's record: snapshot, instance, times, verdict (snapshot drills).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillRecord>,
    /// Seconds from the restore request to `available`: the snapshot path's RTO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_seconds: Option<f64>,
    /// Age of the restored data when the drill started, seconds: the snapshot path's RPO.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_age_seconds: Option<f64>,
    /// Passed (set once finished).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// How the restored instance differs from the protected primary (engine, version, storage).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// The failover drill's readiness report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// What this run did, in order.
    pub steps: Vec<StepRecord>,
    /// Why it failed or did not start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// The run holding the drill's lease (`lease_held`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_holder: Option<LeaseHolder>,
    /// The ledger operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// Notifications that could not be published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

impl DrillReport {
    fn new(database: &str, outcome: &str) -> Self {
        Self {
            database: database.to_owned(),
            outcome: outcome.to_owned(),
            already_running: false,
            drill: None,
            restore_seconds: None,
            data_age_seconds: None,
            passed: None,
            differences: vec![],
            readiness: None,
            steps: vec![],
            reasons: vec![],
            lease_holder: None,
            operation_id: None,
            notification_errors: vec![],
        }
    }

    fn step(&mut self, step: &str, detail: String) {
        info!(database = %self.database, step, %detail, "drill step");
        self.steps.push(StepRecord {
            step: step.to_owned(),
            at: Utc::now(),
            detail,
        });
    }
}

/// Run `drill` for the database it names, or for every RDS database (the schedule).
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] or [`WorkerError::InvalidCommand`] (an Aurora global
/// database) before any call. A database whose drill fails is an entry with `failed`.
pub async fn drill(
    deps: &Deps,
    req: &DrillRequest,
    time_left: Option<Duration>,
    run: &RunId,
) -> Result<DrillsReport, WorkerError> {
    let dbs: Vec<&ProtectedDatabase> = match req.database.as_deref() {
        Some(name) => match deps.config.database(name) {
            Some(db) => vec![db],
            None if deps.config.aurora(name).is_some() => {
                return Err(WorkerError::InvalidCommand(format!(
                    "invalid command: `drill` covers RDS read replica pairs; `{name}` is an Aurora global database: drill it with `switchover` (`dry_run` for the plan)"
                )))
            }
            None => {
                return Err(WorkerError::UnknownDatabase(unknown_database(
                    &deps.config,
                    name,
                )))
            }
        },
        None => deps.config.databases.iter().collect(),
    };
    let deadline = tokio::time::Instant::now()
        + time_left
            .unwrap_or(Duration::MAX / 4)
            .min(Duration::from_secs(deps.config.failover.deadline_seconds));
    let drills = match req.kind {
        DrillKind::Failover => join_all(dbs.iter().map(|db| failover_drill(deps, db))).await,
        DrillKind::Snapshot => {
            join_all(dbs.iter().map(|db| async move {
                Box::pin(snapshot_drill(deps, db, req.dry_run, deadline, run, true))
                    .await
                    .unwrap_or_else(|e| {
                        let mut r = DrillReport::new(&db.name, "failed");
                        r.reasons.push(e.to_string());
                        r
                    })
            }))
            .await
        }
    };
    Ok(DrillsReport {
        kind: req.kind,
        drills,
    })
}

/// The failover drill: observe as an automatic failover would, now, and report readiness.
async fn failover_drill(deps: &Deps, db: &ProtectedDatabase) -> DrillReport {
    let now = Utc::now();
    match observe(&deps.clients, &deps.config.failover, db, now, now).await {
        Ok(obs) => {
            let r = readiness(db, &obs);
            let mut report =
                DrillReport::new(&db.name, if r.ready { "ready" } else { "not_ready" });
            report.readiness = Some(r);
            report
        }
        Err(e) => {
            let mut report = DrillReport::new(&db.name, "not_ready");
            report.reasons.push(format!(
                "the failover drill of `{}` could not observe: {e}",
                db.name
            ));
            report
        }
    }
}

/// The DR region(s) where `db`'s snapshot copies live: `snapshots.dr_regions`, else the replica's.
fn dr_regions(deps: &Deps, db: &ProtectedDatabase) -> Vec<String> {
    let regions: Vec<String> = deps
        .config
        .snapshots
        .dr_regions
        .iter()
        .filter(|r| **r != db.primary.region)
        .map(ToString::to_string)
        .collect();
    if regions.is_empty() {
        vec![db.replica.region.to_string()]
    } else {
        regions
    }
}

fn aws(db: &ProtectedDatabase, e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Refused(format!("the drill of `{}` could not go on: {e}", db.name))
}

fn rds_error(db: &ProtectedDatabase, e: AwsError) -> WorkerError {
    WorkerError::aws(format!("the drill of `{}`", db.name), e)
}

/// Start or advance `db`'s snapshot drill. `start`: a person's or the schedule's command (may
/// open a drill); the reconcile pass only advances an open one.
pub(crate) async fn snapshot_drill(
    deps: &Deps,
    db: &ProtectedDatabase,
    dry_run: bool,
    deadline: tokio::time::Instant,
    run: &RunId,
    start: bool,
) -> Result<DrillReport, WorkerError> {
    if dry_run {
        return plan(deps, db).await;
    }
    let key = ledger_key(&db.name);
    let leased = with_lease(deps, &key, run, |ledger, lease, open| async move {
        Box::pin(advance(
            deps, db, &ledger, &lease, open, deadline, run, start,
        ))
        .await
    })
    .await?;
    Ok(match leased {
        Leased::Ran(report) => report,
        Leased::Held(holder) => {
            let mut r = DrillReport::new(&db.name, "lease_held");
            r.already_running = true;
            r.reasons.push(format!(
                "another run (`{}`) is advancing the drill of `{}`; it holds the lease until {}",
                holder.owner, db.name, holder.expires_at
            ));
            r.lease_holder = Some(holder);
            r
        }
    })
}

/// The newest available copy of `db`'s primary in its DR regions: (region, snapshot).
async fn choose_snapshot(
    deps: &Deps,
    db: &ProtectedDatabase,
) -> Result<Option<(String, pilotlight::plan::snapshots::SnapshotInfo)>, WorkerError> {
    let source = SnapshotSource {
        db_id: db.primary.instance_id.to_string(),
        kind: DbKind::Instance,
        region: db.primary.region.to_string(),
        dr_regions: dr_regions(deps, db),
        engine: None,
        origin: Origin::Config,
    };
    let mut all = Vec::new();
    for region in &source.dr_regions {
        let client = deps.clients.rds(region).map_err(|e| aws(db, e))?;
        all.extend(
            rds::list_db_snapshots(client, region, &source.db_id)
                .await
                .map_err(|e| rds_error(db, e))?,
        );
    }
    Ok(newest_copy(&all, &source).map(|s| (s.region.clone(), s.clone())))
}

/// A dry-run: the snapshot and the instance a drill would use now.
async fn plan(deps: &Deps, db: &ProtectedDatabase) -> Result<DrillReport, WorkerError> {
    let mut report = DrillReport::new(&db.name, "planned");
    let now = Utc::now();
    match choose_snapshot(deps, db).await? {
        Some((region, snap)) => {
            let record = new_record(db, &region, &snap, now);
            report.data_age_seconds = record.data_age_seconds();
            report.step(
                "plan",
                format!(
                    "would restore `{}` (data of {}) in `{region}` into `{}` ({}), validate it{}, and delete it",
                    snap.id,
                    snap.data_time().map_or("unknown time".into(), |t| t.to_rfc3339()),
                    record.instance_id,
                    deps.config.drill.instance_class,
                    deps.config
                        .drill
                        .validation_function
                        .as_deref()
                        .map_or(String::new(), |f| format!(" with `{f}`")),
                ),
            );
            report.drill = Some(record);
        }
        None => {
            report.outcome = "failed".into();
            report.reasons.push(no_snapshot(deps, db));
        }
    }
    Ok(report)
}

fn no_snapshot(deps: &Deps, db: &ProtectedDatabase) -> String {
    format!(
        "no available pilotlight snapshot copy of `{}` ({}) in {:?}: nothing to restore (is snapshot-copy running?)",
        db.primary.instance_id,
        db.primary.region,
        dr_regions(deps, db)
    )
}

fn new_record(
    db: &ProtectedDatabase,
    region: &str,
    snap: &pilotlight::plan::snapshots::SnapshotInfo,
    now: DateTime<Utc>,
) -> DrillRecord {
    DrillRecord {
        drill_id: drill_id(&db.name, now),
        region: region.to_owned(),
        snapshot_id: snap.id.clone(),
        snapshot_data_time: snap.data_time(),
        instance_id: instance_id(&db.name, now),
        started_at: now,
        restore_requested_at: None,
        available_at: None,
        endpoint: None,
        restored: None,
        source: None,
        verdict: None,
        failure: None,
        deleted_at: None,
    }
}

/// Open a drill (when `start` and none is open) or take the open one, then do its steps.
#[allow(clippy::too_many_arguments)]
async fn advance(
    deps: &Deps,
    db: &ProtectedDatabase,
    ledger: &Ledger,
    lease: &Lease,
    open: Option<Operation>,
    deadline: tokio::time::Instant,
    run: &RunId,
    start: bool,
) -> Result<DrillReport, WorkerError> {
    let key = ledger_key(&db.name);
    let mut report = DrillReport::new(&db.name, "restoring");
    let mut op = match open {
        Some(op) if op.drill.is_some() => {
            report.already_running = start;
            if start {
                report.step(
                    "running",
                    format!(
                        "drill `{}` is already running: advancing it",
                        op.operation_id
                    ),
                );
            }
            op
        }
        Some(op) => {
            return Err(WorkerError::Conflict(format!(
                "the drill key of `{}` holds an operation that is not a drill (`{}`)",
                db.name, op.operation_id
            )))
        }
        None if !start => {
            report.outcome = "idle".into();
            return Ok(report);
        }
        None => {
            let now = Utc::now();
            let request = FailoverRequest {
                database: key.clone(),
                dry_run: false,
                force: false,
                reason: Some("drill".into()),
                trigger: None,
                dr_detection: None,
            };
            let mut op = Operation::open(&request, lease, now, &run.0);
            op.kind = OperationKind::Drill;
            match choose_snapshot(deps, db).await? {
                Some((region, snap)) => {
                    let record = new_record(db, &region, &snap, now);
                    report.step(
                        "choose_snapshot",
                        format!(
                            "`{}` in `{region}` (data of {}): restoring into `{}`",
                            snap.id,
                            record
                                .snapshot_data_time
                                .map_or("unknown time".into(), |t| t.to_rfc3339()),
                            record.instance_id
                        ),
                    );
                    op.drill = Some(record);
                }
                None => {
                    // nothing to restore: a failed drill, recorded and published
                    let mut record = DrillRecord {
                        snapshot_id: String::new(),
                        region: dr_regions(deps, db).join(","),
                        ..new_record(db, "", &empty_snapshot(), now)
                    };
                    record.instance_id = String::new();
                    record.failure = Some(no_snapshot(deps, db));
                    op.drill = Some(record);
                }
            }
            op
        }
    };
    report.operation_id = Some(op.operation_id.clone());
    let validation = deps.config.drill.validation_function.clone();
    let max_restore = deps.config.drill.max_restore_seconds;
    while let Some(record) = op.drill.clone() {
        let rds_client = if record.instance_id.is_empty() {
            None
        } else {
            Some(deps.clients.rds(&record.region).map_err(|e| aws(db, e))?)
        };
        let instance = match rds_client {
            Some(c) => rds_drill::describe(c, &record.instance_id)
                .await
                .map_err(|e| rds_error(db, e))?,
            None => None,
        };
        let now = Utc::now();
        let step = next_step(
            &record,
            instance.as_ref(),
            now,
            validation.is_some(),
            max_restore,
        );
        if tokio::time::Instant::now() >= deadline && step != DrillStep::Finish {
            op.waiting_for = Some("the next run (the run's time is up)".into());
            report.outcome = "in_progress".into();
            break;
        }
        let Some(drill) = op.drill.as_mut() else {
            break;
        };
        match step {
            DrillStep::Restore => {
                let Some(client) = rds_client else {
                    drill.failure = Some("the drill has no instance to restore".into());
                    continue;
                };
                if drill.restore_requested_at.is_none() {
                    drill.restore_requested_at = Some(now);
                }
                // the intent first: a crash after the call finds the instance by its tag
                save(ledger, lease, &op, db).await?;
                let Some(drill) = op.drill.as_mut() else {
                    break;
                };
                let tags = BTreeMap::from([
                    (TAG_DRILL.to_owned(), drill.drill_id.clone()),
                    (TAG_DATABASE.to_owned(), db.name.clone()),
                    (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
                ]);
                let req = RestoreRequest {
                    instance_id: drill.instance_id.clone(),
                    snapshot_id: drill.snapshot_id.clone(),
                    instance_class: deps.config.drill.instance_class.clone(),
                    subnet_group: deps
                        .config
                        .drill
                        .subnet_groups
                        .iter()
                        .find(|(r, _)| **r == drill.region)
                        .map(|(_, g)| g.clone()),
                    security_groups: deps
                        .config
                        .drill
                        .security_groups
                        .iter()
                        .find(|(r, _)| **r == drill.region)
                        .map(|(_, g)| g.clone())
                        .unwrap_or_default(),
                    tags,
                };
                match rds_drill::restore(client, &req).await {
                    Ok(RestoreOutcome::Started) => report.step(
                        "restore",
                        format!(
                            "RestoreDBInstanceFromDBSnapshot `{}` from `{}` ({}, not publicly accessible)",
                            req.instance_id, req.snapshot_id, req.instance_class
                        ),
                    ),
                    Ok(RestoreOutcome::AlreadyExists) => report.step(
                        "restore",
                        format!("`{}` exists already (an earlier run's request): reading it", req.instance_id),
                    ),
                    Ok(RestoreOutcome::Refused(why)) => {
                        report.step("restore", format!("refused: {why}"));
                        drill.failure = Some(format!("RDS refused the restore of `{}`: {why}", req.snapshot_id));
                    }
                    Err(e) => {
                        op.add_error(e.to_string());
                        op.waiting_for = Some("restore (retry)".into());
                        save(ledger, lease, &op, db).await?;
                        return Err(rds_error(db, e));
                    }
                }
            }
            DrillStep::WaitForRestore => {
                op.waiting_for = Some("restore".into());
                report.outcome = "restoring".into();
                report.step(
                    "wait_for_restore",
                    format!(
                        "`{}` is `{}`",
                        drill.instance_id,
                        instance.as_ref().map_or("missing", |i| i.status.as_str())
                    ),
                );
                break;
            }
            DrillStep::RecordAvailable => {
                let Some(i) = instance.as_ref() else {
                    continue;
                };
                drill.available_at = Some(now);
                drill.endpoint = i.endpoint.clone();
                drill.restored = Some(i.facts.clone());
                if drill.source.is_none() {
                    drill.source = source_facts(deps, db).await;
                }
                report.step(
                    "available",
                    format!(
                        "`{}` is available after {} s at {}",
                        drill.instance_id,
                        drill.restore_seconds().unwrap_or_default(),
                        i.endpoint
                            .as_ref()
                            .map_or("no endpoint".into(), |e| format!(
                                "{}:{}",
                                e.address, e.port
                            ))
                    ),
                );
            }
            DrillStep::Validate => {
                if drill.endpoint.is_none() {
                    drill.endpoint = instance.as_ref().and_then(|i| i.endpoint.clone());
                }
                let function = validation.clone().unwrap_or_default();
                let payload = serde_json::json!({
                    "database": db.name,
                    "drill_id": drill.drill_id,
                    "db_instance_identifier": drill.instance_id,
                    "endpoint": drill.endpoint,
                    "engine": drill.restored.as_ref().and_then(|f| f.engine.clone()),
                    "engine_version": drill.restored.as_ref().and_then(|f| f.engine_version.clone()),
                    "snapshot_id": drill.snapshot_id,
                    "region": drill.region,
                });
                let (passed, detail) = match deps.clients.lambda.as_ref() {
                    Some(lambda) => rds_drill::validate(lambda, &function, &payload).await,
                    None => (false, "no Lambda client for the validation function".into()),
                };
                report.step(
                    "validate",
                    format!(
                        "`{function}`: {}: {detail}",
                        if passed { "passed" } else { "failed" }
                    ),
                );
                drill.verdict = Some(Verdict {
                    passed,
                    detail,
                    at: Utc::now(),
                });
            }
            DrillStep::Fail(why) => {
                report.step("failed", why.clone());
                drill.failure = Some(why);
            }
            DrillStep::NotOurs(why) => {
                report.step("not_ours", why.clone());
                drill.failure = Some(why);
                drill.deleted_at = None;
                finish(deps, db, &mut op, &mut report).await;
                break;
            }
            DrillStep::Delete => {
                let Some(client) = rds_client else {
                    drill.deleted_at = Some(Utc::now());
                    continue;
                };
                match rds_drill::delete(client, &drill.instance_id, &drill.drill_id)
                    .await
                    .map_err(|e| rds_error(db, e))?
                {
                    DeleteOutcome::Deleting | DeleteOutcome::Gone => {
                        drill.deleted_at = Some(Utc::now());
                        report.step(
                            "delete",
                            format!(
                                "DeleteDBInstance `{}` (SkipFinalSnapshot, DeleteAutomatedBackups)",
                                drill.instance_id
                            ),
                        );
                    }
                    DeleteOutcome::Busy(why) => {
                        op.waiting_for = Some("delete (the instance is busy)".into());
                        report.outcome = "deleting".into();
                        report.step("delete", format!("not yet: {why}"));
                        break;
                    }
                    DeleteOutcome::NotOurs => {
                        drill.failure = Some(format!(
                            "`{}` does not carry this drill's tag: not deleted",
                            drill.instance_id
                        ));
                        finish(deps, db, &mut op, &mut report).await;
                        break;
                    }
                }
            }
            DrillStep::Finish => {
                finish(deps, db, &mut op, &mut report).await;
                break;
            }
        }
        save(ledger, lease, &op, db).await?;
    }
    op.runs = op.runs.saturating_add(1);
    op.add_steps(&report.steps);
    op.updated_at = Utc::now();
    save(ledger, lease, &op, db).await?;
    fill(&mut report, &op, validation.is_some());
    Ok(report)
}

/// A snapshot stand-in for a drill that found none (its record carries the failure).
fn empty_snapshot() -> pilotlight::plan::snapshots::SnapshotInfo {
    pilotlight::plan::snapshots::SnapshotInfo {
        id: String::new(),
        arn: String::new(),
        kind: DbKind::Instance,
        region: String::new(),
        status: pilotlight::plan::status::SnapshotStatus::Other("none".into()),
        created_at: None,
        original_created_at: None,
        encrypted: false,
        snapshot_type: String::new(),
        db_id: String::new(),
        engine: None,
        allocated_storage_gib: None,
        tags: Default::default(),
    }
}

/// The protected primary's facts, else the replica's (the primary's region may be down); `None`
/// when neither answers. Read-only.
async fn source_facts(deps: &Deps, db: &ProtectedDatabase) -> Option<InstanceFacts> {
    for r in [&db.primary, &db.replica] {
        if let Ok(client) = deps.clients.rds(&r.region) {
            match rds_drill::describe(client, &r.instance_id).await {
                Ok(Some(i)) => return Some(i.facts),
                Ok(None) => {}
                Err(e) => {
                    warn!(database = %db.name, error = %e, "the drill could not read the source")
                }
            }
        }
    }
    None
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
            "the drill of `{}` was taken over by another run: this run stops",
            db.name
        ))),
        Err(e) => Err(ledger_error(&ledger_key(&db.name), e)),
    }
}

/// Close the drill: its figures as metrics (Embedded Metric Format: `DrillRestoreSeconds`,
/// `DrillDataAgeSeconds`, `DrillPassed`, dimension `Database`), one notification, the operation
/// closed `completed` (passed) or `failed`.
async fn finish(deps: &Deps, db: &ProtectedDatabase, op: &mut Operation, report: &mut DrillReport) {
    let validation = deps.config.drill.validation_function.is_some();
    let Some(record) = op.drill.clone() else {
        return;
    };
    let passed = record.passed(validation);
    let dims = [("Database", db.name.as_str())];
    if let Some(s) = record.restore_seconds() {
        metrics::emit("DrillRestoreSeconds", s, "Seconds", &dims);
    }
    if let Some(s) = record.data_age_seconds() {
        metrics::emit("DrillDataAgeSeconds", s, "Seconds", &dims);
    }
    metrics::emit(
        "DrillPassed",
        if passed { 1.0 } else { 0.0 },
        "Count",
        &dims,
    );
    report.step(
        "metrics",
        format!(
            "DrillPassed {}, DrillRestoreSeconds {:?}, DrillDataAgeSeconds {:?}",
            u8::from(passed),
            record.restore_seconds(),
            record.data_age_seconds()
        ),
    );
    op.outcome = if passed { "passed" } else { "failed" }.into();
    if let Some(f) = &record.failure {
        op.reasons = vec![f.clone()];
    } else if let Some(v) = record.verdict.as_ref().filter(|v| !v.passed) {
        op.reasons = vec![format!("validation failed: {}", v.detail)];
    }
    if !op.was_notified("result") {
        let subject = format!(
            "pilotlight drill {}: {}{}",
            db.name,
            if passed { "passed" } else { "FAILED" },
            record
                .restore_seconds()
                .map_or(String::new(), |s| format!(", restore {s:.0} s"))
        );
        fill(report, op, validation);
        report.outcome = op.outcome.clone();
        let message = serde_json::json!({"event": "drill", "report": report}).to_string();
        let attrs = [
            ("database", db.name.as_str()),
            ("event", "drill"),
            ("outcome", op.outcome.as_str()),
        ];
        let topic = &deps.config.notifications.topic_arn;
        match sns::publish(&deps.clients.sns, topic, &subject, &message, &attrs).await {
            Ok(()) => {
                op.notified.push("result".into());
                report.step("notify", subject);
            }
            Err(e) => report.notification_errors.push(e.to_string()),
        }
    }
    op.close(
        if passed {
            OperationState::Completed
        } else {
            OperationState::Failed
        },
        Utc::now(),
    );
}

/// The report's figures from the operation.
fn fill(report: &mut DrillReport, op: &Operation, validation: bool) {
    let Some(record) = op.drill.as_ref() else {
        return;
    };
    report.restore_seconds = record.restore_seconds();
    report.data_age_seconds = record.data_age_seconds();
    if op.state != OperationState::Open {
        report.passed = Some(record.passed(validation));
        report.outcome = op.outcome.clone();
    }
    if report.reasons.is_empty() {
        report.reasons = op.reasons.clone();
    }
    report.differences = differences(record.source.as_ref(), record.restored.as_ref());
    report.drill = Some(record.clone());
}

/// How the restored instance differs from the source: engine, engine version, storage.
pub fn differences(
    source: Option<&InstanceFacts>,
    restored: Option<&InstanceFacts>,
) -> Vec<String> {
    let (Some(s), Some(r)) = (source, restored) else {
        return vec![];
    };
    let mut out = vec![];
    let mut cmp = |what: &str, a: Option<String>, b: Option<String>| {
        if a.is_some() && b.is_some() && a != b {
            out.push(format!(
                "{what}: source {}, restored {}",
                a.unwrap_or_default(),
                b.unwrap_or_default()
            ));
        }
    };
    cmp("engine", s.engine.clone(), r.engine.clone());
    cmp(
        "engine version",
        s.engine_version.clone(),
        r.engine_version.clone(),
    );
    cmp(
        "allocated storage (GiB)",
        s.allocated_storage_gib.map(|g| g.to_string()),
        r.allocated_storage_gib.map(|g| g.to_string()),
    );
    cmp(
        "storage type",
        s.storage_type.clone(),
        r.storage_type.clone(),
    );
    cmp(
        "encrypted",
        s.encrypted.map(|e| e.to_string()),
        r.encrypted.map(|e| e.to_string()),
    );
    out
}

/// The reconcile pass's part: advance `db`'s open drill, if any (never starts one).
///
/// # Errors
/// As [`snapshot_drill`].
pub(crate) async fn reconcile_drill(
    deps: &Deps,
    db: &ProtectedDatabase,
    time_left: Option<Duration>,
    run: &RunId,
) -> Result<Option<DrillReport>, WorkerError> {
    let key = ledger_key(&db.name);
    let state = crate::ledger(deps)
        .state(&key)
        .await
        .map_err(|e| ledger_error(&key, e))?;
    if state.open_operation.is_none() {
        return Ok(None);
    }
    let deadline = tokio::time::Instant::now()
        + time_left
            .unwrap_or(Duration::MAX / 4)
            .min(Duration::from_secs(deps.config.failover.deadline_seconds));
    Box::pin(snapshot_drill(deps, db, false, deadline, run, false))
        .await
        .map(Some)
}
