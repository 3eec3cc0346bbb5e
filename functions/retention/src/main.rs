//! Lambda entry point of `retention`: start-up (telemetry, configuration, SDK clients), then the
//! runtime loop.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = pilotlight::runtime::worker_deps().await?;
    pilotlight::runtime::serve(deps, retention::handle).await
}
