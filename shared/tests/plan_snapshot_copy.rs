//! The snapshot-copy reconcile plan as a pure function of (databases, snapshots, now, settings).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pilotlight::plan::snapshot_copy::{plan_snapshot_copy as plan, snapshot_name, PlanSettings};
use pilotlight::plan::snapshots::{
    DbKind, Origin, SnapshotInfo, SnapshotSource, MANAGED_BY, TAG_COPY_OF, TAG_MANAGED_BY,
    TAG_SOURCE_DB,
};

const SRC: &str = "us-east-1";
const DR: &str = "us-west-2";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 30, 0)
        .single()
        .expect("time")
}

fn settings() -> PlanSettings {
    PlanSettings {
        interval_seconds: 86_400,
        rpo_target_seconds: 90_000,
        max_copies_in_flight: 20,
        kms_keys: BTreeMap::from([(
            DR.to_owned(),
            "arn:aws:kms:us-west-2:123456789012:key/dr".to_owned(),
        )]),
        option_groups: BTreeMap::new(),
        quotas: BTreeMap::new(),
        quota_reserve_percent: 10,
        quota_alert_days: 14,
    }
}

fn source(db: &str) -> SnapshotSource {
    SnapshotSource {
        db_id: db.into(),
        kind: DbKind::Instance,
        region: SRC.into(),
        dr_regions: vec![DR.into()],
        engine: Some("postgres".into()),
        origin: Origin::Config,
    }
}

fn snap(db: &str, id: &str, region: &str, status: &str, created: DateTime<Utc>) -> SnapshotInfo {
    SnapshotInfo {
        id: id.into(),
        arn: format!("arn:aws:rds:{region}:123456789012:snapshot:{id}"),
        kind: DbKind::Instance,
        region: region.into(),
        status: status.into(),
        created_at: Some(created),
        original_created_at: None,
        encrypted: false,
        snapshot_type: "manual".into(),
        db_id: db.into(),
        engine: Some("postgres".into()),
        allocated_storage_gib: Some(20),
        tags: pilotlight::plan::snapshots::Tags::from([
            (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
            (TAG_SOURCE_DB.to_owned(), db.to_owned()),
        ]),
    }
}

fn copy_of(source: &SnapshotInfo, status: &str) -> SnapshotInfo {
    let mut c = snap(
        &source.db_id,
        &source.id,
        DR,
        status,
        source.created_at.unwrap_or_default(),
    );
    c.original_created_at = source.created_at;
    c.tags.insert(TAG_COPY_OF.into(), source.arn.clone());
    c
}

#[test]
fn a_database_with_no_snapshot_gets_one_named_after_the_interval() {
    let p = plan(&[source("orders")], &[], now(), &settings());
    let create = p.databases[0].create.as_ref().expect("create");
    assert_eq!(create.snapshot_id, "pilotlight-orders-202611200000");
    assert_eq!(
        create.snapshot_id,
        snapshot_name(
            "orders",
            DbKind::Instance,
            now() + Duration::hours(3),
            86_400
        ),
        "same name all day"
    );
    assert!(
        p.databases[0].regions[0].exposure.over_target,
        "no copy yet is over target"
    );
}

#[test]
fn when_the_interval_has_not_elapsed_nothing_is_created() {
    let today = snap(
        "orders",
        "pilotlight-orders-202611200000",
        SRC,
        "available",
        now() - Duration::hours(2),
    );
    let p = plan(
        &[source("orders")],
        &[today.clone(), copy_of(&today, "available")],
        now(),
        &settings(),
    );
    assert!(p.databases[0].create.is_none());
    assert!(p.databases[0].regions[0].copies.is_empty());
    assert_eq!(
        p.databases[0].regions[0].exposure.rpo_exposure_seconds,
        Some(7_200)
    );
    assert!(!p.databases[0].regions[0].exposure.over_target);
}

#[test]
fn a_snapshot_still_being_created_is_not_created_again() {
    let mut creating = snap(
        "orders",
        "pilotlight-orders-202611190000",
        SRC,
        "creating",
        now(),
    );
    creating.created_at = None;
    let p = plan(&[source("orders")], &[creating], now(), &settings());
    assert!(p.databases[0].create.is_none());
}

#[test]
fn the_newest_available_snapshot_without_a_copy_is_copied_with_tags() {
    let s = snap(
        "orders",
        "pilotlight-orders-202611200000",
        SRC,
        "available",
        now() - Duration::hours(1),
    );
    let p = plan(
        &[source("orders")],
        std::slice::from_ref(&s),
        now(),
        &settings(),
    );
    let c = &p.databases[0].regions[0].copies[0];
    assert_eq!(c.source_arn, s.arn);
    assert_eq!(c.region, DR);
    assert_eq!(c.kms_key_id, None, "not encrypted");
    assert_eq!(c.tags.get(TAG_COPY_OF), Some(&s.arn));
    assert_eq!(
        c.tags.get(TAG_MANAGED_BY).map(String::as_str),
        Some(MANAGED_BY)
    );
}

#[test]
fn an_encrypted_source_is_copied_with_the_destination_key_or_is_a_named_error() {
    let mut s = snap(
        "orders",
        "pilotlight-orders-202611200000",
        SRC,
        "available",
        now() - Duration::hours(1),
    );
    s.encrypted = true;
    let p = plan(&[source("orders")], &[s.clone()], now(), &settings());
    assert_eq!(
        p.databases[0].regions[0].copies[0].kms_key_id.as_deref(),
        Some("arn:aws:kms:us-west-2:123456789012:key/dr")
    );

    let mut no_key = settings();
    no_key.kms_keys.clear();
    let p = plan(&[source("orders")], &[s], now(), &no_key);
    let r = &p.databases[0].regions[0];
    assert!(r.copies.is_empty());
    assert!(
        r.errors[0].contains("encrypted") && r.errors[0].contains(DR),
        "{:?}",
        r.errors
    );
}

#[test]
fn older_snapshots_than_the_newest_copy_are_never_backfilled() {
    let old = snap(
        "orders",
        "pilotlight-orders-202611180000",
        SRC,
        "available",
        now() - Duration::days(2),
    );
    let mid = snap(
        "orders",
        "pilotlight-orders-202611190000",
        SRC,
        "available",
        now() - Duration::days(1),
    );
    let p = plan(
        &[source("orders")],
        &[old, mid.clone(), copy_of(&mid, "available")],
        now(),
        &settings(),
    );
    assert!(
        p.databases[0].regions[0].copies.is_empty(),
        "{:?}",
        p.databases[0].regions[0].copies
    );
}

#[test]
fn thirty_databases_with_twenty_five_copies_in_flight_start_none_and_queue_the_rest() {
    let sources: Vec<SnapshotSource> = (0..30).map(|i| source(&format!("db{i:02}"))).collect();
    let mut snapshots = Vec::new();
    for i in 0..30 {
        let s = snap(
            &format!("db{i:02}"),
            &format!("pilotlight-db{i:02}-202611200000"),
            SRC,
            "available",
            now() - Duration::hours(1),
        );
        snapshots.push(s);
    }
    // 25 copies of someone else's snapshots in flight in the DR region
    for i in 0..25 {
        let mut c = snap("other", &format!("other-{i}"), DR, "copying", now());
        c.tags.clear();
        snapshots.push(c);
    }
    let p = plan(&sources, &snapshots, now(), &settings());
    assert_eq!(p.in_flight.get(DR), Some(&25));
    let started: usize = p.databases.iter().map(|d| d.regions[0].copies.len()).sum();
    let queued: usize = p.databases.iter().map(|d| d.regions[0].queued.len()).sum();
    assert_eq!((started, queued), (0, 30));
}

#[test]
fn the_budget_is_the_limit_minus_the_copies_in_flight_shared_round_robin() {
    let sources: Vec<SnapshotSource> = (0..30).map(|i| source(&format!("db{i:02}"))).collect();
    let mut snapshots = Vec::new();
    for i in 0..30 {
        for day in 0..2 {
            let t = now() - Duration::days(day) - Duration::hours(1);
            snapshots.push(snap(
                &format!("db{i:02}"),
                &format!("pilotlight-db{i:02}-{day}"),
                SRC,
                "available",
                t,
            ));
        }
    }
    for i in 0..5 {
        snapshots.push(snap("other", &format!("other-{i}"), DR, "copying", now()));
    }
    let p = plan(&sources, &snapshots, now(), &settings());
    let started: usize = p.databases.iter().map(|d| d.regions[0].copies.len()).sum();
    let queued: usize = p.databases.iter().map(|d| d.regions[0].queued.len()).sum();
    assert_eq!((started, queued), (15, 45));
    // every database's newest goes before anyone's second
    assert!(p.databases.iter().all(|d| d.regions[0]
        .copies
        .iter()
        .all(|c| c.source_id.ends_with("-0"))));
}

#[test]
fn a_second_run_after_the_copies_exist_plans_nothing() {
    let s = snap(
        "orders",
        "pilotlight-orders-202611200000",
        SRC,
        "available",
        now() - Duration::hours(1),
    );
    let copy = copy_of(&s, "copying");
    let p = plan(&[source("orders")], &[s, copy], now(), &settings());
    let d = &p.databases[0];
    assert!(d.create.is_none());
    assert!(d.regions[0].copies.is_empty() && d.regions[0].queued.is_empty());
    assert_eq!(d.regions[0].exposure.copies_in_flight, 1);
    assert_eq!(
        d.regions[0].exposure.rpo_exposure_seconds, None,
        "a copy in flight is not yet a recovery point"
    );
}

#[test]
fn foreign_snapshots_are_never_copied() {
    let mut s = snap(
        "orders",
        "manual-by-someone",
        SRC,
        "available",
        now() - Duration::hours(1),
    );
    s.tags.clear();
    let p = plan(&[source("orders")], &[s], now(), &settings());
    assert!(p.databases[0].regions[0].copies.is_empty());
    assert!(
        p.databases[0].create.is_some(),
        "and it does not count as pilotlight's recent snapshot"
    );
}

#[test]
fn long_cluster_ids_get_valid_distinct_deterministic_snapshot_ids() {
    let long_a = format!("a{}", "b".repeat(62)); // 63, the longest cluster id
    let long_b = format!("a{}c", "b".repeat(61));
    let t = now();
    let a = snapshot_name(&long_a, DbKind::Cluster, t, 86_400);
    let b = snapshot_name(&long_b, DbKind::Cluster, t, 86_400);
    for id in [&a, &b] {
        assert!(id.len() <= 63, "{id}");
        assert!(
            id.starts_with("pilotlight-") && id.ends_with("0000"),
            "{id}"
        );
        assert!(!id.contains("--") && !id.ends_with('-'), "{id}");
    }
    assert_ne!(a, b, "two ids that share a long start stay apart");
    assert_eq!(
        a,
        snapshot_name(&long_a, DbKind::Cluster, t, 86_400),
        "deterministic"
    );
    // a DB snapshot of the same id keeps the whole id (255 allowed)
    assert!(snapshot_name(&long_a, DbKind::Instance, t, 86_400).contains(&long_a));
    // a copy's name is within the limit too
    let copy = pilotlight::plan::snapshot_copy::copy_name(&a, "ap-southeast-2", DbKind::Cluster);
    assert!(
        copy.len() <= 63 && copy.ends_with("ap-southeast-2"),
        "{copy}"
    );
}

#[test]
fn two_same_named_databases_in_two_regions_each_get_their_own_copies_and_rpo() {
    const OTHER: &str = "eu-west-1";
    let us = source("app-db");
    let mut eu = source("app-db");
    eu.region = OTHER.into();
    let t = now();
    let mut us_snap = snap(
        "app-db",
        "pilotlight-app-db-202611200000",
        SRC,
        "available",
        t - Duration::hours(2),
    );
    us_snap.tags.insert(
        pilotlight::plan::snapshots::TAG_SOURCE_REGION.into(),
        SRC.into(),
    );
    let mut eu_snap = snap(
        "app-db",
        "pilotlight-app-db-202611200000",
        OTHER,
        "available",
        t - Duration::hours(30),
    );
    eu_snap.tags.insert(
        pilotlight::plan::snapshots::TAG_SOURCE_REGION.into(),
        OTHER.into(),
    );
    // eu's copy already in the DR region, named the old way (no region in the name)
    let eu_copy = copy_of(&eu_snap, "available");
    assert_eq!(eu_copy.id, eu_snap.id, "the old naming");
    let p = plan(
        &[us.clone(), eu.clone()],
        &[us_snap.clone(), eu_snap.clone(), eu_copy],
        t,
        &settings(),
    );
    let us_plan = &p.databases[0].regions[0];
    let eu_plan = &p.databases[1].regions[0];
    assert_eq!(us_plan.copies.len(), 1, "us has no copy yet: {us_plan:?}");
    assert_eq!(
        us_plan.copies[0].target_id,
        "pilotlight-app-db-202611200000-us-east-1"
    );
    assert_eq!(us_plan.exposure.copies_present, 0, "eu's copy is not us's");
    assert!(us_plan.exposure.rpo_exposure_seconds.is_none());
    assert!(
        eu_plan.copies.is_empty(),
        "eu's old-named copy is recognised: {eu_plan:?}"
    );
    assert_eq!(eu_plan.exposure.copies_present, 1);
    assert_eq!(eu_plan.exposure.rpo_exposure_seconds, Some(30 * 3600));
}
