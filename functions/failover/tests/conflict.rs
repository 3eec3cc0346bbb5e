//! A whole failover on the real SDK clients with `aws-smithy-mocks`, for the one path the
//! emulator cannot stage: a person repoints the record between the run's observation and its
//! compare-and-swap. Route 53 refuses the swap, the record read again holds the person's value,
//! and the run stops with `Conflict` instead of overwriting it. And the ledger's own failure:
//! DynamoDB refusing the lease stops the run before any change.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::collections::HashMap;

use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
use aws_sdk_cloudwatch::types::{Datapoint, MetricAlarm, StateValue};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_rds::operation::add_tags_to_resource::AddTagsToResourceOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::promote_read_replica::PromoteReadReplicaOutput;
use aws_sdk_rds::types::{DbInstance, DbInstanceStatusInfo, Endpoint};
use aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError;
use aws_sdk_route53::operation::get_health_check_status::GetHealthCheckStatusOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::types::error::InvalidChangeBatch;
use aws_sdk_route53::types::{
    HealthCheckObservation, ResourceRecord, ResourceRecordSet, RrType, StatusReport,
};
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::Utc;
use failover::{failover, Deps};
use pilotlight::aws::Clients;
use pilotlight::command::{AlarmTrigger, Delivery, FailoverRequest};
use pilotlight::Config;

const PRIMARY_ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:orders-primary";
const REPLICA_ARN: &str = "arn:aws:rds:us-west-2:123456789012:db:orders-replica";
const PRIMARY: &str = "orders-primary.abc.us-east-1.rds.amazonaws.com";
const REPLICA: &str = "orders-replica.abc.us-west-2.rds.amazonaws.com";
const PERSON: &str = "orders-manual.abc.eu-west-1.rds.amazonaws.com";

fn instance(
    id: &str,
    arn: &str,
    endpoint: &str,
    source: Option<&str>,
) -> DescribeDbInstancesOutput {
    DescribeDbInstancesOutput::builder()
        .db_instances(
            DbInstance::builder()
                .db_instance_identifier(id)
                .db_instance_arn(arn)
                .db_instance_status("available")
                .endpoint(Endpoint::builder().address(endpoint).build())
                .set_read_replica_source_db_instance_identifier(source.map(str::to_owned))
                .engine("postgres")
                // A replica that lost its source: the evidence an automatic failover needs.
                .set_status_infos(source.map(|_| {
                    vec![DbInstanceStatusInfo::builder()
                        .status_type("read replication")
                        .status("error")
                        .normal(false)
                        .message("the source is unreachable")
                        .build()]
                }))
                .build(),
        )
        .build()
}

/// A ledger that grants every lease (token 1) and accepts every write (the rule of the
/// operation's transactions is returned); `GetItem` finds nothing.
fn ledger() -> (aws_sdk_dynamodb::Client, aws_smithy_mocks::Rule) {
    let update = mock!(aws_sdk_dynamodb::Client::update_item)
        .sequence()
        .output(|| {
            UpdateItemOutput::builder()
                .attributes("lease_token", AttributeValue::N("1".into()))
                .attributes("lease_owner", AttributeValue::S("me".into()))
                .attributes("lease_expires_at_ms", AttributeValue::N("0".into()))
                .build()
        })
        .repeatedly()
        .build();
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .output(|| GetItemOutput::builder().build())
        .repeatedly()
        .build();
    let put = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .sequence()
        .output(|| TransactWriteItemsOutput::builder().build())
        .repeatedly()
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&update, &get, &put]);
    (client, put)
}

fn cname(value: &str) -> ListResourceRecordSetsOutput {
    ListResourceRecordSetsOutput::builder()
        .resource_record_sets(
            ResourceRecordSet::builder()
                .name("orders-db.example.internal.")
                .r#type(RrType::Cname)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(value).build().unwrap())
                .build()
                .unwrap(),
        )
        .is_truncated(false)
        .max_items(1)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_record_repointed_by_a_person_during_the_failover_stops_it_with_a_conflict() {
    let now = Utc::now();
    let config = Config::from_json(include_str!("../../../events/config.example.json")).unwrap();

    // The replica: a read replica of the primary, then standalone once promoted.
    let replica_describe = mock!(aws_sdk_rds::Client::describe_db_instances)
        .sequence()
        .output(|| instance("orders-replica", REPLICA_ARN, REPLICA, Some(PRIMARY_ARN)))
        .output(|| instance("orders-replica", REPLICA_ARN, REPLICA, None))
        .repeatedly()
        .build();
    let tag = mock!(aws_sdk_rds::Client::add_tags_to_resource)
        .then_output(|| AddTagsToResourceOutput::builder().build());
    let promote = mock!(aws_sdk_rds::Client::promote_read_replica)
        .then_output(|| PromoteReadReplicaOutput::builder().build());
    let rds_dr = mock_client!(
        aws_sdk_rds,
        RuleMode::MatchAny,
        [&replica_describe, &tag, &promote]
    );
    // RDS reports the primary `failed` (it takes no writes: nothing to fence first).
    let primary_describe = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| {
        let mut out = instance("orders-primary", PRIMARY_ARN, PRIMARY, None);
        if let Some(i) = out.db_instances.as_mut().and_then(|v| v.first_mut()) {
            i.db_instance_status = Some("failed".into());
        }
        out
    });
    let rds_primary = mock_client!(aws_sdk_rds, [&primary_describe]);

    // Replica lag 4 s before the alarm; the alarm in ALARM; every checker failing.
    let lag = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics).then_output(move || {
        GetMetricStatisticsOutput::builder()
            .datapoints(
                Datapoint::builder()
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        now.timestamp() - 60,
                    ))
                    .maximum(4.0)
                    .build(),
            )
            .build()
    });
    let cw_dr = mock_client!(aws_sdk_cloudwatch, [&lag]);
    let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms).then_output(move || {
        DescribeAlarmsOutput::builder()
            .metric_alarms(
                MetricAlarm::builder()
                    .alarm_name("orders-primary-unhealthy")
                    .state_value(StateValue::Alarm)
                    .state_updated_timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_secs(
                        now.timestamp(),
                    ))
                    .build(),
            )
            .build()
    });
    // No HealthCheckStatus or TransactionLogsGeneration datapoints: the onset is the alarm's.
    let no_metrics = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .sequence()
        .output(|| GetMetricStatisticsOutput::builder().build())
        .repeatedly()
        .build();
    let cw_primary = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&alarms, &no_metrics]
    );

    // Route 53: the record on the primary when observed, the person's value when read again.
    let health = mock!(aws_sdk_route53::Client::get_health_check_status).then_output(|| {
        let failing = || {
            HealthCheckObservation::builder()
                .status_report(StatusReport::builder().status("Failure: timed out").build())
                .build()
        };
        GetHealthCheckStatusOutput::builder()
            .health_check_observations(failing())
            .health_check_observations(failing())
            .health_check_observations(failing())
            .build()
            .unwrap()
    });
    let records = mock!(aws_sdk_route53::Client::list_resource_record_sets)
        .sequence()
        .output(|| cname(PRIMARY))
        .output(|| cname(PERSON))
        .repeatedly()
        .build();
    let swap = mock!(aws_sdk_route53::Client::change_resource_record_sets).then_error(|| {
        ChangeResourceRecordSetsError::InvalidChangeBatch(
            InvalidChangeBatch::builder()
                .messages("Tried to delete resource record set [name='orders-db.example.internal.', type='CNAME'] but the values provided do not match the current values")
                .build(),
        )
    });
    let route53 = mock_client!(
        aws_sdk_route53,
        RuleMode::MatchAny,
        [&health, &records, &swap]
    );
    let publish = mock!(aws_sdk_sns::Client::publish)
        .sequence()
        .output(|| PublishOutput::builder().message_id("m").build())
        .repeatedly()
        .build();
    let sns = mock_client!(aws_sdk_sns, [&publish]);

    let (dynamodb, ledger_writes) = ledger();
    let clients = Clients::from_parts(
        HashMap::from([
            ("us-west-2".to_owned(), rds_dr),
            ("us-east-1".to_owned(), rds_primary),
        ]),
        HashMap::from([
            ("us-west-2".to_owned(), cw_dr),
            ("us-east-1".to_owned(), cw_primary),
        ]),
        route53,
        sns,
        dynamodb,
    );
    let deps = Deps { config, clients };
    let request = FailoverRequest {
        database: "orders".into(),
        dry_run: false,
        force: false,
        reason: None,
        dr_detection: None,
        trigger: Some(AlarmTrigger {
            alarm_name: "orders-primary-unhealthy".into(),
            state: "ALARM".into(),
            state_change_time: Some(now),
            region: Some("us-east-1".into()),
            health_check_id: None,
            delivered_by: Delivery::Sns,
        }),
    };

    let err = failover(&deps, &request, now, None)
        .await
        .expect_err("conflict");

    assert_eq!(err.error_type(), "Conflict", "{err}");
    assert!(err.to_string().contains(PERSON), "{err}");
    assert_eq!(promote.num_calls(), 1, "the replica was promoted");
    assert_eq!(
        swap.num_calls(),
        1,
        "one compare-and-swap, never a second write"
    );
    assert_eq!(
        records.num_calls(),
        2,
        "observed, then read again after the refusal"
    );
    assert_eq!(publish.num_calls(), 2, "decision, then failed");
    assert_eq!(
        ledger_writes.num_calls(),
        2,
        "the operation recorded open before the promotion, then closed `failed`"
    );
}

#[tokio::test]
async fn a_ledger_that_refuses_the_lease_stops_the_run_before_any_change() {
    let config = Config::from_json(include_str!("../../../events/config.example.json")).unwrap();
    let throttled = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("Rate of requests exceeds the allowed throughput")
                .build(),
        )
    });
    let dynamodb = mock_client!(aws_sdk_dynamodb, [&throttled]);
    let promote = mock!(aws_sdk_rds::Client::promote_read_replica)
        .then_output(|| PromoteReadReplicaOutput::builder().build());
    let rds = mock_client!(aws_sdk_rds, [&promote]);
    let cw = mock_client!(aws_sdk_cloudwatch, []);
    let publish = mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("m").build());
    let clients = Clients::from_parts(
        HashMap::from([
            ("us-west-2".to_owned(), rds.clone()),
            ("us-east-1".to_owned(), rds),
        ]),
        HashMap::from([
            ("us-west-2".to_owned(), cw.clone()),
            ("us-east-1".to_owned(), cw),
        ]),
        mock_client!(aws_sdk_route53, []),
        mock_client!(aws_sdk_sns, [&publish]),
        dynamodb,
    );
    let deps = Deps { config, clients };
    let request = FailoverRequest {
        database: "orders".into(),
        dry_run: false,
        force: true,
        reason: Some("drill".into()),
        trigger: None,
        dr_detection: None,
    };
    let err = failover(&deps, &request, Utc::now(), None)
        .await
        .expect_err("no lease, no failover");
    assert_eq!(err.error_type(), "AwsCallFailed", "{err}");
    assert!(err.to_string().contains("UpdateItem"), "{err}");
    assert!(err.to_string().contains("ledger"), "{err}");
    assert_eq!(promote.num_calls(), 0, "nothing promoted without the lease");
    assert_eq!(publish.num_calls(), 0);
}
