//! The retention function against the local AWS emulator, with snapshot histories whose
//! `SnapshotCreateTime` the emulator sets from a tag; what survives is checked with the AWS API.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::stream::{self, StreamExt};
use lambda_runtime::{Context, LambdaEvent};
use pilotlight::command::RetentionRequest;
use pilotlight::config::Config;
use pilotlight::plan::retention::{RegionRole, RetentionPolicy};
use retention::{handle, run, Deps, RetentionReport};
use serde_json::json;
use tests::{Emulator, Scenario, DR_REGION, PRIMARY_REGION};

const CREATE_TIME_TAG: &str = "pilotlight-emulator:create-time";
/// Identifier prefixes of the snapshot histories: the roles (`ManagedSnapshotPrefix`) let
/// retention delete only `pilotlight-*` snapshots, as snapshot-copy names them.
const P: &str = "pilotlight-orders-p";
const D: &str = "pilotlight-orders-d";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0)
        .single()
        .expect("time")
}

fn tag(k: &str, v: &str) -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder().key(k).value(v).build()
}

fn deps(s: &Scenario, primary: RetentionPolicy, dr: RetentionPolicy) -> Deps {
    let mut config: Config = s.config.clone();
    config.retention.primary = primary;
    config.retention.dr = dr;
    Deps {
        clients: s.role_clients("retention", &config),
        config,
    }
}

/// `days` pilotlight snapshots of the scenario's primary, one a day at 03:00 UTC ending `end`, in
/// the primary region (created) or the DR region (copied from the first).
async fn history(
    s: &Scenario,
    region: &str,
    end: DateTime<Utc>,
    days: i64,
    prefix: &str,
) -> Vec<String> {
    let db = format!("{}-primary", s.name);
    let ids: Vec<(String, DateTime<Utc>)> = (0..days)
        .map(|i| (format!("{prefix}{i:04}"), end - Duration::days(i)))
        .collect();
    let source_arn = if region == DR_REGION {
        let src = format!("{prefix}-source");
        create(s, &db, &src, end, false).await; // not pilotlight's: only the copies are
        Some(format!(
            "arn:aws:rds:{PRIMARY_REGION}:123456789012:snapshot:{src}"
        ))
    } else {
        None
    };
    stream::iter(ids.clone())
        .for_each_concurrent(8, |(id, t)| {
            let db = db.clone();
            let source_arn = source_arn.clone();
            async move {
                match source_arn {
                    None => create(s, &db, &id, t, true).await,
                    Some(arn) => {
                        s.aws
                            .rds_dr
                            .copy_db_snapshot()
                            .source_db_snapshot_identifier(&arn)
                            .target_db_snapshot_identifier(&id)
                            .tags(tag("pilotlight:managed-by", "pilotlight"))
                            .tags(tag("pilotlight:source-db", &db))
                            .tags(tag("pilotlight:copy-of", &arn))
                            .tags(tag(CREATE_TIME_TAG, &t.to_rfc3339()))
                            .send()
                            .await
                            .expect("copy");
                    }
                }
            }
        })
        .await;
    ids.into_iter().map(|(id, _)| id).collect()
}

async fn create(s: &Scenario, db: &str, id: &str, t: DateTime<Utc>, managed: bool) {
    let mut req = s
        .aws
        .rds_primary
        .create_db_snapshot()
        .db_instance_identifier(db)
        .db_snapshot_identifier(id)
        .tags(tag(CREATE_TIME_TAG, &t.to_rfc3339()));
    if managed {
        req = req
            .tags(tag("pilotlight:managed-by", "pilotlight"))
            .tags(tag("pilotlight:source-db", db));
    }
    req.send().await.expect("create snapshot");
}

/// Manual snapshot ids in a region, with their creation dates.
async fn remaining(s: &Scenario, region: &str) -> BTreeSet<(String, String)> {
    let rds = if region == DR_REGION {
        &s.aws.rds_dr
    } else {
        &s.aws.rds_primary
    };
    rds.describe_db_snapshots()
        .snapshot_type("manual")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .expect("describe")
        .iter()
        .map(|x| {
            (
                x.db_snapshot_identifier().unwrap_or_default().to_owned(),
                x.snapshot_create_time()
                    .map(|t| {
                        t.fmt(aws_smithy_types::date_time::Format::DateTime)
                            .unwrap_or_default()[..10]
                            .to_owned()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// How many automated snapshots the primary region holds.
async fn automated_snapshots(s: &Scenario) -> usize {
    s.aws
        .rds_primary
        .describe_db_snapshots()
        .snapshot_type("automated")
        .send()
        .await
        .expect("automated")
        .db_snapshots()
        .len()
}

fn gfs() -> RetentionPolicy {
    RetentionPolicy {
        max_age_days: 0,
        min_keep: 0,
        daily: 7,
        weekly: 4,
        monthly: 12,
    }
}

fn thirty_days() -> RetentionPolicy {
    RetentionPolicy {
        max_age_days: 30,
        min_keep: 0,
        daily: 0,
        weekly: 0,
        monthly: 0,
    }
}

async fn once(d: &Deps, req: RetentionRequest) -> RetentionReport {
    run(d, &req, now()).await.expect("retention run")
}

#[tokio::test]
async fn a_400_day_history_in_two_regions_is_pruned_exactly_and_nothing_else_is_touched() {
    let emu = Emulator::start_with(&["--snapshot-limit", "5000"]);
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    let end = now() - Duration::hours(9); // 03:00 UTC today
    history(&s, PRIMARY_REGION, end, 400, P).await;
    history(&s, DR_REGION, end, 400, D).await;
    // what must survive whatever the policy says
    create(
        &s,
        "orders-primary",
        "someone-elses",
        end - Duration::days(300),
        false,
    )
    .await;
    s.aws
        .rds_primary
        .create_db_snapshot()
        .db_instance_identifier("orders-primary")
        .db_snapshot_identifier("pilotlight-orders-held")
        .tags(tag("pilotlight:managed-by", "pilotlight"))
        .tags(tag("pilotlight:source-db", "orders-primary"))
        .tags(tag("pilotlight:hold", "legal"))
        .tags(tag(
            CREATE_TIME_TAG,
            &(end - Duration::days(350)).to_rfc3339(),
        ))
        .send()
        .await
        .expect("held");
    emu.hold_copies(true);
    s.aws
        .rds_dr
        .copy_db_snapshot()
        .source_db_snapshot_identifier(format!(
            "arn:aws:rds:us-east-1:123456789012:snapshot:{P}0399"
        ))
        .target_db_snapshot_identifier("pilotlight-orders-still-copying")
        .tags(tag("pilotlight:managed-by", "pilotlight"))
        .tags(tag("pilotlight:source-db", "orders-primary"))
        .tags(tag(
            CREATE_TIME_TAG,
            &(end - Duration::days(380)).to_rfc3339(),
        ))
        .send()
        .await
        .expect("copying");
    let automated_before = automated_snapshots(&s).await;
    let d = deps(&s, gfs(), thirty_days());

    let report = once(&d, RetentionRequest::default()).await;

    let primary: BTreeSet<String> = remaining(&s, PRIMARY_REGION)
        .await
        .into_iter()
        .map(|(_, date)| date)
        .collect();
    let mut expected: BTreeSet<String> =
        include_str!("../../shared/tests/fixtures/gfs-7-4-12-over-400-days-kept.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_owned)
            .collect();
    expected.insert((end - Duration::days(300)).format("%Y-%m-%d").to_string()); // someone else's
    expected.insert((end - Duration::days(350)).format("%Y-%m-%d").to_string()); // held
    assert_eq!(primary, expected);
    let dr = remaining(&s, DR_REGION).await;
    assert_eq!(dr.len(), 31, "30 days and the copy still in flight: {dr:?}");
    assert!(dr
        .iter()
        .any(|(id, _)| id == "pilotlight-orders-still-copying"));
    let automated_after = automated_snapshots(&s).await;
    assert_eq!(automated_before, automated_after);
    assert!(automated_before >= 1, "moto makes one at instance creation");
    let freed: usize = report.results.iter().map(|r| r.freed_count).sum();
    assert_eq!(freed, (400 - 20) + (400 - 30));
    assert!(report.results.iter().all(|r| r.errors.is_empty()));
}

#[tokio::test]
async fn a_stalled_database_loses_nothing_and_raises_the_alert() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "stalled", Some(1.0), 300).await;
    history(&s, PRIMARY_REGION, now() - Duration::days(10), 60, P).await;
    let d = deps(
        &s,
        RetentionPolicy {
            max_age_days: 7,
            min_keep: 1,
            daily: 0,
            weekly: 0,
            monthly: 0,
        },
        thirty_days(),
    );

    let report = once(&d, RetentionRequest::default()).await;

    assert_eq!(remaining(&s, PRIMARY_REGION).await.len(), 60);
    let primary = report
        .results
        .iter()
        .find(|r| r.role == RegionRole::Primary)
        .expect("primary");
    assert!(primary
        .stalled
        .as_deref()
        .is_some_and(|m| m.contains("backups have stopped")));
    let messages = s.notifications().await;
    assert!(
        messages.iter().any(|m| m["event"] == "retention"
            && m["alerts"].to_string().contains("backups have stopped")),
        "{messages:?}"
    );
}

#[tokio::test]
async fn two_thousand_snapshots_are_listed_with_pagination_and_a_dry_run_decides_as_the_real_run() {
    let emu = Emulator::start_with(&["--snapshot-limit", "5000"]);
    let s = Scenario::create(&emu, "many", Some(1.0), 300).await;
    // four a day for 500 days
    let end = now() - Duration::hours(1);
    let db = "many-primary".to_owned();
    stream::iter(0..2000i64)
        .for_each_concurrent(8, |i| {
            let db = db.clone();
            let s = &s;
            async move {
                create(
                    s,
                    &db,
                    &format!("{P}{i:05}"),
                    end - Duration::hours(6 * i),
                    true,
                )
                .await
            }
        })
        .await;
    let d = deps(&s, gfs(), thirty_days());
    emu.clear_requests();

    let dry = once(
        &d,
        RetentionRequest {
            database: None,
            region: Some(PRIMARY_REGION.into()),
            dry_run: true,
        },
    )
    .await;

    assert!(
        emu.mutating_calls().is_empty(),
        "{:?}",
        emu.mutating_calls()
    );
    let pages = emu.calls("DescribeDBSnapshots");
    assert_eq!(pages, 2000_usize.div_ceil(100), "ceil(n / page size)");
    let decided = &dry.results[0];
    assert_eq!(
        decided.kept.len() + decided.skipped.len() + decided.deleted.len(),
        2000
    );

    let real = once(
        &d,
        RetentionRequest {
            database: None,
            region: Some(PRIMARY_REGION.into()),
            dry_run: false,
        },
    )
    .await;
    assert_eq!(
        real.results[0].deleted, decided.deleted,
        "a dry-run and a real run decide the same"
    );
    assert_eq!(
        remaining(&s, PRIMARY_REGION).await.len(),
        2000 - decided.deleted.len()
    );
    assert_eq!(emu.calls("DeleteDBSnapshot"), decided.deleted.len());
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_nothing_is_deleted() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "bad", Some(1.0), 300).await;
    history(&s, PRIMARY_REGION, now(), 40, P).await;
    let d = deps(&s, thirty_days(), thirty_days());
    emu.clear_requests();

    for (payload, kind) in [
        (
            json!({"command": "retention", "database": "payments"}),
            "UnknownDatabase",
        ),
        (
            json!({"command": "retention", "region": "eu-central-1"}),
            "InvalidCommand",
        ),
        (
            json!({"command": "retention", "dry-run": true}),
            "InvalidCommand",
        ),
        (json!({"command": "status"}), "InvalidCommand"),
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
    assert_eq!(remaining(&s, PRIMARY_REGION).await.len(), 40);
}

#[tokio::test]
async fn a_run_past_its_deadline_starts_no_delete_and_says_so() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "late", Some(1.0), 300).await;
    history(&s, PRIMARY_REGION, now() - Duration::hours(9), 20, P).await;
    let d = deps(
        &s,
        RetentionPolicy {
            max_age_days: 5,
            min_keep: 1,
            daily: 0,
            weekly: 0,
            monthly: 0,
        },
        thirty_days(),
    );
    emu.clear_requests();

    // the Lambda's deadline minus the report margin is already behind it
    let report = retention::run_until(
        &d,
        &RetentionRequest::default(),
        now(),
        Some(tokio::time::Instant::now()),
    )
    .await
    .expect("run");

    assert_eq!(emu.calls("DeleteDBSnapshot"), 0, "no delete started");
    assert_eq!(remaining(&s, PRIMARY_REGION).await.len(), 20);
    let text = serde_json::to_string(&report).expect("json");
    assert!(text.contains("reached its deadline"), "{text}");
}
