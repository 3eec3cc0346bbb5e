//! Lambda entry point of `router`: telemetry, configuration, the Lambda client, then the runtime.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use pilotlight::aws::load_sdk_config;
use pilotlight::Config;
use router::{handle, Deps};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pilotlight::init_telemetry();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    // A person's synchronous command waits for the worker, up to Lambda's 900 s limit.
    let lambda = aws_sdk_lambda::config::Builder::from(&sdk)
        .timeout_config(
            aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(900))
                .operation_timeout(std::time::Duration::from_secs(900))
                .build(),
        )
        .build();
    let deps = Deps {
        config,
        lambda: aws_sdk_lambda::Client::from_conf(lambda),
    };
    run(service_fn(|event: LambdaEvent<Value>| handle(&deps, event))).await
}
