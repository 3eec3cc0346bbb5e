//! `retention`: how long pilotlight keeps its snapshots, in the database's own region and in the
//! DR regions, per database overrides, the stall guard and the hold tag.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};
use crate::plan::retention::RetentionPolicy;

/// Retention of pilotlight's snapshots, separately for the source (primary) and the DR regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Policy in each database's own region.
    pub primary: RetentionPolicy,
    /// Policy in the DR regions.
    pub dr: RetentionPolicy,
    /// Per database (name or DB identifier): policies that replace the defaults.
    pub overrides: BTreeMap<String, RetentionOverride>,
    /// Stall guard, in hours: when a database's newest snapshot in a region is older than this,
    /// nothing of it is deleted there and an alert is published (default 48).
    pub stall_after_hours: u64,
    /// Tag key that puts a snapshot on hold: never deleted, whatever its value (default `pilotlight:hold`).
    pub hold_tag: String,
    /// Deletions in flight at once (default 4; the SDK retries throttling with backoff).
    pub delete_concurrency: usize,
}

/// A database's own retention policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionOverride {
    /// Policy in the database's own region.
    #[serde(default)]
    pub primary: Option<RetentionPolicy>,
    /// Policy in the DR regions.
    #[serde(default)]
    pub dr: Option<RetentionPolicy>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            primary: RetentionPolicy::default(),
            dr: RetentionPolicy::default(),
            overrides: BTreeMap::new(),
            stall_after_hours: 48,
            hold_tag: "pilotlight:hold".into(),
            delete_concurrency: 4,
        }
    }
}

/// Check `retention`: stall guard, hold tag and delete concurrency.
pub(super) fn validate(rt: &RetentionSettings) -> Result<(), ConfigError> {
    if rt.stall_after_hours == 0 {
        return Err(invalid(
            "retention.stall_after_hours",
            "must be at least 1 hour",
        ));
    }
    if rt.hold_tag.is_empty() {
        return Err(invalid("retention.hold_tag", "must not be empty"));
    }
    if !(1..=32).contains(&rt.delete_concurrency) {
        return Err(invalid(
            "retention.delete_concurrency",
            "must be within 1..=32",
        ));
    }
    Ok(())
}
