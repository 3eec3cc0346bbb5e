//! The snapshot-copy function against the local AWS emulator: what it creates and copies is
//! checked with the AWS API (tags, KMS key, status), the copy limit with copies held in flight.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::collections::BTreeMap;

use chrono::Utc;
use lambda_runtime::{Context, LambdaEvent};
use pilotlight::command::SnapshotCopyRequest;
use pilotlight::config::{Config, Discovery};
use pilotlight::plan::snapshots::{TAG_COPY_OF, TAG_MANAGED_BY};
use serde_json::json;
use snapshot_copy::{handle, run, CopyReport, CreateStatus, Deps};
use tests::{Emulator, Scenario, DR_REGION, PRIMARY_REGION};

const PROTECT: (&str, &str) = ("pilotlight:protect", "true");

fn config(s: &Scenario, kms_key: Option<&str>) -> Config {
    let mut c = s.config.clone();
    c.functions.snapshot_copy = Some("snapshot-copy".into());
    c.snapshots.dr_regions = vec![DR_REGION.parse().unwrap()];
    c.snapshots.kms_keys = kms_key
        .map(|k| BTreeMap::from([(DR_REGION.parse().unwrap(), k.to_owned())]))
        .unwrap_or_default();
    c.snapshots.discover = Some(Discovery {
        tag_key: PROTECT.0.into(),
        tag_value: PROTECT.1.into(),
        regions: vec![PRIMARY_REGION.parse().unwrap()],
        dr_regions: vec![],
    });
    c
}

fn deps(s: &Scenario, config: Config) -> Deps {
    Deps {
        clients: s.role_clients("snapshot-copy", &config),
        config,
    }
}

async fn tagged_instance(s: &Scenario, id: &str, encrypted_with: Option<&str>) {
    s.aws
        .rds_primary
        .create_db_instance()
        .db_instance_identifier(id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("pilotlight")
        .master_user_password("not-a-secret-1")
        .storage_encrypted(encrypted_with.is_some())
        .set_kms_key_id(encrypted_with.map(str::to_owned))
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key(PROTECT.0)
                .value(PROTECT.1)
                .build(),
        )
        .send()
        .await
        .expect("create tagged instance");
}

async fn once(d: &Deps, dry_run: bool) -> CopyReport {
    run(
        d,
        &SnapshotCopyRequest {
            database: None,
            dry_run,
            gate: None,
        },
        Utc::now(),
    )
    .await
    .expect("snapshot-copy run")
}

/// pilotlight's snapshots in `region`: id → (status, kms key, tags).
async fn snapshots(
    s: &Scenario,
    region: &str,
) -> BTreeMap<String, (String, Option<String>, BTreeMap<String, String>)> {
    let rds = if region == DR_REGION {
        &s.aws.rds_dr
    } else {
        &s.aws.rds_primary
    };
    let all = rds
        .describe_db_snapshots()
        .snapshot_type("manual")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("describe snapshots");
    all.iter()
        .map(|x| {
            let tags = x
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect::<BTreeMap<_, _>>();
            (
                x.db_snapshot_identifier().unwrap_or_default().to_owned(),
                (
                    x.status().unwrap_or_default().to_owned(),
                    x.kms_key_id().map(str::to_owned),
                    tags,
                ),
            )
        })
        .filter(|(_, (_, _, tags))| tags.contains_key(TAG_MANAGED_BY))
        .collect()
}

fn started(r: &CopyReport) -> usize {
    r.databases
        .iter()
        .flat_map(|d| &d.regions)
        .map(|r| r.copies_started.len())
        .sum()
}

fn queued(r: &CopyReport) -> usize {
    r.databases
        .iter()
        .flat_map(|d| &d.regions)
        .map(|r| r.queued.len())
        .sum()
}

#[tokio::test]
async fn a_scheduled_run_creates_then_copies_with_tags_and_the_kms_key_and_a_further_run_changes_nothing(
) {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    let source_key = emu.create_kms_key(PRIMARY_REGION);
    let dr_key = emu.create_kms_key(DR_REGION);
    tagged_instance(&s, "ledger", Some(&source_key)).await;
    let d = deps(&s, config(&s, Some(&dr_key)));

    let first = once(&d, false).await;
    let created: Vec<CreateStatus> = first.databases.iter().map(|x| x.snapshot_status).collect();
    assert_eq!(
        created,
        [CreateStatus::Created, CreateStatus::Created],
        "{first:#?}"
    );
    let source = snapshots(&s, PRIMARY_REGION).await;
    assert_eq!(source.len(), 2);
    for (id, (_, _, tags)) in &source {
        assert_eq!(
            tags.get("pilotlight:managed-by").map(String::as_str),
            Some("pilotlight"),
            "{id}"
        );
        assert!(
            tags.contains_key("pilotlight:source-db") && tags.contains_key("pilotlight:created-at"),
            "{id}: {tags:?}"
        );
    }

    let second = once(&d, false).await;
    assert_eq!(started(&second), 2, "{second:#?}");
    let copies = snapshots(&s, DR_REGION).await;
    assert_eq!(copies.len(), 2);
    let ledger = copies
        .iter()
        .find(|(id, _)| id.contains("ledger"))
        .expect("ledger copy")
        .1;
    assert_eq!(
        ledger.1.as_deref(),
        Some(dr_key.as_str()),
        "re-encrypted with the DR key"
    );
    assert!(
        ledger
            .2
            .get(TAG_COPY_OF)
            .is_some_and(|a| a.contains(":us-east-1:")),
        "{:?}",
        ledger.2
    );
    let orders = copies
        .iter()
        .find(|(id, _)| id.contains("orders"))
        .expect("orders copy")
        .1;
    assert_eq!(orders.1, None, "an unencrypted source gets no key");
    assert!(
        second
            .databases
            .iter()
            .all(|x| x.regions[0].exposure.over_target),
        "no copy was available when it looked"
    );

    emu.clear_requests();
    let third = once(&d, false).await;
    assert_eq!(started(&third), 0);
    assert!(third
        .databases
        .iter()
        .all(|x| x.snapshot_status == CreateStatus::NotDue));
    assert!(third.databases.iter().all(|x| x.regions[0]
        .exposure
        .rpo_exposure_seconds
        .is_some_and(|e| e < 600)));
    assert!(third.alerts.is_empty(), "{:?}", third.alerts);
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
}

#[tokio::test]
async fn thirty_databases_never_exceed_twenty_copies_in_flight_and_later_runs_finish_the_queue() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    for i in 0..30 {
        tagged_instance(&s, &format!("tenant{i:02}"), None).await;
    }
    let d = deps(&s, config(&s, None));
    emu.hold_copies(true);
    let in_flight = || async {
        snapshots(&s, DR_REGION)
            .await
            .values()
            .filter(|(st, _, _)| st == "copying")
            .count()
    };

    let created = once(&d, false).await;
    assert_eq!(
        created.databases.len(),
        31,
        "30 discovered by tag and the protected one"
    );
    let second = once(&d, false).await;
    assert_eq!((started(&second), queued(&second)), (20, 11));
    assert_eq!(in_flight().await, 20);
    let third = once(&d, false).await;
    assert_eq!(
        (started(&third), queued(&third)),
        (0, 11),
        "the budget is used up: queue, don't fail"
    );
    assert_eq!(in_flight().await, 20);

    emu.release_copies();
    let fourth = once(&d, false).await;
    assert_eq!((started(&fourth), queued(&fourth)), (11, 0));
    assert!(in_flight().await <= 20);
    emu.release_copies();
    let fifth = once(&d, false).await;
    assert_eq!((started(&fifth), queued(&fifth)), (0, 0));
    assert_eq!(
        snapshots(&s, DR_REGION)
            .await
            .values()
            .filter(|(st, _, _)| st == "available")
            .count(),
        31
    );
}

#[tokio::test]
async fn an_encrypted_source_without_a_destination_key_is_a_named_error_and_the_others_proceed() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    let source_key = emu.create_kms_key(PRIMARY_REGION);
    tagged_instance(&s, "ledger", Some(&source_key)).await;
    let d = deps(&s, config(&s, None));

    once(&d, false).await;
    let second = once(&d, false).await;

    let ledger = second
        .databases
        .iter()
        .find(|x| x.database == "ledger")
        .expect("ledger");
    assert!(
        ledger.regions[0].errors[0].contains("kms_keys"),
        "{:?}",
        ledger.regions[0].errors
    );
    let orders = second
        .databases
        .iter()
        .find(|x| x.database == "orders-primary")
        .expect("orders");
    assert_eq!(orders.regions[0].copies_started.len(), 1);
    assert!(
        second.alerts.iter().any(|a| a.contains("ledger")),
        "{:?}",
        second.alerts
    );
    let messages = s.notifications().await;
    assert!(
        messages.iter().any(|m| m["event"] == "snapshot-copy"),
        "{messages:?}"
    );
}

#[tokio::test]
async fn a_full_quota_holds_back_creates_reports_and_alerts_and_the_others_proceed() {
    // quota 1: the one manual snapshot the region may hold is its reserve (10 %, rounded up)
    let emu = Emulator::start_with(&["--snapshot-limit", "1"]);
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    tagged_instance(&s, "ledger", None).await;
    let d = deps(&s, config(&s, None));
    emu.clear_requests();

    let report = once(&d, false).await;

    let statuses: Vec<CreateStatus> = report.databases.iter().map(|x| x.snapshot_status).collect();
    assert_eq!(statuses, vec![CreateStatus::HeldBack; 2], "{report:#?}");
    assert_eq!(
        emu.calls("CreateDBSnapshot"),
        0,
        "nothing enters the reserve"
    );
    assert!(
        emu.calls("DescribeAccountAttributes") >= 2,
        "each region's quota read"
    );
    assert!(
        report
            .alerts
            .iter()
            .any(|a| a.contains("quota") && a.contains(PRIMARY_REGION)),
        "{:?}",
        report.alerts
    );
}

#[tokio::test]
async fn at_ninety_five_percent_nothing_enters_the_reserve_the_copies_elsewhere_proceed_and_the_days_to_full_are_reported(
) {
    let emu = Emulator::start_with(&["--snapshot-limit", "20"]);
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    tagged_instance(&s, "ledger", None).await;
    let d = deps(&s, config(&s, None));
    // orders has today's snapshot (pilotlight's) and 18 more manual snapshots fill the region:
    // 19 of 20, 95 %
    let first = once(&d, false).await;
    assert!(
        first
            .databases
            .iter()
            .all(|x| x.snapshot_status == CreateStatus::Created),
        "{first:#?}"
    );
    for i in 0..17 {
        s.aws
            .rds_primary
            .create_db_snapshot()
            .db_instance_identifier("orders-primary")
            .db_snapshot_identifier(format!("someone-elses-{i}"))
            .send()
            .await
            .expect("someone else's snapshot");
    }
    // the day after: both are due again
    emu.clear_requests();
    let report = run(
        &d,
        &SnapshotCopyRequest::default(),
        Utc::now() + chrono::Duration::days(1),
    )
    .await
    .expect("run");
    let statuses: Vec<CreateStatus> = report.databases.iter().map(|x| x.snapshot_status).collect();
    assert_eq!(statuses, vec![CreateStatus::HeldBack; 2], "{report:#?}");
    assert_eq!(emu.calls("CreateDBSnapshot"), 0);
    // the copies into the DR region, whose quota is free, proceed
    let started: usize = report
        .databases
        .iter()
        .map(|x| x.regions[0].copies_started.len())
        .sum();
    assert_eq!(started, 2, "{report:#?}");
    assert_eq!(emu.succeeded("CopyDBSnapshot"), 2);
    let source = report
        .quotas
        .iter()
        .find(|q| q.region == PRIMARY_REGION)
        .expect("the source region's quota");
    assert_eq!(
        (source.used, source.max, source.reserve),
        (19, 20, 2),
        "{source:#?}"
    );
    assert_eq!(source.held_back.len(), 2);
    // 2 of pilotlight's snapshots in the last 7 days: 2/7 a day, 1 free: 3.5 days to full
    let days = source.days_to_full.expect("days to full");
    assert!((days - 3.5).abs() < 0.01, "{source:#?}");
    assert!(source.alert.is_some());
    let dr = report
        .quotas
        .iter()
        .find(|q| q.region == DR_REGION)
        .expect("the DR region's quota");
    assert_eq!((dr.used, dr.planned), (0, 2), "{dr:#?}");
    assert!(dr.alert.is_none(), "{dr:#?}");
    assert!(
        report.alerts.iter().any(|a| a.contains("quota")),
        "{:?}",
        report.alerts
    );
}

#[tokio::test]
async fn a_dry_run_plans_and_changes_nothing_and_bad_input_is_a_clear_error() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    let d = deps(&s, config(&s, None));
    emu.clear_requests();

    let plan = once(&d, true).await;
    assert_eq!(plan.databases[0].snapshot_status, CreateStatus::Planned);
    assert!(plan.databases[0]
        .snapshot_created
        .as_deref()
        .is_some_and(|n| n.starts_with("pilotlight-orders-primary-")));
    for (payload, kind) in [
        (
            json!({"command": "snapshot-copy", "database": "payments"}),
            "UnknownDatabase",
        ),
        (
            json!({"command": "snapshot-copy", "dryrun": true}),
            "InvalidCommand",
        ),
        (
            json!({"command": "failover", "database": "orders"}),
            "InvalidCommand",
        ),
    ] {
        let err = handle(&d, LambdaEvent::new(payload.clone(), Context::default()))
            .await
            .expect_err("rejected");
        let err = lambda_runtime::Diagnostic::from(err);
        assert_eq!(err.error_type, kind, "{payload}: {}", err.error_message);
    }
    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
}

#[tokio::test]
async fn automated_backups_replication_is_started_once_and_reports_the_rpo_exposure_from_the_latest_restorable_time(
) {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    let mut c = config(&s, None);
    c.databases[0].automated_backups_replication =
        Some(pilotlight::config::BackupReplicationSettings {
            retention_days: 7,
            max_lag_seconds: 1800,
        });
    let d = deps(&s, c);
    emu.clear_requests();

    let dry = once(&d, true).await;
    assert_eq!(dry.automated_backups[0].state, "start", "{dry:#?}");
    assert_eq!(
        emu.calls("StartDBInstanceAutomatedBackupsReplication"),
        0,
        "a dry-run starts nothing"
    );

    let first = once(&d, false).await;
    assert_eq!(first.automated_backups[0].state, "started", "{first:#?}");
    let second = once(&d, false).await;
    let b = &second.automated_backups[0];
    assert_eq!(
        (b.state.as_str(), b.region.as_str()),
        ("replicating", DR_REGION),
        "{b:#?}"
    );
    // the emulator's replication trails by 5 minutes: that is the RPO exposure
    let exposure = b.rpo_exposure_seconds.expect("exposure");
    assert!((290..=330).contains(&exposure), "{b:#?}");
    assert!(b.alert.is_none(), "{b:#?}");
    assert_eq!(
        emu.succeeded("StartDBInstanceAutomatedBackupsReplication"),
        1,
        "started once"
    );

    // the replication falls behind: alerted
    emu.set_automated_backups_replication(json!({"lag_seconds": 2400}));
    let third = once(&d, false).await;
    assert!(
        third
            .alerts
            .iter()
            .any(|a| a.contains("replicated automated backups lag")),
        "{:?}",
        third.alerts
    );
    assert_eq!(emu.calls("StartDBInstanceAutomatedBackupsReplication"), 1);
}
