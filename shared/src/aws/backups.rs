//! Amazon RDS cross-region automated backups replication: the source instance
//! (`DescribeDBInstances`), the replicated automated backups in a DR region
//! (`DescribeDBInstanceAutomatedBackups`) and starting a replication
//! (`StartDBInstanceAutomatedBackupsReplication`, called in the destination region).
//!
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StartDBInstanceAutomatedBackupsReplication.html>,
//! <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReplicateBackups.html>.

use super::{to_chrono, AwsError};
use crate::plan::backups::{ReplicatedBackup, SourceInstance};

/// `DescribeDBInstances` of the source: its ARN, encryption and engine; `Ok(None)` when it does
/// not exist.
///
/// # Errors
/// [`AwsError`] for any other failure.
pub async fn source_instance(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<SourceInstance>, AwsError> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().map(|i| SourceInstance {
            arn: i.db_instance_arn().unwrap_or_default().to_owned(),
            encrypted: i.storage_encrypted().unwrap_or(false),
            engine: i.engine().unwrap_or_default().to_owned(),
        })),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_db_instance_not_found_fault()) =>
        {
            Ok(None)
        }
        Err(e) => Err(AwsError::from_sdk("DescribeDBInstances", e)),
    }
}

/// `DescribeDBInstanceAutomatedBackups` in the client's region, every page: the automated
/// backups there, replicated ones included (their `DBInstanceArn` is the source's).
///
/// # Errors
/// [`AwsError`] when a page cannot be read.
pub async fn replicated_backups(
    rds: &aws_sdk_rds::Client,
) -> Result<Vec<ReplicatedBackup>, AwsError> {
    let mut pages = rds
        .describe_db_instance_automated_backups()
        .into_paginator()
        .page_size(super::rds::PAGE_SIZE)
        .items()
        .send();
    let mut out = vec![];
    while let Some(item) = pages.next().await {
        let b = item.map_err(|e| {
            AwsError::new("DescribeDBInstanceAutomatedBackups", e.into_service_error())
        })?;
        out.push(ReplicatedBackup {
            source_arn: b.db_instance_arn().unwrap_or_default().to_owned(),
            source_region: b.region().unwrap_or_default().to_owned(),
            status: b.status().unwrap_or_default().to_owned(),
            latest_restorable: b
                .restore_window()
                .and_then(|w| w.latest_time())
                .and_then(to_chrono),
        });
    }
    Ok(out)
}

/// `StartDBInstanceAutomatedBackupsReplication` of `source_arn` into the client's region, with
/// `retention_days` and, for an encrypted source, the destination region's KMS key.
///
/// # Errors
/// [`AwsError`] naming the call (e.g. `DBInstanceAutomatedBackupQuotaExceeded`,
/// `KMSKeyNotAccessibleFault`, `InvalidDBInstanceState`).
pub async fn start_replication(
    rds: &aws_sdk_rds::Client,
    source_arn: &str,
    retention_days: i32,
    kms_key_id: Option<&str>,
) -> Result<(), AwsError> {
    rds.start_db_instance_automated_backups_replication()
        .source_db_instance_arn(source_arn)
        .backup_retention_period(retention_days)
        .set_kms_key_id(kms_key_id.map(str::to_owned))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("StartDBInstanceAutomatedBackupsReplication", e))
}
