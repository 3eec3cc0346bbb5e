//! The operations ledger, the per-database lease and the reconcile pass against the local AWS
//! emulator, with promotions that take time and regions or services that do not answer (issue
//! 12's tests). State is checked with the AWS API, the emulator's request log, the notifications
//! and the ledger (`history`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::time::{Duration, Instant};

use chrono::Utc;
use failover::{failover, handle, history, reconcile_all, status, Deps, Outcome, RunId};
use lambda_runtime::{Context, LambdaEvent};
use pilotlight::ledger::OperationState;
use serde_json::{json, Value};
use tests::{pause, Emulator, Scenario, DR_REGION, PRIMARY_REGION};

async fn events(s: &Scenario) -> Vec<String> {
    s.notifications()
        .await
        .iter()
        .filter_map(|m| m["event"].as_str().map(str::to_owned))
        .collect()
}

async fn pass(deps: &Deps) -> failover::ReconcileReport {
    reconcile_all(deps, None, None, &RunId::generate())
        .await
        .expect("reconcile pass")
}

/// Reconcile passes until the database's operation is closed (at most `passes`); the outcomes.
async fn reconcile_until_closed(deps: &Deps, name: &str, passes: usize) -> Vec<String> {
    let mut outcomes = vec![];
    for _ in 0..passes {
        let report = pass(deps).await;
        let entry = report
            .databases
            .iter()
            .find(|e| e.database == name)
            .expect("entry");
        assert!(entry.error.is_none(), "{entry:#?}");
        outcomes.push(format!("{}:{:?}", entry.action, entry.outcome));
        let ops = history(deps, name, 1).await.expect("history").operations;
        if ops.first().is_some_and(|o| o.state != OperationState::Open) {
            return outcomes;
        }
        pause(500).await;
    }
    panic!("the operation of `{name}` is still open after {passes} passes: {outcomes:?}");
}

#[tokio::test]
async fn a_promotion_lasting_three_deadlines_answers_in_progress_and_the_pass_finishes_it() {
    let emu = Emulator::start();
    emu.set_promotions(json!({"seconds": 6}));
    let s = Scenario::create(&emu, "long", Some(3.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();
    let mut deps = s.failover_deps();
    deps.config.failover.deadline_seconds = 2;

    // the alarm's invocation: a successful one, outcome in_progress (no error, no false page)
    let command =
        json!({"command": "failover", "database": "long", "trigger": s.alarm_request().trigger});
    let first = handle(&deps, LambdaEvent::new(command, Context::default()))
        .await
        .expect("an in-progress failover is a successful invocation");
    assert_eq!(first["outcome"], "in_progress", "{first:#}");
    assert!(first["operation_id"]
        .as_str()
        .is_some_and(|id| id.starts_with("alarm:")));

    let outcomes = reconcile_until_closed(&deps, "long", 20).await;
    assert!(
        outcomes.len() >= 2,
        "the pass saw it in progress first: {outcomes:?}"
    );
    assert!(
        outcomes.last().is_some_and(|o| o.contains("FailedOver")),
        "{outcomes:?}"
    );

    assert_eq!(emu.succeeded("PromoteReadReplica"), 1, "one promote");
    let ops = history(&deps, "long", 10)
        .await
        .expect("history")
        .operations;
    assert_eq!(
        emu.succeeded("ChangeResourceRecordSets"),
        1,
        "the record changed once: {:#?}",
        ops[0].steps
    );
    assert_eq!(s.record_values().await, vec![s.replica_endpoint.clone()]);
    let events = events(&s).await;
    assert_eq!(
        events.iter().filter(|e| *e == "result").count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "decision").count(),
        1,
        "{events:?}"
    );

    let ops = history(&deps, "long", 10)
        .await
        .expect("history")
        .operations;
    assert_eq!(ops.len(), 1, "{ops:#?}");
    let op = &ops[0];
    assert_eq!(op.state, OperationState::Completed);
    assert!(op.rto_seconds.is_some_and(|r| r >= 6.0), "{op:#?}");
    assert_eq!(op.rpo_seconds, Some(3.0));
    assert!(op.runs >= 3, "{op:#?}");
    for step in [
        "promote",
        "wait_for_promotion",
        "update_record",
        "dns_in_sync",
    ] {
        assert!(op.steps.iter().any(|st| st.step == step), "{step}: {op:#?}");
    }
    // a pass with nothing open does nothing
    let idle = pass(&deps).await;
    assert_eq!(idle.databases[0].action, "idle", "{idle:#?}");
}

#[tokio::test]
async fn a_replica_backing_up_is_promoted_by_the_pass_once_it_is_available() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "backup", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    emu.hold_instance_status(DR_REGION, "backup-replica", Some("backing-up"));
    let deps = s.failover_deps();

    let first = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("deferred, not failed");
    assert_eq!(first.outcome, Outcome::InProgress, "{first:#?}");
    assert!(
        first.reasons.iter().any(|r| r.contains("backing-up")),
        "{first:#?}"
    );
    assert_eq!(emu.calls("PromoteReadReplica"), 0);
    let still = pass(&deps).await;
    assert_eq!(
        still.databases[0].outcome,
        Some(Outcome::InProgress),
        "{still:#?}"
    );

    emu.hold_instance_status(DR_REGION, "backup-replica", None);
    reconcile_until_closed(&deps, "backup", 10).await;
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
    assert_eq!(s.record_values().await, vec![s.replica_endpoint.clone()]);
    let events = events(&s).await;
    assert_eq!(
        events.iter().filter(|e| *e == "decision").count(),
        1,
        "told once: {events:?}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "result").count(),
        1,
        "{events:?}"
    );
}

#[tokio::test]
async fn five_databases_fail_at_once_and_promote_in_parallel_while_status_answers() {
    let emu = Emulator::start();
    emu.set_promotions(json!({"seconds": 4}));
    let mut scenarios = vec![];
    for i in 0..5 {
        scenarios.push(Scenario::create(&emu, &format!("fleet{i}"), Some(1.0), 300).await);
    }
    // one deployment protecting all five
    let mut config = scenarios[0].config.clone();
    config.databases = scenarios
        .iter()
        .map(|s| s.config.databases[0].clone())
        .collect();
    let deps = Deps {
        clients: scenarios[0].role_clients("failover", &config),
        config,
    };
    for s in &scenarios {
        s.primary_down(&emu).await;
    }
    emu.clear_requests();

    let runs = futures::future::join_all(scenarios.iter().map(|s| {
        let deps = &deps;
        async move { failover(deps, &s.alarm_request(), Utc::now(), None).await }
    }));
    let watch = async {
        pause(1_500).await;
        let t = Instant::now();
        let report = status(&deps, None).await.expect("status");
        (t.elapsed(), report)
    };
    let (reports, (status_took, status_report)) = tokio::join!(runs, watch);

    for r in reports {
        let r = r.expect("run");
        assert_eq!(r.outcome, Outcome::FailedOver, "{r:#?}");
    }
    let promotes: Vec<f64> = emu
        .requests()
        .into_iter()
        .filter(|r| r.action == "PromoteReadReplica" && (200..300).contains(&r.status))
        .map(|r| r.time)
        .collect();
    assert_eq!(promotes.len(), 5);
    // in series (one slot, as with reserved concurrency 1) the 4 s promotions would start
    // ≥ 16 s apart from first to last
    let spread = promotes.iter().cloned().fold(f64::MIN, f64::max)
        - promotes.iter().cloned().fold(f64::MAX, f64::min);
    assert!(
        spread < 8.0,
        "five promotions started {spread:.1} s apart (not in series)"
    );
    // `status` takes no lease: it answers while five failovers hold theirs
    assert!(
        status_took < Duration::from_secs(10),
        "status took {status_took:?}"
    );
    let leased = serde_json::to_value(&status_report).unwrap()["databases"]
        .as_array()
        .map(|a| a.iter().filter(|d| d.get("lease_holder").is_some()).count())
        .unwrap_or_default();
    assert!(
        leased >= 1,
        "status shows the lease holders: {status_report:#?}"
    );
}

#[tokio::test]
async fn a_killed_run_holds_its_lease_until_it_expires_then_the_pass_finishes() {
    let emu = Emulator::start();
    emu.set_promotions(json!({"hold": true}));
    let s = Scenario::create(&emu, "killed", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    let mut deps = s.failover_deps();
    deps.config.failover.deadline_seconds = 3;
    deps.config.ledger.lease_seconds = 3;

    // the run is killed while it waits for the promotion (Lambda's timeout, a crash)
    let killed = tokio::time::timeout(
        Duration::from_millis(1_500),
        failover(&deps, &s.alarm_request(), Utc::now(), None),
    )
    .await;
    assert!(killed.is_err(), "the run was cut mid-way");
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);

    // its lease still holds: a concurrent run and the pass do nothing
    let blocked = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("a run that finds the lease held is not an error");
    assert_eq!(blocked.outcome, Outcome::LeaseHeld, "{blocked:#?}");
    let holder = blocked.lease_holder.clone().expect("holder");
    assert!(holder.owner.starts_with("local-"), "{holder:?}");
    assert_eq!(pass(&deps).await.databases[0].action, "lease_held");

    // the lease expires (3 s after its last renewal: the killed run renews no more)
    let wait = (holder.expires_at - Utc::now()).num_milliseconds().max(0) as u64;
    pause(wait + 300).await;
    emu.release_promotions();
    reconcile_until_closed(&deps, "killed", 10).await;
    assert_eq!(
        emu.succeeded("PromoteReadReplica"),
        1,
        "never promoted twice"
    );
    assert_eq!(s.record_values().await, vec![s.replica_endpoint.clone()]);
}

#[tokio::test]
async fn route53_down_promotes_with_dns_pending_and_the_pass_repoints_when_it_answers() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "r53", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    let deps = s.failover_deps();
    emu.add_outage(json!({"region": PRIMARY_REGION, "service": "route53", "mode": "5xx"}));

    let report = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("Route 53 down is not a failed run");
    assert_eq!(report.outcome, Outcome::InProgress, "{report:#?}");
    assert!(report.dns_pending, "{report:#?}");
    assert_eq!(
        s.replica().await.0,
        None,
        "promoted although Route 53 does not answer"
    );
    let events = events(&s).await;
    assert!(events.contains(&"dns_pending".to_owned()), "{events:?}");

    // still down: the pass keeps it open
    let still = pass(&deps).await;
    assert_eq!(
        still.databases[0].outcome,
        Some(Outcome::InProgress),
        "{still:#?}"
    );

    emu.clear_outages();
    assert_eq!(s.record_values().await, vec![s.primary_endpoint.clone()]);
    reconcile_until_closed(&deps, "r53", 10).await;
    assert_eq!(s.record_values().await, vec![s.replica_endpoint.clone()]);
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
    let ops = history(&deps, "r53", 5).await.expect("history").operations;
    assert_eq!(ops[0].state, OperationState::Completed, "{:#?}", ops[0]);
}

#[tokio::test]
async fn a_primary_region_that_hangs_does_not_stall_the_decision() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "hang", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    let mut deps = s.failover_deps();
    deps.config.failover.observe_timeout_seconds = 3;
    // every call signed for the primary's region (RDS, CloudWatch, Route 53) hangs for 60 s
    emu.add_outage(json!({"region": PRIMARY_REGION, "mode": "timeout", "seconds": 60}));

    let started = Instant::now();
    let report = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("run");
    let t = &report.timeline;
    let decided = (t.decided_at.unwrap() - t.run_started_at.unwrap()).num_milliseconds();
    // bound 3 s (the calls are cut); uncut they would hang 60 s
    assert!(decided < 10_000, "decided after {decided} ms (bound: 3 s)");
    // the alarm's own notification stands in for DescribeAlarms; the region not answering is
    // the evidence; the promotion needs only the DR region
    assert_eq!(report.outcome, Outcome::InProgress, "{report:#?}");
    assert!(report.dns_pending);
    assert_eq!(s.replica().await.0, None, "promoted");
    assert!(started.elapsed() < Duration::from_secs(30));
    emu.clear_outages();
}

#[tokio::test]
async fn dr_region_detection_opens_an_incident_after_consecutive_passes() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "dronly", Some(2.0), 300).await;
    let mut deps = s.failover_deps();
    deps.config.databases[0].dr_detection = Some(pilotlight::config::DrDetection {
        consecutive_passes: 2,
    });
    deps.config.failover.observe_timeout_seconds = 3;

    // healthy: the pass only watches
    assert_eq!(pass(&deps).await.databases[0].action, "idle");

    // us-east-1 is gone (no alarm can fire); the replica reports its source lost
    emu.add_outage(json!({"region": PRIMARY_REGION, "mode": "refused"}));
    emu.set_replication(
        DR_REGION,
        "dronly-replica",
        Some("error"),
        "the source is unreachable",
    );
    let one = pass(&deps).await;
    assert_eq!(one.databases[0].action, "watching", "{one:#?}");
    assert_eq!(one.databases[0].unreachable_passes, Some(1));
    assert_eq!(emu.calls("PromoteReadReplica"), 0);
    // a second pass in the same minute counts once (overlapping passes, Lambda's retries)
    let again = pass(&deps).await;
    assert_eq!(again.databases[0].unreachable_passes, Some(1), "{again:#?}");
    let two = failover::reconcile_all_at(
        &deps,
        None,
        None,
        &RunId::generate(),
        Utc::now() + chrono::Duration::seconds(61),
    )
    .await
    .expect("pass a minute later");
    assert_eq!(two.databases[0].action, "opened", "{two:#?}");
    assert_eq!(
        s.replica().await.0,
        None,
        "promoted from DR-region evidence alone"
    );
    let ops = history(&deps, "dronly", 1)
        .await
        .expect("history")
        .operations;
    assert!(
        ops[0].operation_id.starts_with("dr-detection@"),
        "{:#?}",
        ops[0]
    );

    emu.clear_outages();
    reconcile_until_closed(&deps, "dronly", 10).await;
    assert_eq!(s.record_values().await, vec![s.replica_endpoint.clone()]);
}

#[tokio::test]
async fn history_and_status_take_no_lease() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "audit", Some(1.0), 300).await;
    let deps = s.failover_deps();
    s.primary_unhealthy_only(&emu).await;
    // a refused alarm is recorded once: its duplicate adds nothing and says nothing again
    let alarm = s.alarm_request();
    let first = failover(&deps, &alarm, Utc::now(), None)
        .await
        .expect("run");
    assert_eq!(first.outcome, Outcome::Refused);
    let again = failover(&deps, &alarm, Utc::now(), None)
        .await
        .expect("run");
    assert_eq!(again.outcome, Outcome::Refused);
    let events = events(&s).await;
    assert_eq!(events, vec!["refused".to_owned()], "{events:?}");
    emu.clear_requests();
    let h: Value = handle(
        &deps,
        LambdaEvent::new(
            json!({"command": "history", "database": "audit"}),
            Context::default(),
        ),
    )
    .await
    .expect("history");
    assert_eq!(h["operations"].as_array().map(Vec::len), Some(1), "{h:#}");
    assert_eq!(h["operations"][0]["state"], "refused");
    assert!(h["operations"][0]["reasons"]
        .as_array()
        .is_some_and(|r| !r.is_empty()));
    status(&deps, Some("audit")).await.expect("status");
    assert_eq!(emu.ledger_writes(), 0, "history and status write nothing");
    let bad = handle(
        &deps,
        LambdaEvent::new(
            json!({"command": "history", "database": "audit", "limit": 0}),
            Context::default(),
        ),
    )
    .await
    .expect_err("limit 0");
    assert_eq!(bad.error_type(), "InvalidCommand");
}

#[tokio::test]
async fn a_person_who_forces_takes_a_stuck_operation_over() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "stuck", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.hold_instance_status(DR_REGION, "stuck-replica", Some("backing-up"));
    let deps = s.failover_deps();
    let first = failover(&deps, &s.alarm_request(), Utc::now(), None)
        .await
        .expect("deferred");
    assert_eq!(first.outcome, Outcome::InProgress);

    // a person's run without force continues the alarm's operation as it is
    let person = failover(&deps, &s.manual_request(false, false), Utc::now(), None)
        .await
        .expect("continued");
    assert_eq!(person.outcome, Outcome::InProgress, "{person:#?}");
    // with force, they take it over: their request and reason from now on
    emu.hold_instance_status(DR_REGION, "stuck-replica", None);
    let forced = failover(&deps, &s.manual_request(false, true), Utc::now(), None)
        .await
        .expect("forced");
    assert_eq!(forced.outcome, Outcome::FailedOver, "{forced:#?}");
    let ops = history(&deps, "stuck", 5)
        .await
        .expect("history")
        .operations;
    assert_eq!(ops.len(), 1, "one operation: {ops:#?}");
    let op = &ops[0];
    assert!(op.operation_id.starts_with("alarm:"), "{op:#?}");
    assert!(
        op.steps
            .iter()
            .any(|st| st.step == "taken_over" && st.detail.contains("drill")),
        "{op:#?}"
    );
    assert!(matches!(
        op.started_by,
        pilotlight::ledger::StartedBy::Person { force: true, .. }
    ));
    assert_eq!(op.state, OperationState::Completed);
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
}

#[tokio::test]
async fn a_run_that_loses_its_lease_stops_acting() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let emu = Emulator::start();
    emu.set_promotions(json!({"hold": true}));
    let s = Scenario::create(&emu, "stolen", Some(1.0), 300).await;
    s.primary_down(&emu).await;
    emu.clear_requests();
    let mut deps = s.failover_deps();
    deps.config.failover.deadline_seconds = 60;
    deps.config.ledger.lease_seconds = 3;

    let alarm = s.alarm_request();
    let run = failover(&deps, &alarm, Utc::now(), None);
    let steal = async {
        pause(1_500).await;
        // another run takes the lease over (as after an expiry): a newer owner and token
        s.aws
            .dynamodb
            .update_item()
            .table_name("stolen-ledger")
            .key("pk", AttributeValue::S("database#stolen".into()))
            .key("sk", AttributeValue::S("state".into()))
            .update_expression("SET lease_owner = :o, lease_token = lease_token + :one, lease_expires_at_ms = :far")
            .expression_attribute_values(":o", AttributeValue::S("thief".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":far",
                AttributeValue::N((Utc::now().timestamp_millis() + 600_000).to_string()),
            )
            .send()
            .await
            .expect("steal the lease");
        Instant::now()
    };
    let (result, stolen_at) = tokio::join!(run, steal);
    let err = result.expect_err("a run without its lease stops");
    assert_eq!(err.error_type(), "Conflict", "{err}");
    assert!(err.to_string().contains("taken over"), "{err}");
    assert!(
        stolen_at.elapsed() < Duration::from_secs(15),
        "stopped within a renewal"
    );
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
    assert_eq!(
        emu.calls("ChangeResourceRecordSets"),
        0,
        "no DNS change without the lease"
    );
}
