//! RDS and Lambda calls of the DR drill: read a DB instance's facts, restore a snapshot copy into
//! a temporary instance, read it, delete it (only when it carries the drill's tag), and invoke
//! the user's validation function.
//!
//! API references:
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceFromDBSnapshot.html>,
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html>,
//! <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBInstances.html>.

use std::collections::BTreeMap;

use serde_json::Value;

use super::rds::sdk_tags;
use super::AwsError;
use crate::error::WorkerError;
use crate::plan::drill::{may_delete, DrillInstance, Endpoint, InstanceFacts, TAG_DRILL};

/// What the restore call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// Accepted: the instance is `creating`.
    Started,
    /// `DBInstanceAlreadyExists`: an instance with the identifier exists (the earlier request of
    /// this drill, if it carries the drill's tag: the caller reads it).
    AlreadyExists,
    /// RDS refused the restore for a reason a retry cannot change (`DBSnapshotNotFound`,
    /// `InvalidDBSnapshotState`, `InsufficientDBInstanceCapacity`, `InstanceQuotaExceeded`,
    /// `StorageQuotaExceeded`, an invalid subnet group or class...): the drill fails with it.
    Refused(String),
}

/// What the restore sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// `DBInstanceIdentifier` of the temporary instance.
    pub instance_id: String,
    /// `DBSnapshotIdentifier` (the copy, in the client's region).
    pub snapshot_id: String,
    /// `DBInstanceClass`.
    pub instance_class: String,
    /// `DBSubnetGroupName`, when configured.
    pub subnet_group: Option<String>,
    /// `VpcSecurityGroupIds`, when configured.
    pub security_groups: Vec<String>,
    /// `Tags` (the drill tag among them).
    pub tags: BTreeMap<String, String>,
}

/// `RestoreDBInstanceFromDBSnapshot`: not publicly accessible, single-AZ, no deletion
/// protection, no tags copied to snapshots, no automated backups (`BackupRetentionPeriod` 0
/// would be refused for some engines and is not needed: the instance is deleted with
/// `DeleteAutomatedBackups`).
///
/// # Errors
/// [`AwsError`] when RDS does not answer or throttles (transient: the next run retries), or
/// denies access.
pub async fn restore(
    rds: &aws_sdk_rds::Client,
    req: &RestoreRequest,
) -> Result<RestoreOutcome, AwsError> {
    let sent = rds
        .restore_db_instance_from_db_snapshot()
        .db_instance_identifier(&req.instance_id)
        .db_snapshot_identifier(&req.snapshot_id)
        .db_instance_class(&req.instance_class)
        .set_db_subnet_group_name(req.subnet_group.clone())
        .set_vpc_security_group_ids(
            (!req.security_groups.is_empty()).then(|| req.security_groups.clone()),
        )
        .publicly_accessible(false)
        .multi_az(false)
        .deletion_protection(false)
        .copy_tags_to_snapshot(false)
        .set_tags(Some(sdk_tags(&req.tags)))
        .send()
        .await;
    match sent {
        Ok(_) => Ok(RestoreOutcome::Started),
        Err(e) => {
            let refused = e.as_service_error().map(|s| {
                (
                    s.is_db_instance_already_exists_fault(),
                    s.is_db_snapshot_not_found_fault()
                        || s.is_invalid_db_snapshot_state_fault()
                        || s.is_insufficient_db_instance_capacity_fault()
                        || s.is_instance_quota_exceeded_fault()
                        || s.is_storage_quota_exceeded_fault()
                        || s.is_db_subnet_group_not_found_fault()
                        || s.is_invalid_subnet()
                        || s.is_invalid_vpc_network_state_fault()
                        || s.is_kms_key_not_accessible_fault(),
                )
            });
            // refused as such (a class the engine does not offer, a group that does not fit, no
            // permission): sending it again cannot help
            let refused_code = super::refused_as_such(&e);
            match refused {
                Some((true, _)) => Ok(RestoreOutcome::AlreadyExists),
                _ if refused_code => Ok(RestoreOutcome::Refused(
                    AwsError::from_sdk("RestoreDBInstanceFromDBSnapshot", e).message,
                )),
                Some((_, true)) => Ok(RestoreOutcome::Refused(
                    AwsError::from_sdk("RestoreDBInstanceFromDBSnapshot", e).message,
                )),
                _ => Err(AwsError::from_sdk("RestoreDBInstanceFromDBSnapshot", e)),
            }
        }
    }
}

/// `DescribeDBInstances` of one instance, with its tags and facts; `Ok(None)` when not found.
///
/// # Errors
/// [`AwsError`] for any other failure.
pub async fn describe(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
) -> Result<Option<DrillInstance>, AwsError> {
    Ok(super::rds::describe_one(rds, instance_id)
        .await?
        .as_ref()
        .map(|i| DrillInstance {
            identifier: i.db_instance_identifier().unwrap_or(instance_id).to_owned(),
            status: i.db_instance_status().unwrap_or("unknown").to_owned(),
            endpoint: i.endpoint().and_then(|e| {
                Some(Endpoint {
                    address: e.address()?.to_owned(),
                    port: e.port().unwrap_or_default(),
                })
            }),
            publicly_accessible: i.publicly_accessible().unwrap_or(false),
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
            facts: InstanceFacts {
                engine: i.engine().map(str::to_owned),
                engine_version: i.engine_version().map(str::to_owned),
                allocated_storage_gib: i.allocated_storage(),
                storage_type: i.storage_type().map(str::to_owned),
                instance_class: i.db_instance_class().map(str::to_owned),
                encrypted: i.storage_encrypted(),
            },
        }))
}

/// What deleting a drill instance did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Accepted (the instance is `deleting`).
    Deleting,
    /// `DBInstanceNotFound`: already gone.
    Gone,
    /// `InvalidDBInstanceState` (e.g. still `creating` or `modifying`): try again later.
    Busy(String),
    /// The instance does not carry `pilotlight:drill` = the drill's id: not deleted, not asked.
    NotOurs,
}

/// Delete a drill's temporary instance: read it first and send `DeleteDBInstance`
/// (`SkipFinalSnapshot`, `DeleteAutomatedBackups`) only when [`may_delete`] holds for it. The
/// role's IAM policy also allows `DeleteDBInstance` only on `pilotlight-drill-*` instances that
/// carry the [`TAG_DRILL`] key.
///
/// # Errors
/// [`AwsError`] when a call fails otherwise.
pub async fn delete(
    rds: &aws_sdk_rds::Client,
    instance_id: &str,
    drill_id: &str,
) -> Result<DeleteOutcome, AwsError> {
    let Some(instance) = describe(rds, instance_id).await? else {
        return Ok(DeleteOutcome::Gone);
    };
    if !may_delete(&instance.identifier, &instance.tags, drill_id) {
        tracing::warn!(instance = instance_id, drill = drill_id, tag = ?instance.tags.get(TAG_DRILL), "not deleting an instance that is not this drill's");
        return Ok(DeleteOutcome::NotOurs);
    }
    if instance.status == "deleting" {
        return Ok(DeleteOutcome::Deleting);
    }
    match rds
        .delete_db_instance()
        .db_instance_identifier(instance_id)
        .skip_final_snapshot(true)
        .delete_automated_backups(true)
        .send()
        .await
    {
        Ok(_) => Ok(DeleteOutcome::Deleting),
        Err(e) => match e.as_service_error() {
            Some(s) if s.is_db_instance_not_found_fault() => Ok(DeleteOutcome::Gone),
            Some(s) if s.is_invalid_db_instance_state_fault() => Ok(DeleteOutcome::Busy(
                AwsError::from_sdk("DeleteDBInstance", e).message,
            )),
            _ => Err(AwsError::from_sdk("DeleteDBInstance", e)),
        },
    }
}

/// Invoke the validation function synchronously with `payload`; its answer
/// `{"passed": bool, "detail": "..."}` is the verdict `(passed, detail)`. A function error, an
/// answer without a boolean `passed`, or a failed invocation is a failed validation, with the
/// reason as the detail.
pub async fn validate(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
) -> (bool, String) {
    match super::lambda::invoke_sync(lambda, function, payload).await {
        Ok(answer) => match answer.get("passed").and_then(Value::as_bool) {
            Some(passed) => (
                passed,
                answer
                    .get("detail")
                    .map(|d| d.as_str().map(str::to_owned).unwrap_or_else(|| d.to_string()))
                    .unwrap_or_default(),
            ),
            None => (
                false,
                format!("the validation function `{function}` answered without a boolean `passed`: {answer}"),
            ),
        },
        Err(WorkerError::Worker {
            error_type,
            message,
            ..
        }) => (
            false,
            format!("the validation function `{function}` failed: {error_type}: {message}"),
        ),
        Err(e) => (false, format!("the validation function `{function}` could not be invoked: {e}")),
    }
}
