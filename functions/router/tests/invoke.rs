//! The router's Lambda `Invoke` calls on the real SDK client, with `aws-smithy-mocks`: a worker's
//! error comes back with the worker's own error type, and an alarm is handed over asynchronously.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use aws_smithy_mocks::{mock, mock_client};
use lambda_runtime::{Context, LambdaEvent};
use pilotlight::Config;
use router::{handle, Deps};
use serde_json::{json, Value};

fn config() -> Config {
    Config::from_json(include_str!("../../../events/config.example.json")).expect("example config")
}

fn event(name: &str) -> Value {
    let raw = std::fs::read_to_string(format!(
        "{}/../../events/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    serde_json::from_str(&raw).expect("json")
}

#[tokio::test]
async fn a_workers_error_is_returned_with_its_own_error_type() {
    let rule = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|r| r.invocation_type() == Some(&InvocationType::RequestResponse))
        .then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .function_error("Unhandled")
                .payload(Blob::new(r#"{"errorType":"AwsCallFailed","errorMessage":"`PromoteReadReplica` failed: boom"}"#))
                .build()
        });
    let deps = Deps {
        config: config(),
        lambda: mock_client!(aws_sdk_lambda, [&rule]),
        ledger: None,
    };

    let err = handle(
        &deps,
        LambdaEvent::new(json!({"command": "status"}), Context::default()),
    )
    .await
    .expect_err("worker failed");
    let err = lambda_runtime::Diagnostic::from(err);

    assert_eq!(err.error_type, "AwsCallFailed");
    assert!(
        err.error_message.contains("pilotlight-failover") && err.error_message.contains("boom"),
        "{}",
        err.error_message
    );
}

#[tokio::test]
async fn a_manual_command_returns_the_workers_result() {
    let rule = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|r| r.function_name() == Some("pilotlight-failover"))
        .then_output(|| {
            InvokeOutput::builder()
                .status_code(200)
                .payload(Blob::new(r#"{"databases":[]}"#))
                .build()
        });
    let deps = Deps {
        config: config(),
        lambda: mock_client!(aws_sdk_lambda, [&rule]),
        ledger: None,
    };

    let out = handle(
        &deps,
        LambdaEvent::new(json!({"command": "status"}), Context::default()),
    )
    .await
    .expect("ok");

    assert_eq!(out, json!({"databases": []}));
}

#[tokio::test]
async fn an_alarm_is_handed_to_the_failover_function_asynchronously() {
    let rule = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(|r| {
            r.invocation_type() == Some(&InvocationType::Event)
                && r.payload().is_some_and(|p| {
                    let v: Value = serde_json::from_slice(p.as_ref()).unwrap_or_default();
                    v["command"] == "failover"
                        && v["database"] == "orders"
                        && v["trigger"]["state"] == "ALARM"
                })
        })
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let deps = Deps {
        config: config(),
        lambda: mock_client!(aws_sdk_lambda, [&rule]),
        ledger: None,
    };

    let out = handle(
        &deps,
        LambdaEvent::new(event("sns-alarm-orders-alarm.json"), Context::default()),
    )
    .await
    .expect("routed");

    assert_eq!(out["routed"][0]["status_code"], 202);
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn bad_input_invokes_nothing() {
    let rule = mock!(aws_sdk_lambda::Client::invoke)
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let deps = Deps {
        config: config(),
        lambda: mock_client!(aws_sdk_lambda, [&rule]),
        ledger: None,
    };
    for name in [
        "bad-unknown-command.json",
        "bad-unknown-database.json",
        "bad-misspelt-field.json",
    ] {
        let err = handle(&deps, LambdaEvent::new(event(name), Context::default()))
            .await
            .expect_err(name);
        assert!(!err.to_string().is_empty(), "{name}");
    }
    let ignored = handle(
        &deps,
        LambdaEvent::new(event("sns-alarm-orders-ok.json"), Context::default()),
    )
    .await
    .expect("ok");
    assert_eq!(ignored["routed"][0]["action"], "ignore");
    // an alarm of no protected database: ignored, a successful invocation (no retry, no loop)
    let unknown = handle(
        &deps,
        LambdaEvent::new(event("sns-alarm-unknown.json"), Context::default()),
    )
    .await
    .expect("an unknown alarm is not an error");
    assert_eq!(unknown["routed"][0]["action"], "ignore");
    assert_eq!(rule.num_calls(), 0);
}
