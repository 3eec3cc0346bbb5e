//! Cross-region automated backups replication, decided as a pure function: start when nothing
//! replicates, report the latest restorable time as the RPO exposure, alert when it lags, and
//! leave engines AWS does not replicate alone.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use chrono::{Duration, TimeZone, Utc};
use pilotlight::plan::backups::{plan_backup_replication, ReplicatedBackup, SourceInstance};

const ARN: &str = "arn:aws:rds:us-east-1:123456789012:db:orders-primary";

fn source(engine: &str) -> SourceInstance {
    SourceInstance {
        arn: ARN.into(),
        encrypted: false,
        engine: engine.into(),
    }
}

fn backup(status: &str, minutes_ago: Option<i64>) -> ReplicatedBackup {
    let now = Utc
        .with_ymd_and_hms(2026, 12, 5, 12, 0, 0)
        .single()
        .unwrap();
    ReplicatedBackup {
        source_arn: ARN.into(),
        source_region: "us-east-1".into(),
        status: status.into(),
        latest_restorable: minutes_ago.map(|m| now - Duration::minutes(m)),
    }
}

#[test]
fn nothing_replicating_is_started_and_a_replication_reports_its_exposure() {
    let now = Utc
        .with_ymd_and_hms(2026, 12, 5, 12, 0, 0)
        .single()
        .unwrap();
    let p = plan_backup_replication("orders", "us-west-2", &source("postgres"), &[], 1800, now);
    assert_eq!(p.state, "start");
    // a retained backup (replication stopped) is started again; another source's is not ours
    let mut other = backup("replicating", Some(1));
    other.source_arn = "arn:aws:rds:eu-west-1:123456789012:db:orders-primary".into();
    let p = plan_backup_replication(
        "orders",
        "us-west-2",
        &source("postgres"),
        &[backup("retained", Some(600)), other],
        1800,
        now,
    );
    assert_eq!(p.state, "start", "{p:?}");
    let p = plan_backup_replication(
        "orders",
        "us-west-2",
        &source("postgres"),
        &[backup("replicating", Some(7))],
        1800,
        now,
    );
    assert_eq!(p.state, "replicating");
    assert_eq!(p.rpo_exposure_seconds, Some(420));
    assert!(p.alert.is_none());
}

#[test]
fn a_lagging_replication_alerts_and_a_new_one_waits_for_its_first_restorable_time() {
    let now = Utc
        .with_ymd_and_hms(2026, 12, 5, 12, 0, 0)
        .single()
        .unwrap();
    let p = plan_backup_replication(
        "orders",
        "us-west-2",
        &source("mysql"),
        &[backup("replicating", Some(45))],
        1800,
        now,
    );
    assert!(
        p.alert.as_deref().is_some_and(|a| a.contains("2700 s")),
        "{p:?}"
    );
    let p = plan_backup_replication(
        "orders",
        "us-west-2",
        &source("mysql"),
        &[backup("pending", None)],
        1800,
        now,
    );
    assert_eq!(p.state, "pending");
    assert!(p.alert.is_none());
}

#[test]
fn aurora_has_no_automated_backups_replication() {
    let now = Utc::now();
    let p = plan_backup_replication(
        "ledger",
        "us-west-2",
        &source("aurora-postgresql"),
        &[],
        1800,
        now,
    );
    assert_eq!(p.state, "unsupported");
    assert!(p.alert.is_some());
}
