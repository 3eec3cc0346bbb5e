//! Issue 11's rules of the failover decision, as a pure function: Route 53's health rule,
//! evidence that replication stopped, the recovery point read at the failure's onset (MySQL lower
//! bound, idle PostgreSQL), the completion of a half-finished failover, the primary's endpoint
//! remembered while its region is down, and fencing. Ends with a property test: no promotion
//! without every automatic condition, or a person's `force`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use chrono::{DateTime, Duration, TimeZone, Utc};
use pilotlight::config::{Config, Fencing, ProtectedDatabase};
use pilotlight::plan::failover::{
    decide_failover as decide, fence_state, AlarmState, Ask, Decision, FailureOnset, FenceState,
    HealthCheckState, InstanceState, LagPoint, Observation, PlannedStep, PrimaryActivity,
    RecordState, ReplicationInfo,
};
use proptest::prelude::*;

const PRIMARY_ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:orders-primary";
const REPLICA_ENDPOINT: &str = "orders-replica.abc.us-west-2.rds.amazonaws.com";
const PRIMARY_ENDPOINT: &str = "orders-primary.cdefgh.us-east-1.rds.amazonaws.com";

const AUTO: Ask = Ask {
    force: false,
    automatic: true,
    trigger_at: None,
};
const FORCED: Ask = Ask {
    force: true,
    automatic: false,
    trigger_at: None,
};

fn db() -> ProtectedDatabase {
    Config::from_json(include_str!("../../events/config.example.json"))
        .unwrap_or_else(|e| panic!("{e}"))
        .databases[0]
        .clone()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 3, 10, 0)
        .single()
        .unwrap_or_default()
}

fn instance(id: &str, endpoint: &str, engine: &str) -> InstanceState {
    InstanceState {
        instance_id: id.into(),
        arn: Some(format!("arn:aws:rds:us-east-1:123456789012:db:{id}")),
        status: "available".into(),
        endpoint: Some(endpoint.into()),
        replica_source: None,
        promotion_started_at: None,
        alarm_at: None,
        lag_at_promotion_seconds: None,
        failover_completed_at: None,
        engine: Some(engine.into()),
        replication: None,
        security_groups: vec!["sg-0aaaaaaaaaaaaaaaa".into()],
        security_groups_pending: false,
        fenced_at: None,
    }
}

/// The primary failed at 03:00 (health check metric), the alarm came at 03:03; observed at 03:10.
/// The primary's RDS API answers with a refusal (no evidence either way); the replica replicates:
/// no evidence yet.
fn base(engine: &str) -> Observation {
    let d = db();
    let mut replica = instance("orders-replica", REPLICA_ENDPOINT, engine);
    replica.replica_source = Some(PRIMARY_ARN.into());
    replica.replication = Some(ReplicationInfo {
        status: "replicating".into(),
        normal: true,
        message: None,
    });
    Observation {
        database: "orders".into(),
        observed_at: now(),
        primary: Err("AccessDenied: not authorized".into()),
        replica: Some(replica),
        replica_lag_seconds: Some(2.0),
        alarms: vec![AlarmState {
            name: "orders-primary-unhealthy".into(),
            state: Some("ALARM".into()),
            updated_at: None,
            error: None,
        }],
        health_check: Some(Ok(HealthCheckState {
            id: "hc".into(),
            healthy_checkers: 1,
            checkers: 8,
        })),
        records: vec![RecordState {
            record: d.records[0].clone(),
            values: vec![PRIMARY_ENDPOINT.into()],
            ttl: Some(60),
        }],
        records_error: None,
        dr_detection: None,
        primary_unreachable: false,
        lag_history: lag_every_minute(&[2.0; 20]),
        onset: Some(FailureOnset {
            at: onset(),
            source: "health_check_metric".into(),
        }),
        primary_activity: None,
    }
}

fn onset() -> DateTime<Utc> {
    now() - Duration::minutes(10)
}

/// One datapoint a minute, ending at the observation's minute.
fn lag_every_minute(values: &[f64]) -> Vec<LagPoint> {
    let n = values.len() as i64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| LagPoint {
            at: now() - Duration::minutes(n - 1 - i as i64),
            seconds: *v,
        })
        .collect()
}

fn primary(status: &str) -> InstanceState {
    let mut p = instance("orders-primary", PRIMARY_ENDPOINT, "postgres");
    p.status = status.into();
    p
}

fn region_down(obs: &mut Observation) {
    obs.primary = Err("dispatch failure: connection refused".into());
    obs.primary_unreachable = true;
}

fn is_promote(d: &Decision) -> bool {
    matches!(d, Decision::Proceed { steps, .. } if steps.iter().any(|s| matches!(s, PlannedStep::Promote { .. })))
}

fn reasons(d: &Decision) -> String {
    match d {
        Decision::Refused { reasons } => reasons.join(" | "),
        other => format!("not refused: {other:?}"),
    }
}

#[test]
fn three_of_eight_checkers_healthy_is_healthy_by_route53s_rule_one_of_eight_is_not() {
    let mut obs = base("mysql");
    region_down(&mut obs);
    obs.health_check = Some(Ok(HealthCheckState {
        id: "hc".into(),
        healthy_checkers: 3,
        checkers: 8,
    }));
    let d = decide(&db(), &obs, AUTO);
    assert!(
        reasons(&d).contains("Route 53's rule (more than 18%"),
        "{d:?}"
    );
    assert!(reasons(&d).contains("3 of 8 checkers (37%)"), "{d:?}");
    obs.health_check = Some(Ok(HealthCheckState {
        id: "hc".into(),
        healthy_checkers: 1,
        checkers: 8,
    }));
    assert!(is_promote(&decide(&db(), &obs, AUTO)));
    // no checker reporting proves nothing
    obs.health_check = Some(Ok(HealthCheckState {
        id: "hc".into(),
        healthy_checkers: 0,
        checkers: 0,
    }));
    assert!(reasons(&decide(&db(), &obs, AUTO)).contains("no checker reports"));
}

#[test]
fn a_replica_still_replicating_is_refused_unless_a_person_forces() {
    let obs = base("postgres");
    let d = decide(&db(), &obs, AUTO);
    assert!(
        reasons(&d).contains("no evidence from the replica's side"),
        "{d:?}"
    );
    match decide(&db(), &obs, FORCED) {
        Decision::Proceed { overridden, .. } => {
            assert!(
                overridden.iter().any(|o| o.contains("no evidence")),
                "{overridden:?}"
            )
        }
        other => panic!("expected proceed, got {other:?}"),
    }
    // `force` from an alarm counts for nothing
    let alarm_force = Ask {
        force: true,
        automatic: true,
        trigger_at: None,
    };
    assert!(!is_promote(&decide(&db(), &obs, alarm_force)));
}

#[test]
fn each_signal_is_evidence_that_replication_stopped() {
    // the replica reports a replication error
    let mut obs = base("postgres");
    if let Some(r) = obs.replica.as_mut() {
        r.replication = Some(ReplicationInfo {
            status: "error".into(),
            normal: false,
            message: Some("source unreachable".into()),
        });
    }
    assert!(is_promote(&decide(&db(), &obs, AUTO)), "replication error");
    // RDS reports the primary failed
    let mut obs = base("postgres");
    obs.primary = Ok(Some(primary("failed")));
    assert!(is_promote(&decide(&db(), &obs, AUTO)), "primary failed");
    // MySQL lag -1 after the onset
    let mut obs = base("mysql");
    let mut lag = vec![2.0; 10];
    lag.extend([-1.0; 10]);
    obs.lag_history = lag_every_minute(&lag);
    assert!(is_promote(&decide(&db(), &obs, AUTO)), "mysql -1");
    // PostgreSQL lag growing with the clock after a busy primary's onset
    let mut obs = base("postgres");
    let mut lag = vec![1.0; 10];
    lag.extend((1..=10).map(|m| f64::from(m) * 60.0));
    obs.lag_history = lag_every_minute(&lag);
    let mut d = db();
    d.rpo_budget_seconds = 60;
    assert!(is_promote(&decide(&d, &obs, AUTO)), "postgres growing");
    // ... but an idle sawtooth within five minutes is not evidence
    let mut obs = base("postgres");
    let lag: Vec<f64> = (0..20).map(|m| f64::from((m % 5) * 60 + 30)).collect();
    obs.lag_history = lag_every_minute(&lag);
    assert!(reasons(&decide(&d, &obs, AUTO)).contains("no evidence"));
}

#[test]
fn idle_postgres_primary_recovers_to_zero_a_busy_one_at_its_lag_at_the_onset() {
    let mut d = db();
    d.rpo_budget_seconds = 60;
    // sawtooth up to 300 s before the onset, the primary idle, its region's RDS down
    let mut obs = base("postgres");
    region_down(&mut obs);
    // the sawtooth before the onset, then growth with no reset (nothing arrives any more)
    let mut lag: Vec<f64> = (0..9).map(|m| f64::from((m % 5) * 60 + 60)).collect();
    lag.extend((0..11).map(|m| 60.0 + f64::from(m) * 60.0));
    obs.lag_history = lag_every_minute(&lag);
    obs.primary_activity = Some(PrimaryActivity {
        max_log_bytes_per_second: Some(120.0),
        idle_threshold: 1024,
        minutes: 15,
        idle: true,
    });
    match decide(&d, &obs, AUTO) {
        Decision::Proceed {
            rpo_seconds, rpo, ..
        } => {
            assert_eq!(rpo_seconds, Some(0.0));
            assert!(rpo.is_some_and(|r| r.basis.contains("idle")));
        }
        other => panic!("expected proceed, got {other:?}"),
    }
    // a busy primary whose lag at the onset was 200 s: refused
    obs.primary_activity = Some(PrimaryActivity {
        max_log_bytes_per_second: Some(900_000.0),
        idle_threshold: 1024,
        minutes: 15,
        idle: false,
    });
    let mut lag = vec![200.0; 10];
    lag.extend([900.0; 10]);
    obs.lag_history = lag_every_minute(&lag);
    let r = reasons(&decide(&d, &obs, AUTO));
    assert!(
        r.contains("200 s") && r.contains("over the RPO budget of 60 s"),
        "{r}"
    );
}

#[test]
fn mysql_recovery_point_is_the_last_sound_lag_before_minus_one_as_a_lower_bound() {
    let mut obs = base("mysql");
    let mut lag = vec![3.0; 9];
    lag.push(7.0);
    lag.extend([-1.0; 10]);
    obs.lag_history = lag_every_minute(&lag);
    match decide(&db(), &obs, AUTO) {
        Decision::Proceed { rpo, .. } => {
            let rpo = rpo.expect("rpo");
            assert_eq!(rpo.seconds, Some(7.0));
            assert!(
                rpo.lower_bound && rpo.basis.contains("lower bound"),
                "{rpo:?}"
            );
        }
        other => panic!("expected proceed, got {other:?}"),
    }
}

fn promoted_and_pointed(obs: &mut Observation, completed: bool) {
    if let Some(r) = obs.replica.as_mut() {
        r.replica_source = None;
        r.replication = None;
        r.promotion_started_at = Some(now() - Duration::minutes(5));
        r.failover_completed_at = completed.then(|| now() - Duration::minutes(1));
    }
    obs.records[0].values = vec![REPLICA_ENDPOINT.into()];
}

#[test]
fn dns_repointed_without_completion_is_confirmed_and_recorded_then_failback_is_safe() {
    let mut obs = base("postgres");
    region_down(&mut obs);
    promoted_and_pointed(&mut obs, false);
    match decide(&db(), &obs, AUTO) {
        Decision::Proceed { steps, .. } => assert!(
            matches!(&steps[..], [PlannedStep::UpdateRecord(u)] if u.from == vec![REPLICA_ENDPOINT.to_owned()]),
            "{steps:?}"
        ),
        other => panic!("expected the confirmation, got {other:?}"),
    }
    // completed; then failed back: a late alarm changes nothing
    promoted_and_pointed(&mut obs, true);
    obs.records[0].values = vec![PRIMARY_ENDPOINT.into()];
    assert!(reasons(&decide(&db(), &obs, AUTO)).contains("failback"));
}

#[test]
fn an_old_promotion_not_in_dns_needs_the_primary_down_again() {
    let mut obs = base("postgres");
    promoted_and_pointed(&mut obs, false);
    obs.records[0].values = vec![PRIMARY_ENDPOINT.into()];
    if let Some(r) = obs.replica.as_mut() {
        r.promotion_started_at = Some(now() - Duration::days(20));
    }
    obs.alarms[0].state = Some("OK".into());
    let r = reasons(&decide(&db(), &obs, AUTO));
    assert!(r.contains("not the incident that promoted it"), "{r}");
    assert!(r.contains("no alarm on the primary"), "{r}");
    // a recent promotion, but this run is not a retry of its alarm: the same checks
    if let Some(r) = obs.replica.as_mut() {
        r.promotion_started_at = Some(now() - Duration::minutes(5));
        r.alarm_at = Some(now() - Duration::minutes(6));
    }
    let other_alarm = Ask {
        trigger_at: Some(now() - Duration::minutes(1)),
        ..AUTO
    };
    assert!(reasons(&decide(&db(), &obs, other_alarm)).contains("not the incident"));
    let same_alarm = Ask {
        trigger_at: Some(now() - Duration::minutes(6)),
        ..AUTO
    };
    assert!(matches!(
        decide(&db(), &obs, same_alarm),
        Decision::Proceed { .. }
    ));
}

#[test]
fn the_foreign_record_guard_holds_while_the_primary_region_is_down() {
    let mut obs = base("mysql");
    region_down(&mut obs);
    obs.records[0].values = vec!["maintenance.example.internal".into()];
    let d = decide(&db(), &obs, AUTO);
    assert!(
        reasons(&d).contains("neither the primary nor the replica"),
        "{d:?}"
    );
    // the primary's endpoint by RDS's naming still counts as the primary's
    obs.records[0].values = vec![PRIMARY_ENDPOINT.into()];
    assert!(is_promote(&decide(&db(), &obs, AUTO)));
    // a configured endpoint wins over the naming
    let mut d = db();
    d.primary.endpoint = Some("orders.proxy.example.internal".into());
    obs.records[0].values = vec!["orders.proxy.example.internal".into()];
    assert!(is_promote(&decide(&d, &obs, AUTO)));
}

#[test]
fn fencing_follows_the_old_primary_and_the_mode() {
    let mut obs = base("postgres");
    obs.primary = Ok(Some(primary("available")));
    promoted_and_pointed(&mut obs, true);
    let d = db();
    assert_eq!(fence_state(&d, &obs), FenceState::Due);
    assert!(
        matches!(decide(&d, &obs, AUTO), Decision::Proceed { steps, .. } if matches!(&steps[..], [PlannedStep::Fence { .. }]))
    );
    if let Ok(Some(p)) = obs.primary.as_mut() {
        p.status = "stopped".into();
        p.fenced_at = Some(now());
    }
    assert!(matches!(fence_state(&d, &obs), FenceState::Fenced { .. }));
    assert_eq!(decide(&d, &obs, AUTO), Decision::AlreadyFailedOver);
    // RDS started it again after 7 days: due again
    if let Ok(Some(p)) = obs.primary.as_mut() {
        p.status = "available".into();
    }
    assert_eq!(fence_state(&d, &obs), FenceState::Due);
    // stopping is not fenced yet: it may still take writes
    if let Ok(Some(p)) = obs.primary.as_mut() {
        p.status = "stopping".into();
    }
    assert!(matches!(fence_state(&d, &obs), FenceState::Pending { .. }));
    if let Ok(Some(p)) = obs.primary.as_mut() {
        p.status = "available".into();
    }
    // fencing none: nothing to do
    let mut none = db();
    none.fencing = Fencing::None;
    assert_eq!(fence_state(&none, &obs), FenceState::Disabled);
    assert_eq!(decide(&none, &obs, AUTO), Decision::AlreadyFailedOver);
    // region down: pending
    region_down(&mut obs);
    assert!(matches!(fence_state(&d, &obs), FenceState::Pending { .. }));
    assert_eq!(decide(&d, &obs, AUTO), Decision::AlreadyFailedOver);
}

#[test]
fn a_leftover_alarm_tag_on_an_available_replica_is_not_the_rto_start() {
    use pilotlight::plan::failover::rto_start;
    let mut obs = base("postgres");
    let old = now() - Duration::days(30);
    if let Some(r) = obs.replica.as_mut() {
        r.promotion_started_at = Some(old);
        r.alarm_at = Some(old);
    }
    assert_eq!(rto_start(&obs, Some(onset())), Some(onset()));
    if let Some(r) = obs.replica.as_mut() {
        r.status = "modifying".into();
    }
    assert_eq!(rto_start(&obs, Some(onset())), Some(old));
}

#[test]
fn a_primary_that_answers_and_may_take_writes_is_fenced_first_or_not_promoted() {
    let mut obs = base("postgres");
    obs.primary = Ok(Some(primary("available")));
    if let Some(r) = obs.replica.as_mut() {
        r.replication = Some(ReplicationInfo {
            status: "error".into(),
            normal: false,
            message: None,
        });
    }
    // fencing `stop`: RDS cannot stop it while it has its replica: refused
    let r = reasons(&decide(&db(), &obs, AUTO));
    assert!(r.contains("it may still take writes"), "{r}");
    // fencing by security group: fenced first, then promoted
    let mut d = db();
    d.fencing = Fencing::SecurityGroup {
        security_group_ids: vec!["sg-0123456789abcdef0".into()],
    };
    match decide(&d, &obs, AUTO) {
        Decision::Proceed { steps, .. } => assert!(
            matches!(
                &steps[..],
                [
                    PlannedStep::Fence {
                        before_promotion: true,
                        ..
                    },
                    PlannedStep::Promote { .. },
                    ..
                ]
            ),
            "{steps:?}"
        ),
        other => panic!("expected proceed, got {other:?}"),
    }
}

#[test]
fn an_unreachable_api_is_no_evidence_while_the_replica_still_replays() {
    let mut obs = base("postgres");
    region_down(&mut obs);
    // the lag fell after the onset: something was replayed
    let mut lag = vec![2.0; 10];
    lag.extend([30.0, 5.0, 3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]);
    obs.lag_history = lag_every_minute(&lag);
    assert!(reasons(&decide(&db(), &obs, AUTO)).contains("no evidence"));
    assert!(pilotlight::plan::failover::awaiting_evidence(&db(), &obs));
}

#[test]
fn a_postgres_lag_growing_right_after_a_wal_switch_is_no_evidence_unless_the_primary_was_busy() {
    let mut obs = base("postgres");
    let mut lag = vec![240.0; 10];
    lag.extend([30.0, 90.0, 150.0, 210.0]);
    let mut points = lag_every_minute(&lag);
    // the onset is the minute of the 30 s point
    obs.onset = Some(FailureOnset {
        at: points[10].at,
        source: "health_check_metric".into(),
    });
    points.truncate(14);
    obs.lag_history = points;
    let mut d = db();
    d.rpo_budget_seconds = 600;
    assert!(reasons(&decide(&d, &obs, AUTO)).contains("no evidence"));
    obs.primary_activity = Some(PrimaryActivity {
        max_log_bytes_per_second: Some(50_000.0),
        idle_threshold: 256,
        minutes: 15,
        idle: false,
    });
    assert!(is_promote(&decide(&d, &obs, AUTO)));
}

// ---------------------------------------------------------------------------------------------
// Property: decide never promotes unless every automatic condition holds or a person forced it.
// ---------------------------------------------------------------------------------------------

prop_compose! {
    fn observation()(
        engine in prop::sample::select(vec!["mysql", "postgres", "oracle-ee"]),
        primary_kind in 0u8..4,
        primary_status in prop::sample::select(vec!["available", "failed", "stopped", "rebooting", "modifying"]),
        replication in prop::sample::select(vec!["replicating", "error", "stopped", "none"]),
        alarm in prop::sample::select(vec!["ALARM", "OK", "INSUFFICIENT_DATA"]),
        healthy in 0usize..=16,
        checkers in 0usize..=16,
        lag in prop::collection::vec(prop_oneof![Just(-1.0f64), 0.0f64..1200.0], 0..25),
        idle in any::<bool>(),
        record in prop::sample::select(vec!["primary", "replica", "foreign", "none"]),
        has_onset in any::<bool>(),
    ) -> Observation {
        let mut obs = base(engine);
        match primary_kind {
            0 => if let Ok(Some(p)) = obs.primary.as_mut() { p.status = primary_status.into(); },
            1 => region_down(&mut obs),
            2 => obs.primary = Ok(None),
            _ => obs.primary = Err("AccessDenied".into()),
        }
        if let Some(r) = obs.replica.as_mut() {
            r.replication = (replication != "none").then(|| ReplicationInfo {
                status: replication.into(),
                normal: replication == "replicating",
                message: None,
            });
        }
        obs.alarms[0].state = Some(alarm.into());
        obs.health_check = Some(Ok(HealthCheckState { id: "hc".into(), healthy_checkers: healthy.min(checkers), checkers }));
        obs.lag_history = lag_every_minute(&lag);
        obs.primary_activity = Some(PrimaryActivity { max_log_bytes_per_second: Some(0.0), idle_threshold: 1024, minutes: 15, idle });
        obs.records[0].values = match record {
            "primary" => vec![PRIMARY_ENDPOINT.into()],
            "replica" => vec![REPLICA_ENDPOINT.into()],
            "foreign" => vec!["maintenance.example.internal".into()],
            _ => vec![],
        };
        if !has_onset { obs.onset = None; }
        obs
    }
}

proptest! {
    #[test]
    fn no_promotion_without_every_condition_or_a_persons_force(
        obs in observation(),
        force in any::<bool>(),
        automatic in any::<bool>(),
    ) {
        use pilotlight::plan::failover::{automatic_conditions, replication_evidence, rpo_estimate};
        let d = db();
        let decision = decide(&d, &obs, Ask { force, automatic, trigger_at: None });
        if is_promote(&decision) {
            let replica = obs.replica.as_ref().expect("replica");
            let evidence = replication_evidence(&d, &obs, replica);
            let rpo = rpo_estimate(&obs, replica);
            let unmet = automatic_conditions(&d, &obs, &evidence, &rpo);
            prop_assert!(unmet.is_empty() || (force && !automatic), "promoted with {unmet:?} (force {force}, automatic {automatic})");
            // and independently of those helpers, for an automatic promotion:
            if automatic {
                prop_assert_eq!(obs.alarms[0].state.as_ref().map(|s| s.as_str()), Some("ALARM"));
                let hc = obs.health_check.as_ref().and_then(|h| h.as_ref().ok()).expect("hc");
                prop_assert!(hc.checkers > 0 && hc.healthy_checkers * 100 <= hc.checkers * 18);
                prop_assert!(!evidence.is_empty());
                prop_assert!(rpo.seconds.is_some_and(|s| s <= d.rpo_budget_seconds as f64));
                // never while the primary answers and may take writes (fencing `stop`)
                let writable = matches!(&obs.primary, Ok(Some(p)) if !["failed", "stopped"].contains(&p.status.as_str()));
                prop_assert!(!writable, "promoted while the primary answers: {:?}", obs.primary);
            }
        }
    }
}
