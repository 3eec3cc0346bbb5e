//! SDK error mapping of the Aurora global database calls on the real SDK client, with
//! `aws-smithy-mocks`: an operation already under way is an outcome, not a failure; a refusal is
//! an error naming the call; "no answer" (5xx) is transient; a missing global database or cluster
//! is `None` / `NotFound`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use aws_sdk_rds::operation::describe_db_clusters::DescribeDBClustersError;
use aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersError;
use aws_sdk_rds::operation::failover_global_cluster::FailoverGlobalClusterError;
use aws_sdk_rds::operation::switchover_global_cluster::{
    SwitchoverGlobalClusterError, SwitchoverGlobalClusterOutput,
};
use aws_sdk_rds::types::error::{
    DbClusterNotFoundFault, GlobalClusterNotFoundFault, InvalidDbClusterStateFault,
    InvalidGlobalClusterStateFault,
};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use pilotlight::aws::aurora::{self, GlobalCallOutcome};
use pilotlight::plan::aurora::ClusterRead;

const ARN: &str = "arn:aws:rds:us-west-2:123456789012:cluster:ledger-usw2";

#[tokio::test]
async fn a_failover_already_under_way_is_an_outcome_not_a_failure() {
    let rule = mock!(aws_sdk_rds::Client::failover_global_cluster)
        .match_requests(|r| {
            r.allow_data_loss() == Some(true) && r.target_db_cluster_identifier() == Some(ARN)
        })
        .then_error(|| {
            FailoverGlobalClusterError::InvalidGlobalClusterStateFault(
                InvalidGlobalClusterStateFault::builder()
                    .message("Global cluster ledger-global is failing-over")
                    .build(),
            )
        });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    let out = aurora::failover(&rds, "ledger-global", ARN)
        .await
        .expect("outcome");
    assert!(matches!(out, GlobalCallOutcome::AlreadyUnderWay(m) if m.contains("failing-over")));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_refused_switchover_is_an_error_naming_the_call_and_not_transient() {
    let rule = mock!(aws_sdk_rds::Client::switchover_global_cluster).then_error(|| {
        SwitchoverGlobalClusterError::InvalidDbClusterStateFault(
            InvalidDbClusterStateFault::builder()
                .message("cluster ledger-usw2 is not available")
                .build(),
        )
    });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    let err = aurora::switchover(&rds, "ledger-global", ARN)
        .await
        .expect_err("refused");
    assert_eq!(err.operation, "SwitchoverGlobalCluster");
    assert!(err.message.contains("not available"), "{err}");
    assert!(!err.transient());
}

#[tokio::test]
async fn a_switchover_that_gets_no_answer_is_transient_after_the_sdks_retries() {
    let rule = mock!(aws_sdk_rds::Client::switchover_global_cluster)
        .sequence()
        .http_status(503, None)
        .times(5)
        .output(|| SwitchoverGlobalClusterOutput::builder().build())
        .build();
    let rds = mock_client!(aws_sdk_rds, RuleMode::Sequential, [&rule], |c| c
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2)));
    let err = aurora::switchover(&rds, "ledger-global", ARN)
        .await
        .expect_err("no answer");
    assert!(err.unreachable && err.transient(), "{err:?}");
}

#[tokio::test]
async fn a_missing_global_database_or_cluster_is_none_not_an_error() {
    let global = mock!(aws_sdk_rds::Client::describe_global_clusters).then_error(|| {
        DescribeGlobalClustersError::GlobalClusterNotFoundFault(
            GlobalClusterNotFoundFault::builder()
                .message("nope")
                .build(),
        )
    });
    let cluster = mock!(aws_sdk_rds::Client::describe_db_clusters).then_error(|| {
        DescribeDBClustersError::DbClusterNotFoundFault(
            DbClusterNotFoundFault::builder().message("nope").build(),
        )
    });
    let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, [&global, &cluster]);
    assert_eq!(
        aurora::describe_global_cluster(&rds, "nope").await.ok(),
        Some(None)
    );
    assert_eq!(
        aurora::read_cluster(&rds, "nope").await,
        ClusterRead::NotFound
    );
}

#[tokio::test]
async fn a_failover_refused_by_iam_is_an_error_not_an_outcome() {
    let rule = mock!(aws_sdk_rds::Client::failover_global_cluster).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error><RequestId>r1</RequestId></ErrorResponse>",
            ),
        )
    });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    let err = aurora::failover(&rds, "ledger-global", ARN)
        .await
        .expect_err("denied");
    assert_eq!(err.operation, "FailoverGlobalCluster");
    assert!(!err.transient(), "{err:?}");
}

#[tokio::test]
async fn an_empty_failover_state_is_no_operation_under_way() {
    use aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersOutput;
    use aws_sdk_rds::types::{FailoverState, GlobalCluster, GlobalClusterMember};
    let rule = mock!(aws_sdk_rds::Client::describe_global_clusters).then_output(|| {
        DescribeGlobalClustersOutput::builder()
            .global_clusters(
                GlobalCluster::builder()
                    .global_cluster_identifier("ledger-global")
                    .status("available")
                    .failover_state(FailoverState::builder().build())
                    .global_cluster_members(
                        GlobalClusterMember::builder()
                            .db_cluster_arn(ARN)
                            .is_writer(true)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let rds = mock_client!(aws_sdk_rds, [&rule]);
    let g = aurora::describe_global_cluster(&rds, "ledger-global")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(
        g.failover, None,
        "an empty FailoverState is no operation: {g:?}"
    );
    assert_eq!(g.writer(), Some(ARN));
}
