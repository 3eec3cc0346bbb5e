//! The one typed configuration of pilotlight, read from the environment and validated at start-up.
//!
//! The whole configuration is one JSON document in the variable [`CONFIG_ENV`]
//! (`PILOTLIGHT_CONFIG`); the README gives a complete example. Every function reads the same
//! document, so a deployment sets it once. Unknown fields are rejected, so that a typo (`rpo_budget`)
//! is an error at start-up and not a silently ignored safety limit.

mod aurora;
mod databases;
mod drill;
mod failover;
mod ledger;
mod names;
mod notifications;
mod retention;
mod snapshots;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use aurora::{AuroraGlobalDatabase, AuroraGlobalKind, DbClusterRef};
pub use databases::{
    AlarmRef, BackupReplicationSettings, DatabaseEntry, DbInstanceRef, DnsRecord, DrDetection,
    FailbackSettings, Fencing, ProtectedDatabase,
};
pub use drill::DrillSettings;
pub use failover::FailoverSettings;
pub use ledger::LedgerSettings;
pub use names::{DbClusterId, DbInstanceId, HostedZoneId, Region, TopicArn};
pub use notifications::{Notifications, WorkerFunctions};
pub use retention::{RetentionOverride, RetentionSettings};
pub use snapshots::{Discovery, SnapshotSettings};

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
///
/// In JSON, `databases[]` holds both kinds of protected database; here they are split by kind
/// into [`Config::databases`] (RDS replica pairs) and [`Config::aurora_global`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "RawConfig")]
pub struct Config {
    /// The protected RDS databases (primary and cross-region read replica); names unique among
    /// every kind.
    pub databases: Vec<ProtectedDatabase>,
    /// The protected Aurora global databases (`"kind": "aurora_global"` in `databases[]`).
    pub aurora_global: Vec<AuroraGlobalDatabase>,
    /// Where notifications go.
    pub notifications: Notifications,
    /// Names (or ARNs) of the worker functions the router invokes.
    pub functions: WorkerFunctions,
    /// The operations ledger: the audit trail and the per-database lease.
    pub ledger: LedgerSettings,
    /// Timing of the failover function; defaults suit a 15-minute Lambda timeout.
    pub failover: FailoverSettings,
    /// Scheduled cross-region snapshot copy; defaults apply when absent.
    pub snapshots: SnapshotSettings,
    /// Retention of pilotlight's snapshots; defaults apply when absent.
    pub retention: RetentionSettings,
    /// The DR drill (snapshot restore); defaults apply when absent.
    pub drill: DrillSettings,
}

/// The document as written: `databases[]` with both kinds in one list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    databases: Vec<DatabaseEntry>,
    notifications: Notifications,
    functions: WorkerFunctions,
    ledger: LedgerSettings,
    #[serde(default)]
    failover: FailoverSettings,
    #[serde(default)]
    snapshots: SnapshotSettings,
    #[serde(default)]
    retention: RetentionSettings,
    #[serde(default)]
    drill: DrillSettings,
}

impl From<Config> for RawConfig {
    fn from(c: Config) -> Self {
        Self {
            databases: c
                .databases
                .into_iter()
                .map(DatabaseEntry::Replica)
                .chain(c.aurora_global.into_iter().map(DatabaseEntry::AuroraGlobal))
                .collect(),
            notifications: c.notifications,
            functions: c.functions,
            ledger: c.ledger,
            failover: c.failover,
            snapshots: c.snapshots,
            retention: c.retention,
            drill: c.drill,
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
        let raw: RawConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let (path, message) = (e.path().to_string(), e.inner().to_string());
            // an entry of `databases[]` names its own inner path (see `DatabaseEntry`)
            let (path, message) = match message.split_once(databases::INNER_PATH) {
                Some((".", rest)) => (path, rest.to_owned()),
                Some((inner, rest)) => (format!("{path}.{inner}"), rest.to_owned()),
                None => (path, message),
            };
            ConfigError::Malformed {
                var: CONFIG_ENV,
                path,
                message,
            }
        })?;
        // the entries' rules with their places in the document
        databases::validate(&raw.databases)?;
        let (mut rds, mut aurora) = (vec![], vec![]);
        for entry in raw.databases {
            match entry {
                DatabaseEntry::Replica(d) => rds.push(d),
                DatabaseEntry::AuroraGlobal(d) => aurora.push(d),
            }
        }
        let config = Config {
            databases: rds,
            aurora_global: aurora,
            notifications: raw.notifications,
            functions: raw.functions,
            ledger: raw.ledger,
            failover: raw.failover,
            snapshots: raw.snapshots,
            retention: raw.retention,
            drill: raw.drill,
        };
        config.validate()?;
        Ok(config)
    }

    /// The protected RDS database called `name`.
    pub fn database(&self, name: &str) -> Option<&ProtectedDatabase> {
        self.databases.iter().find(|d| d.name == name)
    }

    /// The protected Aurora global database called `name`.
    pub fn aurora(&self, name: &str) -> Option<&AuroraGlobalDatabase> {
        self.aurora_global.iter().find(|d| d.name == name)
    }

    /// Every protected database's name, RDS first, in the document's order within each kind.
    pub fn database_names(&self) -> Vec<&str> {
        self.databases
            .iter()
            .map(|d| d.name.as_str())
            .chain(self.aurora_global.iter().map(|d| d.name.as_str()))
            .collect()
    }

    /// Every region pilotlight talks to RDS or CloudWatch in, sorted, without duplicates.
    pub fn regions(&self) -> Vec<Region> {
        let mut regions: Vec<Region> = self
            .databases
            .iter()
            .flat_map(|d| {
                [d.primary.region.clone(), d.replica.region.clone()]
                    .into_iter()
                    .chain(d.alarms.iter().map(|a| a.region.clone()))
            })
            .chain(self.aurora_global.iter().flat_map(|d| d.regions().cloned()))
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

    /// Every section's rules, in the order of the document.
    fn validate(&self) -> Result<(), ConfigError> {
        notifications::validate(&self.functions)?;
        ledger::validate(&self.ledger)?;
        snapshots::validate(&self.snapshots)?;
        retention::validate(&self.retention)?;
        drill::validate(&self.drill)?;
        failover::validate(&self.failover)
    }
}

/// A broken rule at `path`.
fn invalid(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var: CONFIG_ENV,
        path: path.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> serde_json::Value {
        serde_json::from_str(include_str!("../../../events/config.example.json"))
            .unwrap_or_default()
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
    fn fencing_defaults_to_stop_and_a_security_group_must_be_an_sg_id() {
        let mut v = example();
        v["databases"][0]
            .as_object_mut()
            .map(|o| o.remove("fencing"));
        let config = load(&v).map_err(|e| e.to_string());
        assert!(
            config.is_ok_and(|c| c.databases[0].fencing == Fencing::Stop),
            "default"
        );
        v["databases"][0]["fencing"] =
            serde_json::json!({"mode": "security_group", "security_group_ids": ["default"]});
        let err = load(&v).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            err.as_ref()
                .is_err_and(|e| e.contains("databases[0].fencing.security_group_ids")
                    && e.contains("`default`")),
            "{err:?}"
        );
        v["databases"][0]["fencing"] = serde_json::json!({"mode": "unplug"});
        let err = load(&v).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            err.as_ref()
                .is_err_and(|e| e.contains("databases[0].fencing")),
            "{err:?}"
        );
    }

    #[test]
    fn dr_detection_needs_security_group_fencing_and_sane_passes() {
        let mut v = example();
        v["databases"][0]["dr_detection"] = serde_json::json!({"consecutive_passes": 5});
        let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("databases[0].dr_detection"), "{err}");
        assert!(err.contains("security_group"), "{err}");
        v["databases"][0]["fencing"] = serde_json::json!({"mode": "security_group", "security_group_ids": ["sg-0123456789abcdef0"]});
        assert!(load(&v).is_ok());
        v["databases"][0]["dr_detection"] = serde_json::json!({"consecutive_passes": 1});
        let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("consecutive_passes"), "{err}");
        let mut v = example();
        v.as_object_mut().map(|o| o.remove("ledger"));
        let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("ledger"), "{err}");
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
    fn an_aurora_entry_is_read_by_kind_and_its_mistakes_are_named_with_their_path() {
        let aurora = serde_json::json!({
            "name": "ledger", "kind": "aurora_global", "global_cluster_id": "ledger-global",
            "primary": {"region": "us-east-1", "cluster_id": "ledger-use1"},
            "secondary": {"region": "us-west-2", "cluster_id": "ledger-usw2"},
            "alarms": [{"name": "ledger-down", "region": "us-east-1"}],
            "rpo_budget_seconds": 60
        });
        let mut v = example();
        if let Some(d) = v["databases"].as_array_mut() {
            d.insert(0, aurora.clone());
        }
        let config = load(&v).map_err(|e| e.to_string());
        assert!(
            config.as_ref().is_ok_and(|c| c.aurora_global.len() == 1
                && c.databases.len() == 1
                && c.aurora_global[0].fencing == Fencing::None),
            "{config:?}"
        );
        // the RDS entry after it keeps its place in messages
        v["databases"][1]["rpo_budget_seconds"] = 0.into();
        let err = load(&v).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("databases[1].rpo_budget_seconds"), "{err}");
        for (pointer, value, expect) in [
            (
                "/databases/0/primary/cluster_id",
                serde_json::json!("Ledger_1"),
                "databases[0].primary.cluster_id",
            ),
            (
                "/databases/0/kind",
                serde_json::json!("aurora"),
                "`aurora` is not a kind of database",
            ),
            (
                "/databases/0/fencing",
                serde_json::json!({"mode": "stop"}),
                "databases[0].fencing",
            ),
            (
                "/databases/0/secondary/region",
                serde_json::json!("us-east-1"),
                "databases[0].secondary.region",
            ),
        ] {
            let mut v = example();
            if let Some(d) = v["databases"].as_array_mut() {
                d.insert(0, aurora.clone());
            }
            v["databases"][0]["fencing"] = serde_json::json!({"mode": "none"});
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
