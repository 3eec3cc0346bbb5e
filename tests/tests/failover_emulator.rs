//! The failover function's handler against the local AWS emulator: state is checked with the AWS
//! API (instance, record, messages) and the emulator's request log, not with logs.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use chrono::Utc;
use failover::{failover, handle, Outcome};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use tests::{Emulator, Scenario};

async fn assert_failed_over(s: &Scenario) {
    let (source, status) = s.replica().await;
    assert_eq!(source, None, "the replica is standalone");
    assert_eq!(status, "available");
    assert_eq!(
        s.record_values().await,
        vec![s.replica_endpoint.clone()],
        "the record points to the promoted replica"
    );
}

#[tokio::test]
async fn an_alarm_on_a_down_primary_promotes_the_replica_repoints_dns_and_notifies() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "orders", Some(4.0), 300).await;
    s.primary_down(&emu).await;

    let report = failover(&s.failover_deps(), &s.alarm_request(), Utc::now(), None)
        .await
        .expect("failover");

    assert_eq!(report.outcome, Outcome::FailedOver, "{report:#?}");
    assert_failed_over(&s).await;
    assert_eq!(report.rpo_seconds, Some(4.0));
    // The RTO in its parts: every part this run saw, and pilotlight's share as their sum.
    let b = &report.rto_breakdown;
    for (part, value) in [
        ("delivery", b.delivery_seconds),
        ("decision", b.decision_seconds),
        ("promotion", b.promotion_seconds),
        ("gap", b.availability_gap_max_seconds),
        ("observed to change", b.observed_to_change_seconds),
        ("dns", b.dns_seconds),
    ] {
        assert!(value.is_some_and(|v| v >= 0.0), "{part}: {b:?}");
    }
    let sum = b.decision_seconds.unwrap_or_default()
        + b.availability_gap_max_seconds.unwrap_or_default()
        + b.observed_to_change_seconds.unwrap_or_default();
    assert!(
        (b.pilotlight_share_seconds.unwrap_or_default() - sum).abs() < 1e-6,
        "{b:?}"
    );
    assert!(report.rto_seconds.is_some_and(|r| r >= 0.0), "{report:#?}");
    let t = &report.timeline;
    assert!(t.alarm_at <= t.decided_at && t.decided_at <= t.promote_issued_at);
    assert!(t.promote_issued_at <= t.promote_done_at && t.promote_done_at <= t.dns_in_sync_at);
    let messages = s.notifications().await;
    let events: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["event"].as_str())
        .collect();
    assert_eq!(events, ["decision", "result"], "{messages:#?}");
    assert_eq!(messages[1]["report"]["outcome"], "failed_over");
    assert_eq!(messages[1]["report"]["database"], "orders");
}

#[tokio::test]
async fn the_same_alarm_delivered_twice_promotes_once_and_changes_dns_once() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "twice", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();
    let deps = s.failover_deps();

    let first = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("first");
    let second = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("second");

    assert_eq!(first.outcome, Outcome::FailedOver);
    assert_eq!(second.outcome, Outcome::AlreadyFailedOver);
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
    assert_eq!(emu.succeeded("ChangeResourceRecordSets"), 1);
    assert_failed_over(&s).await;
}

#[tokio::test]
async fn two_concurrent_invocations_promote_once_and_change_dns_once() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "concurrent", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();
    let deps = s.failover_deps();
    let (a, b) = (s.alarm_request(), s.alarm_request());

    let (ra, rb) = tokio::join!(
        failover(&deps, &a, Utc::now(), None),
        failover(&deps, &b, Utc::now(), None)
    );

    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    let outcomes = [ra.outcome, rb.outcome];
    assert!(outcomes.contains(&Outcome::FailedOver), "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Outcome::FailedOver | Outcome::AlreadyFailedOver | Outcome::LeaseHeld
        )),
        "{outcomes:?}"
    );
    // the one that did not act names the run that holds the lease
    for r in [&ra, &rb] {
        if r.outcome == Outcome::LeaseHeld {
            assert!(r.lease_holder.is_some(), "{r:#?}");
            assert!(r.steps.is_empty(), "it did nothing: {r:#?}");
        }
    }
    assert_eq!(
        emu.succeeded("PromoteReadReplica"),
        1,
        "{:#?}",
        emu.requests()
    );
    // One change moved the record; the run that found it moved confirms it with a swap of the
    // value onto itself (a change id to wait for), so at most two succeed and the value changed once.
    let changes = emu.succeeded("ChangeResourceRecordSets");
    assert!((1..=2).contains(&changes), "{:#?}", emu.requests());
    assert_failed_over(&s).await;
    // The old primary comes back: two concurrent runs fence it once.
    s.primary_back(&emu);
    let (ra, rb) = tokio::join!(
        failover(&deps, &a, Utc::now(), None),
        failover(&deps, &b, Utc::now(), None)
    );
    let _ = (ra.expect("a"), rb.expect("b"));
    assert_eq!(emu.succeeded("StopDBInstance"), 1, "{:#?}", emu.requests());
}

#[tokio::test]
async fn a_crash_after_the_promotion_is_finished_by_the_next_run() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "crash", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    let deps = s.failover_deps();
    // Route 53 refuses the change (an answer, not an outage: a 5xx or no answer would be
    // `dns_pending`): the run fails between promote and DNS.
    emu.inject_fault(
        "ChangeResourceRecordSets",
        1,
        json!({"status": 400, "code": "InvalidInput", "message": "injected refusal"}),
    );

    let alarm = s.alarm_request();
    let crashed = failover(&deps, &alarm, Utc::now(), None).await;
    let err = crashed.expect_err("the DNS step fails");
    assert!(
        err.to_string().contains("ChangeResourceRecordSets"),
        "{err}"
    );
    assert_eq!(s.replica().await.0, None, "promoted");
    assert_eq!(
        s.record_values().await,
        vec![s.primary_endpoint.clone()],
        "DNS not yet changed"
    );
    // the alarm may even be back to OK by now: the half-done failover is finished regardless
    tests::set_alarm(
        &s.aws.cw_primary,
        &s.alarm_name,
        aws_sdk_cloudwatch::types::StateValue::Ok,
    )
    .await;

    // the operation stayed open in the ledger: the reconcile pass finishes the half-done failover
    let pass = failover::reconcile_all(&deps, None, None, &failover::RunId::generate())
        .await
        .expect("reconcile");
    let entry = &pass.databases[0];
    assert_eq!(entry.action, "advanced", "{pass:#?}");
    let rerun = entry.report.clone().expect("the pass ran the operation");

    assert_eq!(rerun.outcome, Outcome::FailedOver, "{rerun:#?}");
    assert!(
        !rerun.steps.iter().any(|st| st.step == "promote"),
        "no second promotion"
    );
    assert_eq!(
        rerun.rpo_seconds,
        Some(2.0),
        "RPO from the first run's decision"
    );
    assert_failed_over(&s).await;
    let events: Vec<String> = s
        .notifications()
        .await
        .iter()
        .filter_map(|m| m["event"].as_str().map(str::to_owned))
        .collect();
    assert!(events.contains(&"failed".to_owned()), "{events:?}");
    assert_eq!(
        events.iter().filter(|e| *e == "result").count(),
        1,
        "{events:?}"
    );
    // a person's run or Lambda's retry afterwards: nothing left, and the ledger item unchanged
    let history = failover::history(&deps, &s.name, 10)
        .await
        .expect("history");
    let after = failover(&deps, &alarm, Utc::now(), None)
        .await
        .expect("rerun");
    assert_eq!(after.outcome, Outcome::AlreadyFailedOver, "{after:#?}");
    let again = failover::history(&deps, &s.name, 10)
        .await
        .expect("history");
    assert_eq!(
        serde_json::to_value(&history.operations).ok(),
        serde_json::to_value(&again.operations).ok()
    );
    assert_eq!(history.operations.len(), 1, "{history:#?}");
    let op = &history.operations[0];
    assert_eq!(op.state, pilotlight::ledger::OperationState::Completed);
    assert!(
        op.errors
            .iter()
            .any(|e| e.contains("ChangeResourceRecordSets")),
        "{op:#?}"
    );
    assert_eq!(op.runs, 2);
}

#[tokio::test]
async fn replica_lag_over_the_rpo_budget_is_refused_and_nothing_changes() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "laggy", Some(900.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();

    let report = failover(&s.failover_deps(), &s.alarm_request(), Utc::now(), None)
        .await
        .expect("report");

    assert_eq!(report.outcome, Outcome::Refused);
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains("over the RPO budget")),
        "{:?}",
        report.reasons
    );
    assert_eq!(
        emu.mutating_calls(),
        ["Publish"],
        "only the refusal notification"
    );
    assert!(s.replica().await.0.is_some(), "still a replica");
    assert_eq!(s.record_values().await, vec![s.primary_endpoint.clone()]);
    let messages = s.notifications().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["report"]["outcome"], "refused");
}

#[tokio::test]
async fn force_overrides_lag_over_budget() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "forced", Some(900.0), 300).await;
    s.primary_down(&emu).await;

    let report = failover(
        &s.failover_deps(),
        &s.manual_request(false, true),
        Utc::now(),
        None,
    )
    .await
    .expect("report");

    assert_eq!(report.outcome, Outcome::FailedOver, "{report:#?}");
    assert_eq!(report.rpo_seconds, Some(900.0));
    assert_failed_over(&s).await;
}

#[tokio::test]
async fn a_dry_run_returns_the_plan_and_changes_nothing() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "dry", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();

    let report = failover(
        &s.failover_deps(),
        &s.manual_request(true, false),
        Utc::now(),
        None,
    )
    .await
    .expect("report");

    assert_eq!(report.outcome, Outcome::DryRun);
    let plan = serde_json::to_value(&report.decision).expect("json");
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["step"].as_str())
        .collect();
    // the primary is `failed`: nothing to fence until it is available again
    assert_eq!(steps, ["promote", "wait_for_promotion", "update_record"]);
    assert_eq!(plan["steps"][2]["to"], s.replica_endpoint.as_str());
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    assert!(s.replica().await.0.is_some());
}

#[tokio::test]
async fn an_injected_throttle_is_retried() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "throttled", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();
    emu.inject_fault("PromoteReadReplica", 2, json!("throttling"));

    let report = failover(&s.failover_deps(), &s.alarm_request(), Utc::now(), None)
        .await
        .expect("report");

    assert_eq!(report.outcome, Outcome::FailedOver);
    let promotes: Vec<u16> = emu
        .requests()
        .into_iter()
        .filter(|r| r.action == "PromoteReadReplica")
        .map(|r| r.status)
        .collect();
    assert_eq!(promotes, [400, 400, 200]);
    assert_failed_over(&s).await;
}

async fn invoke(
    deps: &failover::Deps,
    payload: Value,
) -> Result<Value, lambda_runtime::Diagnostic> {
    handle(deps, LambdaEvent::new(payload, Context::default()))
        .await
        .map_err(lambda_runtime::Diagnostic::from)
}

#[tokio::test]
async fn bad_commands_are_clear_errors_with_no_aws_call() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "bad", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();
    let deps = s.failover_deps();

    for (payload, kind, mention) in [
        (
            json!({"command": "failover", "database": "payments"}),
            "UnknownDatabase",
            "payments",
        ),
        (
            json!({"command": "failover", "database": "bad", "dryrun": true}),
            "InvalidCommand",
            "dryrun",
        ),
        (json!({"command": "reboot"}), "InvalidCommand", "reboot"),
        (json!("failover"), "InvalidCommand", "invalid"),
    ] {
        let err = invoke(&deps, payload.clone()).await.expect_err("rejected");
        assert_eq!(err.error_type, kind, "{payload}");
        assert!(
            err.error_message.contains(mention),
            "{payload}: {}",
            err.error_message
        );
    }
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());
}

#[tokio::test]
async fn status_reports_primary_replica_lag_records_and_alarms() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "status", Some(7.0), 300).await;
    emu.clear_requests();

    let v = invoke(&s.failover_deps(), json!({"command": "status"}))
        .await
        .expect("status");

    let db = &v["databases"][0];
    assert_eq!(db["database"], "status");
    assert_eq!(db["primary"]["Ok"]["status"], "available");
    assert!(db["replica"]["replica_source"]
        .as_str()
        .is_some_and(|x| x.ends_with(":db:status-primary")));
    assert_eq!(db["replica_lag_seconds"], 7.0);
    assert_eq!(db["alarms"][0]["state"], "OK");
    // Route 53's checkers, eight regions by default, all reporting success
    assert_eq!(db["health_check"]["Ok"]["healthy_checkers"], 8);
    assert_eq!(db["health_check"]["Ok"]["checkers"], 8);
    assert_eq!(db["records"][0]["values"][0], s.primary_endpoint.as_str());
    assert!(emu.mutating_calls().is_empty());

    // a partial outage seen by 3 of the 8 checkers
    emu.set_health_checkers(&s.health_check_id, 3, 8);
    let v = invoke(&s.failover_deps(), json!({"command": "status"}))
        .await
        .expect("status");
    let hc = &v["databases"][0]["health_check"]["Ok"];
    assert_eq!(
        (hc["healthy_checkers"].as_u64(), hc["checkers"].as_u64()),
        (Some(3), Some(8))
    );
}

#[tokio::test]
async fn a_swap_refused_while_the_record_is_unchanged_is_an_aws_failure_and_changes_nothing() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "refusal", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    let before = s.record_values().await;
    // Route 53 refuses the compare-and-swap although nobody changed the record (the record read
    // again still holds the values observed): not someone else's change, so not a `Conflict`.
    // (A person's change between observation and swap is tested on mocked SDK clients in
    // functions/failover/tests/conflict.rs: the emulator cannot stage it.)
    emu.inject_fault(
        "ChangeResourceRecordSets",
        1,
        json!({"status": 400, "code": "InvalidChangeBatch", "message": "Tried to delete resource record set [name='refusal-db.example.internal.', type='CNAME'] but the values provided do not match the current values"}),
    );

    let err = failover(&s.failover_deps(), &s.alarm_request(), Utc::now(), None)
        .await
        .expect_err("refused by Route 53");

    assert_eq!(err.error_type(), "AwsCallFailed", "{err}");
    assert!(err.to_string().contains("do not match"), "{err}");
    assert_eq!(
        s.record_values().await,
        before,
        "the record is left as it is"
    );
    let messages = s.notifications().await;
    let events: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["event"].as_str())
        .collect();
    assert_eq!(events, ["decision", "failed"]);
    let reason = messages[1]["report"]["reasons"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("`ChangeResourceRecordSets` failed"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_promotion_refused_while_still_an_available_replica_stays_open_and_the_pass_promotes() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "busy", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    // RDS answers InvalidDBInstanceState to a replica that is busy (e.g. backing up) without
    // changing it: still an available read replica.
    emu.inject_fault(
        "PromoteReadReplica",
        1,
        json!({"status": 400, "code": "InvalidDBInstanceState", "message": "DB instance busy-replica is not in available state"}),
    );
    let deps = s.failover_deps();

    let first = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("a busy replica is not a failed run");

    assert_eq!(first.outcome, Outcome::InProgress, "{first:#?}");
    assert!(
        first
            .steps
            .iter()
            .any(|st| st.detail.contains("still an available read replica")),
        "{first:#?}"
    );
    assert!(s.replica().await.0.is_some(), "still a read replica");

    let pass = failover::reconcile_all(&deps, None, None, &failover::RunId::generate())
        .await
        .expect("the fault is gone: the pass promotes");
    let rerun = pass.databases[0].report.clone().expect("a run");
    assert_eq!(rerun.outcome, Outcome::FailedOver, "{rerun:#?}");
    assert_failed_over(&s).await;
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
}

#[tokio::test]
async fn a_promotion_that_outlives_the_run_is_in_progress_and_the_next_run_finishes_it() {
    let emu = Emulator::start();
    // RDS reboots the replica while it promotes; here it stays `modifying` until released
    emu.set_promotions(json!({"hold": true}));
    let s = Scenario::create(&emu, "slow", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    let mut deps = s.failover_deps();
    deps.config.failover.deadline_seconds = 2;

    // one alarm event, run again by Lambda's retries
    let alarm = s.alarm_request();
    let first = failover(&deps, &alarm, Utc::now(), None)
        .await
        .expect("first run");
    assert_eq!(first.outcome, Outcome::InProgress, "{first:#?}");
    let (source, status) = s.replica().await;
    assert_eq!(status, "modifying");
    assert!(
        source.is_some(),
        "still attached to its source while promoting"
    );
    assert_eq!(s.record_values().await, vec![s.primary_endpoint.clone()]);

    // the retry while it is still promoting waits again and promotes nothing twice
    let second = failover(&deps, &alarm, Utc::now(), None)
        .await
        .expect("second run");
    assert_eq!(second.outcome, Outcome::InProgress, "{second:#?}");

    emu.release_promotions();
    let third = failover(&deps, &alarm, Utc::now(), None)
        .await
        .expect("third run");
    assert_eq!(third.outcome, Outcome::FailedOver, "{third:#?}");
    assert_failed_over(&s).await;
    assert_eq!(emu.calls("PromoteReadReplica"), 1, "promoted once");
}

#[tokio::test]
async fn a_replica_backing_up_is_not_promoted_until_it_is_available_again() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "busy", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.hold_instance_status(tests::DR_REGION, "busy-replica", Some("backing-up"));

    let refused = failover(&s.failover_deps(), &s.alarm_request(), Utc::now(), None).await;
    let (source, status) = s.replica().await;
    assert_eq!(status, "backing-up");
    assert!(source.is_some(), "not promoted: {refused:#?}");
    assert_eq!(s.record_values().await, vec![s.primary_endpoint.clone()]);

    emu.hold_instance_status(tests::DR_REGION, "busy-replica", None);
    let report = failover(&s.failover_deps(), &s.alarm_request(), Utc::now(), None)
        .await
        .expect("run after the backup");
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:#?}");
    assert_failed_over(&s).await;
}
