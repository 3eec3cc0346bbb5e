//! The `retention` function: for every protected database, in its own region and in every DR
//! region, decides with the pure [`pilotlight::retention::decide`] which of pilotlight's snapshots
//! to keep and deletes the others (`DeleteDBSnapshot` / `DeleteDBClusterSnapshot`) with bounded
//! concurrency. A dry-run returns the same report and deletes nothing. One failed delete does not
//! stop the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use lambda_runtime::{Diagnostic, LambdaEvent};
use pilotlight::aws::{self, AwsError, Clients};
use pilotlight::aws_snapshots::{self as snaps, CallOutcome};
use pilotlight::command::{parse_command, Command, RetentionRequest};
use pilotlight::config::Config;
use pilotlight::metrics;
use pilotlight::retention::{decide, RetentionPolicy, Rule, SkipReason, Verdict};
use pilotlight::snapshot::{DbKind, SnapshotInfo, SnapshotSource};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

/// What the handler needs, built once in `main`.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The validated configuration.
    pub config: Config,
    /// SDK clients per region.
    pub clients: Clients,
}

/// Errors of the retention function.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The input is not a `retention` command, or names a region pilotlight does not use.
    #[error("{0}")]
    InvalidCommand(String),
    /// The command names no protected or discovered database.
    #[error("{0}")]
    UnknownDatabase(String),
    /// A region's snapshots could not be listed: nothing was deleted there.
    #[error("retention failed: {0}")]
    Aws(#[from] AwsError),
}

impl From<RetentionError> for Diagnostic {
    fn from(e: RetentionError) -> Self {
        let error_type = match &e {
            RetentionError::InvalidCommand(_) => "InvalidCommand",
            RetentionError::UnknownDatabase(_) => "UnknownDatabase",
            RetentionError::Aws(_) => "AwsCallFailed",
        };
        pilotlight::diagnostic(error_type, e)
    }
}

/// A snapshot kept, and every rule that keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// Snapshot id.
    pub id: String,
    /// `SnapshotCreateTime` (UTC).
    pub created_at: Option<DateTime<Utc>>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A snapshot that was never a candidate, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Snapshot id.
    pub id: String,
    /// Why.
    pub reason: SkipReason,
}

/// One database in one region: every snapshot appears once, in `kept`, `skipped` or `deleted`.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// DB instance or cluster identifier.
    pub database: String,
    /// Instance or cluster.
    pub kind: DbKind,
    /// The region.
    pub region: String,
    /// `primary` (the database's own region) or `dr`.
    pub role: String,
    /// The policy applied.
    pub policy: RetentionPolicy,
    /// Snapshots kept, newest first, with the rules that keep them.
    pub kept: Vec<Kept>,
    /// Snapshots that are not candidates (someone else's, held, automated, busy), with the reason.
    pub skipped: Vec<Skipped>,
    /// Snapshots deleted by this run (in a dry-run: that it would delete), newest first.
    pub deleted: Vec<String>,
    /// Deletes that failed, with the error (those snapshots are not in `deleted`).
    pub errors: Vec<String>,
    /// How many snapshots were deleted.
    pub freed_count: usize,
    /// Sum of the deleted snapshots' allocated storage, in GiB.
    pub freed_gib: i64,
    /// The stall guard's message, when it fired (nothing deleted).
    pub stalled: Option<String>,
    /// Allocated storage per deleted snapshot, for `freed_gib` when a delete fails.
    #[serde(skip)]
    sizes: BTreeMap<String, i64>,
}

/// The JSON result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// "Now" of the decision (UTC).
    pub now: DateTime<Utc>,
    /// Per database and region.
    pub results: Vec<RegionReport>,
    /// Errors not tied to one database (discovery).
    pub errors: Vec<String>,
    /// What was alerted (stalled databases, failed deletes).
    pub alerts: Vec<String>,
    /// Alerts that could not be published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

/// Lambda handler.
///
/// # Errors
/// A [`Diagnostic`] for an invalid command, an unknown database or region, or a region that
/// cannot be listed.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<RetentionReport, Diagnostic> {
    let command =
        parse_command(event.payload).map_err(|e| RetentionError::InvalidCommand(e.to_string()))?;
    let Command::Retention(request) = command else {
        return Err(RetentionError::InvalidCommand(format!(
            "invalid command: this function runs `retention`, not `{}`",
            command.name()
        ))
        .into());
    };
    // Returned typed: the runtime serializes it straight to the response, without a JSON tree.
    Ok(run(deps, &request, Utc::now()).await?)
}

fn policies(config: &Config, source: &SnapshotSource) -> (RetentionPolicy, RetentionPolicy) {
    let rt = &config.retention;
    let name = config
        .databases
        .iter()
        .find(|d| d.primary.instance_id == source.db_id && d.primary.region == source.region)
        .map(|d| d.name.as_str());
    let o = name
        .and_then(|n| rt.overrides.get(n))
        .or_else(|| rt.overrides.get(&source.db_id));
    (
        o.and_then(|o| o.primary).unwrap_or(rt.primary),
        o.and_then(|o| o.dr).unwrap_or(rt.dr),
    )
}

/// Decide (and, unless `dry_run`, delete) for every database and region the request covers.
///
/// # Errors
/// [`RetentionError::UnknownDatabase`] or [`RetentionError::InvalidCommand`] before any deletion;
/// [`RetentionError::Aws`] when a region cannot be listed (then nothing is deleted at all).
pub async fn run(
    deps: &Deps,
    req: &RetentionRequest,
    now: DateTime<Utc>,
) -> Result<RetentionReport, RetentionError> {
    let config = &deps.config;
    let (mut sources, mut errors) = snaps::sources(config, &deps.clients).await;
    for key in config.retention.overrides.keys() {
        if config.database(key).is_none() && !sources.iter().any(|s| &s.db_id == key) {
            errors.push(format!(
                "`retention.overrides.{key}` matches no protected database and no discovered DB instance or cluster: the default policy applies"
            ));
        }
    }
    if let Some(name) = &req.database {
        let id = config
            .database(name)
            .map(|d| d.primary.instance_id.as_str())
            .unwrap_or(name);
        sources.retain(|s| s.db_id == id);
        if sources.is_empty() {
            return Err(RetentionError::UnknownDatabase(format!(
                "unknown database `{name}`: neither a protected database nor a DB instance or cluster carrying the opt-in tag"
            )));
        }
    }
    // (source index, region, role)
    let mut targets: Vec<(usize, String, &'static str)> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        targets.push((i, s.region.clone(), "primary"));
        targets.extend(s.dr_regions.iter().map(|r| (i, r.clone(), "dr")));
    }
    if let Some(region) = &req.region {
        targets.retain(|(_, r, _)| r == region);
        if targets.is_empty() {
            return Err(RetentionError::InvalidCommand(format!(
                "invalid command: region `{region}` holds none of the selected databases' snapshots"
            )));
        }
    }
    let regions: BTreeSet<&str> = targets.iter().map(|(_, r, _)| r.as_str()).collect();
    let listed = futures::future::join_all(regions.iter().map(|region| async move {
        snaps::list_snapshots(deps.clients.rds(region)?, region).await
    }))
    .await;
    // Every snapshot belongs to one (region, kind, database): group them by moving, not copying.
    let mut groups: HashMap<(String, DbKind, String), Vec<SnapshotInfo>> = HashMap::new();
    for list in listed {
        for s in list? {
            let key = (s.region.clone(), s.kind, s.source_db().to_owned());
            groups.entry(key).or_default().push(s);
        }
    }

    let rt = &config.retention;
    let stall = rt.stall_after_hours.saturating_mul(3600);
    let mut results: Vec<RegionReport> = targets
        .iter()
        .map(|(i, region, role)| {
            let source = &sources[*i];
            let (primary, dr) = policies(config, source);
            let policy = if *role == "primary" { primary } else { dr };
            let of_db = groups
                .remove(&(region.clone(), source.kind, source.db_id.clone()))
                .unwrap_or_default();
            let decision = decide(&of_db, &policy, now, stall, &rt.hold_tag);
            drop(of_db);
            let mut r = RegionReport {
                database: source.db_id.clone(),
                kind: source.kind,
                region: region.clone(),
                role: (*role).to_owned(),
                policy,
                kept: vec![],
                skipped: vec![],
                deleted: vec![],
                errors: vec![],
                freed_count: 0,
                freed_gib: 0,
                stalled: decision.stalled,
                sizes: BTreeMap::new(),
            };
            for d in decision.snapshots {
                match d.verdict {
                    Verdict::Keep { rules } => r.kept.push(Kept {
                        id: d.id,
                        created_at: d.created_at,
                        rules,
                    }),
                    Verdict::Skip { reason } => r.skipped.push(Skipped { id: d.id, reason }),
                    Verdict::Delete => {
                        let size = i64::from(d.allocated_storage_gib.unwrap_or(0));
                        r.freed_gib += size;
                        r.sizes.insert(d.id.clone(), size);
                        r.deleted.push(d.id);
                    }
                }
            }
            r.freed_count = r.deleted.len();
            r
        })
        .collect();
    info!(
        targets = results.len(),
        to_delete = results.iter().map(|r| r.deleted.len()).sum::<usize>(),
        dry_run = req.dry_run,
        "retention decided"
    );
    let mut report = RetentionReport {
        dry_run: req.dry_run,
        now,
        results: vec![],
        errors,
        alerts: vec![],
        notification_errors: vec![],
    };
    if !req.dry_run {
        delete_all(deps, &mut results).await;
    }
    report.results = results;
    if !req.dry_run {
        let mut per_region: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &report.results {
            *per_region.entry(&r.region).or_default() += r.freed_count;
        }
        for (region, n) in per_region {
            metrics::emit("SnapshotsDeleted", n as f64, "Count", &[("Region", region)]);
        }
        alert(deps, &mut report).await;
    }
    Ok(report)
}

async fn delete_all(deps: &Deps, results: &mut [RegionReport]) {
    let jobs: Vec<(usize, String, DbKind, String)> = results
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.deleted
                .iter()
                .map(move |id| (i, r.region.clone(), r.kind, id.clone()))
        })
        .collect();
    let concurrency = deps.config.retention.delete_concurrency.max(1);
    let outcomes: Vec<(usize, String, Result<CallOutcome, AwsError>)> = stream::iter(jobs)
        .map(|(i, region, kind, id)| async move {
            let result = match deps.clients.rds(&region) {
                Ok(rds) => snaps::delete_snapshot(rds, kind, &id).await,
                Err(e) => Err(e),
            };
            (i, id, result)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (i, id, result) in outcomes {
        let r = &mut results[i];
        let failed = match result {
            Ok(CallOutcome::Done) => None,
            Ok(CallOutcome::Skipped(m)) | Ok(CallOutcome::QuotaExceeded(m)) => {
                Some(format!("`{id}` not deleted: {m}"))
            }
            Ok(CallOutcome::AlreadyExists) => None,
            Err(e) => Some(format!("`{id}` not deleted: {e}")),
        };
        if let Some(msg) = failed {
            warn!(snapshot = %id, error = %msg, "delete failed");
            r.errors.push(msg);
            r.deleted.retain(|d| d != &id);
            r.freed_gib -= r.sizes.get(&id).copied().unwrap_or(0);
            r.freed_count = r.deleted.len();
        }
    }
}

async fn alert(deps: &Deps, report: &mut RetentionReport) {
    let mut alerts = report.errors.clone();
    for r in &report.results {
        if let Some(m) = &r.stalled {
            alerts.push(format!("`{}` in `{}`: {m}", r.database, r.region));
        }
        alerts.extend(
            r.errors
                .iter()
                .map(|e| format!("`{}` in `{}`: {e}", r.database, r.region)),
        );
    }
    report.alerts = alerts;
    if report.alerts.is_empty() {
        return;
    }
    let subject = format!("pilotlight retention: {} alert(s)", report.alerts.len());
    let summary = serde_json::json!({
        "deleted": report.results.iter().map(|r| r.freed_count).sum::<usize>(),
        "stalled": report.results.iter().filter(|r| r.stalled.is_some()).count(),
    });
    let message = aws::alert_message("retention", &report.alerts, summary);
    let topic = &deps.config.notifications.topic_arn;
    let attrs = [("event", "retention"), ("outcome", "alert")];
    if let Err(e) = aws::publish(&deps.clients.sns, topic, &subject, &message, &attrs).await {
        report.notification_errors.push(e.to_string());
    }
}
