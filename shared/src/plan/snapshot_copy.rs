//! The snapshot-copy reconcile plan: a pure function of (databases, snapshots per region, copies
//! in flight, now, settings) that says what to create, what to copy, what to queue, and each DR
//! region's RPO exposure.
//!
//! The state it reconciles towards, per protected database: "a pilotlight snapshot younger than the
//! interval exists in the source region, and a copy of the newest available one exists in every DR
//! region". A second run in the same interval plans nothing new: the snapshot name is
//! deterministic (database id and the start of the interval, UTC), and a copy is recognised by the
//! source snapshot ARN it carries in a tag.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::snapshots::{
    fit_identifier, DbKind, SnapshotInfo, SnapshotSource, MANAGED_BY, TAG_COPY_OF, TAG_MANAGED_BY,
    TAG_SOURCE_DB, TAG_SOURCE_REGION,
};
use super::status::SnapshotStatus;

/// Settings the plan needs (from [`crate::config::SnapshotSettings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// Take a new snapshot when the newest is older than this many seconds.
    pub interval_seconds: u64,
    /// RPO target in seconds for DR copies.
    pub rpo_target_seconds: u64,
    /// Copies allowed in flight per destination region.
    pub max_copies_in_flight: u32,
    /// KMS key per destination region.
    pub kms_keys: BTreeMap<String, String>,
    /// Option group per destination region and engine.
    pub option_groups: BTreeMap<String, BTreeMap<String, String>>,
    /// Manual snapshot quota per (region, kind), read before the plan; a region without one is
    /// not limited here (AWS still refuses with `SnapshotQuotaExceeded`).
    pub quotas: BTreeMap<(String, DbKind), Quota>,
    /// Percent of each quota never filled (`snapshots.quota_reserve_percent`).
    pub quota_reserve_percent: u32,
    /// Alert when a quota fills within this many days (`snapshots.quota_alert_days`).
    pub quota_alert_days: u32,
}

/// A region's manual snapshot quota of one kind (`DescribeAccountAttributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quota {
    /// Manual snapshots there now (`Used`).
    pub used: u64,
    /// The quota (`Max`).
    pub max: u64,
}

/// A region's quota as the plan uses it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionQuota {
    /// Region.
    pub region: String,
    /// Manual DB snapshots (`instance`) or manual DB cluster snapshots (`cluster`).
    pub kind: DbKind,
    /// Used before this run.
    pub used: u64,
    /// The quota.
    pub max: u64,
    /// Snapshots kept free: `max × quota_reserve_percent / 100`, rounded up.
    pub reserve: u64,
    /// Creates and copies this plan starts there.
    pub planned: u64,
    /// Creates and copies held back because they would enter the reserve (snapshot ids).
    pub held_back: Vec<String>,
    /// pilotlight snapshots created there per day, over the last 7 days.
    pub per_day: f64,
    /// Days until the quota is full at that rate (`None`: no growth).
    pub days_to_full: Option<f64>,
    /// Why this region alerts (in the reserve, or full within `quota_alert_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

/// A snapshot to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateSnapshot {
    /// The database.
    pub db_id: String,
    /// Instance or cluster.
    pub kind: DbKind,
    /// Its region.
    pub region: String,
    /// Deterministic name: `pilotlight-<db>-<YYYYMMDDHHMM>` of the interval's start (UTC).
    pub snapshot_id: String,
}

/// A copy to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopySnapshot {
    /// The database.
    pub db_id: String,
    /// Instance or cluster.
    pub kind: DbKind,
    /// ARN of the source snapshot (the API takes the ARN across regions).
    pub source_arn: String,
    /// Source snapshot id.
    pub source_id: String,
    /// Destination region (the call is made there).
    pub region: String,
    /// Name of the copy: the source's and its region ([`copy_name`]).
    pub target_id: String,
    /// KMS key in the destination region, for an encrypted source.
    pub kms_key_id: Option<String>,
    /// Option group in the destination, when the engine needs one and one is configured.
    pub option_group: Option<String>,
    /// Tags the copy carries (the source's pilotlight tags plus [`TAG_COPY_OF`]).
    pub tags: BTreeMap<String, String>,
    /// Expected incremental (else a full copy: time and transfer). Heuristic, as AWS reports
    /// nothing: a DB snapshot whose source has an earlier `available` copy in the destination
    /// (pilotlight copies with the region's one configured KMS key, the other condition); an
    /// Aurora DB cluster snapshot copy is always full
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CopySnapshot.html>,
    /// <https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_CopySnapshot.html>).
    pub incremental: bool,
}

/// What a DR region holds of one database, and how old its newest available copy's data is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionExposure {
    /// Copies of this database already present (any status).
    pub copies_present: usize,
    /// Copies of this database in flight.
    pub copies_in_flight: usize,
    /// Age in seconds of the data in the newest available copy; `None` when there is none.
    pub rpo_exposure_seconds: Option<i64>,
    /// The RPO target in seconds.
    pub rpo_target_seconds: u64,
    /// Exposure over target, or no copy at all.
    pub over_target: bool,
}

/// One database × DR region in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionPlan {
    /// DR region.
    pub region: String,
    /// Copies to start now.
    pub copies: Vec<CopySnapshot>,
    /// Copies left for a later run because the region's in-flight budget is used up (source ids).
    pub queued: Vec<String>,
    /// Errors for this region (e.g. an encrypted source with no KMS key for it).
    pub errors: Vec<String>,
    /// What the region holds and its RPO exposure.
    #[serde(flatten)]
    pub exposure: RegionExposure,
}

/// One database in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabasePlan {
    /// The source.
    pub source: SnapshotSource,
    /// A snapshot to create, when the newest is older than the interval.
    pub create: Option<CreateSnapshot>,
    /// The snapshot that was due but held back: its region's manual snapshot quota is in its
    /// reserve.
    pub create_held_back: Option<String>,
    /// Per DR region.
    pub regions: Vec<RegionPlan>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyPlan {
    /// Per database, in the order of the sources.
    pub databases: Vec<DatabasePlan>,
    /// Copies in flight per destination region before this run (all of the account's copies
    /// visible there).
    pub in_flight: BTreeMap<String, usize>,
    /// The manual snapshot quota of every region and kind the plan creates or copies into.
    pub quotas: Vec<RegionQuota>,
}

/// The deterministic name of the snapshot of `db_id` (of `kind`) for the interval containing
/// `now`: `pilotlight-<db_id>-<YYYYMMDDHHMM>` (UTC), within RDS's limit for the kind (255 for a DB
/// snapshot, 63 for a DB cluster snapshot: a longer id is cut and hashed by [`fit_identifier`]).
pub fn snapshot_name(
    db_id: &str,
    kind: DbKind,
    now: DateTime<Utc>,
    interval_seconds: u64,
) -> String {
    let interval = interval_seconds.max(60) as i64;
    let start = now.timestamp().div_euclid(interval) * interval;
    let stamp = DateTime::from_timestamp(start, 0)
        .map(|t| t.format("%Y%m%d%H%M").to_string())
        .unwrap_or_default();
    fit_identifier(
        &format!("pilotlight-{db_id}"),
        &stamp,
        kind.max_snapshot_id(),
    )
}

/// The name of the copy of `source_id` (a snapshot in `source_region`):
/// `<source_id>-<source_region>`, e.g. `pilotlight-app-db-202611220000-us-east-1`, within the
/// kind's identifier limit. Two databases with the same identifier in two regions copied to one
/// DR region get two names; copies made before the region was in the name are still recognised,
/// by their `pilotlight:copy-of` tag.
pub fn copy_name(source_id: &str, source_region: &str, kind: DbKind) -> String {
    fit_identifier(source_id, source_region, kind.max_snapshot_id())
}

/// Plan a snapshot-copy run.
///
/// * `snapshots`: every snapshot listed in every region involved (instance and cluster, manual);
///   foreign snapshots are ignored except to count copies in flight.
/// * Creation: when the database's newest pilotlight snapshot (any status) was created before the
///   start of the current interval, or there is none.
/// * Copies: per DR region, the available pilotlight source snapshots newer than the newest copy
///   already there (so retention's deletions are never re-copied), newest first.
/// * Budget: per destination region `max_copies_in_flight` minus the copies in flight there; the
///   copies are handed out round-robin over the databases (each one's newest first), the rest queued.
pub fn plan_snapshot_copy(
    sources: &[SnapshotSource],
    snapshots: &[SnapshotInfo],
    now: DateTime<Utc>,
    settings: &PlanSettings,
) -> CopyPlan {
    let mut in_flight: BTreeMap<String, usize> = BTreeMap::new();
    for s in snapshots.iter().filter(|s| s.is_copy_in_flight()) {
        *in_flight.entry(s.region.clone()).or_default() += 1;
    }
    // copies of each source snapshot present per region, by the source ARN tag
    let mut copies_by_source: HashMap<(&str, &str), Vec<&SnapshotInfo>> = HashMap::new();
    for s in snapshots.iter().filter(|s| s.is_pilotlights()) {
        if let Some(of) = s.tags.get(TAG_COPY_OF) {
            copies_by_source
                .entry((s.region.as_str(), of.as_str()))
                .or_default()
                .push(s);
        }
    }
    let facts = Facts {
        snapshots,
        copies_by_source,
        now,
        settings,
    };
    // candidates per region: (rank within database, database index, copy)
    let mut candidates: BTreeMap<String, Vec<(usize, usize, CopySnapshot)>> = BTreeMap::new();
    let mut databases: Vec<DatabasePlan> = Vec::new();
    for (dbi, source) in sources.iter().enumerate() {
        let (plan, wanted) = facts.plan_database(source);
        for (region, copies) in wanted {
            let list = candidates.entry(region).or_default();
            list.extend(
                copies
                    .into_iter()
                    .enumerate()
                    .map(|(rank, c)| (rank, dbi, c)),
            );
        }
        databases.push(plan);
    }
    hand_out_budget(&mut databases, candidates, &in_flight, settings);
    let quotas = hold_back_over_quota(&mut databases, snapshots, now, settings);
    CopyPlan {
        databases,
        in_flight,
        quotas,
    }
}

/// Keep every region's manual snapshot quota out of its reserve: creates first (a database
/// without a fresh snapshot has nothing to copy), then copies, in plan order; what would enter the
/// reserve is held back (a create is dropped, a copy queued) and named. Then each region's growth
/// rate over the last 7 days and the days until it is full.
fn hold_back_over_quota(
    databases: &mut [DatabasePlan],
    snapshots: &[SnapshotInfo],
    now: DateTime<Utc>,
    settings: &PlanSettings,
) -> Vec<RegionQuota> {
    let mut quotas: BTreeMap<(String, DbKind), RegionQuota> = settings
        .quotas
        .iter()
        .map(|((region, kind), q)| {
            let reserve = (q.max * u64::from(settings.quota_reserve_percent)).div_ceil(100);
            let week = now - chrono::Duration::days(7);
            let recent = snapshots
                .iter()
                .filter(|s| &s.region == region && s.kind == *kind && s.is_pilotlights())
                .filter(|s| s.created_at.is_some_and(|t| t >= week))
                .count();
            (
                (region.clone(), *kind),
                RegionQuota {
                    region: region.clone(),
                    kind: *kind,
                    used: q.used,
                    max: q.max,
                    reserve,
                    planned: 0,
                    held_back: vec![],
                    per_day: recent as f64 / 7.0,
                    days_to_full: None,
                    alert: None,
                },
            )
        })
        .collect();
    let mut take = |region: &str, kind: DbKind, id: &str| -> bool {
        let Some(q) = quotas.get_mut(&(region.to_owned(), kind)) else {
            return true; // unknown quota: AWS is the limit
        };
        if q.used + q.planned + q.reserve < q.max {
            q.planned += 1;
            true
        } else {
            q.held_back.push(id.to_owned());
            false
        }
    };
    for d in databases.iter_mut() {
        if let Some(c) = &d.create {
            if !take(&c.region, c.kind, &c.snapshot_id) {
                d.create_held_back = d.create.take().map(|c| c.snapshot_id);
            }
        }
    }
    for d in databases.iter_mut() {
        for r in &mut d.regions {
            let (keep, held): (Vec<CopySnapshot>, Vec<CopySnapshot>) =
                std::mem::take(&mut r.copies)
                    .into_iter()
                    .partition(|c| take(&c.region, c.kind, &c.target_id));
            r.copies = keep;
            for c in held {
                r.errors.push(format!(
                    "copy `{}` held back: `{}` is in the reserve of its manual snapshot quota (`snapshots.quota_reserve_percent`)",
                    c.target_id, r.region
                ));
                r.queued.push(c.source_id);
            }
        }
    }
    quotas
        .into_values()
        .map(|mut q| {
            let free = q.max.saturating_sub(q.used + q.planned);
            q.days_to_full = (q.per_day > 0.0).then(|| free as f64 / q.per_day);
            let in_reserve = q.used + q.planned + q.reserve >= q.max;
            q.alert = if in_reserve {
                Some(format!(
                    "`{}`: {} of {} manual {} snapshots used, {} held back: the last {} % of the quota is kept free; raise the quota (Service Quotas) or shorten retention",
                    q.region,
                    q.used + q.planned,
                    q.max,
                    if q.kind == DbKind::Cluster { "cluster" } else { "DB" },
                    q.held_back.len(),
                    settings.quota_reserve_percent
                ))
            } else {
                q.days_to_full
                    .filter(|d| *d < f64::from(settings.quota_alert_days))
                    .map(|d| {
                        format!(
                            "`{}`: the manual {} snapshot quota ({} of {} used) is full in {d:.1} days at {:.1} a day",
                            q.region,
                            if q.kind == DbKind::Cluster { "cluster" } else { "DB" },
                            q.used + q.planned,
                            q.max,
                            q.per_day
                        )
                    })
            };
            q
        })
        .collect()
}

/// What every database's plan reads.
struct Facts<'a> {
    snapshots: &'a [SnapshotInfo],
    copies_by_source: HashMap<(&'a str, &'a str), Vec<&'a SnapshotInfo>>,
    now: DateTime<Utc>,
    settings: &'a PlanSettings,
}

impl Facts<'_> {
    /// One database's plan, with the copies it wants per DR region (newest first), before the
    /// regions' budgets are handed out.
    fn plan_database(
        &self,
        source: &SnapshotSource,
    ) -> (DatabasePlan, Vec<(String, Vec<CopySnapshot>)>) {
        let own: Vec<&SnapshotInfo> = self
            .snapshots
            .iter()
            .filter(|s| s.is_pilotlights() && s.region == source.region && s.belongs_to(source))
            .filter(|s| !s.tags.contains_key(TAG_COPY_OF))
            .collect();
        let mut available: Vec<&SnapshotInfo> = own
            .iter()
            .copied()
            .filter(|s| s.status == SnapshotStatus::Available)
            .collect();
        available.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let mut regions = Vec::new();
        let mut wanted = Vec::new();
        for region in &source.dr_regions {
            let (plan, copies) = self.plan_region(source, region, &available);
            regions.push(plan);
            wanted.push((region.clone(), copies));
        }
        let plan = DatabasePlan {
            source: source.clone(),
            create: self.create(source, &own),
            create_held_back: None,
            regions,
        };
        (plan, wanted)
    }

    /// A snapshot to create: none while one is being created or when the newest was created in
    /// the current interval.
    fn create(&self, source: &SnapshotSource, own: &[&SnapshotInfo]) -> Option<CreateSnapshot> {
        let interval = self.settings.interval_seconds.max(60) as i64;
        let interval_start = self.now.timestamp().div_euclid(interval) * interval;
        let newest_created = own.iter().filter_map(|s| s.created_at).max();
        let creating = own.iter().any(|s| s.status == SnapshotStatus::Creating);
        match newest_created {
            _ if creating => None,
            Some(t) if t.timestamp() >= interval_start => None,
            _ => Some(CreateSnapshot {
                db_id: source.db_id.clone(),
                kind: source.kind,
                region: source.region.clone(),
                snapshot_id: snapshot_name(
                    &source.db_id,
                    source.kind,
                    self.now,
                    self.settings.interval_seconds,
                ),
            }),
        }
    }

    /// One DR region of a database: its exposure, its errors, and the copies it still lacks.
    fn plan_region(
        &self,
        source: &SnapshotSource,
        region: &str,
        available: &[&SnapshotInfo],
    ) -> (RegionPlan, Vec<CopySnapshot>) {
        let copies: Vec<&SnapshotInfo> = self
            .snapshots
            .iter()
            .filter(|s| s.is_pilotlights() && s.region == region && s.belongs_to(source))
            .filter(|s| s.tags.contains_key(TAG_COPY_OF))
            .collect();
        let newest_copy_data = copies.iter().filter_map(|c| c.data_time()).max();
        let newest_available_copy = copies
            .iter()
            .filter(|c| c.status == SnapshotStatus::Available)
            .filter_map(|c| c.data_time())
            .max();
        let rpo_exposure_seconds =
            newest_available_copy.map(|t| (self.now - t).num_seconds().max(0));
        let mut errors = Vec::new();
        let mut wanted = Vec::new();
        for snap in available {
            if self
                .copies_by_source
                .contains_key(&(region, snap.arn.as_str()))
            {
                continue;
            }
            if newest_copy_data.is_some_and(|t| snap.created_at.is_some_and(|c| c <= t)) {
                continue; // older than what is already there: never backfill
            }
            match self.copy(source, region, snap) {
                Ok(mut copy) => {
                    copy.incremental = source.kind == DbKind::Instance
                        && copies.iter().any(|c| c.status == SnapshotStatus::Available);
                    wanted.push(copy);
                }
                Err(e) => errors.push(e),
            }
        }
        let target = self.settings.rpo_target_seconds;
        let plan = RegionPlan {
            region: region.to_owned(),
            copies: vec![],
            queued: vec![],
            errors,
            exposure: RegionExposure {
                copies_present: copies.len(),
                copies_in_flight: copies.iter().filter(|c| c.is_copy_in_flight()).count(),
                rpo_exposure_seconds,
                rpo_target_seconds: target,
                over_target: rpo_exposure_seconds.is_none_or(|e| e > target as i64),
            },
        };
        (plan, wanted)
    }

    /// The copy of `snap` into `region`, or why it cannot be made (an encrypted source with no
    /// KMS key in the destination: KMS keys are regional).
    fn copy(
        &self,
        source: &SnapshotSource,
        region: &str,
        snap: &SnapshotInfo,
    ) -> Result<CopySnapshot, String> {
        let kms_key_id = match (snap.encrypted, self.settings.kms_keys.get(region)) {
            (false, _) => None,
            (true, Some(k)) => Some(k.clone()),
            (true, None) => {
                return Err(format!(
                    "snapshot `{}` of `{}` is encrypted and `snapshots.kms_keys` has no key for `{region}`",
                    snap.id, source.db_id
                ))
            }
        };
        let option_group = snap
            .engine
            .as_ref()
            .or(source.engine.as_ref())
            .and_then(|e| {
                self.settings
                    .option_groups
                    .get(region)
                    .and_then(|m| m.get(e))
            })
            .cloned();
        let mut tags: BTreeMap<String, String> = snap
            .tags
            .iter()
            .filter(|(k, _)| k.starts_with("pilotlight:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.insert(TAG_MANAGED_BY.into(), MANAGED_BY.into());
        tags.insert(TAG_SOURCE_DB.into(), source.db_id.clone());
        tags.insert(TAG_SOURCE_REGION.into(), source.region.clone());
        tags.insert(TAG_COPY_OF.into(), snap.arn.clone());
        Ok(CopySnapshot {
            db_id: source.db_id.clone(),
            kind: source.kind,
            source_arn: snap.arn.clone(),
            source_id: snap.id.clone(),
            region: region.to_owned(),
            target_id: copy_name(&snap.id, &source.region, source.kind),
            kms_key_id,
            option_group,
            tags,
            incremental: false,
        })
    }
}

/// Per destination region, start `max_copies_in_flight` minus the copies already in flight
/// there, round-robin over the databases (each one's newest first); queue the rest.
fn hand_out_budget(
    databases: &mut [DatabasePlan],
    candidates: BTreeMap<String, Vec<(usize, usize, CopySnapshot)>>,
    in_flight: &BTreeMap<String, usize>,
    settings: &PlanSettings,
) {
    for (region, mut list) in candidates {
        list.sort_by_key(|a| (a.0, a.1));
        let used = in_flight.get(&region).copied().unwrap_or(0);
        let mut budget = (settings.max_copies_in_flight as usize).saturating_sub(used);
        for (_, dbi, copy) in list {
            let Some(rp) = databases[dbi]
                .regions
                .iter_mut()
                .find(|r| r.region == region)
            else {
                continue;
            };
            if budget > 0 {
                budget -= 1;
                rp.copies.push(copy);
            } else {
                rp.queued.push(copy.source_id);
            }
        }
    }
}
