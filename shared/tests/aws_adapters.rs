//! SDK error mapping on the real SDK clients, with `aws-smithy-mocks`: the modeled faults the
//! logic cares about become outcomes, everything else an error naming the call, and throttling is
//! retried by the SDK's retry configuration.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use aws_config::retry::RetryConfig;
use aws_sdk_rds::operation::describe_db_instances::{
    DescribeDBInstancesError, DescribeDbInstancesOutput,
};
use aws_sdk_rds::operation::promote_read_replica::{
    PromoteReadReplicaError, PromoteReadReplicaOutput,
};
use aws_sdk_rds::types::error::{DbInstanceNotFoundFault, InvalidDbInstanceStateFault};
use aws_sdk_rds::types::{DbInstance, Endpoint, Tag};
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::types::error::{InvalidChangeBatch, NoSuchHostedZone};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use pilotlight::aws::rds::{self, PromoteOutcome};
use pilotlight::aws::route53::{self, RecordChange};
use pilotlight::plan::failover::{RecordUpdate, TAG_PROMOTION_STARTED};
use pilotlight::plan::status::InstanceStatus;

const THROTTLED: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>";

#[tokio::test]
async fn a_second_promote_is_already_promoting_not_a_failure() {
    let rule = mock!(aws_sdk_rds::Client::promote_read_replica).then_error(|| {
        PromoteReadReplicaError::InvalidDbInstanceStateFault(
            InvalidDbInstanceStateFault::builder()
                .message("DB Instance is not a read replica.")
                .build(),
        )
    });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    assert_eq!(
        rds::promote(&rds, "orders-replica").await.ok(),
        Some(PromoteOutcome::AlreadyPromoting)
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn promoting_an_unknown_instance_is_an_error_naming_the_call() {
    let rule = mock!(aws_sdk_rds::Client::promote_read_replica).then_error(|| {
        PromoteReadReplicaError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder()
                .message("DBInstance nope not found.")
                .build(),
        )
    });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    let err = rds::promote(&rds, "nope").await.expect_err("not found");
    assert_eq!(err.operation, "PromoteReadReplica");
    assert!(err.message.contains("not found"), "{err}");
}

#[tokio::test]
async fn a_throttled_promote_is_retried_by_the_sdk() {
    let rule = mock!(aws_sdk_rds::Client::promote_read_replica)
        .sequence()
        .http_status(400, Some(THROTTLED.to_owned()))
        .times(2)
        .output(|| PromoteReadReplicaOutput::builder().build())
        .build();
    let rds = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule], |c| c
        .retry_config(
            RetryConfig::standard().with_max_attempts(pilotlight::aws::MAX_ATTEMPTS)
        ));
    assert_eq!(
        rds::promote(&rds, "orders-replica").await.ok(),
        Some(PromoteOutcome::Started)
    );
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn an_instance_that_does_not_exist_is_observed_as_none() {
    let rule = mock!(aws_sdk_rds::Client::describe_db_instances).then_error(|| {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder().build(),
        )
    });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    assert_eq!(rds::describe_instance(&rds, "gone").await.ok(), Some(None));
}

#[tokio::test]
async fn an_instance_is_read_with_its_replica_source_and_promotion_tags() {
    let rule = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        DescribeDbInstancesOutput::builder()
            .db_instances(
                DbInstance::builder()
                    .db_instance_identifier("orders-replica")
                    .db_instance_status("modifying")
                    .read_replica_source_db_instance_identifier(
                        "arn:aws:rds:us-east-1:123456789012:db:orders-primary",
                    )
                    .endpoint(
                        Endpoint::builder()
                            .address("orders-replica.x.us-west-2.rds.amazonaws.com")
                            .build(),
                    )
                    .tag_list(
                        Tag::builder()
                            .key(TAG_PROMOTION_STARTED)
                            .value("2026-11-20T03:03:00+00:00")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    let state = rds::describe_instance(&rds, "orders-replica")
        .await
        .expect("ok")
        .expect("found");
    assert_eq!(state.status, InstanceStatus::Modifying);
    assert!(state
        .replica_source
        .is_some_and(|s| s.ends_with(":db:orders-primary")));
    assert_eq!(
        state.promotion_started_at.map(|t| t.to_rfc3339()),
        Some("2026-11-20T03:03:00+00:00".into())
    );
}

fn record_update() -> RecordUpdate {
    RecordUpdate {
        hosted_zone_id: "Z1".into(),
        name: "orders-db.example.internal.".into(),
        from: vec!["orders-primary.x.us-east-1.rds.amazonaws.com".into()],
        from_ttl: Some(60),
        to: None,
        ttl: 60,
    }
}

#[tokio::test]
async fn a_record_changed_concurrently_is_a_conflict_not_an_error() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .match_requests(|r| {
            r.hosted_zone_id() == Some("Z1")
                && r.change_batch().is_some_and(|b| b.changes().len() == 2)
        })
        .then_error(|| {
            ChangeResourceRecordSetsError::InvalidChangeBatch(
                InvalidChangeBatch::builder()
                    .messages("Tried to delete resource record set [name='db.x.', type='CNAME'] but the values provided do not match the current values")
                    .build(),
            )
        });
    let r53 = mock_client!(aws_sdk_route53, [&rule]);
    let out = route53::change_record(&r53, &record_update(), "orders-replica.x", "test").await;
    assert!(
        matches!(&out, Ok(RecordChange::Conflict(m)) if m.contains("do not match")),
        "{out:?}"
    );
}

#[tokio::test]
async fn a_missing_hosted_zone_is_an_error_naming_the_call() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets).then_error(|| {
        ChangeResourceRecordSetsError::NoSuchHostedZone(NoSuchHostedZone::builder().build())
    });
    let r53 = mock_client!(aws_sdk_route53, [&rule]);
    let err = route53::change_record(&r53, &record_update(), "orders-replica.x", "test")
        .await
        .expect_err("no zone");
    assert_eq!(err.operation, "ChangeResourceRecordSets");
}

#[tokio::test]
async fn an_invalid_change_batch_that_is_not_a_conflict_is_an_error() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets).then_error(|| {
        ChangeResourceRecordSetsError::InvalidChangeBatch(
            InvalidChangeBatch::builder()
                .message(
                    "RRSet of type CNAME with DNS name example.internal. is not permitted at apex",
                )
                .build(),
        )
    });
    let r53 = mock_client!(aws_sdk_route53, [&rule]);
    let err = route53::change_record(&r53, &record_update(), "orders-replica.x", "test")
        .await
        .expect_err("apex");
    assert!(err.message.contains("apex"), "{err}");
}

#[tokio::test]
async fn deleting_a_snapshot_that_is_already_gone_is_not_a_failure() {
    use aws_sdk_rds::operation::delete_db_snapshot::DeleteDBSnapshotError;
    use aws_sdk_rds::types::error::DbSnapshotNotFoundFault;
    let rule = mock!(aws_sdk_rds::Client::delete_db_snapshot).then_error(|| {
        DeleteDBSnapshotError::DbSnapshotNotFoundFault(
            DbSnapshotNotFoundFault::builder()
                .message("DBSnapshot pilotlight-orders-1 not found.")
                .build(),
        )
    });
    let rds_client = mock_client!(aws_sdk_rds, [&rule]);
    let out = rds::delete_snapshot(
        &rds_client,
        pilotlight::plan::snapshots::DbKind::Instance,
        "pilotlight-orders-1",
    )
    .await;
    assert_eq!(out.ok(), Some(rds::CallOutcome::AlreadyGone));
}
