//! A burst of RDS snapshot events (issue 15): retention's deletions emit one event each and a
//! copy queue finishing emits one per copy. 1,000 events through the router start at most one
//! snapshot-copy run, which passes once more for the events queued meanwhile; deletions start
//! nothing. The router and snapshot-copy run under their roles from `infra/sam/template.yaml`
//! (IAM enforced) against the emulator's DynamoDB (the gate) and RDS; the router's Lambda `Invoke`
//! is a mock that counts the runs started.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_smithy_mocks::{mock, mock_client};
use lambda_runtime::{Context, LambdaEvent};
use pilotlight::aws::dynamodb::Ledger;
use pilotlight::command::SnapshotCopyRequest;
use serde_json::{json, Value};
use tests::{Emulator, Scenario};

/// An EventBridge RDS snapshot event `event_id` about snapshot `id`.
fn event(event_id: &str, id: &str) -> Value {
    json!({
        "version": "0", "id": format!("e-{id}-{event_id}"), "detail-type": "RDS DB Snapshot Event",
        "source": "aws.rds", "account": "123456789012", "time": "2026-12-05T03:00:00Z",
        "region": "us-west-2", "resources": [format!("arn:aws:rds:us-west-2:123456789012:snapshot:{id}")],
        "detail": {
            "EventCategories": ["notification"], "SourceType": "SNAPSHOT",
            "SourceArn": format!("arn:aws:rds:us-west-2:123456789012:snapshot:{id}"),
            "Date": "2026-12-05T03:00:00.000Z", "Message": "event", "SourceIdentifier": id,
            "EventID": event_id
        }
    })
}

#[tokio::test]
async fn a_thousand_snapshot_events_start_one_run_that_passes_once_more() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "burst", None, 300).await;
    let mut config = s.config.clone();
    config.functions.snapshot_copy = Some("burst-snapshot-copy".into());
    // answers up to 10 invocations (a broken gate fails the count below, not the mock)
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .sequence()
        .output(|| InvokeOutput::builder().status_code(202).build())
        .times(10)
        .build();
    let router_clients = s.role_clients("router", &config);
    let deps = router::Deps {
        config: config.clone(),
        lambda: mock_client!(aws_sdk_lambda, [&invoke]),
        ledger: Some(Ledger::new(
            router_clients.dynamodb.clone(),
            &config.ledger.table_name,
        )),
    };
    // 500 deletions (retention's pass) and 500 finished copies, interleaved, 50 at a time
    let events: Vec<Value> = (0..1000)
        .map(|i| {
            let id = format!("pilotlight-orders-primary-2026120{}{i:04}", i % 7);
            event(
                if i % 2 == 0 {
                    "RDS-EVENT-0041"
                } else {
                    "RDS-EVENT-0060"
                },
                &id,
            )
        })
        .collect();
    let mut coalesced = 0;
    let mut ignored = 0;
    for (n, chunk) in events.chunks(50).enumerate() {
        let answers = futures::future::join_all(chunk.iter().enumerate().map(|(i, e)| {
            let mut context = Context::default();
            context.request_id = format!("req-{n}-{i}");
            router::handle(&deps, LambdaEvent::new(e.clone(), context))
        }))
        .await;
        for a in answers {
            let a = a.expect("routed");
            let first = &a["routed"][0];
            if first["action"] == "ignore"
                && first["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("coalesced"))
            {
                coalesced += 1;
            } else if a["routed"].as_array().is_some_and(Vec::is_empty) {
                ignored += 1;
            }
        }
    }
    assert_eq!(invoke.num_calls(), 1, "one run started for 1,000 events");
    assert_eq!(ignored, 500, "deletions start nothing");
    assert_eq!(
        coalesced, 499,
        "the other 499 copy events are queued into the run in flight"
    );

    // the run: one pass, then once more for what was queued, then it leaves the gate
    let gate = s
        .aws
        .dynamodb
        .get_item()
        .table_name(&config.ledger.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("job#snapshot-copy".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("gate".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("gate");
    let owner = gate
        .item()
        .and_then(|i| i.get("gate_owner"))
        .and_then(|v| v.as_s().ok())
        .cloned()
        .expect("the gate is held by the run started");
    let copy_deps = snapshot_copy::Deps {
        clients: s.role_clients("snapshot-copy", &config),
        config: config.clone(),
    };
    let report = snapshot_copy::run(
        &copy_deps,
        &SnapshotCopyRequest {
            database: None,
            dry_run: false,
            gate: Some(owner),
        },
        chrono::Utc::now(),
    )
    .await
    .expect("snapshot-copy run");
    assert_eq!(report.passes, 2, "{report:#?}");
    // the gate is free: the next event starts the next run
    let mut context = Context::default();
    context.request_id = "req-after".into();
    router::handle(
        &deps,
        LambdaEvent::new(
            event("RDS-EVENT-0042", "pilotlight-orders-primary-x"),
            context,
        ),
    )
    .await
    .expect("routed");
    assert_eq!(invoke.num_calls(), 2);
}

#[tokio::test]
async fn a_command_cannot_claim_the_gate() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "claim", None, 300).await;
    let mut config = s.config.clone();
    config.functions.snapshot_copy = Some("claim-snapshot-copy".into());
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let deps = router::Deps {
        config,
        lambda: mock_client!(aws_sdk_lambda, [&invoke]),
        ledger: None,
    };
    let err = router::handle(
        &deps,
        LambdaEvent::new(
            json!({"command": "snapshot-copy", "gate": "router/someone"}),
            Context::default(),
        ),
    )
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("`gate`"), "{err}");
    assert_eq!(invoke.num_calls(), 0);
}
