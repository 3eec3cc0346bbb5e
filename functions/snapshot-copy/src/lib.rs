//! The `snapshot-copy` function: reconciles each protected database towards "a recent snapshot
//! exists in its region and a copy of it exists in every DR region", within AWS's limit of copies
//! in flight per destination region, and reports each DR region's RPO exposure.
//!
//! Each run lists the snapshots of every region involved once (paginated), asks the pure
//! [`pilotlight::snapshot::plan`] what to do, and does it with bounded concurrency. One database's
//! failure does not stop the others; a region that cannot be listed fails the run (nothing can be
//! planned safely without it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use lambda_runtime::{Diagnostic, LambdaEvent};
use pilotlight::aws::{self, AwsError, Clients};
use pilotlight::aws_snapshots::{self as snaps, CallOutcome};
use pilotlight::command::{parse_command, Command, SnapshotCopyRequest};
use pilotlight::config::Config;
use pilotlight::metrics;
use pilotlight::snapshot::{
    plan, CopyPlan, DbKind, PlanSettings, MANAGED_BY, TAG_CREATED_AT, TAG_MANAGED_BY,
    TAG_SOURCE_DB, TAG_SOURCE_REGION,
};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

/// Concurrent create or copy calls at once.
pub const CONCURRENCY: usize = 8;

/// What the handler needs, built once in `main`.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The validated configuration.
    pub config: Config,
    /// SDK clients per region.
    pub clients: Clients,
}

/// Errors of the snapshot-copy function.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotCopyError {
    /// The input is not a `snapshot-copy` command.
    #[error("{0}")]
    InvalidCommand(String),
    /// The command names no protected or discovered database.
    #[error("{0}")]
    UnknownDatabase(String),
    /// A region's snapshots could not be listed.
    #[error("snapshot-copy failed: {0}")]
    Aws(#[from] AwsError),
}

impl From<SnapshotCopyError> for Diagnostic {
    fn from(e: SnapshotCopyError) -> Self {
        let error_type = match &e {
            SnapshotCopyError::InvalidCommand(_) => "InvalidCommand",
            SnapshotCopyError::UnknownDatabase(_) => "UnknownDatabase",
            SnapshotCopyError::Aws(_) => "AwsCallFailed",
        };
        pilotlight::diagnostic(error_type, e)
    }
}

/// One database × DR region in the report.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// DR region.
    pub region: String,
    /// Copies started by this run (snapshot ids); in a dry-run, the copies it would start.
    pub copies_started: Vec<String>,
    /// Copies that an earlier run had already started (`DBSnapshotAlreadyExists`).
    pub copies_already_present: Vec<String>,
    /// Copies of this database in the region before this run (any status).
    pub copies_present: usize,
    /// Of those, still copying.
    pub copies_in_flight: usize,
    /// Copies left for a later run (the region's in-flight budget was used up).
    pub queued: Vec<String>,
    /// What went wrong for this region.
    pub errors: Vec<String>,
    /// Age in seconds of the data in the newest available copy (`None`: no copy yet).
    pub rpo_exposure_seconds: Option<i64>,
    /// The RPO target in seconds.
    pub rpo_target_seconds: u64,
    /// Exposure over the target (or no copy at all): alerted.
    pub over_target: bool,
}

/// One database in the report.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseReport {
    /// DB instance or cluster identifier.
    pub database: String,
    /// Instance or cluster.
    pub kind: DbKind,
    /// Its region.
    pub region: String,
    /// `config` or `tag`.
    pub origin: String,
    /// The snapshot created (or, in a dry-run, to create).
    pub snapshot_created: Option<String>,
    /// `created`, `already_exists`, `quota_exceeded`, `failed`, `planned`, or `not_due`.
    pub snapshot_status: String,
    /// Per DR region.
    pub regions: Vec<RegionReport>,
    /// What went wrong for this database outside a region.
    pub errors: Vec<String>,
}

/// The JSON result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// When the run looked (UTC).
    pub now: DateTime<Utc>,
    /// Per database.
    pub databases: Vec<DatabaseReport>,
    /// Copies in flight per destination region before this run.
    pub in_flight_before: BTreeMap<String, usize>,
    /// Errors not tied to one database (e.g. discovery in a region failed).
    pub errors: Vec<String>,
    /// What was alerted (RPO over target, quota, errors).
    pub alerts: Vec<String>,
    /// Alerts that could not be published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

/// Lambda handler.
///
/// # Errors
/// A [`Diagnostic`] for an invalid command, an unknown database or a region that cannot be listed.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let command = parse_command(event.payload)
        .map_err(|e| SnapshotCopyError::InvalidCommand(e.to_string()))?;
    let Command::SnapshotCopy(request) = command else {
        return Err(SnapshotCopyError::InvalidCommand(format!(
            "invalid command: this function runs `snapshot-copy`, not `{}`",
            command.name()
        ))
        .into());
    };
    let report = run(deps, &request, Utc::now()).await?;
    serde_json::to_value(report).map_err(|e| pilotlight::diagnostic("Serialization", e))
}

/// Run one reconcile pass (or plan it, with `dry_run`).
///
/// # Errors
/// [`SnapshotCopyError::UnknownDatabase`] before any call that changes anything;
/// [`SnapshotCopyError::Aws`] when a region's snapshots cannot be listed.
pub async fn run(
    deps: &Deps,
    req: &SnapshotCopyRequest,
    now: DateTime<Utc>,
) -> Result<CopyReport, SnapshotCopyError> {
    let (mut sources, errors) = snaps::sources(&deps.config, &deps.clients).await;
    if let Some(name) = &req.database {
        let id = deps
            .config
            .database(name)
            .map(|d| d.primary.instance_id.as_str())
            .unwrap_or(name);
        sources.retain(|s| s.db_id == id);
        if sources.is_empty() {
            return Err(SnapshotCopyError::UnknownDatabase(format!(
                "unknown database `{name}`: neither a protected database nor a DB instance or cluster carrying the opt-in tag"
            )));
        }
    }
    let regions: BTreeSet<&str> = sources
        .iter()
        .flat_map(|s| {
            std::iter::once(s.region.as_str()).chain(s.dr_regions.iter().map(String::as_str))
        })
        .collect();
    let listed = futures::future::join_all(regions.iter().map(|region| async move {
        snaps::list_snapshots(deps.clients.rds(region)?, region).await
    }))
    .await;
    let mut snapshots = Vec::new();
    for list in listed {
        snapshots.extend(list?);
    }
    let sn = &deps.config.snapshots;
    let settings = PlanSettings {
        interval_seconds: sn.interval_seconds,
        rpo_target_seconds: sn.rpo_target_seconds,
        max_copies_in_flight: sn.max_copies_in_flight,
        kms_keys: sn.kms_keys.clone(),
        option_groups: sn.option_groups.clone(),
    };
    let copy_plan = plan(&sources, &snapshots, now, &settings);
    info!(
        databases = copy_plan.databases.len(),
        snapshots = snapshots.len(),
        dry_run = req.dry_run,
        "snapshot-copy plan"
    );
    let mut report = report_of(&copy_plan, req.dry_run, now, errors);
    if !req.dry_run {
        execute(deps, &copy_plan, &mut report, now).await;
        emit_metrics(&report);
        alert(deps, &mut report).await;
    }
    Ok(report)
}

fn report_of(p: &CopyPlan, dry_run: bool, now: DateTime<Utc>, errors: Vec<String>) -> CopyReport {
    CopyReport {
        dry_run,
        now,
        in_flight_before: p.in_flight.clone(),
        databases: p
            .databases
            .iter()
            .map(|d| DatabaseReport {
                database: d.source.db_id.clone(),
                kind: d.source.kind,
                region: d.source.region.clone(),
                origin: d.source.origin.clone(),
                snapshot_created: d.create.as_ref().map(|c| c.snapshot_id.clone()),
                snapshot_status: if d.create.is_some() {
                    "planned"
                } else {
                    "not_due"
                }
                .into(),
                regions: d
                    .regions
                    .iter()
                    .map(|r| RegionReport {
                        region: r.region.clone(),
                        copies_started: r.copies.iter().map(|c| c.target_id.clone()).collect(),
                        copies_already_present: vec![],
                        copies_present: r.copies_present,
                        copies_in_flight: r.copies_in_flight,
                        queued: r.queued.clone(),
                        errors: r.errors.clone(),
                        rpo_exposure_seconds: r.rpo_exposure_seconds,
                        rpo_target_seconds: r.rpo_target_seconds,
                        over_target: r.over_target,
                    })
                    .collect(),
                errors: vec![],
            })
            .collect(),
        errors,
        alerts: vec![],
        notification_errors: vec![],
    }
}

async fn execute(deps: &Deps, p: &CopyPlan, report: &mut CopyReport, now: DateTime<Utc>) {
    // creations
    let creates: Vec<(usize, &pilotlight::snapshot::CreateSnapshot)> = p
        .databases
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.create.as_ref().map(|c| (i, c)))
        .collect();
    let results: Vec<(usize, Result<CallOutcome, AwsError>)> = stream::iter(creates)
        .map(|(i, c)| async move {
            let tags = BTreeMap::from([
                (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
                (TAG_SOURCE_DB.to_owned(), c.db_id.clone()),
                (TAG_SOURCE_REGION.to_owned(), c.region.clone()),
                (TAG_CREATED_AT.to_owned(), now.to_rfc3339()),
            ]);
            let result = match deps.clients.rds(&c.region) {
                Ok(rds) => {
                    snaps::create_snapshot(rds, c.kind, &c.db_id, &c.snapshot_id, &tags).await
                }
                Err(e) => Err(e),
            };
            (i, result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (i, result) in results {
        let d = &mut report.databases[i];
        d.snapshot_status = match result {
            Ok(CallOutcome::Done) => "created".into(),
            Ok(CallOutcome::AlreadyExists) => "already_exists".into(),
            Ok(CallOutcome::QuotaExceeded(m)) => {
                d.errors.push(format!(
                    "manual snapshot quota exceeded in `{}`: {m}",
                    d.region
                ));
                "quota_exceeded".into()
            }
            Ok(CallOutcome::Skipped(m)) => {
                d.errors.push(m);
                "failed".into()
            }
            Err(e) => {
                d.errors.push(e.to_string());
                "failed".into()
            }
        };
    }

    // copies
    let copies: Vec<(usize, usize, &pilotlight::snapshot::CopySnapshot)> = p
        .databases
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            d.regions
                .iter()
                .enumerate()
                .flat_map(move |(j, r)| r.copies.iter().map(move |c| (i, j, c)))
        })
        .collect();
    let results: Vec<(usize, usize, String, Result<CallOutcome, AwsError>)> = stream::iter(copies)
        .map(|(i, j, c)| async move {
            let result = match deps.clients.rds(&c.region) {
                Ok(rds) => snaps::copy_snapshot(rds, c).await,
                Err(e) => Err(e),
            };
            (i, j, c.target_id.clone(), result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (i, j, id, result) in results {
        let r = &mut report.databases[i].regions[j];
        match result {
            Ok(CallOutcome::Done) => {}
            Ok(CallOutcome::AlreadyExists) => {
                r.copies_started.retain(|c| c != &id);
                r.copies_already_present.push(id);
            }
            Ok(CallOutcome::QuotaExceeded(m)) => {
                r.copies_started.retain(|c| c != &id);
                r.errors.push(format!(
                    "manual snapshot quota exceeded in `{}`: {m}",
                    r.region
                ));
                r.queued.push(id);
            }
            Ok(CallOutcome::Skipped(m)) => {
                r.copies_started.retain(|c| c != &id);
                r.errors.push(m);
            }
            Err(e) => {
                r.copies_started.retain(|c| c != &id);
                r.errors.push(e.to_string());
            }
        }
    }
}

/// Embedded Metric Format lines for the dashboard: RPO exposure per database and region, copies
/// in flight and queued per region. CloudWatch Logs turns them into metrics without an API call.
fn emit_metrics(report: &CopyReport) {
    let mut queued: BTreeMap<&str, usize> = BTreeMap::new();
    let mut started: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &report.databases {
        for r in &d.regions {
            *queued.entry(&r.region).or_default() += r.queued.len();
            *started.entry(&r.region).or_default() += r.copies_started.len();
            if let Some(e) = r.rpo_exposure_seconds {
                metrics::emit(
                    "RPOExposureSeconds",
                    e as f64,
                    "Seconds",
                    &[("Database", &d.database), ("Region", &r.region)],
                );
            }
        }
    }
    for (region, q) in queued {
        let in_flight = report.in_flight_before.get(region).copied().unwrap_or(0)
            + started.get(region).copied().unwrap_or(0);
        metrics::emit(
            "CopiesInFlight",
            in_flight as f64,
            "Count",
            &[("Region", region)],
        );
        metrics::emit("CopiesQueued", q as f64, "Count", &[("Region", region)]);
    }
}

/// One SNS alert per run listing every database and region over its RPO target, every quota
/// error and every failure.
async fn alert(deps: &Deps, report: &mut CopyReport) {
    let mut alerts: Vec<String> = report.errors.clone();
    for d in &report.databases {
        alerts.extend(d.errors.iter().map(|e| format!("`{}`: {e}", d.database)));
        for r in &d.regions {
            alerts.extend(
                r.errors
                    .iter()
                    .map(|e| format!("`{}` in `{}`: {e}", d.database, r.region)),
            );
            if r.over_target {
                alerts.push(match r.rpo_exposure_seconds {
                    Some(e) => format!(
                        "`{}` in `{}`: RPO exposure {e} s is over the target of {} s",
                        d.database, r.region, r.rpo_target_seconds
                    ),
                    None => format!("`{}` in `{}`: no available copy yet", d.database, r.region),
                });
            }
        }
    }
    report.alerts = alerts;
    if report.alerts.is_empty() {
        return;
    }
    warn!(alerts = report.alerts.len(), "snapshot-copy alerts");
    let subject = format!("pilotlight snapshot-copy: {} alert(s)", report.alerts.len());
    let regions = || report.databases.iter().flat_map(|d| &d.regions);
    let summary = serde_json::json!({
        "databases": report.databases.len(),
        "snapshots_created": report.databases.iter().filter(|d| d.snapshot_status == "created").count(),
        "copies_started": regions().map(|r| r.copies_started.len()).sum::<usize>(),
        "queued": regions().map(|r| r.queued.len()).sum::<usize>(),
        "over_rpo_target": regions().filter(|r| r.over_target).count(),
    });
    let message = aws::alert_message("snapshot-copy", &report.alerts, summary);
    let topic = &deps.config.notifications.topic_arn;
    let attrs = [("event", "snapshot-copy"), ("outcome", "alert")];
    if let Err(e) = aws::publish(&deps.clients.sns, topic, &subject, &message, &attrs).await {
        report.notification_errors.push(e.to_string());
    }
}
