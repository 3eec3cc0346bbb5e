//! The one typed configuration of pilotlight, read from the environment and validated at start-up.
//!
//! The whole configuration is one JSON document in the variable [`CONFIG_ENV`]
//! (`PILOTLIGHT_CONFIG`); the README gives a complete example. Every function reads the same
//! document, so a deployment sets it once. Unknown fields are rejected, so that a typo (`rpo_budget`)
//! is an error at start-up and not a silently ignored safety limit.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The environment variable that holds the configuration document (JSON).
pub const CONFIG_ENV: &str = "PILOTLIGHT_CONFIG";

/// A configuration that could not be read. Messages name the variable and the field.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The variable is not set (or not valid UTF-8).
    #[error("environment variable `{0}` is not set: it must hold pilotlight's JSON configuration")]
    Missing(&'static str),
    /// The document is not JSON of the expected shape; `path` is the field (e.g. `databases[0].replica.region`).
    #[error("environment variable `{var}`: field `{path}`: {message}")]
    Malformed {
        /// The environment variable read.
        var: &'static str,
        /// Path of the offending field, `.` when the document itself is wrong.
        path: String,
        /// What serde said was wrong.
        message: String,
    },
    /// The document parses but a value breaks a rule (empty, duplicate, out of range).
    #[error("environment variable `{var}`: field `{path}`: {message}")]
    Invalid {
        /// The environment variable read.
        var: &'static str,
        /// Path of the offending field.
        path: String,
        /// The rule that was broken.
        message: String,
    },
}

/// pilotlight's configuration: what it protects, where it reports, which functions do the work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The protected databases, at least one; names unique.
    pub databases: Vec<ProtectedDatabase>,
    /// Where notifications go.
    pub notifications: Notifications,
    /// Names (or ARNs) of the worker functions the router invokes.
    pub functions: WorkerFunctions,
    /// Timing of the failover function; defaults suit a 15-minute Lambda timeout.
    #[serde(default)]
    pub failover: FailoverSettings,
    /// Scheduled cross-region snapshot copy; defaults apply when absent.
    #[serde(default)]
    pub snapshots: SnapshotSettings,
    /// Retention of pilotlight's snapshots; defaults apply when absent.
    #[serde(default)]
    pub retention: RetentionSettings,
}

/// Retention of pilotlight's snapshots, separately for the source (primary) and the DR regions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Policy in each database's own region.
    pub primary: crate::retention::RetentionPolicy,
    /// Policy in the DR regions.
    pub dr: crate::retention::RetentionPolicy,
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
    pub primary: Option<crate::retention::RetentionPolicy>,
    /// Policy in the DR regions.
    #[serde(default)]
    pub dr: Option<crate::retention::RetentionPolicy>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            primary: crate::retention::RetentionPolicy::default(),
            dr: crate::retention::RetentionPolicy::default(),
            overrides: BTreeMap::new(),
            stall_after_hours: 48,
            hold_tag: "pilotlight:hold".into(),
            delete_concurrency: 4,
        }
    }
}

/// One database that pilotlight fails over: an RDS primary and its cross-region read replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectedDatabase {
    /// Short name used in commands and notifications (`"orders"`): 1–63 of `[A-Za-z0-9_-]`.
    pub name: String,
    /// The writer today.
    pub primary: DbInstanceRef,
    /// The cross-region read replica that becomes the writer on failover (another region than the primary).
    pub replica: DbInstanceRef,
    /// Route 53 records that must point at the writer's endpoint; at least one.
    pub records: Vec<DnsRecord>,
    /// CloudWatch alarms that watch the primary (e.g. on the health check's `HealthCheckStatus`).
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
    /// Route 53 health check on the primary; its alarm is mapped to this database through the
    /// `HealthCheckId` dimension, and the failover re-reads its status before acting.
    #[serde(default)]
    pub health_check_id: Option<String>,
    /// RPO budget in seconds: the largest replica lag an automatic failover may accept.
    pub rpo_budget_seconds: u64,
}

/// An RDS DB instance in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbInstanceRef {
    /// AWS region code, e.g. `us-east-1`.
    pub region: String,
    /// The `DBInstanceIdentifier`.
    pub instance_id: String,
}

/// A Route 53 record set that must point at the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecord {
    /// Hosted zone id, with or without the `/hostedzone/` prefix (`Z0123456789ABC`).
    pub hosted_zone_id: String,
    /// Fully qualified record name (`orders-db.example.com`; a trailing dot is optional).
    pub name: String,
    /// Record type. RDS endpoints are host names, so only `CNAME` is accepted.
    #[serde(rename = "type")]
    pub record_type: String,
    /// TTL in seconds written with the record (0–172800).
    pub ttl: i64,
}

impl DnsRecord {
    /// The record name with exactly one trailing dot, as Route 53 returns it.
    pub fn fqdn(&self) -> String {
        format!("{}.", self.name.trim_end_matches('.'))
    }

    /// The hosted zone id without the `/hostedzone/` prefix.
    pub fn zone_id(&self) -> &str {
        self.hosted_zone_id.trim_start_matches("/hostedzone/")
    }
}

/// A CloudWatch alarm by name and the region it lives in (health check alarms live in `us-east-1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmRef {
    /// The alarm name.
    pub name: String,
    /// AWS region code of the alarm.
    pub region: String,
}

/// Notification settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// ARN of the SNS topic that receives every decision, refusal, failure and result.
    pub topic_arn: String,
}

impl Notifications {
    /// The region part of the topic ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`); validated at load.
    pub fn topic_region(&self) -> &str {
        self.topic_arn.split(':').nth(3).unwrap_or_default()
    }
}

/// Names or ARNs of the worker functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerFunctions {
    /// The function that runs `failover` and `status`.
    pub failover: String,
    /// The function that runs `snapshot-copy`; absent when not deployed.
    #[serde(default)]
    pub snapshot_copy: Option<String>,
    /// The function that runs `retention`; absent when not deployed.
    #[serde(default)]
    pub retention: Option<String>,
}

/// How snapshot-copy keeps a recent snapshot in the primary region and a copy in every DR region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotSettings {
    /// DR regions every snapshot is copied to. Empty (the default): each protected database's
    /// replica region; tag-discovered databases then need [`Discovery::dr_regions`].
    pub dr_regions: Vec<String>,
    /// KMS key (ARN, id or alias ARN) in each destination region, by region code, used to
    /// re-encrypt copies of encrypted snapshots (a KMS key is regional, so the source's key cannot
    /// be used). An encrypted source with no key for a destination is an error for that database.
    pub kms_keys: BTreeMap<String, String>,
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
    pub option_groups: BTreeMap<String, BTreeMap<String, String>>,
    /// Also protect every DB instance and Aurora DB cluster carrying a tag.
    pub discover: Option<Discovery>,
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
    pub regions: Vec<String>,
    /// DR regions for discovered databases (default: [`SnapshotSettings::dr_regions`]).
    #[serde(default)]
    pub dr_regions: Vec<String>,
}

/// Timing of a failover run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverSettings {
    /// How long one run may wait for the promotion and the DNS change, in seconds, before it returns
    /// `in_progress` (the next run finishes the job). Keep it well inside the Lambda timeout.
    pub deadline_seconds: u64,
    /// How far back to look for the replica's last `ReplicaLag` datapoint, in seconds. When the
    /// primary is down, the replica stops reporting lag; the last datapoint before that is the RPO.
    pub lag_lookback_seconds: u64,
    /// First interval between two polls of the promoted instance, in milliseconds; doubles up to
    /// `max_poll_interval_ms`.
    pub poll_interval_ms: u64,
    /// Largest interval between two polls, in milliseconds.
    pub max_poll_interval_ms: u64,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self {
            deadline_seconds: 600,
            lag_lookback_seconds: 600,
            poll_interval_ms: 2_000,
            max_poll_interval_ms: 30_000,
        }
    }
}

impl Config {
    /// Read [`CONFIG_ENV`] from the process environment and validate it.
    ///
    /// # Errors
    /// [`ConfigError`] naming the variable and the field that is missing or wrong.
    pub fn from_env() -> Result<Self, ConfigError> {
        let raw = std::env::var(CONFIG_ENV).map_err(|_| ConfigError::Missing(CONFIG_ENV))?;
        Self::from_json(&raw)
    }

    /// Parse and validate a configuration document (the value of [`CONFIG_ENV`]).
    ///
    /// # Errors
    /// [`ConfigError::Malformed`] when the JSON does not have the shape above,
    /// [`ConfigError::Invalid`] when a value breaks a rule.
    pub fn from_json(raw: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(raw);
        let config: Config =
            serde_path_to_error::deserialize(&mut de).map_err(|e| ConfigError::Malformed {
                var: CONFIG_ENV,
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        config.validate()?;
        Ok(config)
    }

    /// The protected database called `name`.
    pub fn database(&self, name: &str) -> Option<&ProtectedDatabase> {
        self.databases.iter().find(|d| d.name == name)
    }

    /// Every region pilotlight talks to RDS or CloudWatch in, sorted, without duplicates.
    pub fn regions(&self) -> Vec<String> {
        let mut regions: Vec<String> = self
            .databases
            .iter()
            .flat_map(|d| {
                [d.primary.region.clone(), d.replica.region.clone()]
                    .into_iter()
                    .chain(d.alarms.iter().map(|a| a.region.clone()))
            })
            .chain(self.snapshots.dr_regions.iter().cloned())
            .chain(
                self.snapshots
                    .discover
                    .iter()
                    .flat_map(|d| d.regions.iter().chain(d.dr_regions.iter()).cloned()),
            )
            .collect();
        regions.sort();
        regions.dedup();
        regions
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |path: String, message: String| ConfigError::Invalid {
            var: CONFIG_ENV,
            path,
            message,
        };
        if self.databases.is_empty() {
            return Err(invalid(
                "databases".into(),
                "at least one protected database is required".into(),
            ));
        }
        let mut names = HashSet::new();
        let mut alarms = HashSet::new();
        let mut health_checks = HashSet::new();
        for (i, db) in self.databases.iter().enumerate() {
            let at = |field: &str| format!("databases[{i}].{field}");
            if db.name.is_empty()
                || db.name.len() > 63
                || !db
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    at("name"),
                    format!("`{}` must be 1-63 of [A-Za-z0-9_-]", db.name),
                ));
            }
            if !names.insert(db.name.as_str()) {
                return Err(invalid(at("name"), format!("`{}` is used twice", db.name)));
            }
            for (field, r) in [("primary", &db.primary), ("replica", &db.replica)] {
                check_region(&r.region).map_err(|m| invalid(at(&format!("{field}.region")), m))?;
                check_db_identifier(&r.instance_id)
                    .map_err(|m| invalid(at(&format!("{field}.instance_id")), m))?;
            }
            if db.primary.region == db.replica.region {
                return Err(invalid(
                    at("replica.region"),
                    format!(
                        "`{}` is the primary's region: the replica must be cross-region",
                        db.replica.region
                    ),
                ));
            }
            if db.records.is_empty() {
                return Err(invalid(
                    at("records"),
                    "at least one Route 53 record is required".into(),
                ));
            }
            for (j, r) in db.records.iter().enumerate() {
                let rat = |f: &str| at(&format!("records[{j}].{f}"));
                if r.zone_id().is_empty() {
                    return Err(invalid(rat("hosted_zone_id"), "must not be empty".into()));
                }
                if r.name.trim_end_matches('.').is_empty() {
                    return Err(invalid(rat("name"), "must not be empty".into()));
                }
                if r.record_type != "CNAME" {
                    return Err(invalid(
                        rat("type"),
                        format!(
                            "`{}` is not supported: RDS endpoints are host names, use `CNAME`",
                            r.record_type
                        ),
                    ));
                }
                if !(0..=172_800).contains(&r.ttl) {
                    return Err(invalid(
                        rat("ttl"),
                        format!("{} is outside 0..=172800 seconds", r.ttl),
                    ));
                }
            }
            if db.alarms.is_empty() && db.health_check_id.is_none() {
                return Err(invalid(
                    at("alarms"),
                    "at least one alarm or a `health_check_id` is required to know the primary is down".into(),
                ));
            }
            for (j, a) in db.alarms.iter().enumerate() {
                check_region(&a.region)
                    .map_err(|m| invalid(at(&format!("alarms[{j}].region")), m))?;
                if a.name.is_empty() {
                    return Err(invalid(
                        at(&format!("alarms[{j}].name")),
                        "must not be empty".into(),
                    ));
                }
                if !alarms.insert(a.name.as_str()) {
                    return Err(invalid(
                        at(&format!("alarms[{j}].name")),
                        format!(
                            "alarm `{}` watches two databases: an alarm must map to one",
                            a.name
                        ),
                    ));
                }
            }
            if let Some(hc) = &db.health_check_id {
                if hc.is_empty() || !health_checks.insert(hc.as_str()) {
                    return Err(invalid(
                        at("health_check_id"),
                        format!("`{hc}` is empty or used twice"),
                    ));
                }
            }
            if db.rpo_budget_seconds == 0 {
                return Err(invalid(
                    at("rpo_budget_seconds"),
                    "must be at least 1 second".into(),
                ));
            }
        }
        let arn: Vec<&str> = self.notifications.topic_arn.split(':').collect();
        if arn.len() != 6 || arn[0] != "arn" || arn[2] != "sns" || check_region(arn[3]).is_err() {
            return Err(invalid(
                "notifications.topic_arn".into(),
                format!(
                    "`{}` is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                    self.notifications.topic_arn
                ),
            ));
        }
        if self.functions.failover.is_empty() {
            return Err(invalid(
                "functions.failover".into(),
                "must not be empty".into(),
            ));
        }
        let sn = &self.snapshots;
        for (i, r) in sn.dr_regions.iter().enumerate() {
            check_region(r).map_err(|m| invalid(format!("snapshots.dr_regions[{i}]"), m))?;
        }
        for r in sn.kms_keys.keys() {
            check_region(r).map_err(|m| invalid(format!("snapshots.kms_keys.{r}"), m))?;
        }
        if !(60..=2_678_400).contains(&sn.interval_seconds) {
            return Err(invalid(
                "snapshots.interval_seconds".into(),
                format!(
                    "{} is outside 60..=2678400 seconds (one minute to 31 days)",
                    sn.interval_seconds
                ),
            ));
        }
        if sn.rpo_target_seconds == 0 {
            return Err(invalid(
                "snapshots.rpo_target_seconds".into(),
                "must be at least 1 second".into(),
            ));
        }
        if !(1..=20).contains(&sn.max_copies_in_flight) {
            return Err(invalid(
                "snapshots.max_copies_in_flight".into(),
                format!(
                    "{} is outside 1..=20 (AWS allows 20 copies in flight per region)",
                    sn.max_copies_in_flight
                ),
            ));
        }
        if let Some(d) = &sn.discover {
            if d.tag_key.is_empty() {
                return Err(invalid(
                    "snapshots.discover.tag_key".into(),
                    "must not be empty".into(),
                ));
            }
            if d.regions.is_empty() {
                return Err(invalid(
                    "snapshots.discover.regions".into(),
                    "at least one region is required".into(),
                ));
            }
            for (i, r) in d.regions.iter().chain(d.dr_regions.iter()).enumerate() {
                check_region(r)
                    .map_err(|m| invalid(format!("snapshots.discover.regions[{i}]"), m))?;
            }
            if d.dr_regions.is_empty() && sn.dr_regions.is_empty() {
                return Err(invalid(
                    "snapshots.discover.dr_regions".into(),
                    "discovered databases need DR regions here or in `snapshots.dr_regions`".into(),
                ));
            }
        }
        let rt = &self.retention;
        if rt.stall_after_hours == 0 {
            return Err(invalid(
                "retention.stall_after_hours".into(),
                "must be at least 1 hour".into(),
            ));
        }
        if rt.hold_tag.is_empty() {
            return Err(invalid(
                "retention.hold_tag".into(),
                "must not be empty".into(),
            ));
        }
        if !(1..=32).contains(&rt.delete_concurrency) {
            return Err(invalid(
                "retention.delete_concurrency".into(),
                "must be within 1..=32".into(),
            ));
        }
        let f = &self.failover;
        if f.deadline_seconds == 0 || f.deadline_seconds > 840 {
            return Err(invalid(
                "failover.deadline_seconds".into(),
                format!(
                    "{} is outside 1..=840: it must end well inside Lambda's 900-second limit",
                    f.deadline_seconds
                ),
            ));
        }
        if !(60..=86_400).contains(&f.lag_lookback_seconds) {
            return Err(invalid(
                "failover.lag_lookback_seconds".into(),
                format!(
                    "{} is outside 60..=86400: too short always finds the lag unknown",
                    f.lag_lookback_seconds
                ),
            ));
        }
        if f.poll_interval_ms == 0 || f.max_poll_interval_ms < f.poll_interval_ms {
            return Err(invalid(
                "failover.poll_interval_ms".into(),
                "must be at least 1 and no more than `max_poll_interval_ms`".into(),
            ));
        }
        Ok(())
    }
}

/// An RDS DB instance identifier: 1–63 lowercase letters, digits and hyphens, starting with a
/// letter, no two hyphens in a row, not ending with one (RDS stores identifiers in lowercase).
fn check_db_identifier(id: &str) -> Result<(), String> {
    let ok = (1..=63).contains(&id.len())
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.contains("--")
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{id}` is not an RDS DB instance identifier (1-63 lowercase letters, digits, single hyphens, starting with a letter)"
        ))
    }
}

/// A region code is lowercase letters, digits and dashes with at least two dashes (`us-east-1`,
/// `us-gov-west-1`). Anything else is a typo we catch before a call goes to a wrong endpoint.
fn check_region(region: &str) -> Result<(), String> {
    let ok = region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && region.chars().last().is_some_and(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{region}` is not an AWS region code such as `us-east-1`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> serde_json::Value {
        serde_json::from_str(include_str!("../../events/config.example.json")).unwrap_or_default()
    }

    fn load(v: &serde_json::Value) -> Result<Config, ConfigError> {
        Config::from_json(&v.to_string())
    }

    #[test]
    fn the_readme_example_is_a_valid_configuration() {
        let config = load(&example()).map_err(|e| e.to_string());
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        let mut v = example();
        v["databases"][0]
            .as_object_mut()
            .map(|o| o.remove("rpo_budget_seconds"));
        let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("PILOTLIGHT_CONFIG"), "{err}");
        assert!(err.contains("rpo_budget_seconds"), "{err}");
        assert!(err.contains("databases[0]"), "{err}");
    }

    #[test]
    fn a_misspelt_field_is_rejected_not_ignored() {
        let mut v = example();
        v["databases"][0]["rpo_budget"] = 5.into();
        let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("rpo_budget"), "{err}");
    }

    #[test]
    fn a_same_region_replica_is_rejected() {
        let mut v = example();
        v["databases"][0]["replica"]["region"] = v["databases"][0]["primary"]["region"].clone();
        let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("databases[0].replica.region"), "{err}");
    }

    #[test]
    fn a_bad_region_an_a_record_and_a_bad_topic_are_named() {
        for (pointer, value, expect) in [
            (
                "/databases/0/primary/region",
                "useast1",
                "databases[0].primary.region",
            ),
            ("/databases/0/records/0/type", "A", "records[0].type"),
            (
                "/notifications/topic_arn",
                "orders-topic",
                "notifications.topic_arn",
            ),
        ] {
            let mut v = example();
            if let Some(slot) = v.pointer_mut(pointer) {
                *slot = value.into();
            }
            let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(expect), "{pointer}: {err}");
        }
    }

    #[test]
    fn an_uppercase_instance_id_and_a_zero_lag_lookback_are_named() {
        for (pointer, value, expect) in [
            (
                "/databases/0/primary/instance_id",
                serde_json::json!("Orders-Primary"),
                "primary.instance_id",
            ),
            (
                "/failover/lag_lookback_seconds",
                serde_json::json!(0),
                "failover.lag_lookback_seconds",
            ),
            (
                "/snapshots/interval_seconds",
                serde_json::json!(u64::MAX),
                "snapshots.interval_seconds",
            ),
        ] {
            let mut v = example();
            if let Some(slot) = v.pointer_mut(pointer) {
                *slot = value;
            }
            let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(expect), "{pointer}: {err}");
        }
    }

    #[test]
    fn an_unset_variable_names_the_variable() {
        let err = ConfigError::Missing(CONFIG_ENV).to_string();
        assert!(err.contains("PILOTLIGHT_CONFIG"));
    }
}
