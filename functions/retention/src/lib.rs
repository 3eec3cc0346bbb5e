//! The `retention` function: for every protected database, in its own region and in every DR
//! region, decides with the pure [`pilotlight::plan::retention::decide_retention`] which of pilotlight's snapshots to keep and
//! deletes the others ([`execute`]) with bounded concurrency. A dry-run returns the same report
//! and deletes nothing. One failed delete does not stop the others.

mod execute;
mod report;

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use pilotlight::aws::rds;
use pilotlight::command::{parse_command, Command, RetentionRequest};
use pilotlight::config::Config;
use pilotlight::error::WorkerError;
use pilotlight::observe::snapshots::sources;
use pilotlight::plan::retention::{
    decide_retention_keeping, policy_for, Listed, RegionListing, RegionRole,
};
use pilotlight::plan::snapshots::{select_sources, DbKind, SnapshotSource};
use serde_json::Value;
use tracing::info;

pub use pilotlight::runtime::WorkerDeps as Deps;
pub use report::{Kept, RegionReport, RetentionReport, Skipped};

/// Lambda handler. The report is returned typed: the runtime serializes it straight to the
/// response, without a JSON tree.
///
/// # Errors
/// [`WorkerError`]: an invalid command, an unknown database or region, or a region that cannot be
/// listed.
pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<RetentionReport, WorkerError> {
    let command = parse_command(event.payload)?;
    let Command::Retention(request) = command else {
        return Err(WorkerError::InvalidCommand(format!(
            "invalid command: this function runs `retention`, not `{}`",
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

/// One database in one region, with the policy role of that region.
struct Target {
    source: usize,
    region: String,
    role: RegionRole,
}

/// Decide (and, unless `dry_run`, delete) for every database and region the request covers.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] or [`WorkerError::InvalidCommand`] before any deletion;
/// [`WorkerError::Aws`] when a region cannot be listed (then nothing is deleted at all).
pub async fn run(
    deps: &Deps,
    req: &RetentionRequest,
    now: DateTime<Utc>,
) -> Result<RetentionReport, WorkerError> {
    run_until(deps, req, now, None).await
}

/// [`run`], starting no delete after `deadline`.
///
/// # Errors
/// As [`run`].
pub async fn run_until(
    deps: &Deps,
    req: &RetentionRequest,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) -> Result<RetentionReport, WorkerError> {
    let config = &deps.config;
    let (mut sources, mut errors) = sources(config, &deps.clients).await;
    errors.extend(unmatched_overrides(config, &sources));
    if let Some(name) = &req.database {
        select_sources(&mut sources, config, name)?;
    }
    let targets = targets(&sources, req.region.as_deref())?;
    let regions: BTreeSet<&str> = targets.iter().map(|t| t.region.as_str()).collect();
    // each region listed into compact records grouped by database as pages arrive: a region may
    // hold 100,000 snapshots
    let hold_tag = config.retention.hold_tag.as_str();
    let listed = futures::future::join_all(regions.iter().map(|region| async move {
        let client = deps.clients.rds(region)?;
        rds::list_for_retention(client, region, hold_tag)
            .await
            .map_err(|e| WorkerError::aws("retention failed", e))
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<RegionListing>, WorkerError>>()?;
    let mut results = decide_all(config, &sources, &targets, listed, now);
    info!(
        targets = results.len(),
        to_delete = results.iter().map(|r| r.deleted.len()).sum::<usize>(),
        dry_run = req.dry_run,
        "retention decided"
    );
    if !req.dry_run {
        execute::delete_all(deps, &mut results, deadline).await;
    }
    let mut report = RetentionReport {
        dry_run: req.dry_run,
        now,
        results,
        errors,
        alerts: vec![],
        notification_errors: vec![],
    };
    if !req.dry_run {
        report.emit_metrics();
        report.alerts = report.collect_alerts();
        let failed = deps
            .alert("retention", &report.alerts, report.summary())
            .await;
        report.notification_errors.extend(failed);
    }
    Ok(report)
}

/// Overrides whose key matches no database: reported, the default policy applies.
fn unmatched_overrides(config: &Config, sources: &[SnapshotSource]) -> Vec<String> {
    config
        .retention
        .overrides
        .keys()
        .filter(|key| config.database(key).is_none() && !sources.iter().any(|s| &s.db_id == *key))
        .map(|key| format!(
            "`retention.overrides.{key}` matches no protected database and no discovered DB instance or cluster: the default policy applies"
        ))
        .collect()
}

/// Each source in its own region and in every DR region; only `region` when one is asked.
fn targets(sources: &[SnapshotSource], region: Option<&str>) -> Result<Vec<Target>, WorkerError> {
    let mut targets: Vec<Target> = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let target = |region: &String, role| Target {
            source: i,
            region: region.clone(),
            role,
        };
        targets.push(target(&s.region, RegionRole::Primary));
        targets.extend(s.dr_regions.iter().map(|r| target(r, RegionRole::Dr)));
    }
    if let Some(region) = region {
        targets.retain(|t| t.region == region);
        if targets.is_empty() {
            return Err(WorkerError::InvalidCommand(format!(
                "invalid command: region `{region}` holds none of the selected databases' snapshots"
            )));
        }
    }
    Ok(targets)
}

/// The decision for every target, from each region's snapshots grouped by (kind, source region,
/// database) as they were listed. Two databases with the same identifier in two regions are two
/// groups. The sources of copies still in flight in any listed region are kept (rule
/// `copy_source`). Each group's records are dropped once decided.
fn decide_all(
    config: &Config,
    sources: &[SnapshotSource],
    targets: &[Target],
    listed: Vec<RegionListing>,
    now: DateTime<Utc>,
) -> Vec<RegionReport> {
    let copying: HashSet<String> = listed
        .iter()
        .flat_map(|l| l.copying.iter().cloned())
        .collect();
    let mut groups: HashMap<(String, DbKind, String, String), Vec<Listed>> = HashMap::new();
    for l in listed {
        let region = l.region.to_string();
        for ((kind, source_region, db), snaps) in l.groups {
            groups.insert((region.clone(), kind, source_region, db), snaps);
        }
    }
    let rt = &config.retention;
    let stall = rt.stall_after_hours.saturating_mul(3600);
    targets
        .iter()
        .map(|t| {
            let source = &sources[t.source];
            let policy = policy_for(config, &source.db_id, &source.region, t.role);
            let of_db = groups
                .remove(&(
                    t.region.clone(),
                    source.kind,
                    source.region.clone(),
                    source.db_id.clone(),
                ))
                .unwrap_or_default();
            let decision =
                decide_retention_keeping(&of_db, &policy, now, stall, &rt.hold_tag, &copying);
            drop(of_db);
            RegionReport::of_decision(
                source.db_id.clone(),
                source.kind,
                t.region.clone(),
                t.role,
                policy,
                decision,
            )
        })
        .collect()
}
