//! Failback against the AWS emulator, under the failover function's IAM role: a failover, then
//! `prepare` (a new replica of the DR writer in the original region) and `switch` (fence the DR
//! writer, wait for a zero lag after the fence, promote, repoint), each re-run changing nothing;
//! and the refusals: a switch before a prepare, while the new replica lags or is not available,
//! and a failback with no failover behind it.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use chrono::Utc;
use failover::{failback, failover, FailbackReport, Outcome, RunId};
use pilotlight::command::{FailbackPhase, FailbackRequest};
use pilotlight::config::FailbackSettings;
use tests::{put_metric_series, Emulator, Scenario, PRIMARY_REGION};

const FENCE_SG: &str = "sg-0fb0fb0fb0fb0fb0f";

fn request(name: &str, phase: FailbackPhase) -> FailbackRequest {
    FailbackRequest {
        database: name.into(),
        phase,
        dry_run: false,
        reason: Some("CHG-42 back home".into()),
    }
}

async fn run(sc: &Scenario, phase: FailbackPhase) -> FailbackReport {
    failback(
        &sc.failover_deps(),
        &request(&sc.name, phase),
        None,
        &RunId::generate(),
    )
    .await
    .expect("failback")
}

async fn scenario(emu: &Emulator, name: &str) -> Scenario {
    let mut sc = Scenario::create(emu, name, Some(2.0), 300).await;
    sc.config.databases[0].failback = Some(FailbackSettings {
        security_group_ids: vec![FENCE_SG.into()],
        max_lag_seconds: 30,
        max_write_outage_seconds: 60,
        primary_security_group_ids: vec![],
    });
    sc
}

async fn failed_over(emu: &Emulator, sc: &Scenario) {
    sc.primary_down(emu).await;
    let report = failover(&sc.failover_deps(), &sc.alarm_request(), Utc::now(), None)
        .await
        .expect("failover");
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:#?}");
    sc.primary_back(emu);
}

async fn instance(
    sc: &Scenario,
    region_primary: bool,
    id: &str,
) -> Option<aws_sdk_rds::types::DbInstance> {
    let rds = if region_primary {
        &sc.aws.rds_primary
    } else {
        &sc.aws.rds_dr
    };
    rds.describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .ok()
        .and_then(|o| o.db_instances().first().cloned())
}

#[tokio::test]
async fn failover_then_failback_prepare_and_switch_bring_the_database_home() {
    let emu = Emulator::start();
    let sc = scenario(&emu, "home").await;

    // nothing to fail back before a failover
    let r = run(&sc, FailbackPhase::Prepare).await;
    assert_eq!(r.outcome, "refused", "{r:#?}");
    assert!(
        r.reasons
            .iter()
            .any(|m| m.contains("no failover to fail back from")),
        "{r:#?}"
    );

    let before = failover::status(&sc.failover_deps(), Some("home"))
        .await
        .expect("status");
    let json = serde_json::to_value(&before).expect("json");
    assert!(
        json.to_string().find("configuration_disagrees").is_none(),
        "roles agree: {json}"
    );
    failed_over(&emu, &sc).await;
    // status flags a configuration whose roles no longer match reality
    let after = serde_json::to_value(
        failover::status(&sc.failover_deps(), Some("home"))
            .await
            .expect("status"),
    )
    .expect("json");
    assert!(
        after["databases"][0]["configuration_disagrees"]
            .to_string()
            .contains("standalone writer"),
        "{after}"
    );

    // a switch before a prepare is refused, and changes nothing
    emu.clear_requests();
    let r = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(r.outcome, "refused", "{r:#?}");
    assert!(r.reasons.iter().any(|m| m.contains("prepare")), "{r:#?}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    // prepare: a new replica of the DR writer in the original region
    let r = run(&sc, FailbackPhase::Prepare).await;
    assert_eq!(r.outcome, "prepared", "{r:#?}");
    let record = r.record.clone().expect("record");
    let new_id = record.new_instance_id.clone();
    assert!(new_id.starts_with("home-primary-fb-"), "{new_id}");
    assert_eq!(emu.succeeded("CreateDBInstanceReadReplica"), 1);
    let n = instance(&sc, true, &new_id)
        .await
        .expect("the new instance exists");
    assert!(
        n.read_replica_source_db_instance_identifier()
            .is_some_and(|s| s.ends_with(":db:home-replica")),
        "{n:?}"
    );
    let old = instance(&sc, true, "home-primary")
        .await
        .expect("the old primary is kept");
    assert!(
        old.tag_list().iter().any(
            |t| t.key() == Some("pilotlight:replaced-by") && t.value() == Some(new_id.as_str())
        ),
        "{:?}",
        old.tag_list()
    );
    // prepare again: nothing new
    let again = run(&sc, FailbackPhase::Prepare).await;
    assert_eq!(again.outcome, "prepared", "{again:#?}");
    assert_eq!(
        emu.succeeded("CreateDBInstanceReadReplica"),
        1,
        "one new replica"
    );

    // the switch is refused while the new replica lags, or is not available
    put_metric_series(
        &sc.aws.cw_primary,
        "AWS/RDS",
        "ReplicaLag",
        ("DBInstanceIdentifier", &new_id),
        &[(1, 240.0)],
    )
    .await;
    emu.clear_requests();
    let r = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(r.outcome, "refused", "{r:#?}");
    assert!(
        r.reasons.iter().any(|m| m.contains("not caught up")),
        "{r:#?}"
    );
    emu.hold_instance_status(PRIMARY_REGION, &new_id, Some("modifying"));
    put_metric_series(
        &sc.aws.cw_primary,
        "AWS/RDS",
        "ReplicaLag",
        ("DBInstanceIdentifier", &new_id),
        &[(0, 1.0)],
    )
    .await;
    emu.clear_requests();
    let r = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(r.outcome, "refused", "{r:#?}");
    assert!(
        r.reasons.iter().any(|m| m.contains("not `available`")),
        "{r:#?}"
    );
    assert_eq!(
        emu.mutating_calls(),
        Vec::<String>::new(),
        "refusals change nothing"
    );
    emu.hold_instance_status(PRIMARY_REGION, &new_id, None);

    // caught up: the lag after the fence is 0 (the next minutes' datapoints)
    put_metric_series(
        &sc.aws.cw_primary,
        "AWS/RDS",
        "ReplicaLag",
        ("DBInstanceIdentifier", &new_id),
        &[(-1, 0.0), (-2, 0.0)],
    )
    .await;
    let r = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(r.outcome, "switched", "{r:#?}");
    let rec = r.record.clone().expect("record");
    assert!(rec.fence_requested_at <= rec.fenced_at && rec.fenced_at <= rec.caught_up_at);
    assert!(
        rec.caught_up_at <= rec.promotion_requested_at && rec.promoted_at <= rec.dns_in_sync_at
    );
    let window = r.write_unavailable_seconds.expect("window");
    assert!((0.0..60.0).contains(&window), "{window}");

    // home: the new instance is the writer, the records point to it, the DR writer is fenced,
    // the old primary still exists
    let n = instance(&sc, true, &new_id).await.expect("new");
    assert!(
        n.read_replica_source_db_instance_identifier().is_none(),
        "promoted"
    );
    let endpoint = n
        .endpoint()
        .and_then(|e| e.address())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(sc.record_values().await, vec![endpoint]);
    let r_now = instance(&sc, false, "home-replica")
        .await
        .expect("the DR writer is kept");
    let groups: Vec<&str> = r_now
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(groups, vec![FENCE_SG], "the DR writer is fenced");
    assert!(instance(&sc, true, "home-primary").await.is_some());
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
    assert_eq!(emu.calls("DeleteDBInstance"), 0, "a failback never deletes");
    assert!(
        r.next.iter().any(|n| n.contains("primary.instance_id")),
        "{r:#?}"
    );
    let notes = sc.notifications().await;
    assert!(
        notes.iter().any(|n| n["event"] == "failback_result"),
        "{notes:#?}"
    );

    // the switch again: nothing to do, nothing changed
    emu.clear_requests();
    let r = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(r.outcome, "refused", "{r:#?}");
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());

    // the ledger holds the failover, the prepare and the switch
    let history = failover::history(&sc.failover_deps(), "home", 10)
        .await
        .expect("history");
    let outcomes: Vec<&str> = history
        .operations
        .iter()
        .map(|o| o.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["switched", "prepared", "failed_over"],
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_dry_run_plans_both_phases_and_a_switch_without_a_fence_is_refused() {
    let emu = Emulator::start();
    let mut sc = scenario(&emu, "plan").await;
    failed_over(&emu, &sc).await;
    emu.clear_requests();
    let plan = failback(
        &sc.failover_deps(),
        &FailbackRequest {
            dry_run: true,
            ..request("plan", FailbackPhase::Prepare)
        },
        None,
        &RunId::generate(),
    )
    .await
    .expect("plan");
    assert_eq!(plan.outcome, "planned", "{plan:#?}");
    assert_eq!(plan.plan.len(), 2, "{plan:#?}");
    assert!(plan.plan[0].contains("CreateDBInstanceReadReplica"));
    assert!(plan.plan[1].contains(FENCE_SG));
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert_eq!(emu.ledger_writes(), 0);

    sc.config.databases[0].failback = None;
    let r = run(&sc, FailbackPhase::Prepare).await;
    assert_eq!(r.outcome, "prepared", "{r:#?}");
    let r = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(r.outcome, "refused", "{r:#?}");
    assert!(
        r.reasons
            .iter()
            .any(|m| m.contains("failback.security_group_ids")),
        "{r:#?}"
    );
}

#[tokio::test]
async fn a_switch_whose_new_instance_never_catches_up_gives_the_writer_its_groups_back() {
    let emu = Emulator::start();
    let sc = scenario(&emu, "stuck").await;
    failed_over(&emu, &sc).await;
    let before: Vec<String> = instance(&sc, false, "stuck-replica")
        .await
        .map(|i| {
            i.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let r = run(&sc, FailbackPhase::Prepare).await;
    assert_eq!(r.outcome, "prepared", "{r:#?}");
    let new_id = r.record.expect("record").new_instance_id;
    // caught up before the fence (lag 1 s), never a zero after it
    put_metric_series(
        &sc.aws.cw_primary,
        "AWS/RDS",
        "ReplicaLag",
        ("DBInstanceIdentifier", &new_id),
        &[(0, 1.0)],
    )
    .await;
    // the run's own deadline (60 s) passes first: writes are down, the operation waits
    let first = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(first.outcome, "in_progress", "{first:#?}");
    let fenced = instance(&sc, false, "stuck-replica").await.expect("writer");
    assert_eq!(
        fenced
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id())
            .collect::<Vec<_>>(),
        vec![FENCE_SG]
    );
    // past failback.max_write_outage_seconds (60 s): the next run aborts and un-fences
    tests::pause(2_000).await;
    let second = run(&sc, FailbackPhase::Switch).await;
    assert_eq!(second.outcome, "failed", "{second:#?}");
    assert!(
        second.reasons.iter().any(|m| m.contains("aborted")),
        "{second:#?}"
    );
    let back: Vec<String> = instance(&sc, false, "stuck-replica")
        .await
        .map(|i| {
            i.vpc_security_groups()
                .iter()
                .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(back, before, "the writer has its groups back");
    assert_eq!(
        emu.calls("PromoteReadReplica"),
        1,
        "only the failover's promotion: the new instance was never promoted"
    );
    let n = instance(&sc, true, &new_id).await.expect("new");
    assert!(
        n.read_replica_source_db_instance_identifier().is_some(),
        "still a replica"
    );
    let notes = sc.notifications().await;
    assert!(
        notes.iter().any(|n| n["event"] == "failback_failed"),
        "{notes:#?}"
    );
}
