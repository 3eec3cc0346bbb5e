//! The retention decision: which of a database's snapshots in one region to keep, and why, as a
//! pure function of (snapshots, policy, now).
//!
//! Safety rules that no policy can override:
//! * only snapshots tagged `pilotlight:managed-by=pilotlight`, of type `manual`, are candidates;
//!   automated snapshots, anyone else's, and snapshots carrying the hold tag are never deleted;
//! * snapshots that are not `available` (creating, copying) are never deleted;
//! * the newest available snapshot of the database in the region is always kept;
//! * **stall guard**: when that newest snapshot is older than the stall threshold (backups have
//!   stopped), nothing of the database in the region is deleted and the result says so;
//! * ages come from `SnapshotCreateTime` (UTC), never from names.
//!
//! Policy (a snapshot is kept if any rule keeps it; the decision names every rule that did):
//! `max_age_days` keeps everything younger; `min_keep` keeps the newest N; `daily`, `weekly`,
//! `monthly` keep the newest snapshot of each of the last N UTC days, ISO weeks (Monday to Sunday)
//! and calendar months that have a snapshot (grandfather-father-son, as restic's `--keep-*`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

use super::snapshots::{DbKind, SnapshotInfo, TAG_COPY_OF};
use super::status::SnapshotStatus;

/// What a retention decision reads of a snapshot: [`SnapshotInfo`], or the compact [`Listed`]
/// the retention function lists 100,000 snapshots into.
pub trait Candidate {
    /// Snapshot identifier.
    fn id(&self) -> &str;
    /// Instance or cluster snapshot.
    fn kind(&self) -> DbKind;
    /// `SnapshotCreateTime` (UTC).
    fn created_at(&self) -> Option<DateTime<Utc>>;
    /// When its data was captured (`OriginalSnapshotCreateTime` of a copy, else creation).
    fn data_time(&self) -> Option<DateTime<Utc>>;
    /// Status.
    fn status(&self) -> &SnapshotStatus;
    /// Tagged `pilotlight:managed-by=pilotlight`.
    fn is_pilotlights(&self) -> bool;
    /// `SnapshotType` `manual`.
    fn is_manual(&self) -> bool;
    /// Carries the hold tag `hold_tag`.
    fn held(&self, hold_tag: &str) -> bool;
    /// Allocated storage, GiB.
    fn allocated_storage_gib(&self) -> Option<i32>;
    /// `<region>/<id>`: how [`copy_key`] names it from a copy's `pilotlight:copy-of` ARN.
    fn copy_key(&self) -> String;
}

impl Candidate for SnapshotInfo {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> DbKind {
        self.kind
    }
    fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }
    fn data_time(&self) -> Option<DateTime<Utc>> {
        SnapshotInfo::data_time(self)
    }
    fn status(&self) -> &SnapshotStatus {
        &self.status
    }
    fn is_pilotlights(&self) -> bool {
        SnapshotInfo::is_pilotlights(self)
    }
    fn is_manual(&self) -> bool {
        self.snapshot_type == "manual"
    }
    fn held(&self, hold_tag: &str) -> bool {
        self.tags.contains_key(hold_tag)
    }
    fn allocated_storage_gib(&self) -> Option<i32> {
        self.allocated_storage_gib
    }
    fn copy_key(&self) -> String {
        format!("{}/{}", self.region, self.id)
    }
}

/// `<region>/<id>` of the snapshot an ARN names (`arn:<partition>:rds:<region>:<account>:snapshot:<id>`
/// or `...:cluster-snapshot:<id>`); `None` for anything else.
pub fn copy_key(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "rds", region, _, "snapshot" | "cluster-snapshot", id] if !region.is_empty() => {
            Some(format!("{region}/{id}"))
        }
        _ => None,
    }
}

/// A listed snapshot reduced to what retention decides on (about 100 bytes and its id, where a
/// [`SnapshotInfo`] with its tags is about a kilobyte).
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Snapshot identifier.
    pub id: Box<str>,
    /// The region it lives in (shared by the region's snapshots).
    pub region: Arc<str>,
    /// Instance or cluster snapshot.
    pub kind: DbKind,
    /// `SnapshotCreateTime` (UTC).
    pub created_at: Option<DateTime<Utc>>,
    /// `OriginalSnapshotCreateTime` (UTC), for a copy.
    pub original_created_at: Option<DateTime<Utc>>,
    /// Status.
    pub status: SnapshotStatus,
    /// Tagged `pilotlight:managed-by=pilotlight`.
    pub pilotlights: bool,
    /// `SnapshotType` `manual`.
    pub manual: bool,
    /// Carries the hold tag.
    pub held: bool,
    /// Allocated storage, GiB.
    pub allocated_storage_gib: Option<i32>,
}

impl Candidate for Listed {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> DbKind {
        self.kind
    }
    fn created_at(&self) -> Option<DateTime<Utc>> {
        self.created_at
    }
    fn data_time(&self) -> Option<DateTime<Utc>> {
        self.original_created_at.or(self.created_at)
    }
    fn status(&self) -> &SnapshotStatus {
        &self.status
    }
    fn is_pilotlights(&self) -> bool {
        self.pilotlights
    }
    fn is_manual(&self) -> bool {
        self.manual
    }
    fn held(&self, _hold_tag: &str) -> bool {
        self.held
    }
    fn allocated_storage_gib(&self) -> Option<i32> {
        self.allocated_storage_gib
    }
    fn copy_key(&self) -> String {
        format!("{}/{}", self.region, self.id)
    }
}

/// One region's snapshots as retention needs them: grouped by (kind, source region, source
/// database) as they are listed, and the [`copy_key`]s of the sources of copies still in
/// flight there (rule `copy_source`).
#[derive(Debug, Clone, Default)]
pub struct RegionListing {
    /// The region.
    pub region: Arc<str>,
    /// (kind, source region, source database) -> its snapshots.
    pub groups: HashMap<(DbKind, String, String), Vec<Listed>>,
    /// Sources of copies in flight in this region.
    pub copying: HashSet<String>,
}

impl RegionListing {
    /// An empty listing of `region`.
    pub fn new(region: &str) -> Self {
        Self {
            region: Arc::from(region),
            ..Self::default()
        }
    }

    /// Add one listed snapshot (`hold_tag`: the configured hold tag).
    pub fn add(&mut self, s: &SnapshotInfo, hold_tag: &str) {
        if s.is_copy_in_flight() {
            if let Some(k) = s.tags.get(TAG_COPY_OF).and_then(|a| copy_key(a)) {
                self.copying.insert(k);
            }
        }
        let key = (
            s.kind,
            s.source_region().to_owned(),
            s.source_db().to_owned(),
        );
        let listed = Listed {
            id: s.id.as_str().into(),
            region: self.region.clone(),
            kind: s.kind,
            created_at: s.created_at,
            original_created_at: s.original_created_at,
            status: s.status.clone(),
            pilotlights: s.is_pilotlights(),
            manual: s.snapshot_type == "manual",
            held: s.tags.contains_key(hold_tag),
            allocated_storage_gib: s.allocated_storage_gib,
        };
        self.groups.entry(key).or_default().push(listed);
    }

    /// Give back the spare capacity of every group.
    pub fn shrink(&mut self) {
        for v in self.groups.values_mut() {
            v.shrink_to_fit();
        }
    }
}

/// A retention policy for one kind of region (primary or DR). Zero turns a rule off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionPolicy {
    /// Keep every snapshot younger than this many days (the DR plans this serves keep 30).
    pub max_age_days: u32,
    /// Always keep the newest N available snapshots.
    pub min_keep: u32,
    /// Keep the newest snapshot of each of the last N days (UTC) that have one.
    pub daily: u32,
    /// Keep the newest snapshot of each of the last N ISO weeks (UTC) that have one.
    pub weekly: u32,
    /// Keep the newest snapshot of each of the last N calendar months (UTC) that have one.
    pub monthly: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            max_age_days: 30,
            min_keep: 3,
            daily: 7,
            weekly: 4,
            monthly: 12,
        }
    }
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The newest available snapshot: never deleted.
    Newest,
    /// Among the newest `min_keep`.
    MinKeep,
    /// Younger than `max_age_days`.
    MaxAge,
    /// Newest of its day.
    Daily,
    /// Newest of its ISO week.
    Weekly,
    /// Newest of its month.
    Monthly,
    /// Stall guard: backups of this database have stopped.
    Stalled,
    /// The newest available copy while a newer copy of the same source is still copying: the
    /// next copy is incremental only if the previous one still exists in the destination
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CopySnapshot.html>), so it
    /// is kept until the newer copy is `available`.
    IncrementalBase,
    /// A copy of it is still in flight in another region: a copy "might fail" if its source is
    /// deleted before it is available
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CopySnapshot.html>).
    CopySource,
}

/// Why a snapshot is not even a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Not tagged as pilotlight's.
    NotManagedByPilotlight,
    /// Not a manual snapshot (automated, awsbackup, ...).
    NotManual,
    /// Carries the hold tag.
    OnHold,
    /// Not `available` (creating, copying, ...).
    NotAvailable,
    /// No `SnapshotCreateTime`.
    NoCreateTime,
}

/// The decision for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Verdict {
    /// Kept, by these rules.
    Keep {
        /// Every rule that keeps it.
        rules: Vec<Rule>,
    },
    /// To delete.
    Delete,
    /// Never a candidate.
    Skip {
        /// Why.
        reason: SkipReason,
    },
}

/// One snapshot and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDecision {
    /// Snapshot id.
    pub id: String,
    /// Instance or cluster snapshot.
    pub kind: DbKind,
    /// `SnapshotCreateTime` (UTC).
    pub created_at: Option<DateTime<Utc>>,
    /// Status.
    pub status: SnapshotStatus,
    /// Allocated storage (GiB), for the freed figure.
    pub allocated_storage_gib: Option<i32>,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The decisions for one database in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionDecision {
    /// Newest snapshot first (ties by id).
    pub snapshots: Vec<SnapshotDecision>,
    /// Set when the stall guard fired: nothing is deleted; the message says why.
    pub stalled: Option<String>,
}

impl RetentionDecision {
    /// The snapshots to delete.
    pub fn deletions(&self) -> impl Iterator<Item = &SnapshotDecision> {
        self.snapshots
            .iter()
            .filter(|s| s.verdict == Verdict::Delete)
    }
}

/// The calendar bucket (day, ISO week or month, in UTC) a creation time falls in.
type BucketKey = fn(DateTime<Utc>) -> (i32, u32, u32);

/// Decide for the snapshots of one database in one region.
///
/// `stall_after_seconds`: the stall guard's threshold. `hold_tag`: a snapshot carrying this tag
/// key (any value) is never deleted.
pub fn decide_retention<S: Candidate>(
    snapshots: &[S],
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
    stall_after_seconds: u64,
    hold_tag: &str,
) -> RetentionDecision {
    decide_retention_keeping(
        snapshots,
        policy,
        now,
        stall_after_seconds,
        hold_tag,
        &HashSet::new(),
    )
}

/// [`decide_retention`], also keeping (rule `copy_source`) every snapshot whose
/// [`Candidate::copy_key`] is in `copying_sources` (see [`copy_key`]): the sources of copies still
/// in flight in any region listed.
pub fn decide_retention_keeping<S: Candidate>(
    snapshots: &[S],
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
    stall_after_seconds: u64,
    hold_tag: &str,
    copying_sources: &HashSet<String>,
) -> RetentionDecision {
    let mut ordered: Vec<&S> = snapshots.iter().collect();
    ordered.sort_by(|a, b| {
        b.created_at()
            .cmp(&a.created_at())
            .then_with(|| a.id().cmp(b.id()))
    });
    // candidates, newest first
    let candidates: Vec<&S> = ordered
        .iter()
        .copied()
        .filter(|s| skip_reason(*s, hold_tag).is_none())
        .collect();
    // the newest available pilotlight snapshot, held or not, decides the stall guard and is kept
    let newest = ordered
        .iter()
        .copied()
        .filter(|s| s.is_pilotlights() && *s.status() == SnapshotStatus::Available)
        .filter(|s| s.created_at().is_some())
        .find(|s| s.is_manual());
    let stalled = newest.and_then(|n| stall_message(n, now, stall_after_seconds));
    let mut keep = kept_by_rules(&candidates, newest, policy, now);
    // a source of a copy still in flight elsewhere
    if !copying_sources.is_empty() {
        for c in candidates
            .iter()
            .filter(|c| copying_sources.contains(&c.copy_key()))
        {
            keep.entry(c.id().to_owned())
                .or_default()
                .push(Rule::CopySource);
        }
    }
    // the incremental chain: a newer copy still copying keeps the newest available one
    if let Some(base) = newest {
        let newer_in_flight = ordered.iter().any(|s| {
            s.is_pilotlights()
                && s.status().is_copy_in_flight()
                && s.data_time()
                    .is_none_or(|t| base.data_time().is_some_and(|b| t >= b))
        });
        if newer_in_flight {
            keep.entry(base.id().to_owned())
                .or_default()
                .push(Rule::IncrementalBase);
        }
    }
    let decisions = ordered
        .iter()
        .map(|s| SnapshotDecision {
            id: s.id().to_owned(),
            kind: s.kind(),
            created_at: s.created_at(),
            status: s.status().clone(),
            allocated_storage_gib: s.allocated_storage_gib(),
            verdict: verdict(*s, hold_tag, &keep, stalled.is_some()),
        })
        .collect();
    RetentionDecision {
        snapshots: decisions,
        stalled,
    }
}

/// Why a snapshot is never a candidate, if it is not one.
fn skip_reason<S: Candidate>(s: &S, hold_tag: &str) -> Option<SkipReason> {
    if !s.is_pilotlights() {
        Some(SkipReason::NotManagedByPilotlight)
    } else if !s.is_manual() {
        Some(SkipReason::NotManual)
    } else if s.held(hold_tag) {
        Some(SkipReason::OnHold)
    } else if *s.status() != SnapshotStatus::Available {
        Some(SkipReason::NotAvailable)
    } else if s.created_at().is_none() {
        Some(SkipReason::NoCreateTime)
    } else {
        None
    }
}

/// The stall guard's message when the newest snapshot is older than the threshold.
fn stall_message<S: Candidate>(
    newest: &S,
    now: DateTime<Utc>,
    stall_after_seconds: u64,
) -> Option<String> {
    let age = (now - newest.created_at().unwrap_or(now)).num_seconds();
    (age > stall_after_seconds as i64).then(|| {
        format!(
            "the newest snapshot `{}` is {} h old, over the stall threshold of {} h: backups have stopped, nothing is deleted",
            newest.id(),
            age / 3600,
            stall_after_seconds / 3600
        )
    })
}

/// Every snapshot some rule keeps, with the rules (in the order they matched).
fn kept_by_rules<S: Candidate>(
    candidates: &[&S],
    newest: Option<&S>,
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> BTreeMap<String, Vec<Rule>> {
    let mut keep: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
    let mut add = |id: &str, rule: Rule| {
        let rules = keep.entry(id.to_owned()).or_default();
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    };
    if let Some(n) = newest {
        add(n.id(), Rule::Newest);
    }
    for s in candidates.iter().take(policy.min_keep as usize) {
        add(s.id(), Rule::MinKeep);
    }
    if policy.max_age_days > 0 {
        let limit = i64::from(policy.max_age_days) * 86_400;
        for s in candidates {
            if s.created_at()
                .is_some_and(|t| (now - t).num_seconds() < limit)
            {
                add(s.id(), Rule::MaxAge);
            }
        }
    }
    let buckets: [(u32, Rule, BucketKey); 3] = [
        (policy.daily, Rule::Daily, |t| (t.year(), t.ordinal(), 0)),
        (policy.weekly, Rule::Weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week(), 0)
        }),
        (policy.monthly, Rule::Monthly, |t| (t.year(), t.month(), 0)),
    ];
    for (count, rule, key) in buckets {
        let mut seen = HashSet::new();
        for s in candidates {
            if seen.len() >= count as usize {
                break;
            }
            if let Some(t) = s.created_at() {
                if seen.insert(key(t)) {
                    add(s.id(), rule);
                }
            }
        }
    }
    keep
}

/// One snapshot's verdict: skipped, kept by its rules (or by the stall guard), or deleted.
fn verdict<S: Candidate>(
    s: &S,
    hold_tag: &str,
    keep: &BTreeMap<String, Vec<Rule>>,
    stalled: bool,
) -> Verdict {
    if let Some(reason) = skip_reason(s, hold_tag) {
        return Verdict::Skip { reason };
    }
    match keep.get(s.id()) {
        Some(rules) => {
            let mut rules = rules.clone();
            rules.sort();
            Verdict::Keep { rules }
        }
        None if stalled => Verdict::Keep {
            rules: vec![Rule::Stalled],
        },
        None => Verdict::Delete,
    }
}

/// The group a listed snapshot is decided in: (the region it lives in, kind, its source's region,
/// its source database). Two databases with the same identifier in two regions are two groups,
/// in every region, so one's fresh copies never make the other's stale ones look current.
pub fn group_key(s: &SnapshotInfo) -> (String, DbKind, String, String) {
    (
        s.region.clone(),
        s.kind,
        s.source_region().to_owned(),
        s.source_db().to_owned(),
    )
}

/// Which policy a region gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionRole {
    /// The database's own region (`retention.primary`).
    Primary,
    /// A region its snapshots are copied to (`retention.dr`).
    Dr,
}

/// The policy for `db_id` (in `region`) in a region of `role`: its override (by the protected
/// database's name, or by the DB identifier), else the default.
pub fn policy_for(
    config: &crate::config::Config,
    db_id: &str,
    region: &str,
    role: RegionRole,
) -> RetentionPolicy {
    let rt = &config.retention;
    let name = config
        .databases
        .iter()
        .find(|d| d.primary.instance_id == db_id && d.primary.region == region)
        .map(|d| d.name.as_str());
    let o = name
        .and_then(|n| rt.overrides.get(n))
        .or_else(|| rt.overrides.get(db_id));
    match role {
        RegionRole::Primary => o.and_then(|o| o.primary).unwrap_or(rt.primary),
        RegionRole::Dr => o.and_then(|o| o.dr).unwrap_or(rt.dr),
    }
}
