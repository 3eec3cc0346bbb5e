//! `databases[]`: what pilotlight protects — each primary, its cross-region read replica, the
//! Route 53 records that must point at the writer, the alarms and health check that say the
//! primary is down, and the RPO budget.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::aurora::{self, AuroraGlobalDatabase};
use super::names::{DbInstanceId, HostedZoneId, Region};
use super::{invalid, ConfigError};

/// One entry of `databases[]`: an RDS primary and its cross-region read replica (`kind` absent or
/// `"rds_replica"`), or an Aurora global database (`"kind": "aurora_global"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DatabaseEntry {
    /// An RDS primary and its cross-region read replica.
    Replica(ProtectedDatabase),
    /// An Aurora global database.
    AuroraGlobal(AuroraGlobalDatabase),
}

/// Separates an entry's inner field path from the message in a deserialization error, so that
/// [`super::Config::from_json`] names the whole path (`databases[1].primary.cluster_id`).
pub(super) const INNER_PATH: char = '\u{1f}';

impl<'de> Deserialize<'de> for DatabaseEntry {
    /// Dispatch on `kind`, keeping the inner field's path in the message (`primary.cluster_id:
    /// missing field`), which the outer path (`databases[1]`) prefixes.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut value = serde_json::Value::deserialize(deserializer)?;
        let kind = value
            .get("kind")
            .map(|k| k.as_str().map(str::to_owned).ok_or(k.to_string()));
        let inner = |e: serde_path_to_error::Error<serde_json::Error>| {
            D::Error::custom(format!("{}{INNER_PATH}{}", e.path(), e.inner()))
        };
        match kind {
            None => serde_path_to_error::deserialize(value)
                .map(Self::Replica)
                .map_err(inner),
            Some(Ok(k)) if k == "rds_replica" => {
                if let Some(o) = value.as_object_mut() {
                    o.remove("kind");
                }
                serde_path_to_error::deserialize(value)
                    .map(Self::Replica)
                    .map_err(inner)
            }
            Some(Ok(k)) if k == "aurora_global" => serde_path_to_error::deserialize(value)
                .map(Self::AuroraGlobal)
                .map_err(inner),
            Some(Ok(k)) | Some(Err(k)) => Err(D::Error::custom(format!(
                "kind: `{k}` is not a kind of database: use `rds_replica` (the default) or `aurora_global`"
            ))),
        }
    }
}

impl DatabaseEntry {
    fn name(&self) -> &str {
        match self {
            Self::Replica(d) => &d.name,
            Self::AuroraGlobal(d) => &d.name,
        }
    }

    fn alarms(&self) -> &[AlarmRef] {
        match self {
            Self::Replica(d) => &d.alarms,
            Self::AuroraGlobal(d) => &d.alarms,
        }
    }

    fn health_check_id(&self) -> Option<&String> {
        match self {
            Self::Replica(d) => d.health_check_id.as_ref(),
            Self::AuroraGlobal(d) => d.health_check_id.as_ref(),
        }
    }

    fn rpo_budget_seconds(&self) -> u64 {
        match self {
            Self::Replica(d) => d.rpo_budget_seconds,
            Self::AuroraGlobal(d) => d.rpo_budget_seconds,
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
    /// How the old primary is made to stop taking writes once the replica is the writer and its
    /// region answers. Default `{"mode": "stop"}`.
    #[serde(default)]
    pub fencing: Fencing,
    /// Detection from the DR region alone (off when absent): the reconcile pass opens an
    /// incident when the replica reports its source lost and the primary region's RDS API has not
    /// answered for this many consecutive passes. For when the alarm cannot fire (its region,
    /// often us-east-1, is the one that is down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_detection: Option<DrDetection>,
    /// Cross-region automated backups replication of the primary into the replica's region
    /// (point-in-time restore there, an RPO of minutes), started and watched by snapshot-copy;
    /// off when absent. `{"retention_days": 7, "max_lag_seconds": 1800}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_backups_replication: Option<BackupReplicationSettings>,
    /// How a failback's `switch` phase stops writes on the DR writer (the promoted replica) and
    /// when its new replica counts as caught up. Absent: `switch` is refused (`prepare` works).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailbackSettings>,
}

/// `databases[].failback`: `{"security_group_ids": ["sg-0123456789abcdef0"], "max_lag_seconds":
/// 30}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailbackSettings {
    /// 1 to 5 security groups without inbound rules in the **replica's** VPC: the switch moves
    /// the DR writer to them and reboots it (ending open sessions) before it waits for the new
    /// replica to catch up, so no write lands after the last one replicated.
    pub security_group_ids: Vec<String>,
    /// The new replica counts as caught up (the switch may fence the writer) when its
    /// `ReplicaLag` is at most this, seconds (default 30, 0 to 3600).
    #[serde(default = "default_failback_lag")]
    pub max_lag_seconds: u64,
    /// The longest the switch keeps the DR writer fenced before the new instance is promoted,
    /// seconds (default 900, 60 to 7200): past it the switch gives the writer its security groups
    /// back, fails and pages, and the database keeps running in the DR region.
    #[serde(default = "default_write_outage")]
    pub max_write_outage_seconds: u64,
    /// The old primary's security groups, when its fence replaced them before pilotlight
    /// recorded them (`pilotlight:groups-before-fence`): the new instance gets these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub primary_security_group_ids: Vec<String>,
}

fn default_write_outage() -> u64 {
    900
}

fn default_failback_lag() -> u64 {
    30
}

/// `databases[].automated_backups_replication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupReplicationSettings {
    /// `BackupRetentionPeriod` of the replicated backups, days (1 to 35, default 7).
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// Alert when the latest restorable time in the DR region is older than this, seconds
    /// (60 to 86400, default 1800: AWS's typical 5–30 minutes).
    #[serde(default = "default_max_lag")]
    pub max_lag_seconds: u64,
}

fn default_retention_days() -> u32 {
    7
}

fn default_max_lag() -> u64 {
    1800
}

/// `databases[].dr_detection`: `{"consecutive_passes": 5}`.
///
/// The reconcile pass runs once a minute (the schedule in `infra/`), so 5 passes is ~5 minutes
/// of an RDS API that does not answer (after the SDK's retries and the observation's timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrDetection {
    /// Consecutive reconcile passes (2 to 60) that must each see the primary region's RDS API
    /// unreachable and the replica's read replication not `replicating`.
    pub consecutive_passes: u32,
}

/// Fencing of the old primary after a failover: when its region answers again (in the failover
/// run or a later one), make it stop taking writes, tag it `pilotlight:fenced-at`, never delete it.
///
/// JSON: `{"mode": "stop"}` (default), `{"mode": "security_group", "security_group_ids":
/// ["sg-0123456789abcdef0"]}`, or `{"mode": "none"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fencing {
    /// `StopDBInstance`. RDS starts a stopped instance again after 7 days
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StopDBInstance.html>): a later
    /// failover run (the alarm's, a person's, or a scheduled one) that finds it `available` stops it
    /// again, and `status` shows it unfenced meanwhile. RDS refuses to stop an instance that still
    /// has a read replica (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html>):
    /// the refusal is reported and the next run tries again.
    #[default]
    Stop,
    /// `ModifyDBInstance` `VpcSecurityGroupIds` to these groups (one with no inbound rules): clients
    /// can no longer connect, the instance keeps running. RDS applies a security group change
    /// asynchronously, as soon as possible, whatever `ApplyImmediately` says
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ModifyInstance.Settings.html>).
    SecurityGroup {
        /// `sg-` ids, 1 to 5, in the old primary's VPC.
        security_group_ids: Vec<String>,
    },
    /// Leave the old primary alone (it stays writable: clients with cached DNS may still write to it).
    None,
}

/// An RDS DB instance in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbInstanceRef {
    /// AWS region code, e.g. `us-east-1`.
    pub region: Region,
    /// The `DBInstanceIdentifier`.
    pub instance_id: DbInstanceId,
    /// The instance's endpoint host name (`Endpoint.Address`), optional: lets the failover tell the
    /// primary's endpoint from someone else's value in a record while the primary's region cannot
    /// be read. Without it, a value `<instance_id>.<id>.<region>.rds.amazonaws.com` counts as the
    /// primary's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

/// A Route 53 record set that must point at the writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecord {
    /// Hosted zone id, with or without the `/hostedzone/` prefix (`Z0123456789ABC`).
    pub hosted_zone_id: HostedZoneId,
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
        &self.hosted_zone_id
    }
}

/// A CloudWatch alarm by name and the region it lives in (health check alarms live in `us-east-1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmRef {
    /// The alarm name.
    pub name: String,
    /// AWS region code of the alarm.
    pub region: Region,
}

/// Check `databases`: at least one; names, alarms and health checks unique; each database sound.
pub(super) fn validate(databases: &[DatabaseEntry]) -> Result<(), ConfigError> {
    if databases.is_empty() {
        return Err(invalid(
            "databases",
            "at least one protected database is required",
        ));
    }
    let mut names = HashSet::new();
    let mut alarms = HashSet::new();
    let mut health_checks = HashSet::new();
    for (i, db) in databases.iter().enumerate() {
        let at = |field: &str| format!("databases[{i}].{field}");
        if !names.insert(db.name()) {
            return Err(invalid(
                at("name"),
                format!("`{}` is used twice", db.name()),
            ));
        }
        validate_common(db, &at)?;
        match db {
            DatabaseEntry::Replica(db) => validate_one(db, &at)?,
            DatabaseEntry::AuroraGlobal(db) => aurora::validate_one(db, &at)?,
        }
        for (j, a) in db.alarms().iter().enumerate() {
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
        if let Some(hc) = db.health_check_id() {
            if hc.is_empty() || !health_checks.insert(hc.as_str()) {
                return Err(invalid(
                    at("health_check_id"),
                    format!("`{hc}` is empty or used twice"),
                ));
            }
        }
    }
    Ok(())
}

/// The rules every kind of entry shares: the name, the alarms or health check, the RPO budget.
fn validate_common(db: &DatabaseEntry, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    let name = db.name();
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(invalid(
            at("name"),
            format!("`{name}` must be 1-63 of [A-Za-z0-9_-]"),
        ));
    }
    if db.alarms().is_empty() && db.health_check_id().is_none() {
        return Err(invalid(
            at("alarms"),
            "at least one alarm or a `health_check_id` is required to know the primary is down",
        ));
    }
    if let Some(j) = db.alarms().iter().position(|a| a.name.is_empty()) {
        return Err(invalid(
            at(&format!("alarms[{j}].name")),
            "must not be empty",
        ));
    }
    if db.rpo_budget_seconds() == 0 {
        return Err(invalid(
            at("rpo_budget_seconds"),
            "must be at least 1 second",
        ));
    }
    Ok(())
}

/// An RDS replica pair's own rules; `at` turns a field into its path.
fn validate_one(db: &ProtectedDatabase, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    if let Some(d) = &db.dr_detection {
        if !matches!(db.fencing, Fencing::SecurityGroup { .. }) {
            return Err(invalid(
                at("dr_detection"),
                "needs `fencing` `security_group`: a partition between the regions looks like a lost primary from the DR side, and only a security group cuts the old primary off while it still has its replica",
            ));
        }
        if !(2..=60).contains(&d.consecutive_passes) {
            return Err(invalid(
                at("dr_detection.consecutive_passes"),
                format!(
                    "{} is outside 2..=60: one pass is no evidence, an hour is no detection",
                    d.consecutive_passes
                ),
            ));
        }
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
    validate_records(&db.records, at)?;
    if let Some(b) = &db.automated_backups_replication {
        if !(1..=35).contains(&b.retention_days) {
            return Err(invalid(
                at("automated_backups_replication.retention_days"),
                format!("{} is outside 1..=35 days", b.retention_days),
            ));
        }
        if !(60..=86_400).contains(&b.max_lag_seconds) {
            return Err(invalid(
                at("automated_backups_replication.max_lag_seconds"),
                format!("{} is outside 60..=86400 seconds", b.max_lag_seconds),
            ));
        }
    }
    if let Some(f) = &db.failback {
        validate_fencing(
            &Fencing::SecurityGroup {
                security_group_ids: f.security_group_ids.clone(),
            },
            &|field: &str| at(&field.replace("fencing.", "failback.")),
        )?;
        if !(60..=7200).contains(&f.max_write_outage_seconds) {
            return Err(invalid(
                at("failback.max_write_outage_seconds"),
                format!(
                    "{} is outside 60..=7200 seconds",
                    f.max_write_outage_seconds
                ),
            ));
        }
        if f.max_lag_seconds > 3600 {
            return Err(invalid(
                at("failback.max_lag_seconds"),
                format!("{} is outside 0..=3600 seconds", f.max_lag_seconds),
            ));
        }
    }
    validate_fencing(&db.fencing, at)
}

/// `fencing.security_group_ids`: 1 to 5 well-formed `sg-` ids.
pub(super) fn validate_fencing(
    fencing: &Fencing,
    at: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if let Fencing::SecurityGroup { security_group_ids } = fencing {
        let well_formed = |g: &String| {
            g.strip_prefix("sg-").is_some_and(|h| {
                (8..=17).contains(&h.len()) && h.chars().all(|c| c.is_ascii_hexdigit())
            })
        };
        if security_group_ids.is_empty() || security_group_ids.len() > 5 {
            return Err(invalid(
                at("fencing.security_group_ids"),
                "give 1 to 5 security group ids (one with no inbound rules)",
            ));
        }
        if let Some(bad) = security_group_ids.iter().find(|g| !well_formed(g)) {
            return Err(invalid(
                at("fencing.security_group_ids"),
                format!("`{bad}` is not a security group id (sg- and 8 or 17 hex digits)"),
            ));
        }
    }
    Ok(())
}

/// At least one record; each a `CNAME` with a name and a TTL in range.
pub(super) fn validate_records(
    records: &[DnsRecord],
    at: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if records.is_empty() {
        return Err(invalid(
            at("records"),
            "at least one Route 53 record is required",
        ));
    }
    for (j, r) in records.iter().enumerate() {
        let rat = |f: &str| at(&format!("records[{j}].{f}"));
        if r.name.trim_end_matches('.').is_empty() {
            return Err(invalid(rat("name"), "must not be empty"));
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
    Ok(())
}
