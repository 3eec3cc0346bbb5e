//! `databases[]` entries with `"kind": "aurora_global"`: an Aurora global database, its primary
//! cluster and the secondary cluster pilotlight switches or fails over to.

use serde::{Deserialize, Serialize};

use super::databases::{validate_fencing, validate_records, AlarmRef, DnsRecord, Fencing};
use super::names::{DbClusterId, Region};
use super::{invalid, ConfigError};

/// An Aurora global database that pilotlight switches over (planned, no data loss) or fails over
/// (emergency, `AllowDataLoss`) from its primary cluster to one secondary cluster.
///
/// JSON: `{"name": "ledger", "kind": "aurora_global", "global_cluster_id": "ledger-global",
/// "primary": {"region": "us-east-1", "cluster_id": "ledger-use1"}, "secondary": {"region":
/// "us-west-2", "cluster_id": "ledger-usw2"}, "records": [], "alarms": [...], "health_check_id":
/// "...", "rpo_budget_seconds": 60}`.
///
/// Switchover and failover: <https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html>.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuroraGlobalDatabase {
    /// Short name used in commands and notifications: 1–63 of `[A-Za-z0-9_-]`, unique among all
    /// `databases[]`.
    pub name: String,
    /// Always `aurora_global` (what tells this entry from an RDS replica pair).
    pub kind: AuroraGlobalKind,
    /// The global database's `GlobalClusterIdentifier`.
    pub global_cluster_id: DbClusterId,
    /// The writer cluster today.
    pub primary: DbClusterRef,
    /// The secondary cluster that becomes the writer (another region than the primary).
    pub secondary: DbClusterRef,
    /// Route 53 records to repoint at the new writer cluster's endpoint; optional: applications
    /// that use the global writer endpoint need none (Aurora moves it), and pilotlight then only
    /// verifies that the writer moved.
    #[serde(default)]
    pub records: Vec<DnsRecord>,
    /// CloudWatch alarms that watch the primary.
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
    /// Route 53 health check on the primary (mapped through its alarm's `HealthCheckId`).
    #[serde(default)]
    pub health_check_id: Option<String>,
    /// RPO budget in seconds: the largest lag of the secondary at the failure
    /// (`AuroraGlobalDBRPOLag`, else `AuroraGlobalDBReplicationLag`; read in milliseconds,
    /// compared in seconds) an automatic failover may accept.
    pub rpo_budget_seconds: u64,
    /// What to do to the old primary cluster once the secondary is the writer and the old
    /// primary's region answers. `none` (default): Aurora itself makes it a read-only secondary
    /// when it rejoins, and pilotlight verifies it is not a writer. `security_group`:
    /// `ModifyDBCluster` `VpcSecurityGroupIds` when it is found still a writer outside the global
    /// database. `stop` is refused: RDS cannot stop a cluster that is a member of a global database
    /// (<https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-cluster-stop-start.html>).
    #[serde(default = "no_fencing")]
    pub fencing: Fencing,
}

fn no_fencing() -> Fencing {
    Fencing::None
}

/// The one value of `databases[].kind` for Aurora: `"aurora_global"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuroraGlobalKind {
    /// An Aurora global database.
    AuroraGlobal,
}

/// An Aurora DB cluster in a region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbClusterRef {
    /// AWS region code.
    pub region: Region,
    /// The `DBClusterIdentifier`.
    pub cluster_id: DbClusterId,
}

impl AuroraGlobalDatabase {
    /// Every region the entry names (its clusters' and its alarms'), for the clients.
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        [&self.primary.region, &self.secondary.region]
            .into_iter()
            .chain(self.alarms.iter().map(|a| &a.region))
    }
}

/// One Aurora entry's own rules; `at` turns a field into its path.
pub(super) fn validate_one(
    db: &AuroraGlobalDatabase,
    at: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    if db.primary.region == db.secondary.region {
        return Err(invalid(
            at("secondary.region"),
            format!(
                "`{}` is the primary's region: the secondary cluster must be in another region",
                db.secondary.region
            ),
        ));
    }
    if db.primary.cluster_id == db.secondary.cluster_id {
        // allowed by AWS (identifiers are per region), but a configuration that cannot tell them
        // apart in a report is a mistake waiting to happen
        return Err(invalid(
            at("secondary.cluster_id"),
            "must differ from the primary's: reports and notifications name clusters by id",
        ));
    }
    if !db.records.is_empty() {
        validate_records(&db.records, at)?;
    }
    match &db.fencing {
        Fencing::Stop => {
            return Err(invalid(
                at("fencing"),
                "`stop` is not possible for Aurora global databases: RDS cannot stop a cluster that is a member of a global database; use `none` (Aurora demotes the old primary itself) or `security_group`",
            ))
        }
        Fencing::SecurityGroup { .. } | Fencing::None => {}
    }
    validate_fencing(&db.fencing, at)
}
