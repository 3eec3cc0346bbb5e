//! Every way pilotlight is triggered, turned into a typed [`Command`] for a worker.
//!
//! Accepted inputs (see `events/` for real-shaped examples):
//! * an SNS event (`aws_lambda_events::sns::SnsEvent`) whose `Message` is a CloudWatch alarm
//!   notification (the JSON document CloudWatch publishes to SNS);
//! * an EventBridge event with `source` `aws.cloudwatch` and `detail-type`
//!   `CloudWatch Alarm State Change`;
//! * a command JSON (`{"command": ...}`), typed by a person or the constant input of a schedule.
//!
//! Parsing and routing are pure: [`parse_trigger`] then [`route`]; the router function executes
//! the [`Route`]s with the Lambda Invoke API.

use std::collections::HashMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::AlarmStateValue;
use crate::command::{
    parse_command, AlarmTrigger, Command, Delivery, FailoverRequest, SnapshotCopyRequest,
};
use crate::config::Config;
use crate::error::WorkerError;

/// The EventBridge `detail-type` of an alarm state change.
pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";
/// The EventBridge `detail-type`s of RDS snapshot events; one about a pilotlight snapshot
/// (created, copied) starts a snapshot-copy run, so the copy queue drains as copies finish.
pub const SNAPSHOT_EVENTS: [&str; 2] = ["RDS DB Snapshot Event", "RDS DB Cluster Snapshot Event"];

/// The RDS event ids that can start snapshot-copy work: a manual DB snapshot created
/// (`RDS-EVENT-0042`), a cross-region or same-region copy finished (`RDS-EVENT-0060`,
/// `RDS-EVENT-0197`), a manual DB cluster snapshot created (`RDS-EVENT-0075`)
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.Messages.html>). The
/// EventBridge rule in `infra/` matches only these; the router checks again (a deletion,
/// `RDS-EVENT-0041`, never starts a run: retention's deletions would otherwise start thousands).
pub const SNAPSHOT_EVENT_IDS: [&str; 4] = [
    "RDS-EVENT-0042",
    "RDS-EVENT-0060",
    "RDS-EVENT-0197",
    "RDS-EVENT-0075",
];

/// What one input asks for, before it is mapped to a database.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// An alarm changed state.
    Alarm(AlarmTrigger),
    /// A person (or a schedule) sent a command; a schedule asks for an asynchronous invocation
    /// with `"invoke": "async"` next to the command.
    Command(Command, Invocation),
}

/// The CloudWatch alarm notification CloudWatch publishes to SNS (the `Message` string, parsed).
///
/// Our own struct rather than `aws_lambda_events::sns::CloudWatchAlarmPayload`, which requires
/// fields that real notifications leave `null` (`AlarmDescription` of an alarm with none).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlarmNotification {
    alarm_name: String,
    new_state_value: String,
    #[serde(default)]
    state_change_time: Option<String>,
    #[serde(default)]
    alarm_arn: Option<String>,
    #[serde(default)]
    trigger: Option<AlarmNotificationTrigger>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlarmNotificationTrigger {
    #[serde(default)]
    dimensions: Option<Vec<NotificationDimension>>,
}

/// SNS alarm notifications spell dimension keys in lower case.
#[derive(Debug, Deserialize)]
struct NotificationDimension {
    #[serde(alias = "Name")]
    name: String,
    #[serde(alias = "Value")]
    value: String,
}

/// `detail` of an EventBridge "CloudWatch Alarm State Change" event.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlarmStateChangeDetail {
    alarm_name: String,
    state: AlarmStateDetail,
    #[serde(default)]
    configuration: Option<AlarmConfiguration>,
}

#[derive(Debug, Deserialize, Serialize)]
struct AlarmStateDetail {
    value: String,
    #[serde(default)]
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
struct AlarmConfiguration {
    #[serde(default)]
    metrics: Vec<AlarmMetricQuery>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlarmMetricQuery {
    #[serde(default)]
    metric_stat: Option<AlarmMetricStat>,
}

#[derive(Debug, Deserialize, Serialize)]
struct AlarmMetricStat {
    metric: AlarmMetric,
}

#[derive(Debug, Deserialize, Serialize)]
struct AlarmMetric {
    #[serde(default)]
    dimensions: HashMap<String, String>,
}

/// Parse CloudWatch's alarm timestamps: `2026-11-20T03:02:10.355+0000` (no colon in the offset)
/// or RFC 3339.
pub fn parse_alarm_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Region code from an ARN (`arn:aws:cloudwatch:us-east-1:123456789012:alarm:name`).
fn arn_region(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// Turn one Lambda input into what it asks for. An SNS event may carry several records: one
/// trigger each.
///
/// # Errors
/// [`WorkerError`] naming what is wrong with the input. Never panics, whatever the input.
pub fn parse_trigger(payload: &Value) -> Result<Vec<Trigger>, WorkerError> {
    let Some(obj) = payload.as_object() else {
        return Err(WorkerError::UnrecognisedEvent(format!(
            "expected a JSON object, got {}",
            json_kind(payload)
        )));
    };
    if obj.contains_key("command") {
        return parse_command_input(obj).map(|t| vec![t]);
    }
    if obj.contains_key("Records") {
        return parse_sns(payload);
    }
    if obj.contains_key("detail-type") {
        return parse_eventbridge(payload);
    }
    Err(WorkerError::UnrecognisedEvent(
        "expected an SNS event (`Records`), an EventBridge alarm state change (`detail-type`) or a command (`command`)"
            .into(),
    ))
}

/// A command typed by a person, or a schedule's constant input with `"invoke": "async"`.
fn parse_command_input(obj: &serde_json::Map<String, Value>) -> Result<Trigger, WorkerError> {
    let mut obj = obj.clone();
    let invocation = match obj.remove("invoke") {
        None => Invocation::Synchronous,
        Some(Value::String(s)) if s == "sync" => Invocation::Synchronous,
        Some(Value::String(s)) if s == "async" => Invocation::Asynchronous,
        Some(other) => {
            return Err(WorkerError::InvalidCommand(format!(
                "invalid command: `invoke` is {other}, expected \"sync\" or \"async\""
            )))
        }
    };
    parse_command(Value::Object(obj)).map(|c| Trigger::Command(c, invocation))
}

/// An SNS event: each record must carry a CloudWatch alarm notification.
fn parse_sns(payload: &Value) -> Result<Vec<Trigger>, WorkerError> {
    let event: SnsEvent = serde_json::from_value(payload.clone())
        .map_err(|e| WorkerError::UnrecognisedEvent(format!("not an SNS event: {e}")))?;
    if event.records.is_empty() {
        return Err(WorkerError::UnrecognisedEvent(
            "SNS event with no records".into(),
        ));
    }
    event
        .records
        .iter()
        .map(|record| {
            let message_id = &record.sns.message_id;
            if record.event_source != "aws:sns" {
                return Err(WorkerError::UnrecognisedEvent(format!(
                    "record `{message_id}` has event source `{}`, expected `aws:sns`",
                    record.event_source
                )));
            }
            let n: AlarmNotification = serde_json::from_str(&record.sns.message).map_err(|e| {
                WorkerError::NotAnAlarm(format!(
                    "sns record `{message_id}` does not carry a cloudwatch alarm notification: {e}"
                ))
            })?;
            let health_check_id = n
                .trigger
                .and_then(|t| t.dimensions)
                .unwrap_or_default()
                .into_iter()
                .find(|d| d.name == "HealthCheckId")
                .map(|d| d.value);
            Ok(Trigger::Alarm(AlarmTrigger {
                alarm_name: n.alarm_name,
                state: AlarmStateValue::from(n.new_state_value),
                state_change_time: n.state_change_time.as_deref().and_then(parse_alarm_time),
                region: n.alarm_arn.as_deref().and_then(arn_region),
                health_check_id,
                delivered_by: Delivery::Sns,
            }))
        })
        .collect()
}

/// An EventBridge event: an RDS snapshot event about a pilotlight snapshot (a snapshot-copy run)
/// or a CloudWatch alarm state change.
fn parse_eventbridge(payload: &Value) -> Result<Vec<Trigger>, WorkerError> {
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| WorkerError::UnrecognisedEvent(format!("not an EventBridge event: {e}")))?;
    if event.source == "aws.rds" && SNAPSHOT_EVENTS.contains(&event.detail_type.as_str()) {
        let id = event
            .detail
            .get("SourceIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let event_id = event
            .detail
            .get("EventID")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !id.starts_with("pilotlight-") || !SNAPSHOT_EVENT_IDS.contains(&event_id) {
            return Ok(vec![]);
        }
        return Ok(vec![Trigger::Command(
            Command::SnapshotCopy(SnapshotCopyRequest::default()),
            Invocation::Coalesced,
        )]);
    }
    if event.source != "aws.cloudwatch" || event.detail_type != ALARM_STATE_CHANGE {
        return Err(WorkerError::UnrecognisedEvent(format!(
            "EventBridge event `{}` from `{}` is not a `{ALARM_STATE_CHANGE}`",
            event.detail_type, event.source
        )));
    }
    let detail: AlarmStateChangeDetail = serde_json::from_value(event.detail).map_err(|e| {
        WorkerError::UnrecognisedEvent(format!("alarm state change with a malformed `detail`: {e}"))
    })?;
    let health_check_id = detail.configuration.and_then(|c| {
        c.metrics
            .into_iter()
            .filter_map(|m| m.metric_stat)
            .find_map(|s| s.metric.dimensions.get("HealthCheckId").cloned())
    });
    Ok(vec![Trigger::Alarm(AlarmTrigger {
        alarm_name: detail.alarm_name,
        state: AlarmStateValue::from(detail.state.value),
        state_change_time: detail.state.timestamp.as_deref().and_then(parse_alarm_time),
        region: event.region,
        health_check_id,
        delivered_by: Delivery::Eventbridge,
    })])
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// How the router hands a command to a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Invocation {
    /// `InvocationType=Event`: alarms and events; Lambda retries and dead-letters on failure.
    Asynchronous,
    /// `InvocationType=Event` through the job's gate in the ledger table (RDS snapshot events):
    /// at most one run in flight and one queued, however many events arrive
    /// ([`crate::aws::dynamodb::Ledger::gate_enter`]).
    Coalesced,
    /// `InvocationType=RequestResponse`: a person's command, whose result the router returns.
    Synchronous,
}

/// What the router does with one trigger.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Route {
    /// Invoke `function` with `command`.
    Invoke {
        /// Worker function name or ARN.
        function: String,
        /// How.
        invocation: Invocation,
        /// The command JSON sent.
        command: Command,
    },
    /// Do nothing (an alarm back to OK, or INSUFFICIENT_DATA), with the reason logged and returned.
    Ignore {
        /// Why.
        reason: String,
    },
}

/// Map a trigger to a worker through the configuration.
///
/// Alarms map to a database by alarm name, or by the `HealthCheckId` dimension; a transition to
/// `ALARM` asks for a failover, any other state is ignored.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] when a command names no protected database (an alarm that
/// maps to none is ignored).
pub fn route(config: &Config, trigger: Trigger) -> Result<Route, WorkerError> {
    match trigger {
        Trigger::Command(command, invocation) => route_command(config, command, invocation),
        Trigger::Alarm(alarm) => route_alarm(config, alarm),
    }
}

/// A command goes to the worker that runs it; a database it names must be protected.
fn route_command(
    config: &Config,
    command: Command,
    invocation: Invocation,
) -> Result<Route, WorkerError> {
    if let Command::SnapshotCopy(r) = &command {
        if r.gate.is_some() && invocation != Invocation::Coalesced {
            return Err(WorkerError::InvalidCommand(
                "invalid command: `gate` is set by the router for a coalesced run, never by a command".into(),
            ));
        }
    }
    if let Command::Failover(r) = &command {
        if r.trigger.is_some() || r.dr_detection.is_some() {
            return Err(WorkerError::InvalidCommand(
                "invalid command: `trigger` and `dr_detection` are set by pilotlight from an alarm or its own detection, never by a command".into(),
            ));
        }
    }
    let function = match &command {
        Command::Status { .. }
        | Command::Failover(_)
        | Command::Switchover(_)
        | Command::Reconcile { .. }
        | Command::Drill(_)
        | Command::Failback(_)
        | Command::History { .. } => {
            if let Some(name) = command.database() {
                // `history` of `<name>#drill`: the database's drills
                let name = match &command {
                    Command::History { .. } => name.strip_suffix("#drill").unwrap_or(name),
                    _ => name,
                };
                if config.database(name).is_none() && config.aurora(name).is_none() {
                    return Err(WorkerError::UnknownDatabase(unknown_database(config, name)));
                }
            }
            if let Command::Failback(r) = &command {
                if config.aurora(&r.database).is_some() {
                    return Err(WorkerError::InvalidCommand(format!(
                        "invalid command: `failback` is for RDS read replica pairs; `{}` is an Aurora global database: fail it back with `switchover`",
                        r.database
                    )));
                }
            }
            if let Command::Drill(r) = &command {
                if let Some(name) = r.database.as_deref().filter(|n| config.aurora(n).is_some()) {
                    return Err(WorkerError::InvalidCommand(format!(
                        "invalid command: `drill` covers RDS read replica pairs; `{name}` is an Aurora global database: drill it with `switchover` (`dry_run` for the plan)"
                    )));
                }
            }
            if let Command::Switchover(r) = &command {
                if config.aurora(&r.database).is_none() {
                    return Err(WorkerError::InvalidCommand(format!(
                        "invalid command: `switchover` is for Aurora global databases (`\"kind\": \"aurora_global\"`); `{}` is an RDS read replica pair: use `failover`",
                        r.database
                    )));
                }
            }
            config.functions.failover.clone()
        }
        Command::SnapshotCopy(_) => {
            worker(&config.functions.snapshot_copy, "snapshot_copy", &command)?
        }
        Command::Retention(_) => worker(&config.functions.retention, "retention", &command)?,
    };
    Ok(Route::Invoke {
        function,
        invocation,
        command,
    })
}

/// An alarm maps to its database by name, or by its `HealthCheckId` dimension; `ALARM` asks for
/// a failover, any other state is ignored. An alarm that maps to no database is ignored too (and
/// logged): failing would make Lambda retry the event, and the router's own error alarm, in the
/// same region, would feed the loop.
fn route_alarm(config: &Config, alarm: AlarmTrigger) -> Result<Route, WorkerError> {
    // (name, alarms, health check) of every protected database, of both kinds
    let watched: Vec<(&str, &[crate::config::AlarmRef], Option<&String>)> = config
        .databases
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                d.alarms.as_slice(),
                d.health_check_id.as_ref(),
            )
        })
        .chain(config.aurora_global.iter().map(|d| {
            (
                d.name.as_str(),
                d.alarms.as_slice(),
                d.health_check_id.as_ref(),
            )
        }))
        .collect();
    let db = watched
        .iter()
        .find(|d| d.1.iter().any(|a| a.name == alarm.alarm_name))
        .or_else(|| {
            alarm
                .health_check_id
                .as_ref()
                .and_then(|hc| watched.iter().find(|d| d.2 == Some(hc)))
        })
        .map(|d| d.0);
    let Some(db) = db else {
        return Ok(Route::Ignore {
            reason: format!(
                "alarm `{}`{} watches no protected database: ignored (add it to `alarms` or `health_check_id` in the configuration if it should)",
                alarm.alarm_name,
                alarm
                    .health_check_id
                    .as_ref()
                    .map(|h| format!(" (health check `{h}`)"))
                    .unwrap_or_default()
            ),
        });
    };
    if alarm.state != AlarmStateValue::Alarm {
        return Ok(Route::Ignore {
            reason: format!(
                "alarm `{}` of database `{}` is now `{}`: nothing to do",
                alarm.alarm_name, db, alarm.state
            ),
        });
    }
    Ok(Route::Invoke {
        function: config.functions.failover.clone(),
        invocation: Invocation::Asynchronous,
        command: Command::Failover(FailoverRequest {
            database: db.to_owned(),
            dry_run: false,
            force: false,
            reason: None,
            trigger: Some(alarm),
            dr_detection: None,
        }),
    })
}

fn worker(
    function: &Option<String>,
    field: &str,
    command: &Command,
) -> Result<String, WorkerError> {
    function.clone().ok_or_else(|| {
        WorkerError::InvalidCommand(format!(
            "`{}` is not deployed here: `functions.{field}` is not in the configuration",
            command.name()
        ))
    })
}

/// The message for a database name that is not in the configuration.
pub fn unknown_database(config: &Config, name: &str) -> String {
    let known = config.database_names();
    format!("unknown database `{name}`: the protected databases are {known:?}")
}
