//! The `failover` function: runs the `failover` and `status` commands.
//!
//! `failover` brings a protected database to "the DR replica is the writer and DNS points to it".
//! Every run reads the actual state first ([`observe`]), asks the pure
//! [`decide`](pilotlight::decision::decide) what is still missing, and does only that, so it is safe
//! to run any number of times, concurrently, or after a crash at any step.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use lambda_runtime::{Diagnostic, LambdaEvent};
use pilotlight::aws::{self, AwsError, Clients, PromoteOutcome, RecordChange};
use pilotlight::command::{parse_command, AlarmTrigger, Command, FailoverRequest};
use pilotlight::config::{Config, ProtectedDatabase};
use pilotlight::decision::{
    decide, Ask, Decision, InstanceState, Observation, PlannedStep, RecordState,
};
use pilotlight::trigger::unknown_database;
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info, warn};

/// What the handler needs, built once in `main`.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The validated configuration.
    pub config: Config,
    /// SDK clients per region.
    pub clients: Clients,
}

/// Errors of the failover function. A refusal or a dry-run is not an error: it is a report.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// The input is not a command this function runs.
    #[error("{0}")]
    InvalidCommand(String),
    /// The command names no protected database.
    #[error("{0}")]
    UnknownDatabase(String),
    /// An AWS call failed after the SDK's retries; the message names the call.
    #[error("failover of `{database}` failed: {source}")]
    Aws {
        /// The database being failed over (or observed).
        database: String,
        /// The failed call.
        #[source]
        source: AwsError,
    },
}

impl From<FailoverError> for Diagnostic {
    fn from(e: FailoverError) -> Self {
        let error_type = match &e {
            FailoverError::InvalidCommand(_) => "InvalidCommand",
            FailoverError::UnknownDatabase(_) => "UnknownDatabase",
            FailoverError::Aws { .. } => "AwsCallFailed",
        };
        pilotlight::diagnostic(error_type, e)
    }
}

/// Result of a failover run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This run finished the failover: the replica is the writer, DNS points to it and is in sync.
    FailedOver,
    /// Nothing was left to do.
    AlreadyFailedOver,
    /// The checks said no; see `reasons`.
    Refused,
    /// The deadline passed while waiting; the next run finishes the job.
    InProgress,
    /// Checks run, plan returned, nothing changed.
    DryRun,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::FailedOver => "failed_over",
            Outcome::AlreadyFailedOver => "already_failed_over",
            Outcome::Refused => "refused",
            Outcome::InProgress => "in_progress",
            Outcome::DryRun => "dry_run",
        }
    }
}

/// The moments that make up RTO, all UTC.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    /// The alarm's state change to `ALARM` (from the event, the alarm, or the replica's tag).
    pub alarm_at: Option<DateTime<Utc>>,
    /// When this run decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// When `PromoteReadReplica` was issued (by this run or, from the replica's tag, an earlier one).
    pub promote_issued_at: Option<DateTime<Utc>>,
    /// When the promoted instance was seen `available` and standalone.
    pub promote_done_at: Option<DateTime<Utc>>,
    /// When every record pointed at it and was `INSYNC`.
    pub dns_in_sync_at: Option<DateTime<Utc>>,
}

/// One step this run took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    /// `promote`, `wait_for_promotion`, `update_record`, `notify`.
    pub step: String,
    /// When it finished (UTC).
    pub at: DateTime<Utc>,
    /// What happened.
    pub detail: String,
}

/// The JSON report of a failover run (also the SNS message body).
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    /// The database.
    pub database: String,
    /// The outcome.
    pub outcome: Outcome,
    /// Whether this was a dry-run.
    pub dry_run: bool,
    /// Whether a person forced it.
    pub force: bool,
    /// A person's reason, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The alarm that asked, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<AlarmTrigger>,
    /// The decision and its plan (the steps it takes, or took).
    pub decision: Decision,
    /// Why it was refused (empty otherwise).
    pub reasons: Vec<String>,
    /// Steps taken by this run, in order.
    pub steps: Vec<StepRecord>,
    /// The timeline.
    pub timeline: Timeline,
    /// Recovery time in seconds: alarm state change to DNS in sync.
    pub rto_seconds: Option<f64>,
    /// Recovery point estimate in seconds: replica lag at the promotion decision.
    pub rpo_seconds: Option<f64>,
    /// The endpoint DNS points to after this run, when known.
    pub writer_endpoint: Option<String>,
    /// Notifications that could not be published (the failover itself is unaffected).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

/// The `status` report.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// One observation per protected database (or the one asked for).
    pub databases: Vec<StatusEntry>,
}

/// A database's status, or why it could not be read (one unreachable region does not hide the
/// other databases).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum StatusEntry {
    /// What was observed.
    Observed(Box<Observation>),
    /// The replica or a record could not be read.
    Unreadable {
        /// The database.
        database: String,
        /// The error.
        error: String,
    },
}

/// Lambda handler: parse the command, run it, return its JSON report.
///
/// # Errors
/// A [`Diagnostic`] for an invalid command, an unknown database or a failed AWS call.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let command =
        parse_command(event.payload).map_err(|e| FailoverError::InvalidCommand(e.to_string()))?;
    info!(
        command = command.name(),
        database = command.database().unwrap_or("*"),
        "command received"
    );
    let value = match command {
        Command::Status { database } => {
            serde_json::to_value(status(deps, database.as_deref()).await?)
        }
        Command::Failover(request) => {
            // Lambda's own deadline, minus a margin to report and notify.
            let time_left = (event.context.deadline > 0).then(|| {
                let deadline = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
                let left_ms = deadline.saturating_sub(Utc::now().timestamp_millis()) - 30_000;
                Duration::from_millis(u64::try_from(left_ms).unwrap_or(0))
            });
            let report = failover(deps, &request, Utc::now(), time_left).await?;
            if report.outcome == Outcome::InProgress && request.trigger.is_some() {
                // An alarm's invocation is asynchronous: failing it makes Lambda run it again
                // (twice, minutes apart), and that run finishes the job.
                return Err(pilotlight::diagnostic(
                    "FailoverInProgress",
                    format!(
                        "failover of `{}` is still in progress at the deadline: Lambda's retry of this invocation finishes it",
                        request.database
                    ),
                ));
            }
            serde_json::to_value(report)
        }
        other => {
            return Err(FailoverError::InvalidCommand(format!(
                "invalid command: this function runs `status` and `failover`, not `{}`",
                other.name()
            ))
            .into())
        }
    };
    value.map_err(|e| pilotlight::diagnostic("Serialization", e))
}

fn database<'a>(config: &'a Config, name: &str) -> Result<&'a ProtectedDatabase, FailoverError> {
    config
        .database(name)
        .ok_or_else(|| FailoverError::UnknownDatabase(unknown_database(config, name)))
}

/// Run `status`: observe every protected database (or `only`), concurrently. Changes nothing.
///
/// # Errors
/// [`FailoverError::UnknownDatabase`]; a database that cannot be read is an entry with its error.
pub async fn status(deps: &Deps, only: Option<&str>) -> Result<StatusReport, FailoverError> {
    let dbs: Vec<&ProtectedDatabase> = match only {
        Some(name) => vec![database(&deps.config, name)?],
        None => deps.config.databases.iter().collect(),
    };
    let now = Utc::now();
    let observations = join_all(dbs.iter().map(|db| observe(deps, db, now, now))).await;
    Ok(StatusReport {
        databases: dbs
            .iter()
            .zip(observations)
            .map(|(db, o)| match o {
                Ok(o) => StatusEntry::Observed(Box::new(o)),
                Err(e) => StatusEntry::Unreadable {
                    database: db.name.clone(),
                    error: e.to_string(),
                },
            })
            .collect(),
    })
}

/// Read the actual state of a protected database: primary and replica (`DescribeDBInstances`),
/// replica lag at `lag_until` (`GetMetricStatistics`; the alarm's time for a failover), alarms (`DescribeAlarms`), health check
/// (`GetHealthCheckStatus`) and records (`ListResourceRecordSets`), all concurrently.
///
/// The primary's region may be the one that is down, so a primary that cannot be read is
/// recorded, not an error; so is an alarm, a health check or a lag that cannot be read (the
/// decision treats unknown as "not proven").
///
/// # Errors
/// [`FailoverError::Aws`] when the replica or a record cannot be read.
pub async fn observe(
    deps: &Deps,
    db: &ProtectedDatabase,
    now: DateTime<Utc>,
    lag_until: DateTime<Utc>,
) -> Result<Observation, FailoverError> {
    let c = &deps.clients;
    let aws_err = |source| FailoverError::Aws {
        database: db.name.clone(),
        source,
    };
    let primary = async {
        match c.rds(&db.primary.region) {
            Ok(rds) => aws::describe_instance(rds, &db.primary.instance_id)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    let replica =
        async { aws::describe_instance(c.rds(&db.replica.region)?, &db.replica.instance_id).await };
    let lag = async {
        let lookback = Duration::from_secs(deps.config.failover.lag_lookback_seconds);
        match c.cloudwatch(&db.replica.region) {
            Ok(cw) => aws::replica_lag(cw, &db.replica.instance_id, lag_until, lookback).await,
            Err(e) => Err(e),
        }
        .unwrap_or_else(|e| {
            warn!(database = %db.name, error = %e, "replica lag unknown");
            None
        })
    };
    let alarms = async {
        let mut regions: Vec<&str> = db.alarms.iter().map(|a| a.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        let per_region = join_all(regions.into_iter().map(|region| async move {
            let names: Vec<String> = db
                .alarms
                .iter()
                .filter(|a| a.region == region)
                .map(|a| a.name.clone())
                .collect();
            let result = match c.cloudwatch(region) {
                Ok(cw) => aws::alarm_states(cw, &names).await,
                Err(e) => Err(e),
            };
            result.unwrap_or_else(|e| {
                names
                    .iter()
                    .map(|n| pilotlight::decision::AlarmState {
                        name: n.clone(),
                        state: None,
                        updated_at: None,
                        error: Some(e.to_string()),
                    })
                    .collect()
            })
        }))
        .await;
        per_region.into_iter().flatten().collect::<Vec<_>>()
    };
    let health_check = async {
        match &db.health_check_id {
            Some(id) => Some(
                aws::health_check_status(&c.route53, id)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            None => None,
        }
    };
    let records = async {
        join_all(db.records.iter().map(|r| aws::record_state(&c.route53, r)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
    };
    let (primary, replica, replica_lag_seconds, alarms, health_check, records) =
        futures::join!(primary, replica, lag, alarms, health_check, records);
    Ok(Observation {
        database: db.name.clone(),
        observed_at: now,
        primary,
        replica: replica.map_err(aws_err)?,
        replica_lag_seconds,
        alarms,
        health_check,
        records: records.map_err(aws_err)?,
    })
}

/// Run a failover request to its end state, or as far as the deadline allows.
///
/// # Errors
/// [`FailoverError::UnknownDatabase`] (nothing is called), or [`FailoverError::Aws`] naming the
/// call that failed; a notification of the failure is published first.
pub async fn failover(
    deps: &Deps,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    time_left: Option<Duration>,
) -> Result<FailoverReport, FailoverError> {
    let db = database(&deps.config, &req.database)?;
    let run_deadline = tokio::time::Instant::now()
        + time_left
            .unwrap_or(Duration::MAX / 4)
            .min(Duration::from_secs(deps.config.failover.deadline_seconds));
    let trigger_time = req.trigger.as_ref().and_then(|t| t.state_change_time);
    let obs = observe(
        deps,
        db,
        started,
        trigger_time.unwrap_or(started).min(started),
    )
    .await?;
    let ask = Ask {
        force: req.force,
        automatic: req.trigger.is_some(),
    };
    let decision = decide(db, &obs, ask);
    info!(database = %db.name, decision = ?decision, "failover decision");
    // The first run's alarm (tagged on the replica) is where the RTO starts, whichever run finishes.
    let alarm_at = obs
        .replica
        .as_ref()
        .and_then(|r| r.alarm_at)
        .or(trigger_time)
        .or_else(|| {
            obs.alarms
                .iter()
                .filter(|a| a.state.as_deref() == Some("ALARM"))
                .filter_map(|a| a.updated_at)
                .min()
        });
    let mut run = Run {
        deps,
        db,
        report: FailoverReport {
            database: db.name.clone(),
            outcome: Outcome::InProgress,
            dry_run: req.dry_run,
            force: req.force,
            reason: req.reason.clone(),
            trigger: req.trigger.clone(),
            decision: decision.clone(),
            reasons: vec![],
            steps: vec![],
            timeline: Timeline {
                alarm_at,
                decided_at: Some(Utc::now()),
                promote_issued_at: obs.replica.as_ref().and_then(|r| r.promotion_started_at),
                ..Timeline::default()
            },
            rto_seconds: None,
            rpo_seconds: None,
            writer_endpoint: None,
            notification_errors: vec![],
        },
    };
    match decision {
        Decision::AlreadyFailedOver => {
            let r = &mut run.report;
            r.outcome = Outcome::AlreadyFailedOver;
            r.writer_endpoint = obs.replica.as_ref().and_then(|i| i.endpoint.clone());
            r.rpo_seconds = obs
                .replica
                .as_ref()
                .and_then(|i| i.lag_at_promotion_seconds);
            Ok(run.report)
        }
        Decision::Refused { reasons } => {
            run.report.outcome = Outcome::Refused;
            run.report.reasons = reasons;
            if !req.dry_run {
                run.notify("refused").await;
            }
            Ok(run.report)
        }
        Decision::Proceed {
            steps, rpo_seconds, ..
        } => {
            run.report.rpo_seconds = rpo_seconds;
            if req.dry_run {
                run.report.outcome = Outcome::DryRun;
                return Ok(run.report);
            }
            run.notify("decision").await;
            match run
                .execute(&steps, obs.replica.as_ref(), &obs.records, run_deadline)
                .await
            {
                Ok(outcome) => {
                    run.report.outcome = outcome;
                    if outcome == Outcome::FailedOver {
                        let dims = [("Database", db.name.as_str())];
                        pilotlight::metrics::emit("FailoverCount", 1.0, "Count", &dims);
                        if let Some(rto) = run.report.rto_seconds {
                            pilotlight::metrics::emit("FailoverRTOSeconds", rto, "Seconds", &dims);
                        }
                    }
                    run.notify("result").await;
                    Ok(run.report)
                }
                Err(source) => {
                    error!(database = %db.name, error = %source, "failover failed");
                    run.report.reasons = vec![source.to_string()];
                    run.notify("failed").await;
                    Err(FailoverError::Aws {
                        database: db.name.clone(),
                        source,
                    })
                }
            }
        }
    }
}

struct Run<'a> {
    deps: &'a Deps,
    db: &'a ProtectedDatabase,
    report: FailoverReport,
}

impl Run<'_> {
    fn record(&mut self, step: &str, detail: String) {
        info!(database = %self.db.name, step, %detail, "failover step");
        self.report.steps.push(StepRecord {
            step: step.to_owned(),
            at: Utc::now(),
            detail,
        });
    }

    /// Run the planned steps. Returns `InProgress` when the deadline passes first.
    async fn execute(
        &mut self,
        steps: &[PlannedStep],
        replica: Option<&InstanceState>,
        observed_records: &[RecordState],
        deadline: tokio::time::Instant,
    ) -> Result<Outcome, AwsError> {
        let clients = &self.deps.clients;
        let rds = clients.rds(&self.db.replica.region)?;
        let mut endpoint = replica
            .filter(|r| r.replica_source.is_none() && r.status == "available")
            .and_then(|r| r.endpoint.clone());
        let mut changes = Vec::new();
        for step in steps {
            match step {
                PlannedStep::Promote { instance_id, .. } => {
                    let decided = self.report.timeline.decided_at.unwrap_or_else(Utc::now);
                    if let Some(arn) = replica.and_then(|r| r.arn.as_deref()) {
                        aws::tag_promotion(
                            rds,
                            arn,
                            decided,
                            self.report.timeline.alarm_at,
                            self.report.rpo_seconds,
                        )
                        .await?;
                    }
                    let outcome = aws::promote(rds, instance_id).await?;
                    if outcome == PromoteOutcome::AlreadyPromoting {
                        // InvalidDBInstanceState also means "busy" (backing-up, modifying): only
                        // go on when the instance really is no longer a plain available replica.
                        let now = aws::describe_instance(rds, instance_id).await?;
                        if now
                            .is_some_and(|i| i.replica_source.is_some() && i.status == "available")
                        {
                            return Err(AwsError {
                                operation: "PromoteReadReplica",
                                message: format!(
                                    "`{instance_id}` refused the promotion (InvalidDBInstanceState) but is still an available read replica: retry"
                                ),
                            });
                        }
                    }
                    self.report.timeline.promote_issued_at = Some(Utc::now());
                    let detail = match outcome {
                        PromoteOutcome::Started => {
                            format!("PromoteReadReplica accepted for `{instance_id}`")
                        }
                        PromoteOutcome::AlreadyPromoting => {
                            format!("`{instance_id}` is already being promoted (InvalidDBInstanceState): going on")
                        }
                    };
                    self.record("promote", detail);
                }
                PlannedStep::WaitForPromotion { instance_id, .. } => {
                    match self.wait_for_promotion(rds, instance_id, deadline).await? {
                        Some(promoted) => {
                            endpoint = promoted.endpoint.clone();
                            self.report.timeline.promote_done_at = Some(Utc::now());
                            self.record(
                                "wait_for_promotion",
                                format!(
                                    "`{instance_id}` is available and standalone at `{}`",
                                    endpoint.as_deref().unwrap_or("?")
                                ),
                            );
                        }
                        None => {
                            self.record(
                                "wait_for_promotion",
                                format!(
                                    "deadline reached: `{instance_id}` is still being promoted"
                                ),
                            );
                            return Ok(Outcome::InProgress);
                        }
                    }
                }
                PlannedStep::UpdateRecord {
                    hosted_zone_id,
                    name,
                    ..
                } => {
                    let Some(target) = endpoint.clone() else {
                        return Err(AwsError {
                            operation: "DescribeDBInstances",
                            message: "the promoted instance reports no endpoint".into(),
                        });
                    };
                    let Some(observed) = observed_records
                        .iter()
                        .find(|r| &r.record.fqdn() == name && r.record.zone_id() == hosted_zone_id)
                    else {
                        continue;
                    };
                    if let Some(change) = self.update_record(observed, &target).await? {
                        changes.push(change);
                    }
                }
            }
        }
        self.report.writer_endpoint = endpoint;
        for change in &changes {
            let mut interval = Duration::from_millis(self.deps.config.failover.poll_interval_ms);
            while !aws::change_in_sync(&clients.route53, change).await? {
                if tokio::time::Instant::now() + interval > deadline {
                    self.record(
                        "dns_in_sync",
                        format!("deadline reached: change `{change}` is still PENDING"),
                    );
                    return Ok(Outcome::InProgress);
                }
                tokio::time::sleep(interval).await;
                interval = self.next_interval(interval);
            }
        }
        let now = Utc::now();
        self.report.timeline.dns_in_sync_at = Some(now);
        if let Some(arn) = replica.and_then(|r| r.arn.as_deref()) {
            aws::tag_completed(rds, arn, now).await?;
        }
        self.record(
            "dns_in_sync",
            format!("{} record change(s) INSYNC", changes.len()),
        );
        self.report.rto_seconds = self
            .report
            .timeline
            .alarm_at
            .map(|a| (now - a).num_milliseconds() as f64 / 1000.0);
        Ok(Outcome::FailedOver)
    }

    fn next_interval(&self, interval: Duration) -> Duration {
        (interval * 2).min(Duration::from_millis(
            self.deps.config.failover.max_poll_interval_ms,
        ))
    }

    /// Poll `DescribeDBInstances` with exponential backoff until the instance is available and
    /// standalone; `None` at the deadline.
    async fn wait_for_promotion(
        &self,
        rds: &aws_sdk_rds::Client,
        instance_id: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Option<InstanceState>, AwsError> {
        let mut interval = Duration::from_millis(self.deps.config.failover.poll_interval_ms);
        loop {
            let state = aws::describe_instance(rds, instance_id)
                .await?
                .ok_or_else(|| AwsError {
                    operation: "DescribeDBInstances",
                    message: format!("`{instance_id}` disappeared while being promoted"),
                })?;
            if state.status == "available"
                && state.replica_source.is_none()
                && state.endpoint.is_some()
            {
                return Ok(Some(state));
            }
            if tokio::time::Instant::now() + interval > deadline {
                return Ok(None);
            }
            tokio::time::sleep(interval).await;
            interval = self.next_interval(interval);
        }
    }

    /// Compare-and-swap the record to `target`, from the values observed at the start of the
    /// run. On a conflict, re-read it: pointing to `target` means a concurrent run did it; any
    /// other value means someone changed it during the failover, and pilotlight does not
    /// overwrite a person's change. Returns the change to wait for, if any.
    async fn update_record(
        &mut self,
        observed: &RecordState,
        target: &str,
    ) -> Result<Option<String>, AwsError> {
        let r53 = &self.deps.clients.route53;
        let record = &observed.record;
        if observed.points_to(target) {
            self.record(
                "update_record",
                format!("`{}` already points to `{target}`", record.fqdn()),
            );
            return Ok(None);
        }
        let comment = format!("pilotlight failover of {}", self.db.name);
        match aws::change_record(r53, observed, target, &comment).await? {
            RecordChange::Submitted(id) => {
                self.record(
                    "update_record",
                    format!(
                        "`{}` {:?} -> `{target}` (change `{id}`)",
                        record.fqdn(),
                        observed.values
                    ),
                );
                Ok(Some(id))
            }
            RecordChange::Conflict => {
                let current = aws::record_state(r53, record).await?;
                if current.points_to(target) {
                    self.record(
                        "update_record",
                        format!(
                            "`{}` was pointed to `{target}` by a concurrent run",
                            record.fqdn()
                        ),
                    );
                    return Ok(None);
                }
                Err(AwsError {
                    operation: "ChangeResourceRecordSets",
                    message: format!(
                        "`{}` changed during the failover from {:?} to {:?}: not overwriting it",
                        record.fqdn(),
                        observed.values,
                        current.values
                    ),
                })
            }
        }
    }

    /// Publish the report; a failure to publish is recorded, never fatal.
    async fn notify(&mut self, event: &str) {
        let r = &self.report;
        let outcome = if event == "failed" {
            "failed"
        } else {
            r.outcome.as_str()
        };
        let subject = format!(
            "pilotlight {}: {} ({})",
            self.db.name,
            outcome,
            match (event, r.rto_seconds, r.rpo_seconds) {
                ("decision", _, rpo) => format!("failover started, RPO {}", secs(rpo)),
                (_, rto, rpo) => format!("RTO {}, RPO {}", secs(rto), secs(rpo)),
            }
        );
        let message = serde_json::json!({ "event": event, "report": r }).to_string();
        let topic = &self.deps.config.notifications.topic_arn;
        let attrs = [
            ("database", self.db.name.as_str()),
            ("outcome", outcome),
            ("event", event),
        ];
        match aws::publish(&self.deps.clients.sns, topic, &subject, &message, &attrs).await {
            Ok(()) => self.record("notify", format!("{event}: {subject}")),
            Err(e) => self.report.notification_errors.push(e.to_string()),
        }
    }
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.0} s"))
        .unwrap_or_else(|| "unknown".into())
}
