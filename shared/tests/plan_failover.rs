//! The failover decision for each state, as a pure function: no I/O.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use chrono::{TimeZone, Utc};
use pilotlight::config::Config;
use pilotlight::plan::failover::{
    decide_failover as decide, AlarmState, Ask, Decision, HealthCheckState, InstanceState,
    LagPoint, Observation, PlannedStep, RecordState,
};

const PRIMARY_ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:orders-primary";
const REPLICA_ENDPOINT: &str = "orders-replica.abc.us-west-2.rds.amazonaws.com";
const PRIMARY_ENDPOINT: &str = "orders-primary.abc.us-east-1.rds.amazonaws.com";

fn config() -> Config {
    Config::from_json(include_str!("../../events/config.example.json"))
        .unwrap_or_else(|e| panic!("{e}"))
}

const AUTO: Ask = Ask {
    force: false,
    automatic: true,
    trigger_at: None,
};
const MANUAL: Ask = Ask {
    force: false,
    automatic: false,
    trigger_at: None,
};
const FORCED: Ask = Ask {
    force: true,
    automatic: false,
    trigger_at: None,
};

/// A primary that is down: alarm in ALARM, health check failing, lag 12 s, DNS on the primary.
fn outage() -> Observation {
    let db = config().databases[0].clone();
    let mut obs = Observation {
        database: "orders".into(),
        observed_at: Utc
            .with_ymd_and_hms(2026, 11, 20, 3, 3, 0)
            .single()
            .unwrap_or_default(),
        primary: Err("timed out".into()),
        replica: Some(InstanceState {
            instance_id: "orders-replica".into(),
            arn: Some("arn:aws:rds:us-west-2:123456789012:db:orders-replica".into()),
            status: "available".into(),
            endpoint: Some(REPLICA_ENDPOINT.into()),
            replica_source: Some(PRIMARY_ARN.into()),
            promotion_started_at: None,
            alarm_at: None,
            lag_at_promotion_seconds: None,
            failover_completed_at: None,
            engine: Some("postgres".into()),
            replication: None,
            security_groups: vec![],
            security_groups_pending: false,
            fenced_at: None,
        }),
        replica_lag_seconds: Some(12.0),
        alarms: vec![AlarmState {
            name: "orders-primary-unhealthy".into(),
            state: Some("ALARM".into()),
            updated_at: None,
            error: None,
        }],
        health_check: Some(Ok(HealthCheckState {
            id: "hc".into(),
            healthy_checkers: 0,
            checkers: 3,
        })),
        records: vec![RecordState {
            record: db.records[0].clone(),
            values: vec![PRIMARY_ENDPOINT.into()],
            ttl: Some(60),
        }],
        records_error: None,
        dr_detection: None,
        // the primary's region does not answer: evidence that replication stopped
        primary_unreachable: true,
        lag_history: vec![],
        onset: None,
        primary_activity: None,
    };
    set_lag(&mut obs, Some(12.0));
    obs
}

/// The replica's lag two minutes before the observation (the failure's onset defaults to it).
fn set_lag(obs: &mut Observation, lag: Option<f64>) {
    obs.replica_lag_seconds = lag;
    obs.lag_history = lag
        .map(|seconds| LagPoint {
            at: obs.observed_at - chrono::Duration::minutes(2),
            seconds,
        })
        .into_iter()
        .collect();
}

fn promoted(obs: &mut Observation) {
    if let Some(r) = obs.replica.as_mut() {
        r.replica_source = None;
        r.promotion_started_at = Some(Utc::now());
    }
}

fn steps(d: &Decision) -> Vec<&'static str> {
    match d {
        Decision::Proceed { steps, .. } => steps
            .iter()
            .map(|s| match s {
                PlannedStep::Promote { .. } => "promote",
                PlannedStep::WaitForPromotion { .. } => "wait",
                PlannedStep::UpdateRecord { .. } => "record",
                PlannedStep::Fence { .. } => "fence",
            })
            .collect(),
        _ => vec![],
    }
}

fn reasons(d: &Decision) -> String {
    match d {
        Decision::Refused { reasons } => reasons.join(" | "),
        other => format!("not refused: {other:?}"),
    }
}

#[test]
fn when_the_primary_is_down_and_lag_is_within_budget_should_promote_and_repoint() {
    let db = &config().databases[0];
    let d = decide(db, &outage(), AUTO);
    assert_eq!(steps(&d), ["promote", "wait", "record"]);
    assert!(matches!(d, Decision::Proceed { rpo_seconds: Some(r), .. } if r == 12.0));
}

#[test]
fn when_the_alarm_is_back_to_ok_should_refuse() {
    let db = &config().databases[0];
    let mut obs = outage();
    obs.alarms[0].state = Some("OK".into());
    let d = decide(db, &obs, AUTO);
    assert!(
        reasons(&d).contains("no alarm on the primary is in `ALARM`"),
        "{d:?}"
    );
}

#[test]
fn when_the_health_check_reports_the_primary_healthy_should_refuse() {
    let db = &config().databases[0];
    let mut obs = outage();
    obs.health_check = Some(Ok(HealthCheckState {
        id: "hc".into(),
        healthy_checkers: 3,
        checkers: 3,
    }));
    assert!(reasons(&decide(db, &obs, AUTO)).contains("reports the primary healthy"));
}

#[test]
fn when_replica_lag_exceeds_rpo_should_refuse_failover() {
    let db = &config().databases[0];
    let mut obs = outage();
    set_lag(&mut obs, Some(301.0));
    let d = decide(db, &obs, AUTO);
    assert!(
        reasons(&d).contains("over the RPO budget of 300 s"),
        "{d:?}"
    );
}

#[test]
fn when_replica_lag_is_unknown_should_refuse_and_tell_a_person_about_force() {
    let db = &config().databases[0];
    let mut obs = outage();
    set_lag(&mut obs, None);
    assert!(reasons(&decide(db, &obs, AUTO)).contains("unknown"));
    assert!(reasons(&decide(db, &obs, MANUAL)).contains("force"));
}

#[test]
fn when_forced_should_promote_despite_lag_and_report_the_override() {
    let db = &config().databases[0];
    let mut obs = outage();
    set_lag(&mut obs, Some(900.0));
    obs.alarms[0].state = Some("OK".into());
    match decide(db, &obs, FORCED) {
        Decision::Proceed {
            overridden, steps, ..
        } => {
            assert_eq!(overridden.len(), 2, "{overridden:?}");
            assert_eq!(steps.len(), 3);
        }
        other => panic!("expected proceed, got {other:?}"),
    }
}

#[test]
fn when_already_promoted_and_dns_points_to_it_should_do_nothing() {
    let db = &config().databases[0];
    let mut obs = outage();
    promoted(&mut obs);
    obs.records[0].values = vec![format!("{REPLICA_ENDPOINT}.")];
    // without the completion tag the record is confirmed (INSYNC) and the completion recorded
    assert_eq!(steps(&decide(db, &obs, AUTO)), ["record"]);
    if let Some(r) = obs.replica.as_mut() {
        r.failover_completed_at = Some(Utc::now());
    }
    assert_eq!(decide(db, &obs, AUTO), Decision::AlreadyFailedOver);
}

#[test]
fn when_promoted_but_dns_not_repointed_should_only_repoint() {
    let db = &config().databases[0];
    let mut obs = outage();
    promoted(&mut obs);
    let alarm = Utc::now() - chrono::Duration::minutes(3);
    if let Some(r) = obs.replica.as_mut() {
        r.alarm_at = Some(alarm);
    }
    // Lambda's retry of the alarm that promoted: finished whatever the alarm and lag say now
    obs.alarms[0].state = Some("OK".into());
    set_lag(&mut obs, None);
    let retry = Ask {
        trigger_at: Some(alarm),
        ..AUTO
    };
    assert_eq!(steps(&decide(db, &obs, retry)), ["record"]);
    // another alarm, or a person without force: the checks again
    assert!(reasons(&decide(db, &obs, AUTO)).contains("not the incident that promoted it"));
}

#[test]
fn when_the_promotion_is_under_way_should_wait_not_promote_again() {
    let db = &config().databases[0];
    let mut obs = outage();
    if let Some(r) = obs.replica.as_mut() {
        r.status = "modifying".into();
        r.promotion_started_at = Some(Utc::now());
    }
    assert_eq!(steps(&decide(db, &obs, AUTO)), ["wait", "record"]);
}

#[test]
fn when_dns_already_points_to_the_replica_but_it_is_still_a_replica_should_still_promote() {
    let db = &config().databases[0];
    let mut obs = outage();
    obs.records[0].values = vec![REPLICA_ENDPOINT.into()];
    assert_eq!(steps(&decide(db, &obs, AUTO)), ["promote", "wait"]);
}

#[test]
fn when_the_replica_is_missing_or_busy_or_from_another_primary_should_refuse() {
    let db = &config().databases[0];
    let mut missing = outage();
    missing.replica = None;
    assert!(reasons(&decide(db, &missing, FORCED)).contains("does not exist"));

    let mut busy = outage();
    if let Some(r) = busy.replica.as_mut() {
        r.status = "storage-full".into();
    }
    assert!(reasons(&decide(db, &busy, AUTO)).contains("`storage-full`"));

    let mut other = outage();
    if let Some(r) = other.replica.as_mut() {
        r.replica_source = Some("arn:aws:rds:us-east-1:123456789012:db:billing".into());
    }
    assert!(reasons(&decide(db, &other, FORCED)).contains("not from the configured primary"));
}

#[test]
fn when_the_replica_is_standalone_but_pilotlight_did_not_promote_it_should_refuse() {
    let db = &config().databases[0];
    let mut obs = outage();
    if let Some(r) = obs.replica.as_mut() {
        r.replica_source = None;
    }
    assert!(reasons(&decide(db, &obs, AUTO)).contains("pilotlight did not promote it"));
}

#[test]
fn after_a_failback_a_stale_promotion_tag_never_repoints_dns_without_force() {
    let db = &config().databases[0];
    let mut obs = outage();
    promoted(&mut obs);
    if let Some(r) = obs.replica.as_mut() {
        r.failover_completed_at = Some(Utc::now());
    }
    // the team failed back: DNS points at the primary again
    assert!(reasons(&decide(db, &obs, AUTO)).contains("failback"));
    assert_eq!(steps(&decide(db, &obs, FORCED)), ["record"]);
}

#[test]
fn a_record_pointing_somewhere_else_than_primary_or_replica_is_not_overwritten() {
    let db = &config().databases[0];
    let mut obs = outage();
    obs.primary = Ok(Some(InstanceState {
        instance_id: "orders-primary".into(),
        arn: None,
        status: "available".into(),
        endpoint: Some(PRIMARY_ENDPOINT.into()),
        replica_source: None,
        promotion_started_at: None,
        alarm_at: None,
        lag_at_promotion_seconds: None,
        failover_completed_at: None,
        engine: Some("postgres".into()),
        replication: None,
        security_groups: vec![],
        security_groups_pending: false,
        fenced_at: None,
    }));
    obs.records[0].values = vec!["maintenance.example.internal".into()];
    assert!(reasons(&decide(db, &obs, AUTO)).contains("neither the primary nor the replica"));
    // half-done failover: the same protection
    promoted(&mut obs);
    assert!(reasons(&decide(db, &obs, AUTO)).contains("neither the primary nor the replica"));
}

#[test]
fn a_refused_swap_is_a_concurrent_run_a_persons_change_or_a_route53_refusal() {
    use pilotlight::plan::failover::{after_conflict, AfterConflict, RecordUpdate};
    let update = RecordUpdate {
        hosted_zone_id: "Z1".into(),
        name: "orders-db.example.internal.".into(),
        from: vec![format!("{PRIMARY_ENDPOINT}.")],
        from_ttl: Some(60),
        to: Some(REPLICA_ENDPOINT.into()),
        ttl: 60,
    };
    let values = |v: &str| vec![v.to_owned()];
    assert_eq!(
        after_conflict(
            &update,
            &values(&REPLICA_ENDPOINT.to_uppercase()),
            REPLICA_ENDPOINT
        ),
        AfterConflict::DoneByConcurrentRun
    );
    assert_eq!(
        after_conflict(&update, &values("elsewhere.example.com"), REPLICA_ENDPOINT),
        AfterConflict::ChangedByOthers
    );
    assert_eq!(
        after_conflict(&update, &[], REPLICA_ENDPOINT),
        AfterConflict::ChangedByOthers,
        "deleted by someone"
    );
    assert_eq!(
        after_conflict(&update, &values(PRIMARY_ENDPOINT), REPLICA_ENDPOINT),
        AfterConflict::Unchanged
    );
}
