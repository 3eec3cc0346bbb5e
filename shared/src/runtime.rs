//! Start-up shared by every function's `main.rs`: telemetry, the configuration (validated before
//! the runtime starts, so a bad one fails the init with the variable and field named), the SDK
//! configuration, and the Lambda runtime loop.
//!
//! Pattern: aws/aws-lambda-rust-runtime `examples/basic-sdk` (clients built once, outside the
//! handler).

use std::future::Future;

use aws_config::SdkConfig;
use lambda_runtime::{service_fn, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::aws::{load_sdk_config, Clients};
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
