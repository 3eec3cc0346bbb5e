//! Lambda entry point of `retention`: telemetry, configuration, SDK clients, then the runtime.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use pilotlight::aws::{load_sdk_config, Clients};
use pilotlight::Config;
use retention::{handle, Deps};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    pilotlight::init_telemetry();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let clients = Clients::new(&sdk, &config);
    let deps = Deps { config, clients };
    run(service_fn(|event: LambdaEvent<Value>| handle(&deps, event))).await
}
