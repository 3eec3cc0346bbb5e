//! `snapshots`: scheduled snapshots and their cross-region copies (interval, RPO target, DR
//! regions, KMS keys, the copy limit, tag discovery).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::names::Region;
use super::{invalid, ConfigError};

/// How snapshot-copy keeps a recent snapshot in the primary region and a copy in every DR region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotSettings {
    /// DR regions every snapshot is copied to. Empty (the default): each protected database's
    /// replica region; tag-discovered databases then need [`Discovery::dr_regions`].
    pub dr_regions: Vec<Region>,
    /// KMS key (ARN, id or alias ARN) in each destination region, by region code, used to
    /// re-encrypt copies of encrypted snapshots (a KMS key is regional, so the source's key cannot
    /// be used). An encrypted source with no key for a destination is an error for that database.
    pub kms_keys: BTreeMap<Region, String>,
    /// Take a new snapshot when the newest pilotlight snapshot is older than this, in seconds
    /// (default 86400: daily).
    pub interval_seconds: u64,
    /// RPO target for the DR copies, in seconds: when the newest available copy in a DR region is
    /// older than this, an alert is published (default 86400 + 3600: a daily snapshot plus an hour to copy).
    pub rpo_target_seconds: u64,
    /// Snapshot copies allowed in flight per destination region (AWS allows 20 per account).
    pub max_copies_in_flight: u32,
    /// Option group to use for copies, by destination region and then engine (`oracle-ee`,
    /// `sqlserver-ee`, ...): engines with option groups need one that exists in the destination.
    pub option_groups: BTreeMap<Region, BTreeMap<String, String>>,
    /// Also protect every DB instance and Aurora DB cluster carrying a tag.
    pub discover: Option<Discovery>,
    /// Share of each region's manual snapshot quota (`DescribeAccountAttributes`:
    /// `ManualSnapshots`, `ManualClusterSnapshots`; 100 each by default, adjustable) that
    /// pilotlight never fills, in percent (default 10, 0 to 50): creates and copies that would
    /// enter it are queued and alerted, so a person's manual snapshot still fits.
    pub quota_reserve_percent: u32,
    /// Alert when a region's manual snapshot quota fills within this many days at the rate of the
    /// last 7 days (default 14).
    pub quota_alert_days: u32,
}

impl Default for SnapshotSettings {
    fn default() -> Self {
        Self {
            dr_regions: vec![],
            kms_keys: BTreeMap::new(),
            interval_seconds: 86_400,
            rpo_target_seconds: 90_000,
            max_copies_in_flight: 20,
            option_groups: BTreeMap::new(),
            discover: None,
            quota_reserve_percent: 10,
            quota_alert_days: 14,
        }
    }
}

/// Opt-in discovery of databases by tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discovery {
    /// Tag key, e.g. `pilotlight:protect`.
    pub tag_key: String,
    /// Tag value, e.g. `true`.
    pub tag_value: String,
    /// Regions searched (`DescribeDBInstances` and `DescribeDBClusters`, paginated).
    pub regions: Vec<Region>,
    /// DR regions for discovered databases (default: [`SnapshotSettings::dr_regions`]).
    #[serde(default)]
    pub dr_regions: Vec<Region>,
}

/// Check `snapshots`: interval, target and copy limit in range; discovery complete.
pub(super) fn validate(sn: &SnapshotSettings) -> Result<(), ConfigError> {
    if !(60..=2_678_400).contains(&sn.interval_seconds) {
        return Err(invalid(
            "snapshots.interval_seconds",
            format!(
                "{} is outside 60..=2678400 seconds (one minute to 31 days)",
                sn.interval_seconds
            ),
        ));
    }
    if sn.rpo_target_seconds == 0 {
        return Err(invalid(
            "snapshots.rpo_target_seconds",
            "must be at least 1 second",
        ));
    }
    // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_CopySnapshot.html
    if !(1..=20).contains(&sn.max_copies_in_flight) {
        return Err(invalid(
            "snapshots.max_copies_in_flight",
            format!(
                "{} is outside 1..=20 (AWS allows 20 copies in flight per region)",
                sn.max_copies_in_flight
            ),
        ));
    }
    if sn.quota_reserve_percent > 50 {
        return Err(invalid(
            "snapshots.quota_reserve_percent",
            format!(
                "{} is outside 0..=50 (percent of the manual snapshot quota kept free)",
                sn.quota_reserve_percent
            ),
        ));
    }
    let Some(d) = &sn.discover else {
        return Ok(());
    };
    if d.tag_key.is_empty() {
        return Err(invalid("snapshots.discover.tag_key", "must not be empty"));
    }
    if d.regions.is_empty() {
        return Err(invalid(
            "snapshots.discover.regions",
            "at least one region is required",
        ));
    }
    if d.dr_regions.is_empty() && sn.dr_regions.is_empty() {
        return Err(invalid(
            "snapshots.discover.dr_regions",
            "discovered databases need DR regions here or in `snapshots.dr_regions`",
        ));
    }
    Ok(())
}
