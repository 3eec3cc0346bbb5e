//! What snapshot-copy and retention know about snapshots: pilotlight's tags, instance or cluster,
//! the databases whose snapshots are kept ([`SnapshotSource`]) and a listed snapshot
//! ([`SnapshotInfo`]). Pure data; [`crate::observe::snapshots`] fills it from AWS.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::status::SnapshotStatus;
use crate::config::Config;
use crate::error::WorkerError;

/// Why a database's snapshots are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A protected database of the configuration (its primary instance).
    Config,
    /// A DB instance or cluster carrying the opt-in tag (`snapshots.discover`).
    Tag,
}

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

/// Longest DB snapshot identifier RDS accepts (`CreateDBSnapshot`, `CopyDBSnapshot`: 1–255).
pub const MAX_DB_SNAPSHOT_ID: usize = 255;
/// Longest DB cluster snapshot identifier RDS accepts (`CreateDBClusterSnapshot`,
/// `CopyDBClusterSnapshot`: 1–63,
/// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBClusterSnapshot.html>).
pub const MAX_CLUSTER_SNAPSHOT_ID: usize = 63;

impl DbKind {
    /// The longest snapshot identifier of this kind.
    pub fn max_snapshot_id(self) -> usize {
        match self {
            DbKind::Instance => MAX_DB_SNAPSHOT_ID,
            DbKind::Cluster => MAX_CLUSTER_SNAPSHOT_ID,
        }
    }
}

/// `<head>-<tail>` as a valid snapshot identifier of at most `max` characters (letters, digits,
/// single hyphens, starting with a letter, lowercase). When it is too long, `head` is cut and
/// followed by 8 hex digits of its FNV-1a hash, so that two long heads that share their start
/// still get different identifiers, and the same head always the same one (names stay
/// deterministic: a re-run finds what the last run made). `tail` (a time stamp) is kept whole.
pub fn fit_identifier(head: &str, tail: &str, max: usize) -> String {
    let clean = |s: &str| {
        let mut out: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        while out.contains("--") {
            out = out.replace("--", "-");
        }
        out.trim_matches('-').to_owned()
    };
    let (head, tail) = (clean(head), clean(tail));
    let whole = if tail.is_empty() {
        head.clone()
    } else {
        format!("{head}-{tail}")
    };
    if whole.len() <= max {
        return whole;
    }
    let hash = head.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    // head[..keep] + "-" + 8 hex + "-" + tail
    let keep = max.saturating_sub(tail.len() + 10).min(head.len());
    let cut = head[..keep].trim_end_matches('-');
    let mut id = format!("{cut}-{hash:08x}");
    if !tail.is_empty() {
        id = format!("{id}-{tail}");
    }
    id.truncate(max);
    id.trim_end_matches('-').to_owned()
}

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
    /// Where it came from.
    pub origin: Origin,
}

/// A snapshot's tags: a small map kept as a vector sorted by key. A snapshot carries a handful of
/// tags, and the smallest `BTreeMap` node is about half a KiB: at 100,000 snapshots in a region
/// that alone was 50 MB of retention's memory. In JSON, an object as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Tags(Vec<(String, String)>);

impl Tags {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.find(key).ok().map(|i| &self.0[i].1)
    }

    /// Whether `key` is set (any value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Set `key` to `value`; the value it had.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// Remove `key`; the value it had.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Remove every tag.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// (key, value), by key.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        // sorted, the last value of a repeated key wins (as a map's)
        let map: BTreeMap<String, String> = iter.into_iter().collect();
        Self::from(map)
    }
}

impl From<BTreeMap<String, String>> for Tags {
    fn from(map: BTreeMap<String, String>) -> Self {
        let mut v: Vec<(String, String)> = map.into_iter().collect();
        v.shrink_to_fit();
        Self(v)
    }
}

impl<const N: usize> From<[(String, String); N]> for Tags {
    fn from(pairs: [(String, String); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl From<Tags> for BTreeMap<String, String> {
    fn from(t: Tags) -> Self {
        t.0.into_iter().collect()
    }
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
    pub status: SnapshotStatus,
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
    /// Its tags.
    pub tags: Tags,
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

    /// The region of the database it belongs to: the source-region tag, else the region of the
    /// ARN in its copy-of tag, else (a snapshot made before pilotlight tagged it, or someone
    /// else's) the region it lives in. Two databases with
    /// the same identifier in two regions are two databases: every plan keys them by
    /// (source region, kind, identifier).
    pub fn source_region(&self) -> &str {
        self.tags
            .get(TAG_SOURCE_REGION)
            .map(String::as_str)
            // a copy without the tag: the region in its source's ARN (`arn:aws:rds:<region>:...`)
            .or_else(|| {
                self.tags
                    .get(TAG_COPY_OF)
                    .and_then(|arn| arn.split(':').nth(3))
                    .filter(|r| !r.is_empty())
            })
            .unwrap_or(&self.region)
    }

    /// Whether it belongs to `source` (same source region, kind and database).
    pub fn belongs_to(&self, source: &SnapshotSource) -> bool {
        self.kind == source.kind
            && self.source_db() == source.db_id
            && self.source_region() == source.region
    }

    /// When its data was captured: `OriginalSnapshotCreateTime` for a copy, else `SnapshotCreateTime`.
    pub fn data_time(&self) -> Option<DateTime<Utc>> {
        self.original_created_at.or(self.created_at)
    }

    /// A copy still in progress (counts against the 20-copies limit of its region).
    pub fn is_copy_in_flight(&self) -> bool {
        self.status.is_copy_in_flight()
    }
}

/// Keep only the database a command names: a protected database's name (its primary instance),
/// or the identifier of a DB instance or cluster (tag-discovered ones).
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] when no source matches.
pub fn select_sources(
    sources: &mut Vec<SnapshotSource>,
    config: &Config,
    name: &str,
) -> Result<(), WorkerError> {
    let id = config
        .database(name)
        .map(|d| &*d.primary.instance_id)
        .unwrap_or(name);
    sources.retain(|s| s.db_id == id);
    if sources.is_empty() {
        return Err(WorkerError::UnknownDatabase(format!(
            "unknown database `{name}`: neither a protected database nor a DB instance or cluster carrying the opt-in tag"
        )));
    }
    Ok(())
}
