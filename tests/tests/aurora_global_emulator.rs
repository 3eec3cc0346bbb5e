//! Aurora global databases against the local AWS emulator (issue 13): a planned switchover, an
//! alarm's emergency failover with its refusals, duplicated and concurrent alarms, a crash after
//! the call, Aurora's unplanned-failover snapshot kept, and bad input. The emulator's
//! `SwitchoverGlobalCluster` / `FailoverGlobalCluster` take time (`/_pilotlight/global-failovers`)
//! and IAM is enforced with the failover role of `infra/sam/template.yaml`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use chrono::Utc;
use failover::{
    aurora_as, history, reconcile_all, status, AuroraReport, Deps, Outcome, RunId, StatusEntry,
};
use pilotlight::command::{FailoverRequest, SwitchoverRequest};
use pilotlight::ledger::{OperationKind, OperationState};
use serde_json::json;
use tests::{pause, set_alarm, AuroraScenario, Emulator, DR_REGION, PRIMARY_REGION};

fn switchover(s: &AuroraScenario, dry_run: bool) -> FailoverRequest {
    SwitchoverRequest {
        database: s.base.name.clone(),
        dry_run,
        reason: Some("CHG-1".into()),
    }
    .as_failover()
}

async fn run(deps: &Deps, kind: OperationKind, req: &FailoverRequest) -> AuroraReport {
    Box::pin(aurora_as(
        deps,
        kind,
        req,
        Utc::now(),
        None,
        &RunId::generate(),
    ))
    .await
    .expect("aurora run")
}

/// The primary's alarm and health check fail.
async fn alarm(emu: &Emulator, s: &AuroraScenario) {
    emu.set_health_check(&s.base.health_check_id, "Failure");
    set_alarm(
        &s.base.aws.cw_primary,
        &s.base.alarm_name,
        aws_sdk_cloudwatch::types::StateValue::Alarm,
    )
    .await;
}

/// The primary's region's RDS API does not answer.
fn primary_region_down(emu: &Emulator) {
    emu.add_outage(json!({"region": PRIMARY_REGION, "service": "rds", "mode": "refused"}));
}

#[tokio::test]
async fn a_switchover_swaps_the_roles_repoints_the_record_once_and_a_rerun_changes_nothing() {
    let emu = Emulator::start();
    emu.set_global_failovers(json!({"seconds": 1}));
    let s = AuroraScenario::create(&emu, "swo", 60, "8.0.mysql_aurora.3.05.2").await;
    let deps = s.base.failover_deps();

    let plan = run(&deps, OperationKind::Switchover, &switchover(&s, true)).await;
    assert_eq!(plan.outcome, Outcome::DryRun, "{plan:#?}");
    assert!(
        format!("{:?}", plan.decision).contains("Switchover"),
        "{plan:#?}"
    );
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );

    let report = run(&deps, OperationKind::Switchover, &switchover(&s, false)).await;
    assert_eq!(report.outcome, Outcome::SwitchedOver, "{report:#?}");
    assert_eq!(s.writer().await, s.secondary_arn);
    assert_eq!(
        s.base.record_values().await,
        vec![s.secondary_endpoint.clone()]
    );
    assert_eq!(emu.succeeded("SwitchoverGlobalCluster"), 1);
    assert_eq!(emu.calls("FailoverGlobalCluster"), 0);
    assert_eq!(emu.succeeded("ChangeResourceRecordSets"), 1);
    assert_eq!(report.rpo_seconds, Some(0.0));
    assert!(
        report.rto_seconds.is_some_and(|r| r >= 1.0),
        "the writer took a second to move: {report:#?}"
    );
    let ops = history(&deps, &s.base.name, 5)
        .await
        .expect("history")
        .operations;
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].kind, OperationKind::Switchover);
    assert_eq!(ops[0].state, OperationState::Completed);

    emu.clear_requests();
    let again = run(&deps, OperationKind::Switchover, &switchover(&s, false)).await;
    assert_eq!(again.outcome, Outcome::AlreadyFailedOver, "{again:#?}");
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    // the configuration now disagrees with reality, and status says so
    let st = status(&deps, Some(&s.base.name)).await.expect("status");
    let StatusEntry::Aurora(a) = &st.databases[0] else {
        panic!("{st:#?}")
    };
    assert!(a.configuration_disagrees.is_some(), "{a:#?}");
}

#[tokio::test]
async fn a_switchover_is_refused_when_the_engine_versions_differ_and_changes_nothing() {
    let emu = Emulator::start();
    let s = AuroraScenario::create(&emu, "swv", 60, "8.0.mysql_aurora.3.04.0").await;
    let deps = s.base.failover_deps();
    let report = run(&deps, OperationKind::Switchover, &switchover(&s, false)).await;
    assert_eq!(report.outcome, Outcome::Refused, "{report:#?}");
    assert!(
        report
            .reasons
            .iter()
            .any(|r| r.contains("engine versions differ")),
        "{report:#?}"
    );
    assert_eq!(emu.calls("SwitchoverGlobalCluster"), 0);
    assert_eq!(s.writer().await, s.primary_arn);
    let st = status(&deps, None).await.expect("status");
    let StatusEntry::Aurora(a) = &st.databases[0] else {
        panic!("{st:#?}")
    };
    assert!(format!("{:?}", a.switchover_plan).contains("engine versions differ"));
    assert_eq!(a.members.len(), 2, "{a:#?}");
}

#[tokio::test]
async fn an_alarm_fails_over_only_when_the_primary_is_gone_and_the_lag_is_within_the_budget() {
    let emu = Emulator::start();
    emu.set_global_failovers(json!({"seconds": 1}));
    let s = AuroraScenario::create(&emu, "efo", 5, "8.0.mysql_aurora.3.05.2").await;
    let deps = s.base.failover_deps();
    s.put_lag_ms(2000.0, &[8, 7, 6]).await;
    alarm(&emu, &s).await;

    // the primary still answers `available`: no failover with data loss
    let r = run(&deps, OperationKind::Failover, &s.base.alarm_request()).await;
    assert_eq!(r.outcome, Outcome::Refused, "{r:#?}");
    assert!(
        r.reasons.iter().any(|x| x.contains("still answers")),
        "{r:#?}"
    );

    // the primary's region is down, but the lag is above the budget
    primary_region_down(&emu);
    s.put_lag_ms(9000.0, &[5, 4, 3]).await;
    pause(1100).await; // another alarm state change: another operation
    let r = run(&deps, OperationKind::Failover, &s.base.alarm_request()).await;
    assert_eq!(r.outcome, Outcome::Refused, "{r:#?}");
    assert!(
        r.reasons.iter().any(|x| x.contains("above the RPO budget")),
        "{r:#?}"
    );
    assert_eq!(emu.calls("FailoverGlobalCluster"), 0);
    assert_eq!(s.writer().await, s.primary_arn);

    // within the budget: one failover, records repointed; the unplanned snapshot waits for the
    // old primary's region
    s.put_lag_ms(2000.0, &[2, 1, 0]).await;
    pause(1100).await;
    let r = run(&deps, OperationKind::Failover, &s.base.alarm_request()).await;
    assert_eq!(s.writer().await, s.secondary_arn, "{r:#?}");
    assert_eq!(emu.succeeded("FailoverGlobalCluster"), 1);
    assert_eq!(r.rpo_seconds, Some(2.0), "{r:#?}");
    assert_eq!(
        s.base.record_values().await,
        vec![s.secondary_endpoint.clone()]
    );
    assert_eq!(
        r.outcome,
        Outcome::InProgress,
        "waits for the old region's snapshot: {r:#?}"
    );

    // the old region answers again: the next pass keeps Aurora's snapshot and closes
    emu.clear_outages();
    let pass = reconcile_all(&deps, None, None, &RunId::generate())
        .await
        .expect("pass");
    let entry = &pass.databases[0];
    assert_eq!(entry.outcome, Some(Outcome::FailedOver), "{entry:#?}");
    let held = entry
        .aurora_report
        .as_ref()
        .and_then(|r| r.held_snapshot.clone())
        .unwrap_or_default();
    assert!(held.contains("pilotlight-efo-unplanned-"), "{held}");
    let snaps = s
        .base
        .aws
        .rds_primary
        .describe_db_cluster_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .expect("snapshots");
    let copy = snaps
        .db_cluster_snapshots()
        .iter()
        .find(|x| {
            x.db_cluster_snapshot_identifier()
                .is_some_and(|i| i.starts_with("pilotlight-efo-unplanned-"))
        })
        .unwrap_or_else(|| panic!("no held copy: {snaps:#?}"));
    let tags = s
        .base
        .aws
        .rds_primary
        .list_tags_for_resource()
        .resource_name(copy.db_cluster_snapshot_arn().unwrap())
        .send()
        .await
        .expect("tags");
    assert!(
        tags.tag_list()
            .iter()
            .any(|t| t.key() == Some("pilotlight:hold")),
        "{tags:#?}"
    );
    assert_eq!(emu.succeeded("FailoverGlobalCluster"), 1, "never twice");
    let ops = history(&deps, "efo", 5).await.expect("history").operations;
    assert_eq!(ops[0].state, OperationState::Completed, "{:#?}", ops[0]);
}

#[tokio::test]
async fn duplicated_and_concurrent_alarms_fail_over_once_and_a_crash_after_the_call_is_finished() {
    let emu = Emulator::start();
    emu.set_global_failovers(json!({"seconds": 2}));
    let s = AuroraScenario::create(&emu, "dup", 5, "8.0.mysql_aurora.3.05.2").await;
    let deps = s.base.failover_deps();
    s.put_lag_ms(1000.0, &[1, 0]).await;
    alarm(&emu, &s).await;
    primary_region_down(&emu);
    // the run dies after FailoverGlobalCluster was accepted, before it recorded so
    emu.inject_fault_matching("TransactWriteItems", 20, json!("internal"), "accepted (in");
    let req = s.base.alarm_request();
    let crashed = Box::pin(aurora_as(
        &deps,
        OperationKind::Failover,
        &req,
        Utc::now(),
        None,
        &RunId::generate(),
    ))
    .await;
    assert!(crashed.is_err(), "{crashed:?}");
    assert_eq!(emu.succeeded("FailoverGlobalCluster"), 1);
    emu.control_clear_faults();

    // the same alarm delivered three times at once, and again later: nothing is called twice
    let (a, b, c) = futures::join!(
        run(&deps, OperationKind::Failover, &req),
        run(&deps, OperationKind::Failover, &req),
        run(&deps, OperationKind::Failover, &req)
    );
    let outcomes = [a.outcome, b.outcome, c.outcome];
    assert!(outcomes.contains(&Outcome::LeaseHeld), "{outcomes:?}");
    let again = run(&deps, OperationKind::Failover, &req).await;
    emu.clear_outages();
    for _ in 0..10 {
        let pass = reconcile_all(&deps, None, None, &RunId::generate())
            .await
            .expect("pass");
        if pass.databases[0].action == "idle" {
            break;
        }
        pause(300).await;
    }
    assert_eq!(
        emu.calls("FailoverGlobalCluster"),
        1,
        "{outcomes:?} {:?}",
        again.outcome
    );
    assert_eq!(s.writer().await, s.secondary_arn);
    assert_eq!(emu.succeeded("ChangeResourceRecordSets"), 1);
    let ops = history(&deps, "dup", 5).await.expect("history").operations;
    assert_eq!(ops.len(), 1, "{ops:#?}");
    assert_eq!(ops[0].state, OperationState::Completed, "{:#?}", ops[0]);
    // the crash after the call did not lose what the failover means: data may be lost (its RPO)
    // and Aurora's snapshot of the old primary is kept
    assert_eq!(ops[0].rpo_seconds, Some(1.0), "{:#?}", ops[0]);
    assert!(ops[0].data_loss_failover_at.is_some(), "{:#?}", ops[0]);
    assert!(
        ops[0]
            .held_snapshot
            .as_deref()
            .is_some_and(|h| h.contains("pilotlight-dup-unplanned-")),
        "{:#?}",
        ops[0]
    );
    let results = s
        .base
        .notifications()
        .await
        .iter()
        .filter(|m| m["event"] == "result")
        .count();
    assert_eq!(results, 1, "one result notification");
}

#[tokio::test]
async fn bad_input_is_named_and_changes_nothing() {
    let emu = Emulator::start();
    let s = AuroraScenario::create(&emu, "bad", 60, "8.0.mysql_aurora.3.05.2").await;
    let deps = s.base.failover_deps();
    // a switchover of an RDS pair, an unknown database: errors before any call
    let mut rds = s.base.failover_deps();
    rds.config.databases = tests::Scenario::create(&emu, "pair", None, 60)
        .await
        .config
        .databases;
    emu.clear_requests();
    let e = Box::pin(aurora_as(
        &rds,
        OperationKind::Switchover,
        &SwitchoverRequest {
            database: "pair".into(),
            ..Default::default()
        }
        .as_failover(),
        Utc::now(),
        None,
        &RunId::generate(),
    ))
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("RDS read replica pair"), "{e}");
    let e = Box::pin(aurora_as(
        &deps,
        OperationKind::Switchover,
        &SwitchoverRequest {
            database: "nope".into(),
            ..Default::default()
        }
        .as_failover(),
        Utc::now(),
        None,
        &RunId::generate(),
    ))
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("unknown database `nope`"), "{e}");
    assert!(emu.requests().is_empty(), "{:?}", emu.requests());

    // a secondary that is not a member, an unknown global cluster: refused, nothing changed
    for (field, value, expect) in [
        (
            "global_cluster_id",
            json!("no-such-global"),
            "does not exist",
        ),
        (
            "secondary",
            json!({"region": DR_REGION, "cluster_id": "bad-use1-stray"}),
            "does not exist",
        ),
    ] {
        let mut doc: serde_json::Value = serde_json::to_value(&deps.config).unwrap();
        doc["databases"][0][field] = value;
        let mut d = s.base.failover_deps();
        d.config = pilotlight::config::Config::from_json(&doc.to_string()).expect("config");
        d.clients = s.base.role_clients("failover", &d.config);
        let r = run(&d, OperationKind::Switchover, &switchover(&s, false)).await;
        assert_eq!(r.outcome, Outcome::Refused, "{field}: {r:#?}");
        assert!(
            r.reasons.iter().any(|x| x.contains(expect)),
            "{field}: {r:#?}"
        );
    }
    // a cluster that exists but is not a member of the global database
    s.base
        .aws
        .rds_dr
        .create_db_cluster()
        .db_cluster_identifier("bad-stray")
        .engine("aurora-mysql")
        .engine_version("8.0.mysql_aurora.3.05.2")
        .master_username("pilotlight")
        .master_user_password("not-a-secret-1")
        .send()
        .await
        .expect("stray cluster");
    let mut doc: serde_json::Value = serde_json::to_value(&deps.config).unwrap();
    doc["databases"][0]["secondary"]["cluster_id"] = json!("bad-stray");
    let mut d = s.base.failover_deps();
    d.config = pilotlight::config::Config::from_json(&doc.to_string()).expect("config");
    d.clients = s.base.role_clients("failover", &d.config);
    let r = run(
        &d,
        OperationKind::Failover,
        &SwitchoverRequest {
            database: "bad".into(),
            ..Default::default()
        }
        .as_failover(),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Refused, "{r:#?}");
    assert!(
        r.reasons.iter().any(|x| x.contains("is not a member")),
        "{r:#?}"
    );
    assert!(
        emu.mutating_calls()
            .iter()
            .all(|a| a == "Publish" || a == "CreateDBCluster"),
        "{:?}",
        emu.mutating_calls()
    );
    // a configuration of the wrong shape for its kind
    let mut doc: serde_json::Value = serde_json::to_value(&deps.config).unwrap();
    doc["databases"][0]["primary"] = json!({"region": PRIMARY_REGION, "instance_id": "bad-use1"});
    let err = pilotlight::config::Config::from_json(&doc.to_string())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("databases[0]") && err.contains("instance_id"),
        "{err}"
    );
}

#[tokio::test]
async fn an_old_primary_detached_as_a_writer_is_fenced_by_security_group_once() {
    let emu = Emulator::start();
    emu.set_global_failovers(json!({"seconds": 1}));
    let s = AuroraScenario::create(&emu, "fen", 60, "8.0.mysql_aurora.3.05.2").await;
    let mut doc: serde_json::Value = serde_json::to_value(&s.base.config).unwrap();
    doc["databases"][0]["fencing"] =
        json!({"mode": "security_group", "security_group_ids": ["sg-0123456789abcdef0"]});
    let mut deps = s.base.failover_deps();
    deps.config = pilotlight::config::Config::from_json(&doc.to_string()).expect("config");
    deps.clients = s.base.role_clients("failover", &deps.config);
    let r = run(&deps, OperationKind::Switchover, &switchover(&s, false)).await;
    assert_eq!(r.outcome, Outcome::SwitchedOver, "{r:#?}");
    // a read-only secondary of the global database is fenced by Aurora itself
    assert_eq!(emu.calls("ModifyDBCluster"), 0);
    // someone detaches the old primary: a standalone cluster takes writes, a second writer
    s.base
        .aws
        .rds_primary
        .remove_from_global_cluster()
        .global_cluster_identifier(&s.global_id)
        .db_cluster_identifier(&s.primary_arn)
        .send()
        .await
        .expect("detach");
    let r = run(&deps, OperationKind::Switchover, &switchover(&s, false)).await;
    assert_eq!(r.outcome, Outcome::SwitchedOver, "{r:#?}");
    assert!(
        r.fencing
            .as_deref()
            .unwrap_or_default()
            .contains("sg-0123456789abcdef0"),
        "{r:#?}"
    );
    assert_eq!(emu.succeeded("ModifyDBCluster"), 1);
    let groups = s
        .base
        .aws
        .rds_primary
        .describe_db_clusters()
        .db_cluster_identifier("fen-use1")
        .send()
        .await
        .expect("cluster");
    let ids: Vec<&str> = groups.db_clusters()[0]
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id())
        .collect();
    assert_eq!(ids, vec!["sg-0123456789abcdef0"]);
    let again = run(&deps, OperationKind::Switchover, &switchover(&s, false)).await;
    assert_eq!(again.outcome, Outcome::AlreadyFailedOver, "{again:#?}");
    assert_eq!(emu.calls("ModifyDBCluster"), 1, "fenced once");
}
