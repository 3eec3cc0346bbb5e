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
use serde::{Deserialize, Serialize};

/// Tag that marks a snapshot as pilotlight's; retention only ever deletes snapshots carrying it.
pub const TAG_MANAGED_BY: &str = "pilotlight:managed-by";
/// Value of [`TAG_MANAGED_BY`].
pub const MANAGED_BY: &str = "pilotlight";
/// Tag: the DB instance or cluster identifier the snapshot is of.
pub const TAG_SOURCE_DB: &str = "pilotlight:source-db";
/// Tag: the region of the source database.
pub const TAG_SOURCE_REGION: &str = "pilotlight:source-region";
/// Tag: when pilotlight created the snapshot (RFC 3339, UTC). Informational: ages come from
/// `SnapshotCreateTime`.
pub const TAG_CREATED_AT: &str = "pilotlight:created-at";
/// Tag on a copy: the ARN of the snapshot it was copied from.
pub const TAG_COPY_OF: &str = "pilotlight:copy-of";

/// DB instance or Aurora DB cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DbKind {
    /// An RDS DB instance (`CreateDBSnapshot`, `CopyDBSnapshot`).
    Instance,
    /// An Aurora DB cluster (`CreateDBClusterSnapshot`, `CopyDBClusterSnapshot`).
    Cluster,
}

/// A database whose snapshots pilotlight keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSource {
    /// `DBInstanceIdentifier` or `DBClusterIdentifier`.
    pub db_id: String,
    /// Instance or cluster.
    pub kind: DbKind,
    /// Region of the database.
    pub region: String,
    /// Regions its snapshots are copied to.
    pub dr_regions: Vec<String>,
    /// The database's engine (for option groups), when known.
    pub engine: Option<String>,
    /// Where it came from: `config` or `tag`.
    pub origin: String,
}

/// A DB snapshot or DB cluster snapshot as `DescribeDBSnapshots` / `DescribeDBClusterSnapshots`
/// report it, with its tags reduced to pilotlight's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Snapshot identifier.
    pub id: String,
    /// Snapshot ARN.
    pub arn: String,
    /// Instance or cluster snapshot.
    pub kind: DbKind,
    /// Region it lives in.
    pub region: String,
    /// `available`, `creating`, `copying`, `pending`, `failed`, ...
    pub status: String,
    /// `SnapshotCreateTime` (UTC); `None` while creating.
    pub created_at: Option<DateTime<Utc>>,
    /// `OriginalSnapshotCreateTime` for copies (when the data was captured), else `None`.
    pub original_created_at: Option<DateTime<Utc>>,
    /// Whether the snapshot is encrypted.
    pub encrypted: bool,
    /// `SnapshotType`: `manual`, `automated`, `awsbackup`, ...
    pub snapshot_type: String,
    /// The database it is of (`DBInstanceIdentifier` / `DBClusterIdentifier`).
    pub db_id: String,
    /// Engine.
    pub engine: Option<String>,
    /// Allocated storage in GiB, when reported.
    pub allocated_storage_gib: Option<i32>,
    /// All tags.
    pub tags: BTreeMap<String, String>,
}

impl SnapshotInfo {
    /// Carries `pilotlight:managed-by=pilotlight`.
    pub fn is_pilotlights(&self) -> bool {
        self.tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
    }

    /// The database it belongs to for pilotlight: the source-db tag, else the described id.
    pub fn source_db(&self) -> &str {
        self.tags
            .get(TAG_SOURCE_DB)
            .map(String::as_str)
            .unwrap_or(&self.db_id)
    }

    /// When its data was captured: `OriginalSnapshotCreateTime` for a copy, else `SnapshotCreateTime`.
    pub fn data_time(&self) -> Option<DateTime<Utc>> {
        self.original_created_at.or(self.created_at)
    }

    /// A copy still in progress (counts against the 20-copies limit of its region).
    pub fn is_copy_in_flight(&self) -> bool {
        matches!(self.status.as_str(), "copying" | "pending")
    }
}

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
    /// Name of the copy (same as the source's).
    pub target_id: String,
    /// KMS key in the destination region, for an encrypted source.
    pub kms_key_id: Option<String>,
    /// Option group in the destination, when the engine needs one and one is configured.
    pub option_group: Option<String>,
    /// Tags the copy carries (the source's pilotlight tags plus [`TAG_COPY_OF`]).
    pub tags: BTreeMap<String, String>,
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
    /// Copies of this database already present (any status).
    pub copies_present: usize,
    /// Copies of this database in flight.
    pub copies_in_flight: usize,
    /// Errors for this region (e.g. an encrypted source with no KMS key for it).
    pub errors: Vec<String>,
    /// Age in seconds of the data in the newest available copy; `None` when there is none.
    pub rpo_exposure_seconds: Option<i64>,
    /// The RPO target in seconds.
    pub rpo_target_seconds: u64,
    /// Exposure over target, or no copy at all.
    pub over_target: bool,
}

/// One database in the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabasePlan {
    /// The source.
    pub source: SnapshotSource,
    /// A snapshot to create, when the newest is older than the interval.
    pub create: Option<CreateSnapshot>,
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
}

/// The deterministic name of the snapshot of `db_id` for the interval containing `now`:
/// `pilotlight-<db_id>-<YYYYMMDDHHMM>` (UTC), at most 255 characters.
pub fn snapshot_name(db_id: &str, now: DateTime<Utc>, interval_seconds: u64) -> String {
    let interval = interval_seconds.max(60) as i64;
    let start = now.timestamp().div_euclid(interval) * interval;
    let stamp = DateTime::from_timestamp(start, 0)
        .map(|t| t.format("%Y%m%d%H%M").to_string())
        .unwrap_or_default();
    let mut name = format!("pilotlight-{db_id}-{stamp}");
    name.truncate(255);
    name
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
pub fn plan(
    sources: &[SnapshotSource],
    snapshots: &[SnapshotInfo],
    now: DateTime<Utc>,
    settings: &PlanSettings,
) -> CopyPlan {
    let mut in_flight: BTreeMap<String, usize> = BTreeMap::new();
    for s in snapshots.iter().filter(|s| s.is_copy_in_flight()) {
        *in_flight.entry(s.region.clone()).or_default() += 1;
    }
    let interval = settings.interval_seconds.max(60) as i64;
    let interval_start = now.timestamp().div_euclid(interval) * interval;

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

    // candidates per region: (rank within database, database index, copy)
    let mut candidates: BTreeMap<String, Vec<(usize, usize, CopySnapshot)>> = BTreeMap::new();
    let mut databases: Vec<DatabasePlan> = Vec::new();
    for (dbi, source) in sources.iter().enumerate() {
        let own: Vec<&SnapshotInfo> = snapshots
            .iter()
            .filter(|s| s.is_pilotlights() && s.kind == source.kind && s.region == source.region)
            .filter(|s| !s.tags.contains_key(TAG_COPY_OF) && s.source_db() == source.db_id)
            .collect();
        let newest_created = own.iter().filter_map(|s| s.created_at).max();
        let creating = own.iter().any(|s| s.status == "creating");
        let create = match newest_created {
            _ if creating => None,
            Some(t) if t.timestamp() >= interval_start => None,
            _ => Some(CreateSnapshot {
                db_id: source.db_id.clone(),
                kind: source.kind,
                region: source.region.clone(),
                snapshot_id: snapshot_name(&source.db_id, now, settings.interval_seconds),
            }),
        };
        let mut available: Vec<&SnapshotInfo> = own
            .iter()
            .copied()
            .filter(|s| s.status == "available")
            .collect();
        available.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });

        let mut regions = Vec::new();
        for region in &source.dr_regions {
            let copies: Vec<&SnapshotInfo> = snapshots
                .iter()
                .filter(|s| s.is_pilotlights() && &s.region == region && s.kind == source.kind)
                .filter(|s| s.tags.contains_key(TAG_COPY_OF) && s.source_db() == source.db_id)
                .collect();
            let newest_copy_data = copies.iter().filter_map(|c| c.data_time()).max();
            let newest_available_copy = copies
                .iter()
                .filter(|c| c.status == "available")
                .filter_map(|c| c.data_time())
                .max();
            let rpo_exposure_seconds =
                newest_available_copy.map(|t| (now - t).num_seconds().max(0));
            let mut errors = Vec::new();
            let mut rank = 0;
            for snap in &available {
                if copies_by_source.contains_key(&(region.as_str(), snap.arn.as_str())) {
                    continue;
                }
                if newest_copy_data.is_some_and(|t| snap.created_at.is_some_and(|c| c <= t)) {
                    continue; // older than what is already there: never backfill
                }
                let kms_key_id = if snap.encrypted {
                    match settings.kms_keys.get(region) {
                        Some(k) => Some(k.clone()),
                        None => {
                            errors.push(format!(
                                "snapshot `{}` of `{}` is encrypted and `snapshots.kms_keys` has no key for `{region}`",
                                snap.id, source.db_id
                            ));
                            continue;
                        }
                    }
                } else {
                    None
                };
                let option_group = snap
                    .engine
                    .as_ref()
                    .or(source.engine.as_ref())
                    .and_then(|e| settings.option_groups.get(region).and_then(|m| m.get(e)))
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
                candidates.entry(region.clone()).or_default().push((
                    rank,
                    dbi,
                    CopySnapshot {
                        db_id: source.db_id.clone(),
                        kind: source.kind,
                        source_arn: snap.arn.clone(),
                        source_id: snap.id.clone(),
                        region: region.clone(),
                        target_id: snap.id.clone(),
                        kms_key_id,
                        option_group,
                        tags,
                    },
                ));
                rank += 1;
            }
            regions.push(RegionPlan {
                region: region.clone(),
                copies: vec![],
                queued: vec![],
                copies_present: copies.len(),
                copies_in_flight: copies.iter().filter(|c| c.is_copy_in_flight()).count(),
                errors,
                rpo_exposure_seconds,
                rpo_target_seconds: settings.rpo_target_seconds,
                over_target: rpo_exposure_seconds
                    .is_none_or(|e| e > settings.rpo_target_seconds as i64),
            });
        }
        databases.push(DatabasePlan {
            source: source.clone(),
            create,
            regions,
        });
    }

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
    CopyPlan {
        databases,
        in_flight,
    }
}
