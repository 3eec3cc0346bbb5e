//! The Aurora global database decision (`plan::aurora`) for every state that matters, as pure
//! functions: what an alarm, a person and a forced person get, and when nothing may be done.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use chrono::Utc;
use pilotlight::config::{AuroraGlobalDatabase, Config};
use pilotlight::plan::aurora::{
    aurora_fence, decide_aurora, unplanned_copy_id, AuroraAction, AuroraDecision, AuroraFence,
    AuroraIntent, AuroraObservation, ClusterRead, ClusterState, GlobalClusterState, GlobalFailover,
    GlobalMember,
};
use pilotlight::plan::failover::{AlarmState, HealthCheckState, RecordState};
use pilotlight::plan::status::AlarmStateValue;
use proptest::prelude::*;
use serde_json::{json, Value};

const PRIMARY: &str = "arn:aws:rds:us-east-1:123456789012:cluster:ledger-use1";
const SECONDARY: &str = "arn:aws:rds:us-west-2:123456789012:cluster:ledger-usw2";

fn db() -> AuroraGlobalDatabase {
    let mut doc: Value =
        serde_json::from_str(include_str!("../../events/config.example.json")).expect("json");
    doc["databases"] = json!([{
        "name": "ledger",
        "kind": "aurora_global",
        "global_cluster_id": "ledger-global",
        "primary": {"region": "us-east-1", "cluster_id": "ledger-use1"},
        "secondary": {"region": "us-west-2", "cluster_id": "ledger-usw2"},
        "records": [{"hosted_zone_id": "Z1", "name": "ledger-db.example.internal", "type": "CNAME", "ttl": 5}],
        "alarms": [{"name": "ledger-down", "region": "us-east-1"}],
        "health_check_id": "hc-1",
        "rpo_budget_seconds": 10
    }]);
    Config::from_json(&doc.to_string())
        .expect("config")
        .aurora_global[0]
        .clone()
}

fn cluster(arn: &str, id: &str, region: &str, status: &str, version: &str) -> ClusterState {
    ClusterState {
        id: id.into(),
        arn: arn.into(),
        status: status.into(),
        engine_version: Some(version.into()),
        endpoint: Some(format!("{id}.cluster-abc.{region}.rds.amazonaws.com")),
        security_groups: vec!["sg-0aaaaaaaaaaaaaaaa".into()],
    }
}

/// The primary down (its region does not answer), alarm in ALARM, health check failing, lag 2 s,
/// the record on the primary.
fn down() -> AuroraObservation {
    let db = db();
    AuroraObservation {
        at: Utc::now(),
        global: Ok(Some(GlobalClusterState {
            id: "ledger-global".into(),
            status: "available".into(),
            engine_version: None,
            endpoint: Some("ledger-global.global-xyz.global.rds.amazonaws.com".into()),
            members: vec![
                GlobalMember {
                    cluster_arn: PRIMARY.into(),
                    is_writer: true,
                    synchronization: None,
                },
                GlobalMember {
                    cluster_arn: SECONDARY.into(),
                    is_writer: false,
                    synchronization: None,
                },
            ],
            failover: None,
        })),
        primary: ClusterRead::Unreachable {
            error: "no answer".into(),
        },
        secondary: ClusterRead::Found(cluster(
            SECONDARY,
            "ledger-usw2",
            "us-west-2",
            "available",
            "8.0.mysql_aurora.3.05.2",
        )),
        lag_ms: Some(2000.0),
        lag_metric: Some("AuroraGlobalDBRPOLag".into()),
        alarms: vec![AlarmState {
            name: "ledger-down".into(),
            state: Some(AlarmStateValue::Alarm),
            updated_at: None,
            error: None,
        }],
        health_check: Some(Ok(HealthCheckState {
            id: "hc-1".into(),
            healthy_checkers: 1,
            checkers: 8,
        })),
        records: vec![RecordState {
            record: db.records[0].clone(),
            values: vec!["ledger-use1.cluster-abc.us-east-1.rds.amazonaws.com".into()],
            ttl: Some(5),
        }],
        records_error: None,
    }
}

fn healthy_primary(obs: &mut AuroraObservation) {
    obs.primary = ClusterRead::Found(cluster(
        PRIMARY,
        "ledger-use1",
        "us-east-1",
        "available",
        "8.0.mysql_aurora.3.05.2",
    ));
}

const ALARM: AuroraIntent = AuroraIntent::Failover {
    force: false,
    automatic: true,
};
const PERSON: AuroraIntent = AuroraIntent::Failover {
    force: false,
    automatic: false,
};
const FORCED: AuroraIntent = AuroraIntent::Failover {
    force: true,
    automatic: false,
};

fn reasons(d: &AuroraDecision) -> String {
    match d {
        AuroraDecision::Refused { reasons } | AuroraDecision::InProgress { reasons } => {
            reasons.join(" | ")
        }
        other => format!("{other:?}"),
    }
}

#[test]
fn an_alarm_fails_over_with_data_loss_when_the_primary_is_gone_and_the_lag_is_within_budget() {
    let d = decide_aurora(&db(), &down(), ALARM);
    assert!(
        matches!(d, AuroraDecision::Proceed { action: AuroraAction::Failover, rpo_seconds: Some(r), .. } if (r - 2.0).abs() < 1e-9),
        "{d:?}"
    );
}

#[test]
fn an_alarm_is_refused_while_the_primary_answers_available_and_a_person_gets_a_switchover() {
    let mut obs = down();
    healthy_primary(&mut obs);
    let d = decide_aurora(&db(), &obs, ALARM);
    assert!(reasons(&d).contains("still answers"), "{d:?}");
    let d = decide_aurora(&db(), &obs, PERSON);
    assert!(
        matches!(d, AuroraDecision::Proceed { action: AuroraAction::Switchover, rpo_seconds: Some(r), .. } if r == 0.0),
        "{d:?}"
    );
    // a switchover that cannot be (versions differ): a person must force the data loss
    obs.secondary = ClusterRead::Found(cluster(
        SECONDARY,
        "ledger-usw2",
        "us-west-2",
        "available",
        "8.0.mysql_aurora.3.04.0",
    ));
    let d = decide_aurora(&db(), &obs, PERSON);
    assert!(
        reasons(&d).contains("engine versions differ") && reasons(&d).contains("force"),
        "{d:?}"
    );
    let d = decide_aurora(&db(), &obs, FORCED);
    assert!(
        matches!(
            d,
            AuroraDecision::Proceed {
                action: AuroraAction::Failover,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn every_automatic_condition_is_named_when_it_fails_and_force_skips_them_but_not_a_foreign_record()
{
    let mut obs = down();
    obs.lag_ms = None;
    obs.alarms[0].state = Some(AlarmStateValue::Ok);
    obs.health_check = Some(Ok(HealthCheckState {
        id: "hc-1".into(),
        healthy_checkers: 3,
        checkers: 8,
    }));
    let d = decide_aurora(&db(), &obs, ALARM);
    let why = reasons(&d);
    for expect in [
        "alarm `ledger-down` is OK",
        "healthy by Route 53's rule",
        "no `AuroraGlobalDBRPOLag`",
    ] {
        assert!(why.contains(expect), "{expect}: {why}");
    }
    assert!(matches!(
        decide_aurora(&db(), &obs, FORCED),
        AuroraDecision::Proceed {
            action: AuroraAction::Failover,
            rpo_seconds: None,
            ..
        }
    ));
    obs.records[0].values = vec!["elsewhere.example.com".into()];
    let d = decide_aurora(&db(), &obs, FORCED);
    assert!(reasons(&d).contains("someone else changed it"), "{d:?}");
    let mut over = down();
    over.lag_ms = Some(10_001.0);
    assert!(reasons(&decide_aurora(&db(), &over, ALARM)).contains("above the RPO budget"));
}

#[test]
fn an_operation_under_way_waits_and_a_moved_writer_is_done() {
    let mut obs = down();
    if let Ok(Some(g)) = obs.global.as_mut() {
        g.status = "failing-over".into();
        g.failover = Some(GlobalFailover {
            status: "failing-over".into(),
            from_arn: Some(PRIMARY.into()),
            to_arn: Some(SECONDARY.into()),
            data_loss_allowed: true,
        });
    }
    assert!(matches!(
        decide_aurora(&db(), &obs, ALARM),
        AuroraDecision::InProgress { .. }
    ));
    assert!(matches!(
        decide_aurora(&db(), &obs, AuroraIntent::Switchover),
        AuroraDecision::InProgress { .. }
    ));
    if let Ok(Some(g)) = obs.global.as_mut() {
        g.failover.as_mut().unwrap().to_arn =
            Some("arn:aws:rds:eu-west-1:123456789012:cluster:other".into());
    }
    assert!(reasons(&decide_aurora(&db(), &obs, FORCED)).contains("another switchover or failover"));
    if let Ok(Some(g)) = obs.global.as_mut() {
        g.failover = None;
        g.status = "available".into();
        g.members[0].is_writer = false;
        g.members[1].is_writer = true;
    }
    assert_eq!(
        decide_aurora(&db(), &obs, ALARM),
        AuroraDecision::WriterMoved
    );
}

#[test]
fn what_cannot_be_read_or_is_not_a_member_is_refused_by_name() {
    let mut obs = down();
    obs.global = Ok(None);
    assert!(reasons(&decide_aurora(&db(), &obs, FORCED)).contains("`ledger-global` does not exist"));
    let mut obs = down();
    obs.secondary = ClusterRead::NotFound;
    assert!(reasons(&decide_aurora(&db(), &obs, FORCED)).contains("`ledger-usw2` does not exist"));
    let mut obs = down();
    if let Ok(Some(g)) = obs.global.as_mut() {
        g.members.remove(1);
    }
    assert!(reasons(&decide_aurora(&db(), &obs, FORCED)).contains("is not a member"));
    // the writer is a third cluster: the configuration disagrees with reality
    let mut obs = down();
    if let Ok(Some(g)) = obs.global.as_mut() {
        g.members[0].cluster_arn = "arn:aws:rds:eu-west-1:123456789012:cluster:third".into();
    }
    assert!(reasons(&decide_aurora(&db(), &obs, FORCED)).contains("disagrees with reality"));
}

#[test]
fn fencing_is_aurora_s_own_for_a_member_and_a_security_group_for_a_detached_writer() {
    let mut obs = down();
    assert!(
        matches!(aurora_fence(&db(), &obs), AuroraFence::Done { .. }),
        "none, unreachable"
    );
    healthy_primary(&mut obs);
    if let Ok(Some(g)) = obs.global.as_mut() {
        g.members[0].is_writer = false;
        g.members[1].is_writer = true;
    }
    let mut sg = db();
    sg.fencing = pilotlight::config::Fencing::SecurityGroup {
        security_group_ids: vec!["sg-0123456789abcdef0".into()],
    };
    assert!(
        matches!(aurora_fence(&sg, &obs), AuroraFence::Done { .. }),
        "a read-only member"
    );
    if let Ok(Some(g)) = obs.global.as_mut() {
        g.members.remove(0);
    }
    assert!(matches!(
        aurora_fence(&sg, &obs),
        AuroraFence::MoveToSecurityGroups { .. }
    ));
    obs.primary = ClusterRead::Unreachable { error: "x".into() };
    assert!(matches!(
        aurora_fence(&sg, &obs),
        AuroraFence::Pending { .. }
    ));
}

#[test]
fn engine_versions_compare_by_major_and_minor() {
    use pilotlight::plan::aurora::same_major_minor;
    assert!(same_major_minor(
        Some("8.0.mysql_aurora.3.05.2"),
        Some("8.0.mysql_aurora.3.05.1")
    ));
    assert!(!same_major_minor(
        Some("8.0.mysql_aurora.3.05.2"),
        Some("8.0.mysql_aurora.3.04.0")
    ));
    assert!(same_major_minor(Some("15.4"), Some("15.4")));
    assert!(!same_major_minor(Some("15.4"), Some("15.5")));
    assert!(!same_major_minor(None, Some("15.4")));
}

proptest! {
    /// The held copy's identifier is always a valid manual snapshot identifier: starts with a
    /// letter, letters, digits and single hyphens, at most 255, never AWS's `rds:` prefix.
    #[test]
    fn the_held_copy_id_is_a_valid_identifier(db in "[a-zA-Z0-9_-]{1,63}", tail in "[a-z0-9:-]{0,300}") {
        let id = unplanned_copy_id(&db, &format!("rds:unplanned-global-failover-{tail}"));
        prop_assert!(id.len() <= 63, "{id}");
        prop_assert!(id.starts_with("pilotlight-"));
        prop_assert!(!id.contains("--") && !id.ends_with('-') && !id.contains(':'));
        prop_assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }
}
