//! An Aurora cluster found by discovery goes through both snapshot jobs, each function under its
//! own role from `infra/sam/template.yaml` with IAM enforced by the emulator: snapshot-copy creates
//! and copies a DB cluster snapshot, retention discovers the cluster and deletes its expired
//! cluster snapshot and nothing else.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use pilotlight::command::{RetentionRequest, SnapshotCopyRequest};
use pilotlight::config::{Config, Discovery};
use pilotlight::plan::retention::RetentionPolicy;
use snapshot_copy::CreateStatus;
use tests::{Emulator, Scenario, DR_REGION, PRIMARY_REGION};

const PROTECT: (&str, &str) = ("pilotlight:protect", "true");
const CREATE_TIME_TAG: &str = "pilotlight-emulator:create-time";

fn tag(k: &str, v: &str) -> aws_sdk_rds::types::Tag {
    aws_sdk_rds::types::Tag::builder().key(k).value(v).build()
}

fn config(s: &Scenario) -> Config {
    let mut c = s.config.clone();
    c.snapshots.dr_regions = vec![DR_REGION.parse().unwrap()];
    c.snapshots.discover = Some(Discovery {
        tag_key: PROTECT.0.into(),
        tag_value: PROTECT.1.into(),
        regions: vec![PRIMARY_REGION.parse().unwrap()],
        dr_regions: vec![],
    });
    let thirty_days = RetentionPolicy {
        max_age_days: 30,
        min_keep: 0,
        daily: 0,
        weekly: 0,
        monthly: 0,
    };
    c.retention.primary = thirty_days;
    c.retention.dr = thirty_days;
    c
}

async fn cluster_snapshots(rds: &aws_sdk_rds::Client) -> BTreeSet<String> {
    rds.describe_db_cluster_snapshots()
        .snapshot_type("manual")
        .send()
        .await
        .expect("describe cluster snapshots")
        .db_cluster_snapshots()
        .iter()
        .filter_map(|x| x.db_cluster_snapshot_identifier().map(str::to_owned))
        .collect()
}

async fn old_cluster_snapshot(s: &Scenario, id: &str, managed: bool) {
    let mut req = s
        .aws
        .rds_primary
        .create_db_cluster_snapshot()
        .db_cluster_identifier("ledger")
        .db_cluster_snapshot_identifier(id)
        .tags(tag(
            CREATE_TIME_TAG,
            &(Utc::now() - Duration::days(60)).to_rfc3339(),
        ));
    if managed {
        req = req
            .tags(tag("pilotlight:managed-by", "pilotlight"))
            .tags(tag("pilotlight:source-db", "ledger"));
    }
    req.send().await.expect("old cluster snapshot");
}

#[tokio::test]
async fn a_discovered_aurora_cluster_is_snapshotted_copied_and_pruned_under_the_functions_roles() {
    let emu = Emulator::start();
    let s = Scenario::create(&emu, "orders", Some(1.0), 300).await;
    s.aws
        .rds_primary
        .create_db_cluster()
        .db_cluster_identifier("ledger")
        .engine("aurora-postgresql")
        .master_username("pilotlight")
        .master_user_password("not-a-secret-1")
        .tags(tag(PROTECT.0, PROTECT.1))
        .send()
        .await
        .expect("create cluster");
    let config = config(&s);

    let copy = snapshot_copy::Deps {
        clients: s.role_clients("snapshot-copy", &config),
        config: config.clone(),
    };
    let req = SnapshotCopyRequest {
        database: None,
        dry_run: false,
        gate: None,
    };
    let first = snapshot_copy::run(&copy, &req, Utc::now())
        .await
        .expect("first snapshot-copy run");
    let ledger = first
        .databases
        .iter()
        .find(|d| d.database == "ledger")
        .unwrap_or_else(|| panic!("the cluster was discovered: {first:#?}"));
    assert_eq!(ledger.snapshot_status, CreateStatus::Created, "{first:#?}");
    let created = ledger.snapshot_created.clone().expect("snapshot id");
    assert!(cluster_snapshots(&s.aws.rds_primary)
        .await
        .contains(&created));

    let second = snapshot_copy::run(&copy, &req, Utc::now())
        .await
        .expect("second snapshot-copy run");
    let copies = cluster_snapshots(&s.aws.rds_dr).await;
    // the copy is named with its source region (two same-named clusters never collide)
    let copy_id = pilotlight::plan::snapshot_copy::copy_name(
        &created,
        tests::PRIMARY_REGION,
        pilotlight::plan::snapshots::DbKind::Cluster,
    );
    assert!(
        copies.contains(&copy_id),
        "the cluster snapshot was copied to {DR_REGION}: {copies:?} {second:#?}"
    );

    // two 60-day-old cluster snapshots: pilotlight's (expired) and someone else's
    old_cluster_snapshot(&s, "pilotlight-ledger-202509010300", true).await;
    old_cluster_snapshot(&s, "someone-elses-ledger-snapshot", false).await;
    let retention = retention::Deps {
        clients: s.role_clients("retention", &config),
        config: config.clone(),
    };
    let report = retention::run(&retention, &RetentionRequest::default(), Utc::now())
        .await
        .expect("retention run");
    assert!(
        report.errors.is_empty(),
        "discovery worked: {:?}",
        report.errors
    );
    let left = cluster_snapshots(&s.aws.rds_primary).await;
    assert_eq!(
        left,
        BTreeSet::from([created.clone(), "someone-elses-ledger-snapshot".to_owned()]),
        "the expired pilotlight snapshot is gone, someone else's is not: {report:#?}"
    );
    assert!(emu.succeeded("DeleteDBClusterSnapshot") == 1);
}
