//! The DR drill's plan: whatever the instance a drill finds looks like (any identifier, any tags,
//! any status, any point of the drill), the only instance it is ever told to delete carries its
//! own drill tag and the drill prefix; and the command and configuration are checked before any
//! call.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pilotlight::command::{parse_command, Command, DrillKind};
use pilotlight::plan::drill::{
    drill_id, instance_id, may_delete, next_step, DrillInstance, DrillRecord, DrillStep,
    InstanceFacts, INSTANCE_PREFIX, TAG_DRILL,
};
use proptest::prelude::*;
use serde_json::json;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0)
        .single()
        .unwrap_or_default()
}

fn record(flags: u8) -> DrillRecord {
    let at = start();
    DrillRecord {
        drill_id: drill_id("orders", at),
        region: "us-west-2".into(),
        snapshot_id: "pilotlight-orders-a".into(),
        snapshot_data_time: Some(at - Duration::hours(1)),
        instance_id: instance_id("orders", at),
        started_at: at,
        restore_requested_at: (flags & 1 != 0).then_some(at),
        available_at: (flags & 2 != 0).then_some(at + Duration::minutes(20)),
        endpoint: None,
        restored: None,
        source: None,
        verdict: None,
        failure: (flags & 4 != 0).then(|| "failed".to_owned()),
        deleted_at: (flags & 8 != 0).then_some(at + Duration::minutes(30)),
    }
}

fn identifier() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(instance_id("orders", start())),
        Just("orders-primary".to_owned()),
        Just("orders-replica".to_owned()),
        "[a-z][a-z0-9-]{0,40}",
        "pilotlight-drill-[a-z0-9-]{0,30}",
    ]
}

fn tags() -> impl Strategy<Value = BTreeMap<String, String>> {
    let own = drill_id("orders", start());
    prop_oneof![
        Just(BTreeMap::new()),
        Just(BTreeMap::from([(TAG_DRILL.to_owned(), own)])),
        Just(BTreeMap::from([(
            TAG_DRILL.to_owned(),
            "orders@2026-11-01T06:00:00Z".to_owned()
        )])),
        Just(BTreeMap::from([(TAG_DRILL.to_owned(), String::new())])),
        proptest::collection::btree_map("[a-z:]{1,12}", "[a-z0-9@:-]{0,20}", 0..4),
    ]
}

fn status() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("creating".to_owned()),
        Just("available".to_owned()),
        Just("backing-up".to_owned()),
        Just("deleting".to_owned()),
        Just("failed".to_owned()),
        Just("incompatible-restore".to_owned()),
        "[a-z-]{1,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_drill_only_ever_deletes_its_own_tagged_instance(
        id in identifier(),
        tags in tags(),
        status in status(),
        flags in 0u8..16,
        minutes in 0i64..600,
        validation in any::<bool>(),
    ) {
        let r = record(flags);
        let instance = DrillInstance {
            identifier: id.clone(),
            status,
            endpoint: None,
            publicly_accessible: false,
            tags: tags.clone(),
            facts: InstanceFacts::default(),
        };
        let step = next_step(&r, Some(&instance), start() + Duration::minutes(minutes), validation, 3600);
        if step == DrillStep::Delete {
            prop_assert!(id.starts_with(INSTANCE_PREFIX));
            prop_assert_eq!(tags.get(TAG_DRILL), Some(&r.drill_id));
            prop_assert!(may_delete(&id, &tags, &r.drill_id));
        }
        if !may_delete(&id, &tags, &r.drill_id) {
            prop_assert!(matches!(step, DrillStep::NotOurs(_)), "{:?}", step);
        }
    }
}

#[test]
fn the_drill_command_parses_with_its_defaults_and_rejects_unknown_fields() {
    let cmd = parse_command(json!({"command": "drill", "database": "orders"}));
    assert!(
        matches!(&cmd, Ok(Command::Drill(r)) if r.kind == DrillKind::Snapshot && !r.dry_run),
        "{cmd:?}"
    );
    let cmd = parse_command(json!({"command": "drill", "kind": "failover"}));
    assert!(
        matches!(&cmd, Ok(Command::Drill(r)) if r.kind == DrillKind::Failover && r.database.is_none())
    );
    let err = parse_command(json!({"command": "drill", "kind": "restore"}));
    assert!(err.is_err_and(|e| e.to_string().contains("restore")));
    let err = parse_command(json!({"command": "drill", "dryrun": true}));
    assert!(err.is_err_and(|e| e.to_string().contains("dryrun")));
}

#[test]
fn the_drill_configuration_is_checked_at_start_up() {
    let base: serde_json::Value =
        serde_json::from_str(include_str!("../../events/config.example.json")).unwrap_or_default();
    let with = |drill: serde_json::Value| {
        let mut v = base.clone();
        v["drill"] = drill;
        pilotlight::config::Config::from_json(&v.to_string()).map_err(|e| e.to_string())
    };
    assert!(with(json!({})).is_ok_and(|c| c.drill.instance_class == "db.t3.micro"));
    let err = with(json!({"instance_class": "t3.micro"}))
        .err()
        .unwrap_or_default();
    assert!(err.contains("drill.instance_class"), "{err}");
    let err = with(json!({"security_groups": {"us-west-2": ["default"]}}))
        .err()
        .unwrap_or_default();
    assert!(err.contains("drill.security_groups.us-west-2"), "{err}");
    let err = with(json!({"max_restore_seconds": 10}))
        .err()
        .unwrap_or_default();
    assert!(err.contains("drill.max_restore_seconds"), "{err}");
    let err = with(json!({"validation_function": "drill-check"}))
        .err()
        .unwrap_or_default();
    assert!(
        err.contains("drill.validation_function") && err.contains("ARN"),
        "{err}"
    );
    let err = with(json!({"validation": "x"})).err().unwrap_or_default();
    assert!(err.contains("validation"), "{err}");
}
