//! Every payload in `events/` parses to the right command and route; no input panics the parser.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::path::PathBuf;

use pilotlight::command::Command;
use pilotlight::command::Delivery;
use pilotlight::config::Config;
use pilotlight::error::WorkerError;
use pilotlight::plan::route::{parse_trigger, route, Invocation, Route, Trigger};
use proptest::prelude::*;
use serde_json::{json, Value};

fn config() -> Config {
    Config::from_json(include_str!("../../events/config.example.json")).expect("example config")
}

fn event(name: &str) -> Value {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "events", name]
        .iter()
        .collect();
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn routes(name: &str) -> Result<Vec<Route>, WorkerError> {
    let config = config();
    parse_trigger(&event(name))?
        .into_iter()
        .map(|t| route(&config, t))
        .collect()
}

#[test]
fn an_sns_alarm_notification_in_alarm_asks_for_an_asynchronous_failover() {
    let routes = routes("sns-alarm-orders-alarm.json").expect("routed");
    let [Route::Invoke {
        function,
        invocation,
        command: Command::Failover(req),
    }] = routes.as_slice()
    else {
        panic!("expected one failover, got {routes:?}");
    };
    assert_eq!(function, "pilotlight-failover");
    assert_eq!(*invocation, Invocation::Asynchronous);
    assert_eq!(req.database, "orders");
    assert!(!req.force && !req.dry_run);
    let trigger = req.trigger.as_ref().expect("trigger");
    assert_eq!(trigger.alarm_name, "orders-primary-unhealthy");
    assert_eq!(trigger.region.as_deref(), Some("us-east-1"));
    assert_eq!(trigger.delivered_by, Delivery::Sns);
    assert_eq!(
        trigger.state_change_time.map(|t| t.to_rfc3339()),
        Some("2026-11-20T03:02:10.355+00:00".to_owned())
    );
}

#[test]
fn an_eventbridge_alarm_state_change_asks_for_the_same_failover() {
    let routes = routes("eventbridge-alarm-state-change-orders-alarm.json").expect("routed");
    let [Route::Invoke {
        command: Command::Failover(req),
        invocation,
        ..
    }] = routes.as_slice()
    else {
        panic!("expected one failover, got {routes:?}");
    };
    assert_eq!(*invocation, Invocation::Asynchronous);
    assert_eq!(req.database, "orders");
    let trigger = req.trigger.as_ref().expect("trigger");
    assert_eq!(trigger.delivered_by, Delivery::Eventbridge);
    assert_eq!(
        trigger.health_check_id.as_deref(),
        Some("4a2b9d1c-0e5f-4b7a-9c3d-8e6f1a2b3c4d")
    );
}

#[test]
fn an_alarm_back_to_ok_or_insufficient_data_is_ignored() {
    for name in [
        "sns-alarm-orders-ok.json",
        "eventbridge-alarm-state-change-orders-insufficient-data.json",
    ] {
        let routes = routes(name).expect("routed");
        assert!(
            matches!(routes.as_slice(), [Route::Ignore { reason }] if reason.contains("nothing to do")),
            "{name}: {routes:?}"
        );
    }
}

#[test]
fn an_alarm_is_mapped_by_its_health_check_dimension_when_its_name_is_not_configured() {
    let mut config = config();
    config.databases[0].alarms.clear();
    let triggers = parse_trigger(&event("sns-alarm-orders-alarm.json")).expect("parsed");
    let r = route(&config, triggers[0].clone()).expect("routed");
    assert!(
        matches!(r, Route::Invoke { command: Command::Failover(ref req), .. } if req.database == "orders")
    );
}

#[test]
fn an_alarm_that_maps_to_no_database_is_ignored_with_its_name_not_failed() {
    // Failing would make Lambda retry the event, and the router's own error alarm feed the loop.
    let routed = routes("sns-alarm-unknown.json").expect("ignored, not an error");
    assert!(
        matches!(&routed[..], [Route::Ignore { reason }] if reason.contains("billing-primary-unhealthy")),
        "{routed:?}"
    );
}

#[test]
fn reconcile_and_history_go_to_the_failover_function() {
    let config = config();
    for (command, invocation) in [
        (
            json!({"command": "reconcile", "invoke": "async"}),
            Invocation::Asynchronous,
        ),
        (
            json!({"command": "history", "database": "orders", "limit": 3}),
            Invocation::Synchronous,
        ),
    ] {
        let triggers = parse_trigger(&command).expect("parsed");
        let r = route(&config, triggers[0].clone()).expect("routed");
        assert!(
            matches!(&r, Route::Invoke { function, invocation: i, .. } if function == "pilotlight-failover" && *i == invocation),
            "{r:?}"
        );
    }
    let unknown =
        parse_trigger(&json!({"command": "history", "database": "payments"})).expect("parsed");
    let err = route(&config, unknown[0].clone()).expect_err("unknown database");
    assert_eq!(err.error_type(), "UnknownDatabase");
}

#[test]
fn manual_commands_are_routed_synchronously() {
    for (name, expect) in [
        ("command-status.json", "status"),
        ("command-failover-dry-run.json", "failover"),
        ("command-failover-force.json", "failover"),
    ] {
        let routes = routes(name).expect("routed");
        let [Route::Invoke {
            invocation,
            command,
            ..
        }] = routes.as_slice()
        else {
            panic!("{name}: {routes:?}");
        };
        assert_eq!(*invocation, Invocation::Synchronous, "{name}");
        assert_eq!(command.name(), expect, "{name}");
    }
    let routes = routes("command-failover-force.json").expect("routed");
    assert!(
        matches!(&routes[0], Route::Invoke { command: Command::Failover(r), .. } if r.force && r.reason.is_some())
    );
}

#[test]
fn bad_commands_are_named_errors() {
    for (name, kind, mention) in [
        (
            "bad-unknown-command.json",
            "InvalidCommand",
            "reboot-everything",
        ),
        ("bad-unknown-database.json", "UnknownDatabase", "payments"),
        ("bad-misspelt-field.json", "InvalidCommand", "dryrun"),
    ] {
        let err = routes(name).expect_err(name);
        assert_eq!(err.error_type(), kind, "{name}: {err}");
        assert!(err.to_string().contains(mention), "{name}: {err}");
    }
}

#[test]
fn malformed_json_is_not_an_event() {
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/bad-malformed.json"
    ))
    .expect("file");
    assert!(
        serde_json::from_str::<Value>(&raw).is_err(),
        "the runtime rejects it before the handler"
    );
    for v in [
        Value::Null,
        Value::from(3),
        serde_json::json!({"hello": "world"}),
        serde_json::json!({"Records": []}),
    ] {
        assert!(
            matches!(parse_trigger(&v), Err(WorkerError::UnrecognisedEvent(_))),
            "{v}"
        );
    }
}

#[test]
fn an_sns_message_that_is_not_an_alarm_is_named() {
    let mut v = event("sns-alarm-orders-alarm.json");
    v["Records"][0]["Sns"]["Message"] = Value::from("hello");
    let err = parse_trigger(&v).expect_err("not an alarm");
    assert_eq!(err.error_type(), "NotAnAlarm");
    assert!(err.to_string().contains("5d4f8a2e"), "{err}");
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("Records".to_owned()),
            Just("command".to_owned()),
            Just("failover".to_owned()),
            Just("status".to_owned()),
            Just("ALARM".to_owned()),
            Just("aws:sns".to_owned()),
            Just("aws.cloudwatch".to_owned()),
            Just("CloudWatch Alarm State Change".to_owned()),
            ".*",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let key = prop_oneof![
            Just("Records".to_owned()),
            Just("Sns".to_owned()),
            Just("Message".to_owned()),
            Just("EventSource".to_owned()),
            Just("command".to_owned()),
            Just("database".to_owned()),
            Just("detail-type".to_owned()),
            Just("source".to_owned()),
            Just("detail".to_owned()),
            Just("alarmName".to_owned()),
            Just("state".to_owned()),
            "[a-zA-Z_-]{0,12}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// No input makes the router's parser panic, and whatever it accepts routes without panicking.
    #[test]
    fn no_json_input_panics_the_router_parser(v in arb_json()) {
        let config = config();
        if let Ok(triggers) = parse_trigger(&v) {
            for t in triggers {
                let _ = route(&config, t);
            }
        }
    }

    /// An SNS envelope around an arbitrary message never panics either.
    #[test]
    fn no_sns_message_panics_the_router_parser(msg in ".*", inner in arb_json()) {
        let mut v = event("sns-alarm-orders-alarm.json");
        v["Records"][0]["Sns"]["Message"] = Value::from(msg);
        let _ = parse_trigger(&v);
        v["Records"][0]["Sns"]["Message"] = Value::from(inner.to_string());
        let _ = parse_trigger(&v);
        prop_assert!(matches!(parse_trigger(&Value::Array(vec![inner])), Err(WorkerError::UnrecognisedEvent(_))));
    }
}

#[test]
fn the_trigger_kinds_are_distinguished() {
    let t = parse_trigger(&event("command-status.json")).expect("parsed");
    assert!(matches!(
        t.as_slice(),
        [Trigger::Command(
            Command::Status { database: None },
            Invocation::Synchronous
        )]
    ));
}

#[test]
fn schedules_and_snapshot_events_start_asynchronous_snapshot_copy_and_retention_runs() {
    for (name, function, kind, how) in [
        (
            "schedule-snapshot-copy.json",
            "pilotlight-snapshot-copy",
            "snapshot-copy",
            Invocation::Asynchronous,
        ),
        (
            "schedule-retention.json",
            "pilotlight-retention",
            "retention",
            Invocation::Asynchronous,
        ),
        // an RDS event goes through the snapshot-copy gate (coalesced bursts)
        (
            "eventbridge-rds-snapshot-created.json",
            "pilotlight-snapshot-copy",
            "snapshot-copy",
            Invocation::Coalesced,
        ),
    ] {
        let routes = routes(name).expect("routed");
        let [Route::Invoke {
            function: f,
            invocation,
            command,
        }] = routes.as_slice()
        else {
            panic!("{name}: {routes:?}");
        };
        assert_eq!(
            (f.as_str(), *invocation, command.name()),
            (function, how, kind),
            "{name}"
        );
    }
    // a deletion starts nothing (retention's pass would otherwise start one run per snapshot)
    assert!(routes("eventbridge-rds-snapshot-deleted.json").is_ok_and(|r| r.is_empty()));
}

#[test]
fn manual_snapshot_commands_are_synchronous_and_keep_their_options() {
    let routes = routes("command-retention-dry-run.json").expect("routed");
    let [Route::Invoke {
        invocation,
        command: Command::Retention(r),
        ..
    }] = routes.as_slice()
    else {
        panic!("{routes:?}");
    };
    assert_eq!(*invocation, Invocation::Synchronous);
    assert!(r.dry_run);
    assert_eq!(r.region.as_deref(), Some("us-west-2"));
    let copy = self::routes("command-snapshot-copy-dry-run.json").expect("routed");
    assert!(
        matches!(copy.as_slice(), [Route::Invoke { command: Command::SnapshotCopy(r), .. }] if r.dry_run)
    );
}

#[test]
fn a_snapshot_command_for_a_function_that_is_not_deployed_is_a_named_error() {
    let mut config = config();
    config.functions.retention = None;
    let triggers = parse_trigger(&event("schedule-retention.json")).expect("parsed");
    let err = route(&config, triggers[0].clone()).expect_err("not deployed");
    assert!(err.to_string().contains("functions.retention"), "{err}");
}

#[test]
fn a_bad_invoke_mode_and_foreign_snapshot_events_are_handled() {
    let err = parse_trigger(&serde_json::json!({"command": "retention", "invoke": "later"}))
        .expect_err("bad invoke");
    assert!(err.to_string().contains("invoke"), "{err}");
    let mut v = event("eventbridge-rds-snapshot-created.json");
    v["detail"]["SourceIdentifier"] = Value::from("someone-elses-snapshot");
    assert_eq!(
        parse_trigger(&v).expect("parsed"),
        vec![],
        "not pilotlight's: nothing to do"
    );
}

#[test]
fn a_command_cannot_carry_an_alarm_or_a_detection() {
    let config = config();
    let trigger = json!({"alarm_name": "orders-primary-unhealthy", "state": "ALARM", "state_change_time": null, "delivered_by": "sns"});
    let command = json!({"command": "failover", "database": "orders", "trigger": trigger});
    let triggers = parse_trigger(&command).expect("parsed");
    let err = route(&config, triggers[0].clone()).expect_err("forged trigger");
    assert_eq!(err.error_type(), "InvalidCommand");
    assert!(err.to_string().contains("trigger"), "{err}");
    let command = json!({"command": "failover", "database": "orders", "dr_detection": {"consecutive_passes": 2, "since": "2026-11-22T03:00:00Z"}});
    let triggers = parse_trigger(&command).expect("parsed");
    let err = route(&config, triggers[0].clone()).expect_err("forged detection");
    assert_eq!(err.error_type(), "InvalidCommand");
}

/// The example configuration with one Aurora global database, `ledger`, added.
fn with_aurora() -> Config {
    let mut doc: Value =
        serde_json::from_str(include_str!("../../events/config.example.json")).expect("json");
    doc["databases"].as_array_mut().expect("list").push(json!({
        "name": "ledger",
        "kind": "aurora_global",
        "global_cluster_id": "ledger-global",
        "primary": {"region": "us-east-1", "cluster_id": "ledger-use1"},
        "secondary": {"region": "us-west-2", "cluster_id": "ledger-usw2"},
        "alarms": [{"name": "ledger-primary-unhealthy", "region": "us-east-1"}],
        "rpo_budget_seconds": 60
    }));
    Config::from_json(&doc.to_string()).expect("config with an aurora entry")
}

#[test]
fn a_switchover_goes_to_the_failover_function_for_aurora_and_is_refused_for_an_rds_pair() {
    let aurora = with_aurora();
    let trigger = parse_trigger(&event("command-switchover-dry-run.json")).expect("parsed");
    let routes: Vec<Route> = trigger
        .into_iter()
        .map(|t| route(&aurora, t).expect("routed"))
        .collect();
    assert!(
        matches!(routes.as_slice(), [Route::Invoke { function, command: Command::Switchover(r), .. }] if function == "pilotlight-failover" && r.dry_run && r.database == "ledger"),
        "{routes:?}"
    );
    let rds =
        parse_trigger(&json!({"command": "switchover", "database": "orders"})).expect("parsed");
    let err = route(&aurora, rds.into_iter().next().expect("one")).err();
    assert!(
        matches!(&err, Some(WorkerError::InvalidCommand(m)) if m.contains("RDS read replica pair")),
        "{err:?}"
    );
    // without the aurora entry, `ledger` is unknown and the known names are listed
    let unknown = parse_trigger(&event("command-switchover-dry-run.json")).expect("parsed");
    let err = route(&config(), unknown.into_iter().next().expect("one")).err();
    assert!(
        matches!(&err, Some(WorkerError::UnknownDatabase(m)) if m.contains("orders")),
        "{err:?}"
    );
}

#[test]
fn an_aurora_databases_alarm_asks_for_its_failover() {
    let config = with_aurora();
    let mut payload = event("sns-alarm-orders-alarm.json");
    let raw = payload["Records"][0]["Sns"]["Message"]
        .as_str()
        .expect("message")
        .replace("orders-primary-unhealthy", "ledger-primary-unhealthy");
    payload["Records"][0]["Sns"]["Message"] = raw.into();
    let routes: Vec<Route> = parse_trigger(&payload)
        .expect("parsed")
        .into_iter()
        .map(|t| route(&config, t).expect("routed"))
        .collect();
    assert!(
        matches!(routes.as_slice(), [Route::Invoke { command: Command::Failover(r), .. }] if r.database == "ledger" && r.trigger.is_some()),
        "{routes:?}"
    );
}

#[test]
fn drills_go_to_the_failover_function_the_schedule_asynchronously() {
    for (name, invocation, database) in [
        ("schedule-drill.json", Invocation::Asynchronous, None),
        (
            "command-drill.json",
            Invocation::Synchronous,
            Some("orders"),
        ),
        (
            "command-drill-failover.json",
            Invocation::Synchronous,
            Some("orders"),
        ),
    ] {
        let r = routes(name).expect("routed");
        assert!(
            matches!(&r[0], Route::Invoke { function, invocation: i, command: Command::Drill(d) }
                if function == "pilotlight-failover" && *i == invocation && d.database.as_deref() == database),
            "{name}: {r:?}"
        );
    }
    let config = config();
    let unknown =
        parse_trigger(&json!({"command": "drill", "database": "payments"})).expect("parsed");
    let err = route(&config, unknown[0].clone()).expect_err("unknown database");
    assert_eq!(err.error_type(), "UnknownDatabase");
    // the drills' history has its own key
    let history =
        parse_trigger(&json!({"command": "history", "database": "orders#drill"})).expect("parsed");
    assert!(route(&config, history[0].clone()).is_ok());
}
