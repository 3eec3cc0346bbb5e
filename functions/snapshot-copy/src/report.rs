//! What a snapshot-copy run answers: per database and DR region, what was created, copied and
//! queued, the RPO exposure, and the alerts; plus the run's EMF metrics.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pilotlight::metrics;
use pilotlight::plan::snapshot_copy::{CopyPlan, RegionExposure, RegionQuota};
use pilotlight::plan::snapshots::{DbKind, Origin};
use serde::Serialize;

/// What became of a database's snapshot for the current interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CreateStatus {
    /// `CreateDBSnapshot` accepted.
    Created,
    /// An earlier run created it (`DBSnapshotAlreadyExists`).
    AlreadyExists,
    /// The region's manual snapshot quota is used up (`SnapshotQuotaExceeded`).
    QuotaExceeded,
    /// The call failed; see the database's `errors`.
    Failed,
    /// Dry-run: it would be created.
    Planned,
    /// The newest snapshot is recent enough.
    NotDue,
    /// Due, but held back: the region's manual snapshot quota is in its reserve (`quotas`).
    HeldBack,
}

/// One database × DR region in the report.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// DR region.
    pub region: String,
    /// Copies started by this run (snapshot ids); in a dry-run, the copies it would start.
    pub copies_started: Vec<String>,
    /// Of `copies_started`, those expected to be full copies rather than incremental (no earlier
    /// available copy of the source there, or an Aurora cluster snapshot): they take longer and
    /// transfer the whole snapshot.
    pub full_copies: Vec<String>,
    /// Copies that an earlier run had already started (`DBSnapshotAlreadyExists`).
    pub copies_already_present: Vec<String>,
    /// Copies left for a later run (the region's in-flight budget was used up).
    pub queued: Vec<String>,
    /// What went wrong for this region.
    pub errors: Vec<String>,
    /// What the region held before this run, and its RPO exposure.
    #[serde(flatten)]
    pub exposure: RegionExposure,
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
    /// Configured, or found by its tag.
    pub origin: Origin,
    /// The snapshot created (or, in a dry-run, to create).
    pub snapshot_created: Option<String>,
    /// What became of it.
    pub snapshot_status: CreateStatus,
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
    /// Every region's manual snapshot quota: used, reserve, what this run starts there, what it
    /// held back, and the days until it is full.
    pub quotas: Vec<RegionQuota>,
    /// Cross-region automated backups replication of the databases that ask for it: started,
    /// replicating (with the latest restorable time and the RPO exposure it gives), or why not.
    pub automated_backups: Vec<pilotlight::plan::backups::BackupReplication>,
    /// Passes this run made (a run started through the job gate passes once more when events
    /// were queued meanwhile); this report is the last pass's.
    pub passes: u32,
    /// Errors not tied to one database (e.g. discovery in a region failed).
    pub errors: Vec<String>,
    /// What was alerted (RPO over target, quota, errors).
    pub alerts: Vec<String>,
    /// Alerts that could not be published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

impl CopyReport {
    /// The report of a plan before it runs: what a dry-run answers, and what a run then corrects
    /// with each call's outcome.
    pub fn of_plan(p: &CopyPlan, dry_run: bool, now: DateTime<Utc>, errors: Vec<String>) -> Self {
        let databases = p
            .databases
            .iter()
            .map(|d| DatabaseReport {
                database: d.source.db_id.clone(),
                kind: d.source.kind,
                region: d.source.region.clone(),
                origin: d.source.origin,
                snapshot_created: d.create.as_ref().map(|c| c.snapshot_id.clone()),
                snapshot_status: if d.create.is_some() {
                    CreateStatus::Planned
                } else if d.create_held_back.is_some() {
                    CreateStatus::HeldBack
                } else {
                    CreateStatus::NotDue
                },
                regions: d
                    .regions
                    .iter()
                    .map(|r| RegionReport {
                        region: r.region.clone(),
                        copies_started: r.copies.iter().map(|c| c.target_id.clone()).collect(),
                        full_copies: r
                            .copies
                            .iter()
                            .filter(|c| !c.incremental)
                            .map(|c| c.target_id.clone())
                            .collect(),
                        copies_already_present: vec![],
                        queued: r.queued.clone(),
                        errors: r.errors.clone(),
                        exposure: r.exposure.clone(),
                    })
                    .collect(),
                errors: vec![],
            })
            .collect();
        CopyReport {
            dry_run,
            now,
            databases,
            in_flight_before: p.in_flight.clone(),
            quotas: p.quotas.clone(),
            passes: 1,
            automated_backups: vec![],
            errors,
            alerts: vec![],
            notification_errors: vec![],
        }
    }

    /// Every database and region over its RPO target (or with no copy), every quota error and
    /// every failure, one line each.
    pub fn collect_alerts(&self) -> Vec<String> {
        let mut alerts: Vec<String> = self.errors.clone();
        alerts.extend(self.quotas.iter().filter_map(|q| q.alert.clone()));
        alerts.extend(
            self.automated_backups
                .iter()
                .filter_map(|b| b.alert.clone()),
        );
        for d in &self.databases {
            alerts.extend(d.errors.iter().map(|e| format!("`{}`: {e}", d.database)));
            for r in &d.regions {
                alerts.extend(
                    r.errors
                        .iter()
                        .map(|e| format!("`{}` in `{}`: {e}", d.database, r.region)),
                );
                if r.exposure.over_target {
                    alerts.push(match r.exposure.rpo_exposure_seconds {
                        Some(e) => format!(
                            "`{}` in `{}`: RPO exposure {e} s is over the target of {} s",
                            d.database, r.region, r.exposure.rpo_target_seconds
                        ),
                        None => {
                            format!("`{}` in `{}`: no available copy yet", d.database, r.region)
                        }
                    });
                }
            }
        }
        alerts
    }

    /// The counts an alert carries beside its lines.
    pub fn summary(&self) -> serde_json::Value {
        let regions = || self.databases.iter().flat_map(|d| &d.regions);
        serde_json::json!({
            "databases": self.databases.len(),
            "snapshots_created": self.databases.iter().filter(|d| d.snapshot_status == CreateStatus::Created).count(),
            "copies_started": regions().map(|r| r.copies_started.len()).sum::<usize>(),
            "queued": regions().map(|r| r.queued.len()).sum::<usize>(),
            "over_rpo_target": regions().filter(|r| r.exposure.over_target).count(),
        })
    }

    /// Embedded Metric Format lines for the dashboard: RPO exposure per database and region,
    /// copies in flight and queued per region. CloudWatch Logs turns them into metrics without
    /// an API call.
    pub fn emit_metrics(&self) {
        let mut queued: BTreeMap<&str, usize> = BTreeMap::new();
        let mut started: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &self.databases {
            for r in &d.regions {
                *queued.entry(&r.region).or_default() += r.queued.len();
                *started.entry(&r.region).or_default() += r.copies_started.len();
                if let Some(e) = r.exposure.rpo_exposure_seconds {
                    let dims = [("Database", d.database.as_str()), ("Region", &r.region)];
                    metrics::emit("RPOExposureSeconds", e as f64, "Seconds", &dims);
                }
            }
        }
        for (region, q) in queued {
            let in_flight = self.in_flight_before.get(region).copied().unwrap_or(0)
                + started.get(region).copied().unwrap_or(0);
            let dims = [("Region", region)];
            metrics::emit("CopiesInFlight", in_flight as f64, "Count", &dims);
            metrics::emit("CopiesQueued", q as f64, "Count", &dims);
        }
    }
}
