//! The `snapshot-copy` function: reconciles each protected database towards "a recent snapshot
//! exists in its region and a copy of it exists in every DR region", within AWS's limit of copies
//! in flight per destination region, and reports each DR region's RPO exposure.
//!
//! Each run lists the snapshots of every region involved once (paginated,
//! [`pilotlight::observe::snapshots`]), asks the pure
//! [`plan_snapshot_copy`] what to do, and does it ([`execute`]) with
//! bounded concurrency. A region that cannot be listed fails the run (nothing can be planned
//! safely without it).

mod execute;
mod report;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use pilotlight::aws::backups;
use pilotlight::command::{parse_command, Command, SnapshotCopyRequest};
use pilotlight::error::WorkerError;
use pilotlight::observe::snapshots::{list_regions, sources};
use pilotlight::plan::backups::{plan_backup_replication, BackupReplication};
use pilotlight::plan::snapshot_copy::{plan_snapshot_copy, PlanSettings, Quota};
use pilotlight::plan::snapshots::{select_sources, DbKind};
use serde_json::Value;
use tracing::info;

pub use execute::CONCURRENCY;
pub use pilotlight::runtime::WorkerDeps as Deps;
pub use report::{CopyReport, CreateStatus, DatabaseReport, RegionReport};

/// Lambda handler.
///
/// # Errors
/// [`WorkerError`]: an invalid command, an unknown database, or a region that cannot be listed.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<CopyReport, WorkerError> {
    let command = parse_command(event.payload)?;
    let Command::SnapshotCopy(request) = command else {
        return Err(WorkerError::InvalidCommand(format!(
            "invalid command: this function runs `snapshot-copy`, not `{}`",
            command.name()
        )));
    };
    run_until(
        deps,
        &request,
        Utc::now(),
        pilotlight::runtime::work_deadline(&event.context),
    )
    .await
}

/// Run one reconcile pass (or plan it, with `dry_run`).
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] before any call that changes anything;
/// [`WorkerError::Aws`] when a region's snapshots cannot be listed.
pub async fn run(
    deps: &Deps,
    req: &SnapshotCopyRequest,
    now: DateTime<Utc>,
) -> Result<CopyReport, WorkerError> {
    run_until(deps, req, now, None).await
}

/// Every region's manual snapshot quotas (`DescribeAccountAttributes`, concurrently), and an
/// error for each region whose quotas could not be read (its creates and copies are then limited
/// by AWS alone).
async fn read_quotas(
    deps: &Deps,
    regions: &BTreeSet<&str>,
) -> (BTreeMap<(String, DbKind), Quota>, Vec<String>) {
    let answers = futures::future::join_all(regions.iter().map(|region| async move {
        let result = match deps.clients.rds(region) {
            Ok(c) => pilotlight::aws::rds::snapshot_quotas(c)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        (region.to_string(), result)
    }))
    .await;
    let mut quotas = BTreeMap::new();
    let mut errors = vec![];
    for (region, answer) in answers {
        match answer {
            Ok(found) => quotas.extend(found.into_iter().map(|(k, q)| ((region.clone(), k), q))),
            Err(e) => errors.push(format!(
                "the manual snapshot quota of `{region}` could not be read ({e}): its creates and copies are not held back from the reserve"
            )),
        }
    }
    (quotas, errors)
}

/// [`run`], starting no creation or copy after `deadline`.
///
/// # Errors
/// As [`run`].
pub async fn run_until(
    deps: &Deps,
    req: &SnapshotCopyRequest,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) -> Result<CopyReport, WorkerError> {
    let Some(owner) = &req.gate else {
        return Box::pin(pass(deps, req, now, deadline)).await;
    };
    // A run the router started through the job gate: before leaving it, pass once more for every
    // event that was queued meanwhile (one flag, however many events). At most one run is in
    // flight and one pass queued. A pass that fails, or a deadline, gives the gate up (the next
    // event enters it at once).
    let ledger = pilotlight::aws::dynamodb::Ledger::new(
        deps.clients.dynamodb.clone(),
        &deps.config.ledger.table_name,
    );
    let give_up = |why: String| {
        let ledger = ledger.clone();
        async move {
            if let Err(e) = ledger.gate_release(GATE_JOB, owner).await {
                tracing::warn!(error = %e, "the snapshot-copy gate could not be released: it expires by itself");
            }
            why
        }
    };
    let mut report = match Box::pin(pass(deps, req, now, deadline)).await {
        Ok(r) => r,
        Err(e) => {
            give_up(String::new()).await;
            return Err(e);
        }
    };
    loop {
        match ledger.gate_leave(GATE_JOB, owner).await {
            Ok(true) if !pilotlight::runtime::past(deadline) => {
                let passes = report.passes + 1;
                info!(passes, "queued snapshot events: one more pass");
                report = match Box::pin(pass(deps, req, Utc::now(), deadline)).await {
                    Ok(r) => r,
                    Err(e) => {
                        give_up(String::new()).await;
                        return Err(e);
                    }
                };
                report.passes = passes;
            }
            Ok(true) => {
                let why = give_up("events were queued after the deadline: the gate is given up, and the next event (or the schedule) runs again".into()).await;
                report.errors.push(why);
                break;
            }
            Ok(false) => break,
            Err(e) => {
                report.errors.push(format!(
                    "the snapshot-copy gate could not be left ({e}): it expires by itself"
                ));
                break;
            }
        }
    }
    Ok(report)
}

/// The job gate's name in the ledger table (`pk` `job#snapshot-copy`).
pub const GATE_JOB: &str = "snapshot-copy";

/// Cross-region automated backups replication of every configured database that asks for it
/// (`databases[].automated_backups_replication`), into its replica's region, concurrently: read
/// the source and the DR region's automated backups, start the replication when none replicates
/// (not in a dry-run), and report the latest restorable time as the RPO exposure.
async fn replicate_backups(
    deps: &Deps,
    req: &SnapshotCopyRequest,
    now: DateTime<Utc>,
) -> Vec<BackupReplication> {
    let dbs = deps.config.databases.iter().filter_map(|d| {
        let wanted = req
            .database
            .as_deref()
            .is_none_or(|n| n == d.name || n == &*d.primary.instance_id);
        d.automated_backups_replication
            .filter(|_| wanted)
            .map(|settings| (d, settings))
    });
    futures::future::join_all(dbs.map(|(db, settings)| async move {
        let region = db.replica.region.to_string();
        let unknown = |why: String| BackupReplication {
            database: db.name.clone(),
            region: region.clone(),
            state: "unknown".into(),
            latest_restorable_time: None,
            rpo_exposure_seconds: None,
            max_lag_seconds: settings.max_lag_seconds,
            alert: Some(format!("`{}`: automated backups replication unknown: {why}", db.name)),
        };
        let (src, dst) = match (deps.clients.rds(&db.primary.region), deps.clients.rds(&region)) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return unknown(e.to_string()),
        };
        let (source, existing) = futures::join!(
            backups::source_instance(src, &db.primary.instance_id),
            backups::replicated_backups(dst)
        );
        let source = match source {
            Ok(Some(s)) => s,
            Ok(None) => return unknown(format!("`{}` does not exist", db.primary.instance_id)),
            Err(e) => return unknown(e.to_string()),
        };
        let existing = match existing {
            Ok(e) => e,
            Err(e) => return unknown(e.to_string()),
        };
        let mut plan = plan_backup_replication(
            &db.name,
            &region,
            &source,
            &existing,
            settings.max_lag_seconds,
            now,
        );
        if plan.state == "start" && !req.dry_run {
            let key = source
                .encrypted
                .then(|| deps.config.snapshots.kms_keys.iter().find(|(r, _)| **r == *region))
                .flatten()
                .map(|(_, k)| k.as_str());
            if source.encrypted && key.is_none() {
                plan.state = "failed".into();
                plan.alert = Some(format!(
                    "`{}`: the source is encrypted and `snapshots.kms_keys` has no key for `{region}`",
                    db.name
                ));
                return plan;
            }
            let days = i32::try_from(settings.retention_days).unwrap_or(7);
            match backups::start_replication(dst, &source.arn, days, key).await {
                Ok(()) => plan.state = "started".into(),
                // a concurrent or just-finished start that the listing did not show yet
                Err(e) if e.message.contains("already replicating") => {
                    plan.state = "replicating".into();
                }
                Err(e) => {
                    plan.state = "failed".into();
                    plan.alert = Some(format!("`{}`: {e}", db.name));
                }
            }
        } else if plan.state == "start" {
            plan.alert = Some(format!(
                "`{}`: automated backups are not replicated to `{region}` (the run starts it)",
                db.name
            ));
        }
        plan
    }))
    .await
}

/// One snapshot-copy pass: sources, listings and quotas, the plan, and (unless a dry-run) its
/// execution and alerts.
async fn pass(
    deps: &Deps,
    req: &SnapshotCopyRequest,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) -> Result<CopyReport, WorkerError> {
    let (mut sources, source_errors) = sources(&deps.config, &deps.clients).await;
    if let Some(name) = &req.database {
        select_sources(&mut sources, &deps.config, name)?;
    }
    let regions: BTreeSet<&str> = sources
        .iter()
        .flat_map(|s| {
            std::iter::once(s.region.as_str()).chain(s.dr_regions.iter().map(String::as_str))
        })
        .collect();
    let (snapshots, (quotas, mut errors)) = futures::join!(
        list_regions(&deps.clients, &regions, "snapshot-copy failed"),
        read_quotas(deps, &regions),
    );
    let snapshots = snapshots?;
    errors.splice(0..0, source_errors);
    let sn = &deps.config.snapshots;
    let settings = PlanSettings {
        interval_seconds: sn.interval_seconds,
        rpo_target_seconds: sn.rpo_target_seconds,
        max_copies_in_flight: sn.max_copies_in_flight,
        kms_keys: sn
            .kms_keys
            .iter()
            .map(|(r, k)| (r.to_string(), k.clone()))
            .collect(),
        option_groups: sn
            .option_groups
            .iter()
            .map(|(r, g)| (r.to_string(), g.clone()))
            .collect(),
        quotas,
        quota_reserve_percent: sn.quota_reserve_percent,
        quota_alert_days: sn.quota_alert_days,
    };
    let plan = plan_snapshot_copy(&sources, &snapshots, now, &settings);
    info!(
        databases = plan.databases.len(),
        snapshots = snapshots.len(),
        dry_run = req.dry_run,
        "snapshot-copy plan"
    );
    let mut report = CopyReport::of_plan(&plan, req.dry_run, now, errors);
    report.automated_backups = Box::pin(replicate_backups(deps, req, now)).await;
    if !req.dry_run {
        execute::execute(deps, &plan, &mut report, now, deadline).await;
        report.emit_metrics();
        report.alerts = report.collect_alerts();
        let failed = deps
            .alert("snapshot-copy", &report.alerts, report.summary())
            .await;
        report.notification_errors.extend(failed);
    }
    Ok(report)
}
