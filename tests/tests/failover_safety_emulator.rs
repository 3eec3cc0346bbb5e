//! Issue 11 on the emulator: the failover never makes two writers. Route 53's checkers one by one,
//! the replica's own replication status, metric history (`ReplicaLag`, `HealthCheckStatus`,
//! `TransactionLogsGeneration`) put at past minutes, a region whose RDS API is down, and the old
//! primary fenced once its region answers. Every function call runs under the failover role of
//! `infra/sam/template.yaml` (IAM enforced by the emulator).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use aws_sdk_rds::types::Tag;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use chrono::{Duration, Utc};
use failover::{failover, status, FailoverReport, Outcome, StatusEntry};
use pilotlight::command::FailoverRequest;
use pilotlight::config::Fencing;
use serde_json::{json, Value};
use tests::{put_metric_series, Emulator, Scenario, DR_REGION, PRIMARY_REGION};

async fn run(s: &Scenario, req: &FailoverRequest) -> FailoverReport {
    failover(&s.failover_deps(), req, Utc::now(), None)
        .await
        .unwrap_or_else(|e| panic!("failover of {}: {e}", s.name))
}

fn reasons(r: &FailoverReport) -> String {
    r.reasons.join(" | ")
}

/// The primary's region: its RDS API refuses connections (CloudWatch there still answers).
fn rds_down_in_primary_region(emu: &Emulator) {
    emu.add_outage(json!({"region": PRIMARY_REGION, "service": "rds", "mode": "refused"}));
}

/// `HealthCheckStatus` healthy until `onset_minutes_ago`, unhealthy since.
async fn health_metric(s: &Scenario, onset_minutes_ago: i64) {
    let points: Vec<(i64, f64)> = (0..=20)
        .map(|ago| (ago, if ago > onset_minutes_ago { 1.0 } else { 0.0 }))
        .collect();
    put_metric_series(
        &s.aws.cw_primary,
        "AWS/Route53",
        "HealthCheckStatus",
        ("HealthCheckId", &s.health_check_id),
        &points,
    )
    .await;
}

async fn replica_lag(s: &Scenario, points: &[(i64, f64)]) {
    let id = format!("{}-replica", s.name);
    put_metric_series(
        &s.aws.cw_dr,
        "AWS/RDS",
        "ReplicaLag",
        ("DBInstanceIdentifier", &id),
        points,
    )
    .await;
}

async fn primary_logs(s: &Scenario, bytes_per_second: f64) {
    let id = format!("{}-primary", s.name);
    let points: Vec<(i64, f64)> = (0..=30).map(|ago| (ago, bytes_per_second)).collect();
    put_metric_series(
        &s.aws.cw_primary,
        "AWS/RDS",
        "TransactionLogsGeneration",
        ("DBInstanceIdentifier", &id),
        &points,
    )
    .await;
}

async fn primary_state(s: &Scenario) -> (String, Vec<String>, Option<String>) {
    let out = s
        .aws
        .rds_primary
        .describe_db_instances()
        .db_instance_identifier(format!("{}-primary", s.name))
        .send()
        .await
        .expect("describe primary");
    let i = &out.db_instances()[0];
    (
        i.db_instance_status().unwrap_or_default().to_owned(),
        i.vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
            .collect(),
        i.tag_list()
            .iter()
            .find(|t| t.key() == Some("pilotlight:fenced-at"))
            .and_then(|t| t.value().map(str::to_owned)),
    )
}

async fn fencing_in_status(s: &Scenario) -> Value {
    let report = status(&s.failover_deps(), Some(&s.name))
        .await
        .expect("status");
    match &report.databases[0] {
        StatusEntry::Observed(o) => serde_json::to_value(&o.fencing).expect("json"),
        other => panic!("unreadable: {other:?}"),
    }
}

async fn point_record(s: &Scenario, value: &str) {
    s.aws
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(&s.zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(
                            ResourceRecordSet::builder()
                                .name(&s.record_name)
                                .r#type(RrType::Cname)
                                .ttl(60)
                                .resource_records(
                                    ResourceRecord::builder().value(value).build().unwrap(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("point the record");
}

#[tokio::test]
async fn three_of_eight_checkers_healthy_is_refused_by_route53s_rule_one_of_eight_promotes() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "checkers", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    // a partial outage: 3 of the 8 checkers still reach the primary (37 % > 18 %)
    emu.set_health_checkers(&s.health_check_id, 3, 8);
    emu.clear_requests();
    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::Refused);
    assert!(
        reasons(&report).contains("Route 53's rule (more than 18%"),
        "{}",
        reasons(&report)
    );
    assert!(
        reasons(&report).contains("3 of 8 checkers"),
        "{}",
        reasons(&report)
    );
    assert_eq!(
        emu.mutating_calls(),
        ["Publish"],
        "only the refusal is published"
    );

    emu.set_health_checkers(&s.health_check_id, 1, 8);
    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
}

#[tokio::test]
async fn a_replica_still_replicating_is_refused_until_a_person_forces_and_the_override_is_reported()
{
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "replicating", Some(2.0), 300).await;
    // alarm and health check say down; the primary answers, is available, the replica replicates
    s.primary_unhealthy_only(&emu).await;
    emu.clear_requests();
    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::Refused);
    assert!(
        reasons(&report).contains("no evidence from the replica's side"),
        "{}",
        reasons(&report)
    );
    assert_eq!(emu.calls("PromoteReadReplica"), 0);

    let report = run(&s, &s.manual_request(false, true)).await;
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    let decision = serde_json::to_value(&report.decision).expect("json");
    let overridden = decision["overridden"].to_string();
    assert!(
        overridden.contains("no evidence from the replica's side"),
        "{overridden}"
    );
    assert!(report.force);
}

#[tokio::test]
async fn an_idle_postgres_primary_is_promoted_with_a_zero_rpo_a_busy_one_is_refused() {
    let emu = Emulator::start();
    // idle: the lag is RDS's sawtooth (60..300 s, reset by the 5-minute WAL switch), no writes
    let idle = Scenario::create(&emu, "idle", None, 60).await;
    // then, from the onset 10 minutes ago, growth with no reset: nothing arrives any more
    let sawtooth: Vec<(i64, f64)> = (0..=20)
        .map(|ago| {
            let v = if ago > 10 {
                f64::from(u32::try_from((20 - ago) % 5).unwrap()) * 60.0 + 60.0
            } else {
                60.0 + f64::from(u32::try_from(10 - ago).unwrap()) * 60.0
            };
            (ago, v)
        })
        .collect();
    replica_lag(&idle, &sawtooth).await;
    primary_logs(&idle, 40.0).await;
    health_metric(&idle, 10).await;
    // busy: 200 s behind at the onset, growing since
    let busy = Scenario::create(&emu, "busy", None, 60).await;
    let growing: Vec<(i64, f64)> = (0..=20)
        .map(|ago| {
            (
                ago,
                if ago > 10 {
                    200.0
                } else {
                    200.0 + f64::from(u32::try_from(10 - ago).unwrap()) * 60.0
                },
            )
        })
        .collect();
    replica_lag(&busy, &growing).await;
    primary_logs(&busy, 850_000.0).await;
    health_metric(&busy, 10).await;
    for s in [&idle, &busy] {
        s.primary_unhealthy_only(&emu).await;
    }
    // the primary region's RDS API is down (its CloudWatch answers): evidence for both
    rds_down_in_primary_region(&emu);

    let report = run(&idle, &idle.alarm_request()).await;
    let observed = status(&idle.failover_deps(), Some(&idle.name))
        .await
        .expect("status");
    assert_eq!(
        report.outcome,
        Outcome::FailedOver,
        "{report:?}\n{}",
        serde_json::to_string(&observed).unwrap_or_default()
    );
    assert_eq!(report.rpo_seconds, Some(0.0));
    let rpo = report.rpo.expect("rpo");
    assert!(rpo.basis.contains("idle") && !rpo.lower_bound, "{rpo:?}");

    let report = run(&busy, &busy.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::Refused);
    let r = reasons(&report);
    assert!(
        r.contains("200 s") && r.contains("over the RPO budget of 60 s"),
        "{r}"
    );
}

#[tokio::test]
async fn mysql_lag_of_minus_one_gives_the_last_sound_lag_as_a_lower_bound() {
    let emu = Emulator::start();
    let s = Scenario::create_with_engine(&emu, "mysqlrpo", "mysql", None, 300).await;
    let mut lag: Vec<(i64, f64)> = (11..=20).map(|ago| (ago, 3.0)).collect();
    lag.push((10, 7.0));
    lag.extend((0..10).map(|ago| (ago, -1.0)));
    replica_lag(&s, &lag).await;
    health_metric(&s, 10).await;
    // ReplicaLag -1 (replication not active); RDS reports the primary `failed`
    s.primary_unhealthy_only(&emu).await;
    emu.hold_instance_status(PRIMARY_REGION, "mysqlrpo-primary", Some("failed"));
    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    assert_eq!(report.rpo_seconds, Some(7.0));
    let rpo = report.rpo.expect("rpo");
    assert!(
        rpo.lower_bound && rpo.basis.contains("lower bound"),
        "{rpo:?}"
    );
}

#[tokio::test]
async fn a_crash_between_the_dns_change_and_insync_is_completed_once_and_a_failback_stays() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "insync", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    // The state a run leaves when it dies after its DNS change: the replica tagged and promoted,
    // the record on it, no completion tag.
    let replica_id = format!("{}-replica", s.name);
    let arn = s
        .aws
        .rds_dr
        .describe_db_instances()
        .db_instance_identifier(&replica_id)
        .send()
        .await
        .expect("describe")
        .db_instances()[0]
        .db_instance_arn()
        .expect("arn")
        .to_owned();
    let at = (Utc::now() - Duration::minutes(2)).to_rfc3339();
    s.aws
        .rds_dr
        .add_tags_to_resource()
        .resource_name(&arn)
        .tags(
            Tag::builder()
                .key("pilotlight:promotion-started-at")
                .value(&at)
                .build(),
        )
        .tags(Tag::builder().key("pilotlight:alarm-at").value(&at).build())
        .tags(
            Tag::builder()
                .key("pilotlight:replica-lag-seconds")
                .value("2")
                .build(),
        )
        .send()
        .await
        .expect("tag");
    s.aws
        .rds_dr
        .promote_read_replica()
        .db_instance_identifier(&replica_id)
        .send()
        .await
        .expect("promote");
    emu.release_promotions();
    point_record(&s, &s.replica_endpoint).await;
    let _ = s.notifications().await;

    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    assert!(report.timeline.dns_in_sync_at.is_some());
    let tags = s
        .aws
        .rds_dr
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .expect("tags");
    assert!(tags
        .tag_list()
        .iter()
        .any(|t| t.key() == Some("pilotlight:failover-completed-at")));
    let again = run(&s, &s.alarm_request()).await;
    assert_eq!(again.outcome, Outcome::AlreadyFailedOver, "{again:?}");
    let results = s
        .notifications()
        .await
        .into_iter()
        .filter(|m| m["event"] == "result")
        .count();
    assert_eq!(results, 1, "exactly one result notification");

    // A failback: the team points the record at the primary again. A late alarm changes nothing.
    point_record(&s, &s.primary_endpoint).await;
    emu.clear_requests();
    let late = run(&s, &s.alarm_request()).await;
    assert_eq!(late.outcome, Outcome::Refused);
    assert!(reasons(&late).contains("failback"), "{}", reasons(&late));
    assert_eq!(emu.mutating_calls(), ["Publish"]);
    assert_eq!(s.record_values().await, vec![s.primary_endpoint.clone()]);
}

#[tokio::test]
async fn with_the_primary_region_down_a_persons_maintenance_record_is_not_overwritten() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "maint", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    point_record(&s, "maintenance.example.internal").await;
    rds_down_in_primary_region(&emu);
    emu.clear_requests();
    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::Refused);
    assert!(
        reasons(&report).contains("neither the primary nor the replica"),
        "{}",
        reasons(&report)
    );
    assert_eq!(emu.calls("PromoteReadReplica"), 0);
    assert_eq!(
        s.record_values().await,
        vec!["maintenance.example.internal".to_owned()]
    );
}

#[tokio::test]
async fn the_old_primary_is_fenced_once_when_its_region_comes_back() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "fence", Some(2.0), 300).await;
    s.primary_down(&emu).await;
    rds_down_in_primary_region(&emu);
    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    assert_eq!(emu.calls("StopDBInstance"), 0);
    assert_eq!(fencing_in_status(&s).await["fencing"], "pending");

    // The region comes back, the old primary with it: the next run fences it, once.
    emu.clear_outages();
    s.primary_back(&emu);
    assert_eq!(fencing_in_status(&s).await["fencing"], "due");
    let report = run(&s, &s.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::AlreadyFailedOver, "{report:?}");
    assert!(
        report
            .fencing
            .as_deref()
            .is_some_and(|f| f.starts_with("fenced")),
        "{report:?}"
    );
    assert_eq!(emu.succeeded("StopDBInstance"), 1);
    let (status_now, _, fenced_at) = primary_state(&s).await;
    assert_eq!(status_now, "stopped");
    assert!(fenced_at.is_some());
    assert!(s
        .notifications()
        .await
        .iter()
        .any(|m| m["event"] == "fenced"));

    emu.clear_requests();
    let rerun = run(&s, &s.alarm_request()).await;
    assert_eq!(rerun.outcome, Outcome::AlreadyFailedOver);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    assert_eq!(fencing_in_status(&s).await["fencing"], "fenced");
}

#[tokio::test]
async fn fencing_none_leaves_the_old_primary_alone_and_a_security_group_fences_it() {
    let emu = Emulator::start();
    let mut none = Scenario::create(&emu, "nofence", Some(2.0), 300).await;
    none.config.databases[0].fencing = Fencing::None;
    none.primary_down(&emu).await;
    let report = run(&none, &none.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    // the old primary comes back: with fencing `none` a later run leaves it alone
    none.primary_back(&emu);
    let again = run(&none, &none.alarm_request()).await;
    assert_eq!(again.outcome, Outcome::AlreadyFailedOver, "{again:?}");
    assert_eq!(
        emu.calls("StopDBInstance") + emu.calls("ModifyDBInstance"),
        0
    );
    assert_eq!(primary_state(&none).await.0, "available");
    assert_eq!(fencing_in_status(&none).await["fencing"], "disabled");

    // The primary answers and is `available`, but the replica lost it: fenced first (security
    // group, then a reboot to end open sessions), then promoted.
    let mut sg = Scenario::create(&emu, "sgfence", Some(2.0), 300).await;
    let group = "sg-0123456789abcdef0".to_owned();
    sg.config.databases[0].fencing = Fencing::SecurityGroup {
        security_group_ids: vec![group.clone()],
    };
    sg.primary_unhealthy_only(&emu).await;
    emu.set_replication(
        DR_REGION,
        "sgfence-replica",
        Some("error"),
        "source unreachable",
    );
    emu.clear_requests();
    let report = run(&sg, &sg.alarm_request()).await;
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    let order: Vec<String> = emu.requests().into_iter().map(|r| r.action).collect();
    let at = |a: &str| order.iter().position(|x| x == a).unwrap_or(usize::MAX);
    assert!(
        at("ModifyDBInstance") < at("RebootDBInstance")
            && at("RebootDBInstance") < at("PromoteReadReplica"),
        "{order:?}"
    );
    let (_, groups, fenced_at) = primary_state(&sg).await;
    assert_eq!(groups, vec![group]);
    assert!(fenced_at.is_some());
    assert_eq!(fencing_in_status(&sg).await["fencing"], "fenced");
}

#[tokio::test]
async fn an_alarm_waits_for_the_evidence_that_arrives_late_then_fails_over() {
    let emu = Emulator::start();
    let mut s = Scenario::create(&emu, "late", Some(2.0), 300).await;
    s.config.failover.evidence_wait_seconds = 30;
    s.config.databases[0].fencing = Fencing::SecurityGroup {
        security_group_ids: vec!["sg-0123456789abcdef0".into()],
    };
    s.primary_unhealthy_only(&emu).await;
    // RDS notices the lost source a little after the alarm
    let url = emu.url.clone();
    let late = tokio::task::spawn_blocking(move || {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        ureq::put(&format!(
            "{url}/_pilotlight/instances/{DR_REGION}/late-replica/replication"
        ))
        .send_json(json!({"status": "error", "message": "source unreachable"}))
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    let started = std::time::Instant::now();
    let report = run(&s, &s.alarm_request()).await;
    late.await.expect("join").expect("set replication");
    assert_eq!(report.outcome, Outcome::FailedOver, "{report:?}");
    assert!(started.elapsed().as_millis() >= 1500);
}
