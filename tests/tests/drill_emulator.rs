//! The DR drill against the AWS emulator, under the failover function's IAM role from
//! `infra/sam/template.yaml`: a real restore of the newest DR snapshot copy, the user's
//! validation function (a stand-in this test serves), the delete, the report, and the
//! guarantees: a drill never changes the protected database, its replica or its records, never
//! deletes an instance without its drill tag, and a drill left half-way is finished (and its
//! instance deleted) by the next run.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use aws_sdk_rds::types::Tag;
use failover::DrillsReport;
use pilotlight::command::{DrillKind, DrillRequest};
use pilotlight::plan::drill::{ledger_key, TAG_DRILL};
use serde_json::{json, Value};
use tests::{Emulator, Scenario, DR_REGION, PRIMARY_REGION};

const VALIDATOR: &str = "drill-check";

/// A stand-in for the user's validation function: a Lambda runtime endpoint (the emulator
/// forwards `Invoke` of [`VALIDATOR`] to it) that records each payload and answers `answer`
/// (with `X-Amz-Function-Error: Unhandled` when `error`).
struct Validator {
    url: String,
    payloads: Arc<Mutex<Vec<Value>>>,
}

impl Validator {
    fn start(answer: Value, error: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let payloads = Arc::new(Mutex::new(Vec::new()));
        let seen = payloads.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                if let Ok(mut p) = seen.lock() {
                    p.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                }
                let out = answer.to_string();
                let extra = if error {
                    "X-Amz-Function-Error: Unhandled\r\n"
                } else {
                    ""
                };
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{out}",
                    out.len()
                );
            }
        });
        Self { url, payloads }
    }

    fn payloads(&self) -> Vec<Value> {
        self.payloads.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// A scenario with a pilotlight snapshot copy of the primary in the DR region, its data two
/// hours old; with a validation function when `validator` is given.
async fn scenario(emu: &Emulator, name: &str, validator: Option<&Validator>) -> Scenario {
    let mut sc = Scenario::create(emu, name, Some(5.0), 60).await;
    let primary = format!("{name}-primary");
    let two_hours_ago = (chrono::Utc::now() - chrono::Duration::hours(2))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let tags = vec![
        tag("pilotlight:managed-by", "pilotlight"),
        tag("pilotlight:source-db", &primary),
        tag("pilotlight:source-region", PRIMARY_REGION),
        tag("pilotlight-emulator:create-time", &two_hours_ago),
    ];
    let snap = sc
        .aws
        .rds_primary
        .create_db_snapshot()
        .db_instance_identifier(&primary)
        .db_snapshot_identifier(format!("pilotlight-{primary}-a"))
        .set_tags(Some(tags))
        .send()
        .await
        .expect("create snapshot");
    let arn = snap
        .db_snapshot()
        .and_then(|s| s.db_snapshot_arn())
        .expect("arn")
        .to_owned();
    sc.aws
        .rds_dr
        .copy_db_snapshot()
        .source_db_snapshot_identifier(arn)
        .target_db_snapshot_identifier(format!("pilotlight-{primary}-a-{PRIMARY_REGION}"))
        .copy_tags(true)
        .send()
        .await
        .expect("copy snapshot");
    if let Some(v) = validator {
        let arn = format!("arn:aws:lambda:{DR_REGION}:123456789012:function:{VALIDATOR}");
        emu.forward_lambda(VALIDATOR, &v.url, VALIDATOR);
        sc.config.drill.validation_function = Some(arn);
    }
    sc
}

fn request(name: &str) -> DrillRequest {
    DrillRequest {
        database: Some(name.into()),
        kind: DrillKind::Snapshot,
        dry_run: false,
    }
}

async fn drill(sc: &Scenario, req: &DrillRequest) -> DrillsReport {
    failover::drill(&sc.failover_deps(), req, None, &failover::RunId::generate())
        .await
        .expect("drill")
}

/// Run `drill` until it has finished (passed or failed), at most 60 times, 250 ms apart.
async fn drill_to_end(sc: &Scenario, name: &str) -> (DrillsReport, Vec<DrillsReport>) {
    let mut runs = vec![];
    for _ in 0..60 {
        let r = drill(sc, &request(name)).await;
        let done = matches!(r.drills[0].outcome.as_str(), "passed" | "failed");
        runs.push(r.clone());
        if done {
            return (r, runs);
        }
        tests::pause(250).await;
    }
    panic!("the drill did not finish: {:?}", runs.last());
}

async fn instance_status(sc: &Scenario, id: &str) -> Option<String> {
    match sc
        .aws
        .rds_dr
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => out
            .db_instances()
            .first()
            .and_then(|i| i.db_instance_status())
            .map(str::to_owned),
        Err(_) => None,
    }
}

/// RDS and Route 53 calls that change something, by action (the drill's own two excepted).
fn changes_to_the_protected_database(emu: &Emulator) -> Vec<String> {
    emu.mutating_calls()
        .into_iter()
        .filter(|a| {
            !matches!(
                a.as_str(),
                "RestoreDBInstanceFromDBSnapshot" | "DeleteDBInstance" | "Publish" | "Invoke"
            ) && !a.ends_with(&format!("function:{VALIDATOR}/invocations"))
        })
        .collect()
}

#[tokio::test]
async fn a_drill_restores_validates_deletes_and_reports_its_rto_and_rpo() {
    let emu = Emulator::start();
    let validator = Validator::start(json!({"passed": true, "detail": "42 orders"}), false);
    let sc = scenario(&emu, "drill-ok", Some(&validator)).await;
    emu.set_restores(json!({"seconds": 1}));
    emu.clear_requests();

    let (report, runs) = drill_to_end(&sc, "drill-ok").await;
    let d = &report.drills[0];
    assert_eq!(d.outcome, "passed", "{d:?}");
    assert_eq!(d.passed, Some(true));
    assert!(
        runs.len() >= 2,
        "the restore takes a second: more than one run"
    );
    assert!(
        runs[1..].iter().all(|r| r.drills[0].already_running),
        "a second drill answers with the running one"
    );
    let record = d.drill.clone().expect("record");
    assert!(d.restore_seconds.is_some_and(|s| s >= 0.5), "{d:?}");
    let age = d.data_age_seconds.unwrap_or_default();
    assert!((7000.0..7600.0).contains(&age), "data age {age}");
    assert!(record.instance_id.starts_with("pilotlight-drill-drill-ok-"));
    assert!(record.endpoint.is_some());
    assert_eq!(
        emu.succeeded("RestoreDBInstanceFromDBSnapshot"),
        1,
        "one restore"
    );
    assert_eq!(emu.succeeded("DeleteDBInstance"), 1, "one delete");
    let status = instance_status(&sc, &record.instance_id).await;
    assert!(
        matches!(status.as_deref(), None | Some("deleting")),
        "{status:?}"
    );

    // the validation function got the endpoint
    let payloads = validator.payloads();
    assert_eq!(payloads.len(), 1, "validated once");
    assert_eq!(payloads[0]["drill_id"], json!(record.drill_id));
    assert_eq!(
        payloads[0]["db_instance_identifier"],
        json!(record.instance_id)
    );
    assert!(
        payloads[0]["endpoint"]["address"].is_string(),
        "{:?}",
        payloads[0]
    );

    // nothing else changed: the protected database, its replica and its records are untouched
    assert_eq!(
        changes_to_the_protected_database(&emu),
        Vec::<String>::new()
    );
    assert_eq!(sc.record_values().await, vec![sc.primary_endpoint.clone()]);
    let (source, status) = sc.replica().await;
    assert!(source.is_some() && status == "available");

    // published, and recorded in the ledger under the drill key, closed
    let notes = sc.notifications().await;
    assert!(
        notes
            .iter()
            .any(|n| n["event"] == "drill" && n["report"]["outcome"] == "passed"),
        "{notes:?}"
    );
    assert!(d
        .steps
        .iter()
        .any(|s| s.step == "metrics" && s.detail.contains("DrillPassed 1")));
    let history = failover::history(&sc.failover_deps(), &ledger_key("drill-ok"), 5)
        .await
        .expect("history");
    assert_eq!(history.operations.len(), 1);
    assert_eq!(history.operations[0].outcome, "passed");

    // the next drill is a new one (the last is closed)
    let again = drill(&sc, &request("drill-ok")).await;
    assert!(!again.drills[0].already_running);
}

#[tokio::test]
async fn a_failing_validation_fails_the_drill_and_still_deletes_the_instance() {
    let emu = Emulator::start();
    let validator = Validator::start(
        json!({"passed": false, "detail": "orders table empty"}),
        false,
    );
    let sc = scenario(&emu, "drill-bad", Some(&validator)).await;
    emu.set_restores(json!({"seconds": 0.5}));
    let (report, _) = drill_to_end(&sc, "drill-bad").await;
    let d = &report.drills[0];
    assert_eq!(
        (d.outcome.as_str(), d.passed),
        ("failed", Some(false)),
        "{d:?}"
    );
    assert!(
        d.reasons.iter().any(|r| r.contains("orders table empty")),
        "{d:?}"
    );
    assert!(d
        .steps
        .iter()
        .any(|s| s.step == "metrics" && s.detail.contains("DrillPassed 0")));
    assert_eq!(emu.succeeded("DeleteDBInstance"), 1, "deleted all the same");
    let id = d
        .drill
        .as_ref()
        .map(|r| r.instance_id.clone())
        .unwrap_or_default();
    assert!(matches!(
        instance_status(&sc, &id).await.as_deref(),
        None | Some("deleting")
    ));

    // a validation function that errors is a failed validation too
    let emu2 = Emulator::start();
    let erroring = Validator::start(
        json!({"errorType": "Timeout", "errorMessage": "no route to db"}),
        true,
    );
    let sc2 = scenario(&emu2, "drill-err", Some(&erroring)).await;
    emu2.set_restores(json!({"seconds": 0.5}));
    let (report, _) = drill_to_end(&sc2, "drill-err").await;
    let d = &report.drills[0];
    assert_eq!(d.passed, Some(false));
    assert!(
        d.reasons.iter().any(|r| r.contains("no route to db")),
        "{d:?}"
    );
    assert_eq!(emu2.succeeded("DeleteDBInstance"), 1);
}

#[tokio::test]
async fn a_drill_left_half_way_is_finished_and_cleaned_up_by_the_reconcile_pass() {
    let emu = Emulator::start();
    let sc = scenario(&emu, "drill-crash", None).await;
    emu.set_restores(json!({"hold": true}));
    let first = drill(&sc, &request("drill-crash")).await;
    assert_eq!(first.drills[0].outcome, "restoring");
    let id = first.drills[0]
        .drill
        .as_ref()
        .map(|r| r.instance_id.clone())
        .unwrap_or_default();
    assert_eq!(instance_status(&sc, &id).await.as_deref(), Some("creating"));

    // the run that started it is gone; the restore finishes; the reconcile pass (not a drill
    // command) advances the open drill to its end
    emu.release_restores();
    let deps = sc.failover_deps();
    let mut finished = None;
    for _ in 0..20 {
        let pass = failover::reconcile_all(&deps, None, None, &failover::RunId::generate())
            .await
            .expect("reconcile");
        if let Some(d) = pass
            .databases
            .iter()
            .find_map(|e| e.drill_report.as_ref().filter(|d| d.passed.is_some()))
        {
            finished = Some(d.clone());
            break;
        }
        tests::pause(200).await;
    }
    let d = finished.expect("the reconcile pass finished the drill");
    assert_eq!(d.passed, Some(true), "{d:?}");
    assert!(matches!(
        instance_status(&sc, &id).await.as_deref(),
        None | Some("deleting")
    ));
    // and a pass with nothing open does nothing for the drill
    let idle = failover::reconcile_all(&deps, None, None, &failover::RunId::generate())
        .await
        .expect("reconcile");
    assert!(idle.databases.iter().all(|e| e.drill_report.is_none()));
}

#[tokio::test]
async fn a_drill_never_deletes_an_instance_without_its_drill_tag() {
    let emu = Emulator::start();
    let sc = scenario(&emu, "drill-tag", None).await;
    emu.set_restores(json!({"hold": true}));
    let first = drill(&sc, &request("drill-tag")).await;
    let record = first.drills[0].drill.clone().expect("record");
    // someone takes the instance over: the drill tag is gone
    let arn = format!(
        "arn:aws:rds:{DR_REGION}:123456789012:db:{}",
        record.instance_id
    );
    sc.aws
        .rds_dr
        .remove_tags_from_resource()
        .resource_name(&arn)
        .tag_keys(TAG_DRILL)
        .send()
        .await
        .expect("untag");
    emu.release_restores();
    let (report, _) = drill_to_end(&sc, "drill-tag").await;
    let d = &report.drills[0];
    assert_eq!(d.passed, Some(false));
    assert!(
        d.reasons.iter().any(|r| r.contains("not the drill's")),
        "{d:?}"
    );
    assert_eq!(emu.calls("DeleteDBInstance"), 0, "never asked to delete it");
    assert_eq!(
        instance_status(&sc, &record.instance_id).await.as_deref(),
        Some("available")
    );
}

#[tokio::test]
async fn a_dry_run_a_missing_snapshot_and_the_failover_drill_change_nothing() {
    let emu = Emulator::start();
    let sc = scenario(&emu, "drill-plan", None).await;
    emu.clear_requests();
    let plan = drill(
        &sc,
        &DrillRequest {
            dry_run: true,
            ..request("drill-plan")
        },
    )
    .await;
    let d = &plan.drills[0];
    assert_eq!(d.outcome, "planned", "{d:?}");
    assert!(
        d.steps[0]
            .detail
            .contains("pilotlight-drill-plan-primary-a-us-east-1"),
        "{d:?}"
    );

    let readiness = drill(
        &sc,
        &DrillRequest {
            kind: DrillKind::Failover,
            ..request("drill-plan")
        },
    )
    .await;
    let r = readiness.drills[0].readiness.clone().expect("readiness");
    assert_eq!(readiness.drills[0].outcome, "ready", "{r:?}");
    assert!(r.ready && !r.would_fail_over_now, "{r:?}");
    assert_eq!(r.rpo_seconds, Some(5.0), "{r:?}");
    assert!(
        r.automatic_conditions_unmet
            .iter()
            .any(|c| c.contains("evidence")),
        "a healthy primary: no evidence that replication stopped: {r:?}"
    );
    assert_eq!(emu.mutating_calls(), Vec::<String>::new());
    assert_eq!(emu.ledger_writes(), 0);

    // a database with no DR copy: the drill fails, restores nothing
    let bare = Scenario::create(&emu, "drill-none", Some(5.0), 60).await;
    let r = drill(&bare, &request("drill-none")).await;
    let d = &r.drills[0];
    assert_eq!(
        (d.outcome.as_str(), d.passed),
        ("failed", Some(false)),
        "{d:?}"
    );
    assert!(d
        .reasons
        .iter()
        .any(|r| r.contains("no available pilotlight snapshot copy")));
    assert_eq!(emu.calls("RestoreDBInstanceFromDBSnapshot"), 0);
}
