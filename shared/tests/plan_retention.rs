//! The retention decision: worked GFS examples, UTC week and month boundaries, and property tests
//! that every safety rule holds for random histories and policies.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pilotlight::plan::retention::{
    decide_retention as decide, RetentionPolicy, Rule, SkipReason, Verdict,
};
use pilotlight::plan::snapshots::{
    DbKind, SnapshotInfo, MANAGED_BY, TAG_MANAGED_BY, TAG_SOURCE_DB,
};
use pilotlight::plan::status::SnapshotStatus;
use proptest::prelude::*;

const HOLD: &str = "pilotlight:hold";
const NO_STALL: u64 = u64::MAX / 2;

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("time")
}

fn snap(id: &str, created: DateTime<Utc>) -> SnapshotInfo {
    SnapshotInfo {
        id: id.into(),
        arn: format!("arn:aws:rds:us-west-2:123456789012:snapshot:{id}"),
        kind: DbKind::Instance,
        region: "us-west-2".into(),
        status: "available".into(),
        created_at: Some(created),
        original_created_at: None,
        encrypted: false,
        snapshot_type: "manual".into(),
        db_id: "orders".into(),
        engine: None,
        allocated_storage_gib: Some(20),
        tags: pilotlight::plan::snapshots::Tags::from([
            (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
            (TAG_SOURCE_DB.to_owned(), "orders".to_owned()),
        ]),
    }
}

fn gfs(daily: u32, weekly: u32, monthly: u32) -> RetentionPolicy {
    RetentionPolicy {
        max_age_days: 0,
        min_keep: 0,
        daily,
        weekly,
        monthly,
    }
}

fn kept_dates(
    history: &[SnapshotInfo],
    policy: &RetentionPolicy,
    now: DateTime<Utc>,
) -> Vec<String> {
    let d = decide(history, policy, now, NO_STALL, HOLD);
    let mut v: Vec<String> = d
        .snapshots
        .iter()
        .filter(|s| matches!(s.verdict, Verdict::Keep { .. }))
        .filter_map(|s| s.created_at.map(|t| t.format("%Y-%m-%d").to_string()))
        .collect();
    v.sort();
    v
}

/// The worked example's expected dates, shared with the emulator test.
fn gfs_7_4_12_kept() -> Vec<String> {
    include_str!("fixtures/gfs-7-4-12-over-400-days-kept.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One snapshot a day at 03:00 UTC for 400 days up to 2026-11-20 (a Friday).
fn daily_history() -> Vec<SnapshotInfo> {
    (0..400)
        .map(|i| snap(&format!("s{i:03}"), at(2026, 11, 20, 3) - Duration::days(i)))
        .collect()
}

#[test]
fn gfs_7_4_12_over_a_400_day_daily_history_keeps_exactly_these() {
    let kept = kept_dates(&daily_history(), &gfs(7, 4, 12), at(2026, 11, 20, 12));
    assert_eq!(kept, gfs_7_4_12_kept());
}

#[test]
fn the_rules_that_keep_a_snapshot_are_all_named() {
    let d = decide(
        &daily_history(),
        &gfs(7, 4, 12),
        at(2026, 11, 20, 12),
        NO_STALL,
        HOLD,
    );
    let newest = &d.snapshots[0];
    assert_eq!(
        newest.verdict,
        Verdict::Keep {
            rules: vec![Rule::Newest, Rule::Daily, Rule::Weekly, Rule::Monthly]
        }
    );
    let sunday = d
        .snapshots
        .iter()
        .find(|s| s.id == "s012")
        .expect("2026-11-08");
    assert_eq!(
        sunday.verdict,
        Verdict::Keep {
            rules: vec![Rule::Weekly]
        }
    );
}

#[test]
fn max_age_30_days_and_min_keep_keep_the_last_month() {
    let policy = RetentionPolicy {
        max_age_days: 30,
        min_keep: 3,
        daily: 0,
        weekly: 0,
        monthly: 0,
    };
    let kept = kept_dates(&daily_history(), &policy, at(2026, 11, 20, 12));
    assert_eq!(kept.len(), 30);
    assert_eq!(kept.first().map(String::as_str), Some("2026-10-22"));
}

#[test]
fn iso_weeks_start_on_monday_utc() {
    // Sunday 23:30 and Monday 00:30 UTC are different weeks; Monday 00:30 and Sunday 22:00 the same
    let now = at(2026, 11, 23, 12);
    let history = vec![
        snap(
            "sun-late",
            Utc.with_ymd_and_hms(2026, 11, 15, 23, 30, 0)
                .single()
                .expect("t"),
        ),
        snap(
            "mon-early",
            Utc.with_ymd_and_hms(2026, 11, 16, 0, 30, 0)
                .single()
                .expect("t"),
        ),
        snap(
            "sun-next",
            Utc.with_ymd_and_hms(2026, 11, 22, 22, 0, 0)
                .single()
                .expect("t"),
        ),
    ];
    let d = decide(&history, &gfs(0, 2, 0), now, NO_STALL, HOLD);
    let verdict = |id: &str| {
        d.snapshots
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.verdict.clone())
    };
    assert!(matches!(verdict("sun-next"), Some(Verdict::Keep { .. })));
    assert_eq!(
        verdict("mon-early"),
        Some(Verdict::Delete),
        "same week as sun-next, older"
    );
    assert!(
        matches!(verdict("sun-late"), Some(Verdict::Keep { .. })),
        "the week before"
    );
}

#[test]
fn months_are_calendar_months_in_utc() {
    let now = at(2026, 12, 15, 12);
    let history = vec![
        snap(
            "nov-30-late",
            Utc.with_ymd_and_hms(2026, 11, 30, 23, 59, 0)
                .single()
                .expect("t"),
        ),
        snap(
            "dec-01-early",
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 1, 0)
                .single()
                .expect("t"),
        ),
        snap("dec-10", at(2026, 12, 10, 3)),
    ];
    let kept = decide(&history, &gfs(0, 0, 2), now, NO_STALL, HOLD);
    let deleted: Vec<&str> = kept.deletions().map(|s| s.id.as_str()).collect();
    assert_eq!(deleted, ["dec-01-early"]);
}

#[test]
fn a_stalled_database_loses_nothing() {
    let history: Vec<SnapshotInfo> = (0..100)
        .map(|i| snap(&format!("s{i}"), at(2026, 6, 1, 3) - Duration::days(i)))
        .collect();
    let d = decide(
        &history,
        &gfs(1, 0, 0),
        at(2026, 11, 20, 12),
        48 * 3600,
        HOLD,
    );
    assert!(d
        .stalled
        .as_deref()
        .is_some_and(|m| m.contains("backups have stopped")));
    assert_eq!(d.deletions().count(), 0);
}

#[test]
fn held_foreign_automated_and_copying_snapshots_are_skipped_with_the_reason() {
    let now = at(2026, 11, 20, 12);
    let mut held = snap("held", now - Duration::days(300));
    held.tags.insert(HOLD.into(), "legal".into());
    let mut foreign = snap("foreign", now - Duration::days(300));
    foreign.tags.clear();
    let mut automated = snap("rds:orders-2025", now - Duration::days(300));
    automated.snapshot_type = "automated".into();
    let mut copying = snap("copying", now - Duration::days(300));
    copying.status = "copying".into();
    let history = vec![
        snap("new", now),
        held,
        foreign,
        automated,
        copying,
        snap("old", now - Duration::days(300)),
    ];
    let d = decide(&history, &gfs(1, 0, 0), now, NO_STALL, HOLD);
    let reason = |id: &str| {
        d.snapshots
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.verdict.clone())
    };
    assert_eq!(
        reason("held"),
        Some(Verdict::Skip {
            reason: SkipReason::OnHold
        })
    );
    assert_eq!(
        reason("foreign"),
        Some(Verdict::Skip {
            reason: SkipReason::NotManagedByPilotlight
        })
    );
    assert_eq!(
        reason("rds:orders-2025"),
        Some(Verdict::Skip {
            reason: SkipReason::NotManual
        })
    );
    assert_eq!(
        reason("copying"),
        Some(Verdict::Skip {
            reason: SkipReason::NotAvailable
        })
    );
    assert_eq!(reason("old"), Some(Verdict::Delete));
}

#[test]
fn same_named_databases_of_two_regions_are_decided_apart_and_the_stalled_one_keeps_its_copies() {
    use pilotlight::plan::retention::group_key;
    use pilotlight::plan::snapshots::TAG_COPY_OF;
    let now = at(2026, 11, 20, 12);
    // copies in us-west-2 of `orders` from us-east-1 (daily, fresh) and from eu-west-1 (stopped
    // 20 days ago); the eu copies carry only the copy-of tag (made before the source-region tag)
    let mut listed = vec![];
    for day in 0..40 {
        let mut us = snap(&format!("us-{day:02}"), now - Duration::days(day));
        us.tags.insert(
            TAG_COPY_OF.into(),
            format!("arn:aws:rds:us-east-1:123456789012:snapshot:u{day}"),
        );
        listed.push(us);
        let mut eu = snap(&format!("eu-{day:02}"), now - Duration::days(day + 20));
        eu.tags.insert(
            TAG_COPY_OF.into(),
            format!("arn:aws:rds:eu-west-1:123456789012:snapshot:e{day}"),
        );
        listed.push(eu);
    }
    let mut groups: BTreeMap<(String, DbKind, String, String), Vec<SnapshotInfo>> = BTreeMap::new();
    for s in listed {
        groups.entry(group_key(&s)).or_default().push(s);
    }
    assert_eq!(groups.len(), 2, "{:?}", groups.keys().collect::<Vec<_>>());
    let policy = RetentionPolicy {
        max_age_days: 7,
        min_keep: 3,
        daily: 7,
        weekly: 0,
        monthly: 0,
    };
    let stall = 48 * 3600;
    let key = |r: &str| {
        (
            "us-west-2".to_owned(),
            DbKind::Instance,
            r.to_owned(),
            "orders".to_owned(),
        )
    };
    let us = decide(&groups[&key("us-east-1")], &policy, now, stall, HOLD);
    let eu = decide(&groups[&key("eu-west-1")], &policy, now, stall, HOLD);
    assert!(
        us.stalled.is_none() && us.deletions().count() > 0,
        "us is pruned by its policy"
    );
    assert!(
        eu.stalled.is_some(),
        "eu's snapshots stopped: the stall guard fires"
    );
    assert_eq!(
        eu.deletions().count(),
        0,
        "a stalled database keeps its DR copies"
    );
}

#[test]
fn the_source_of_a_copy_still_in_flight_elsewhere_is_never_deleted() {
    use pilotlight::plan::retention::decide_retention_keeping;
    let now = at(2026, 11, 20, 12);
    // 10 daily snapshots, policy keeps 1; the oldest is being copied to another region
    let snaps: Vec<SnapshotInfo> = (0..10)
        .map(|d| snap(&format!("s{d}"), now - Duration::days(d)))
        .collect();
    let policy = RetentionPolicy {
        max_age_days: 0,
        min_keep: 1,
        daily: 0,
        weekly: 0,
        monthly: 0,
    };
    // a copy's `pilotlight:copy-of` ARN names its source as `<region>/<id>`
    let copying =
        std::collections::HashSet::from([
            pilotlight::plan::retention::copy_key(&snaps[9].arn).expect("an RDS snapshot ARN")
        ]);
    let d = decide_retention_keeping(&snaps, &policy, now, NO_STALL, HOLD, &copying);
    let verdict = |id: &str| {
        d.snapshots
            .iter()
            .find(|x| x.id == id)
            .map(|x| x.verdict.clone())
    };
    assert!(
        matches!(verdict("s9"), Some(Verdict::Keep { rules }) if rules == vec![Rule::CopySource]),
        "{:?}",
        verdict("s9")
    );
    assert_eq!(verdict("s8"), Some(Verdict::Delete));
    assert_eq!(d.deletions().count(), 8);
}

#[derive(Debug, Clone)]
struct Gen {
    age_hours: u32,
    status: u8,
    managed: bool,
    manual: bool,
    held: bool,
}

fn arb_history() -> impl Strategy<Value = Vec<Gen>> {
    prop::collection::vec(
        (
            0u32..24 * 500,
            0u8..6,
            prop::bool::weighted(0.85),
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.05),
        )
            .prop_map(|(age_hours, status, managed, manual, held)| Gen {
                age_hours,
                status,
                managed,
                manual,
                held,
            }),
        0..120,
    )
}

fn arb_policy() -> impl Strategy<Value = RetentionPolicy> {
    (0u32..60, 0u32..5, 0u32..10, 0u32..6, 0u32..14).prop_map(
        |(max_age_days, min_keep, daily, weekly, monthly)| RetentionPolicy {
            max_age_days,
            min_keep,
            daily,
            weekly,
            monthly,
        },
    )
}

fn build(history: &[Gen], now: DateTime<Utc>) -> Vec<SnapshotInfo> {
    history
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut s = snap(
                &format!("s{i:03}"),
                now - Duration::hours(i64::from(g.age_hours)),
            );
            s.status = [
                "available",
                "available",
                "available",
                "creating",
                "copying",
                "failed",
            ][g.status as usize]
                .into();
            if !g.managed {
                s.tags.clear();
            }
            if !g.manual {
                s.snapshot_type = "automated".into();
            }
            if g.held {
                s.tags.insert(HOLD.into(), "x".into());
            }
            s
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn every_safety_rule_holds(history in arb_history(), policy in arb_policy(), stall_hours in 1u64..2000) {
        let now = at(2026, 11, 20, 12);
        let snaps = build(&history, now);
        let d = decide(&snaps, &policy, now, stall_hours * 3600, HOLD);
        let by_id: BTreeMap<&str, &SnapshotInfo> = snaps.iter().map(|s| (s.id.as_str(), s)).collect();
        let newest = snaps
            .iter()
            .filter(|s| s.is_pilotlights() && s.snapshot_type == "manual" && s.status == SnapshotStatus::Available)
            .max_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| b.id.cmp(&a.id)));
        for del in d.deletions() {
            let s = by_id[del.id.as_str()];
            prop_assert!(s.is_pilotlights(), "deleted a foreign snapshot");
            prop_assert_eq!(s.snapshot_type.as_str(), "manual", "deleted an automated snapshot");
            prop_assert!(!s.tags.contains_key(HOLD), "deleted a held snapshot");
            prop_assert_eq!(s.status.as_str(), "available", "deleted a busy snapshot");
            prop_assert!(newest.is_some_and(|n| n.id != s.id), "deleted the newest");
            prop_assert!(d.stalled.is_none(), "deleted while stalled");
            // a deleted snapshot is kept by no rule: older than max_age and not among the newest min_keep
            if policy.max_age_days > 0 {
                prop_assert!((now - s.created_at.unwrap_or(now)).num_days() >= i64::from(policy.max_age_days));
            }
        }
        if let Some(n) = newest {
            let stalled_expected = (now - n.created_at.unwrap_or(now)).num_seconds() > (stall_hours * 3600) as i64;
            prop_assert_eq!(d.stalled.is_some(), stalled_expected);
        }
        prop_assert_eq!(d.snapshots.len(), snaps.len(), "every snapshot gets a verdict");
    }

    /// The retention function decides on compact records (`Listed`, grouped as pages arrive) to
    /// fit 100,000 snapshots in its memory budget: they decide exactly as the full snapshots do.
    #[test]
    fn the_compact_listing_decides_exactly_as_the_full_snapshots(history in arb_history(), policy in arb_policy(), stall_hours in 1u64..2000) {
        use pilotlight::plan::retention::{decide_retention_keeping, RegionListing};
        let now = at(2026, 11, 20, 12);
        let snaps = build(&history, now);
        let mut listing = RegionListing::new("us-west-2");
        for s in &snaps {
            listing.add(s, HOLD);
        }
        let compact: Vec<_> = listing.groups.into_values().flatten().collect();
        prop_assert_eq!(compact.len(), snaps.len());
        let copying = std::collections::HashSet::new();
        let full = decide_retention_keeping(&snaps, &policy, now, stall_hours * 3600, HOLD, &copying);
        let small = decide_retention_keeping(&compact, &policy, now, stall_hours * 3600, HOLD, &copying);
        prop_assert_eq!(full, small);
    }

    #[test]
    fn the_decision_is_deterministic_whatever_the_listing_order(history in arb_history(), policy in arb_policy(), seed in any::<u64>()) {
        let now = at(2026, 11, 20, 12);
        let snaps = build(&history, now);
        let mut shuffled = snaps.clone();
        // a deterministic shuffle from the seed
        let n = shuffled.len();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let a = decide(&snaps, &policy, now, 48 * 3600, HOLD);
        let b = decide(&shuffled, &policy, now, 48 * 3600, HOLD);
        prop_assert_eq!(a, b);
    }

    /// The incremental chain: whatever the history, policy and stall threshold, while a copy of
    /// the source is still copying, the newest available copy is never deleted (the next copy is
    /// incremental only if it still exists) and says why it is kept.
    #[test]
    fn the_newest_copy_is_never_deleted_while_a_newer_one_is_copying(
        history in arb_history(),
        policy in arb_policy(),
        stall_hours in 1u64..2000,
        copying_age in 0u32..48,
    ) {
        let now = at(2026, 11, 20, 12);
        let mut snaps = build(&history, now);
        let mut newer = snap("in-flight", now - Duration::hours(i64::from(copying_age)));
        newer.status = "copying".into();
        snaps.push(newer);
        let d = decide(&snaps, &policy, now, stall_hours * 3600, HOLD);
        let base = snaps
            .iter()
            .filter(|s| s.is_pilotlights() && s.snapshot_type == "manual" && s.status == SnapshotStatus::Available)
            .max_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| b.id.cmp(&a.id)));
        if let Some(base) = base {
            prop_assert!(d.deletions().all(|x| x.id != base.id), "deleted the incremental base");
            let verdict = d.snapshots.iter().find(|x| x.id == base.id).map(|x| x.verdict.clone());
            if base.created_at <= snaps.last().and_then(|n| n.created_at) {
                // kept for the chain, or held (never deleted either)
                prop_assert!(
                    matches!(&verdict, Some(Verdict::Keep { rules }) if rules.contains(&Rule::IncrementalBase))
                        || matches!(&verdict, Some(Verdict::Skip { reason: SkipReason::OnHold })),
                    "{verdict:?}"
                );
            }
        }
    }
}
