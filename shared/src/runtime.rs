//! Start-up shared by every function's `main.rs`: telemetry, the configuration (validated before
//! the runtime starts, so a bad one fails the init with the variable and field named), the SDK
//! configuration, and the Lambda runtime loop.
//!
//! Pattern: aws/aws-lambda-rust-runtime `examples/basic-sdk` (clients built once, outside the
//! handler).

use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use lambda_runtime::{service_fn, Context, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::aws::{load_sdk_config, Clients, OPERATION_TIMEOUT_SECONDS};
use crate::config::Config;
use crate::error::WorkerError;

/// What a worker's handler needs (`failover`, `snapshot-copy`, `retention`), built once per
/// process.
#[derive(Debug, Clone)]
pub struct WorkerDeps {
    /// The validated configuration.
    pub config: Config,
    /// SDK clients per service and region.
    pub clients: Clients,
}

impl WorkerDeps {
    /// Publish a scheduled job's alerts (`job`: `snapshot-copy`, `retention`) to the notification
    /// topic with [`crate::aws::sns::publish_alert`]; why they could not be published, if so.
    pub async fn alert(&self, job: &str, alerts: &[String], summary: Value) -> Option<String> {
        let topic = &self.config.notifications.topic_arn;
        crate::aws::sns::publish_alert(&self.clients.sns, topic, job, alerts, summary)
            .await
            .err()
            .map(|e| e.to_string())
    }
}

/// Milliseconds every run keeps from Lambda's own deadline for its last AWS call, its record and
/// its notification (at most; see [`time_left`]): the SDK's operation timeout
/// ([`OPERATION_TIMEOUT_SECONDS`], 90 s: the slowest a call started just before the run's own
/// deadline can take) plus 15 s.
pub const REPORT_MARGIN_MS: i64 = (OPERATION_TIMEOUT_SECONDS as i64 + 15) * 1000;

/// Seconds a run gets when its deadline has already passed at the start (see [`time_left`]).
pub const PAST_DEADLINE_BUDGET_SECONDS: u64 = 60;

/// The time a run may spend starting work: Lambda's deadline (`Context::deadline`, epoch
/// milliseconds) minus [`REPORT_MARGIN_MS`], or minus a quarter of the time left when that is
/// shorter (a function deployed with a short timeout, or `cargo lambda watch`'s 30 s); `None`
/// outside Lambda.
///
/// A deadline already past when the invocation starts is no deadline Lambda gives (it is a
/// runtime emulator's, e.g. `cargo lambda watch`'s, or a skewed clock): it is logged and the run
/// gets [`PAST_DEADLINE_BUDGET_SECONDS`], bounded, so it still does some work and reports.
pub fn time_left(context: &Context) -> Option<Duration> {
    if context.deadline == 0 {
        return None;
    }
    let deadline = i64::try_from(context.deadline).unwrap_or(i64::MAX);
    let left_ms = deadline.saturating_sub(chrono::Utc::now().timestamp_millis());
    if left_ms <= 0 {
        tracing::warn!(
            deadline_ms = deadline,
            "the invocation's deadline has passed before it started: not a Lambda deadline, the run gets {PAST_DEADLINE_BUDGET_SECONDS} s"
        );
        return Some(Duration::from_secs(PAST_DEADLINE_BUDGET_SECONDS));
    }
    let margin = REPORT_MARGIN_MS.min(left_ms / 4);
    Some(Duration::from_millis(
        u64::try_from(left_ms - margin).unwrap_or(0),
    ))
}

/// [`time_left`] as an instant: no new AWS call that changes something starts after it (the
/// work left is reported, and the next run does it).
pub fn work_deadline(context: &Context) -> Option<tokio::time::Instant> {
    time_left(context).map(|d| tokio::time::Instant::now() + d)
}

/// The work deadline has passed.
pub fn past(deadline: Option<tokio::time::Instant>) -> bool {
    deadline.is_some_and(|d| tokio::time::Instant::now() >= d)
}

/// Start the tracing subscriber Lambda's runtime provides: JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO).
pub fn init_telemetry() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Telemetry, then the configuration from `PILOTLIGHT_CONFIG`, then the SDK configuration.
///
/// # Errors
/// [`crate::config::ConfigError`] naming the variable and the field.
pub async fn start() -> Result<(Config, SdkConfig), lambda_runtime::Error> {
    init_telemetry();
    let config = Config::from_env()?;
    Ok((config, load_sdk_config().await))
}

/// [`start`], then a worker's clients.
///
/// # Errors
/// As [`start`].
pub async fn worker_deps() -> Result<WorkerDeps, lambda_runtime::Error> {
    let (config, sdk) = start().await?;
    let clients = Clients::new(&sdk, &config);
    Ok(WorkerDeps { config, clients })
}

/// Run the Lambda runtime loop with `handler(deps, event)` for every invocation. `deps` live as
/// long as the process (one per Lambda execution environment).
///
/// # Errors
/// When the runtime API cannot be reached.
pub async fn serve<D, F, Fut, R>(deps: D, handler: F) -> Result<(), lambda_runtime::Error>
where
    D: Send + Sync + 'static,
    F: Fn(&'static D, LambdaEvent<Value>) -> Fut,
    Fut: Future<Output = Result<R, WorkerError>>,
    R: Serialize,
{
    let deps: &'static D = Box::leak(Box::new(deps));
    lambda_runtime::run(service_fn(move |event| handler(deps, event))).await
}
