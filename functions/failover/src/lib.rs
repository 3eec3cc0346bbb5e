//! The `failover` function: runs the `failover` and `status` commands.
//!
//! `failover` brings a protected database to "the DR replica is the writer and DNS points to it".
//! Every run reads the actual state first ([`observe`]), asks the pure
//! [`decide_failover`] what is still missing, and does only that ([`execute`]), so it is safe to
//! run any number of times, concurrently, or after a crash at any step.

mod execute;
mod report;

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use lambda_runtime::{Context, LambdaEvent};
use pilotlight::command::{parse_command, Command, FailoverRequest};
use pilotlight::config::{Config, ProtectedDatabase};
use pilotlight::error::WorkerError;
use pilotlight::observe::failover::observe;
use pilotlight::plan::failover::{awaiting_evidence, decide_failover, fence_state, Ask, Decision};
use pilotlight::plan::route::unknown_database;
use serde_json::Value;
use tracing::info;

pub use pilotlight::runtime::WorkerDeps as Deps;
pub use report::{
    FailoverReport, NotifyEvent, ObservedStatus, Outcome, RtoBreakdown, StatusEntry, StatusReport,
    StepRecord, Timeline,
};

use execute::Run;

/// Milliseconds kept from Lambda's own deadline to report and notify (at most; see [`time_left`]).
const REPORT_MARGIN_MS: i64 = 30_000;

/// Lambda handler: parse the command, run it, return its JSON report.
///
/// # Errors
/// [`WorkerError`]: an invalid command, an unknown database, a refusal or conflict found while
/// executing, a failed AWS call, or `FailoverInProgress` for an alarm's run at the deadline.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, WorkerError> {
    let command = parse_command(event.payload)?;
    info!(
        command = command.name(),
        database = command.database().unwrap_or("*"),
        "command received"
    );
    match command {
        Command::Status { database } => Ok(serde_json::to_value(
            status(deps, database.as_deref()).await?,
        )?),
        Command::Failover(request) => {
            let time_left = time_left(&event.context);
            let report = failover(deps, &request, Utc::now(), time_left).await?;
            if report.outcome == Outcome::InProgress && request.trigger.is_some() {
                // An alarm's invocation is asynchronous: failing it makes Lambda run it again
                // (twice, minutes apart), and that run finishes the job.
                return Err(WorkerError::FailoverInProgress(format!(
                    "failover of `{}` is still in progress at the deadline: Lambda's retry of this invocation finishes it",
                    request.database
                )));
            }
            Ok(serde_json::to_value(report)?)
        }
        other => Err(WorkerError::InvalidCommand(format!(
            "invalid command: this function runs `status` and `failover`, not `{}`",
            other.name()
        ))),
    }
}

/// Lambda's own deadline (`Context::deadline`, epoch milliseconds) minus a margin to report and
/// notify: [`REPORT_MARGIN_MS`], or a quarter of the time left when that is shorter (a function
/// deployed with a short timeout, or `cargo lambda watch`'s 30 s, still waits for a promotion);
/// `None` outside Lambda.
fn time_left(context: &Context) -> Option<Duration> {
    (context.deadline > 0).then(|| {
        let deadline = i64::try_from(context.deadline).unwrap_or(i64::MAX);
        let left_ms = deadline.saturating_sub(Utc::now().timestamp_millis());
        let margin = REPORT_MARGIN_MS.min(left_ms / 4);
        Duration::from_millis(u64::try_from(left_ms - margin).unwrap_or(0))
    })
}

fn database<'a>(config: &'a Config, name: &str) -> Result<&'a ProtectedDatabase, WorkerError> {
    config
        .database(name)
        .ok_or_else(|| WorkerError::UnknownDatabase(unknown_database(config, name)))
}

/// Run `status`: observe every protected database (or `only`), concurrently. Changes nothing.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`]; a database that cannot be read is an entry with its error.
pub async fn status(deps: &Deps, only: Option<&str>) -> Result<StatusReport, WorkerError> {
    let dbs: Vec<&ProtectedDatabase> = match only {
        Some(name) => vec![database(&deps.config, name)?],
        None => deps.config.databases.iter().collect(),
    };
    let now = Utc::now();
    let settings = &deps.config.failover;
    let observations = join_all(
        dbs.iter()
            .map(|db| observe(&deps.clients, settings, db, now, now)),
    )
    .await;
    Ok(StatusReport {
        databases: dbs
            .iter()
            .zip(observations)
            .map(|(db, o)| match o {
                Ok(o) => StatusEntry::Observed(Box::new(ObservedStatus {
                    fencing: fence_state(db, &o),
                    observation: o,
                })),
                Err(e) => StatusEntry::Unreadable {
                    database: db.name.clone(),
                    error: format!("failover of `{}` failed: {e}", db.name),
                },
            })
            .collect(),
    })
}

/// Run a failover request to its end state, or as far as the deadline allows: observe, decide,
/// then execute what the decision says.
///
/// # Errors
/// [`WorkerError::UnknownDatabase`] (nothing is called); [`WorkerError::Aws`] naming the call
/// that failed; [`WorkerError::Refused`] or [`WorkerError::Conflict`] when executing found it
/// unsafe to go on. A notification of the failure is published first.
pub async fn failover(
    deps: &Deps,
    req: &FailoverRequest,
    started: DateTime<Utc>,
    time_left: Option<Duration>,
) -> Result<FailoverReport, WorkerError> {
    let db = database(&deps.config, &req.database)?;
    let run_deadline = tokio::time::Instant::now()
        + time_left
            .unwrap_or(Duration::MAX / 4)
            .min(Duration::from_secs(deps.config.failover.deadline_seconds));
    let trigger_time = req.trigger.as_ref().and_then(|t| t.state_change_time);
    let lag_until = trigger_time.unwrap_or(started).min(started);
    let ask = Ask {
        force: req.force,
        automatic: req.trigger.is_some(),
        trigger_at: trigger_time,
    };
    let settings = &deps.config.failover;
    let evidence_until =
        tokio::time::Instant::now() + Duration::from_secs(settings.evidence_wait_seconds);
    let mut interval = Duration::from_millis(settings.poll_interval_ms);
    let mut first = true;
    let (obs, decision) = loop {
        let now = if first { started } else { Utc::now() };
        first = false;
        let obs = observe(&deps.clients, settings, db, now, lag_until)
            .await
            .map_err(|e| WorkerError::aws(format!("failover of `{}` failed", db.name), e))?;
        let decision = decide_failover(db, &obs, ask);
        // An alarm's run whose only gap is the evidence that replication stopped observes again
        // for a while: RDS reports a lost source late. A dry-run or a person's run answers now.
        let waiting = matches!(decision, Decision::Refused { .. })
            && ask.automatic
            && !req.dry_run
            && awaiting_evidence(db, &obs);
        let next = tokio::time::Instant::now() + interval;
        if !waiting || next > evidence_until || next > run_deadline {
            break (obs, decision);
        }
        info!(database = %db.name, "primary down, no evidence from the replica yet: observing again");
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(settings.max_poll_interval_ms));
    };
    info!(database = %db.name, decision = ?decision, "failover decision");
    let run = Run::new(deps, db, req, &obs, decision.clone(), started);
    match decision {
        Decision::AlreadyFailedOver => Ok(run.already_failed_over()),
        Decision::Refused { reasons } => Ok(run.refused(reasons).await),
        Decision::Proceed { steps, rpo, .. } => run.proceed(&steps, rpo, run_deadline).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left_with(deadline_in_ms: i64) -> Duration {
        let mut context = Context::default();
        context.deadline =
            u64::try_from(Utc::now().timestamp_millis() + deadline_in_ms).unwrap_or(0);
        time_left(&context).unwrap_or_default()
    }

    #[test]
    fn the_report_margin_is_30_s_or_a_quarter_of_a_short_timeout() {
        let long = left_with(900_000).as_millis();
        assert!((869_000..=870_000).contains(&long), "{long}");
        let short = left_with(30_000).as_millis();
        assert!((21_500..=22_500).contains(&short), "{short}");
        assert_eq!(left_with(-5_000), Duration::ZERO);
        assert_eq!(time_left(&Context::default()), None);
    }
}
