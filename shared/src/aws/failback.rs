//! RDS calls of a failback: read an instance with everything a replacement needs, and create
//! the cross-region read replica of the DR writer in the original region.
//!
//! API references:
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html>
//! (cross-region: `SourceDBInstanceIdentifier` is the source's ARN, the call is made in the
//! destination region, and an encrypted source needs `KmsKeyId` of a key in that region),
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBInstances.html>.

use super::rds::sdk_tags;
use super::AwsError;
use crate::plan::failback::{FbInstance, ReplicaSpec};

/// `DescribeDBInstances` of one instance; `Ok(None)` when not found.
///
/// # Errors
/// [`AwsError`] for any other failure (`unreachable` when its region does not answer).
pub async fn describe(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<FbInstance>, AwsError> {
    Ok(super::rds::describe_one(rds, instance_id)
        .await?
        .as_ref()
        .map(|i| FbInstance {
            id: i.db_instance_identifier().unwrap_or(instance_id).to_owned(),
            arn: i.db_instance_arn().unwrap_or_default().to_owned(),
            status: i.db_instance_status().unwrap_or("unknown").to_owned(),
            endpoint: i.endpoint().and_then(|e| e.address()).map(str::to_owned),
            replica_source: i
                .read_replica_source_db_instance_identifier()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            replication: i
                .status_infos()
                .iter()
                .find(|s| s.status_type() == Some("read replication"))
                .and_then(|s| s.status())
                .map(str::to_owned),
            security_groups: i
                .vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id())
                .map(str::to_owned)
                .collect(),
            security_groups_pending: i
                .vpc_security_groups()
                .iter()
                .any(|g| g.status() != Some("active")),
            instance_class: i.db_instance_class().map(str::to_owned),
            subnet_group: i
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .map(str::to_owned),
            parameter_group: i
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_name())
                .map(str::to_owned),
            option_group: i
                .option_group_memberships()
                .first()
                .and_then(|g| g.option_group_name())
                .map(str::to_owned),
            kms_key_id: i.kms_key_id().map(str::to_owned),
            encrypted: i.storage_encrypted().unwrap_or(false),
            multi_az: i.multi_az().unwrap_or(false),
            engine: i.engine().map(str::to_owned),
            deletion_protection: i.deletion_protection().unwrap_or(false),
            backup_retention_days: i.backup_retention_period(),
            tags: i
                .tag_list()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    ))
                })
                .collect(),
        }))
}

/// What `CreateDBInstanceReadReplica` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Accepted: the new instance is `creating`.
    Started,
    /// `DBInstanceAlreadyExists`: an earlier run's request (the caller reads it).
    AlreadyExists,
    /// Refused for a reason a retry cannot change (quota, capacity, a group or key that does
    /// not exist or cannot be used): the message says which.
    Refused(String),
}

/// `CreateDBInstanceReadReplica` of `spec`, called with a client of the destination region.
///
/// # Errors
/// [`AwsError`] when RDS does not answer, throttles, or denies access.
pub async fn create_replica(
    rds: &aws_sdk_rds::Client,
    spec: &ReplicaSpec,
) -> Result<CreateOutcome, AwsError> {
    let sent = rds
        .create_db_instance_read_replica()
        .db_instance_identifier(&spec.instance_id)
        .source_db_instance_identifier(&spec.source_arn)
        .set_db_instance_class(spec.instance_class.clone())
        .set_db_subnet_group_name(spec.subnet_group.clone())
        .set_db_parameter_group_name(spec.parameter_group.clone())
        .set_option_group_name(spec.option_group.clone())
        .set_vpc_security_group_ids(
            (!spec.security_groups.is_empty()).then(|| spec.security_groups.clone()),
        )
        .set_kms_key_id(spec.kms_key_id.clone())
        .multi_az(spec.multi_az)
        .deletion_protection(spec.deletion_protection)
        .publicly_accessible(false)
        .set_tags(Some(sdk_tags(&spec.tags)))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(CreateOutcome::Started),
        Err(e) => {
            let kind = e.as_service_error().map(|s| {
                (
                    s.is_db_instance_already_exists_fault(),
                    s.is_instance_quota_exceeded_fault()
                        || s.is_insufficient_db_instance_capacity_fault()
                        || s.is_storage_quota_exceeded_fault()
                        || s.is_db_subnet_group_not_found_fault()
                        || s.is_db_parameter_group_not_found_fault()
                        || s.is_option_group_not_found_fault()
                        || s.is_kms_key_not_accessible_fault()
                        || s.is_invalid_db_instance_state_fault()
                        || s.is_db_instance_not_found_fault(),
                )
            });
            // refused as such (a class the engine does not offer, a group that does not fit, no
            // permission): sending it again cannot help
            let refused_code = super::refused_as_such(&e);
            match kind {
                Some((true, _)) => Ok(CreateOutcome::AlreadyExists),
                _ if refused_code => Ok(CreateOutcome::Refused(
                    AwsError::from_sdk("CreateDBInstanceReadReplica", e).message,
                )),
                Some((_, true)) => Ok(CreateOutcome::Refused(
                    AwsError::from_sdk("CreateDBInstanceReadReplica", e).message,
                )),
                _ => Err(AwsError::from_sdk("CreateDBInstanceReadReplica", e)),
            }
        }
    }
}

/// `PromoteReadReplica` of the new instance with the old primary's `BackupRetentionPeriod`
/// (RDS's default for a promotion is 1 day,
/// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_PromoteReadReplica.html>).
/// `InvalidDBInstanceState` (already promoting, or promoted) is
/// [`super::rds::PromoteOutcome::AlreadyPromoting`]: safe to send again after a crash.
///
/// # Errors
/// [`AwsError`] for any other failure.
pub async fn promote(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
    backup_retention_days: Option<i32>,
) -> Result<super::rds::PromoteOutcome, AwsError> {
    match rds
        .promote_read_replica()
        .db_instance_identifier(instance_id)
        .set_backup_retention_period(backup_retention_days.filter(|d| *d > 0))
        .send()
        .await
    {
        Ok(_) => Ok(super::rds::PromoteOutcome::Started),
        Err(e) => {
            if e.as_service_error()
                .is_some_and(|s| s.is_invalid_db_instance_state_fault())
            {
                Ok(super::rds::PromoteOutcome::AlreadyPromoting)
            } else {
                Err(AwsError::from_sdk("PromoteReadReplica", e))
            }
        }
    }
}
