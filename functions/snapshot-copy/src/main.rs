//! Lambda entry point of `snapshot-copy`: start-up (telemetry, configuration, SDK clients), then
//! the runtime loop.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = pilotlight::runtime::worker_deps().await?;
    pilotlight::runtime::serve(deps, snapshot_copy::handle).await
}
