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
    let deps = Deps {
        config,
        lambda: aws_sdk_lambda::Client::new(&sdk),
    };
    run(service_fn(|event: LambdaEvent<Value>| handle(&deps, event))).await
}
