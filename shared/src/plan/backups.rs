//! Cross-region automated backups replication (`databases[].automated_backups_replication`):
//! point-in-time restore in the DR region with an RPO of minutes, reconciled by snapshot-copy.
//! Pure: what to start, and each database's RPO exposure from the replicated backup's latest
//! restorable time.
//!
//! AWS: supported for RDS for MySQL, PostgreSQL, MariaDB, Oracle, SQL Server and Db2 instances
//! (not Aurora, not Multi-AZ DB clusters); the call is made in the destination region; an
//! encrypted source needs a KMS key of the destination region; replication is asynchronous (an RPO
//! of 5–30 minutes is typical)
//! (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.RDS_Fea_Regions_DB-eng.Feature.CrossRegionAutomatedBackups.html>,
//! <https://docs.aws.amazon.com/prescriptive-guidance/latest/dr-standard-edition-amazon-rds/rds-pitr-snapshot.html>).

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The source instance, as `DescribeDBInstances` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInstance {
    /// `DBInstanceArn`.
    pub arn: String,
    /// `StorageEncrypted`.
    pub encrypted: bool,
    /// `Engine`.
    pub engine: String,
}

/// An automated backup listed in a region (`DescribeDBInstanceAutomatedBackups`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicatedBackup {
    /// `DBInstanceArn`: the source instance's ARN.
    pub source_arn: String,
    /// `Region`: the source's region.
    pub source_region: String,
    /// `Status` (`replicating`, `active`, `retained`, `creating`, `pending`).
    pub status: String,
    /// `RestoreWindow.LatestTime` (UTC).
    pub latest_restorable: Option<DateTime<Utc>>,
}

/// What a run does for one database's replication, and what it reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackupReplication {
    /// The protected database.
    pub database: String,
    /// The DR region (the replica's).
    pub region: String,
    /// `start` (none replicates there), `replicating` (one does), `unsupported` (the engine),
    /// `unknown` (the source or the region could not be read), `started` / `failed` after the
    /// run's call.
    pub state: String,
    /// The latest point in time a restore in the DR region can reach (UTC).
    pub latest_restorable_time: Option<DateTime<Utc>>,
    /// Seconds of data a restore there would lose now: now − the latest restorable time.
    pub rpo_exposure_seconds: Option<i64>,
    /// The threshold (`max_lag_seconds`).
    pub max_lag_seconds: u64,
    /// Why this database alerts: the exposure over the threshold, no replication, a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
}

/// Engines AWS replicates automated backups of.
pub fn supported(engine: &str) -> bool {
    ["mysql", "postgres", "mariadb", "oracle", "sqlserver", "db2"]
        .iter()
        .any(|e| engine.starts_with(e))
}

/// The replication of `source` into `region`: replicating (with its exposure at `now`), or to
/// start; `existing` is what `DescribeDBInstanceAutomatedBackups` lists in `region`. A backup
/// `retained` (replication stopped) does not count: it is started again.
pub fn plan_backup_replication(
    database: &str,
    region: &str,
    source: &SourceInstance,
    existing: &[ReplicatedBackup],
    max_lag_seconds: u64,
    now: DateTime<Utc>,
) -> BackupReplication {
    let mut r = BackupReplication {
        database: database.to_owned(),
        region: region.to_owned(),
        state: "start".into(),
        latest_restorable_time: None,
        rpo_exposure_seconds: None,
        max_lag_seconds,
        alert: None,
    };
    if !supported(&source.engine) {
        r.state = "unsupported".into();
        r.alert = Some(format!(
            "`{database}`: engine `{}` has no cross-region automated backups replication",
            source.engine
        ));
        return r;
    }
    let current = existing
        .iter()
        .filter(|b| b.source_arn == source.arn && b.status != "retained")
        .max_by_key(|b| b.latest_restorable);
    let Some(b) = current else {
        return r;
    };
    r.state = "replicating".into();
    r.latest_restorable_time = b.latest_restorable;
    r.rpo_exposure_seconds = b.latest_restorable.map(|t| (now - t).num_seconds().max(0));
    match r.rpo_exposure_seconds {
        Some(e) if e > max_lag_seconds as i64 => {
            r.alert = Some(format!(
                "`{database}` in `{region}`: the replicated automated backups lag {e} s, over {max_lag_seconds} s"
            ));
        }
        Some(_) => {}
        // just started: no restorable time yet
        None => r.state = b.status.clone(),
    }
    r
}
