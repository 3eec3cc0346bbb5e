//! Lambda entry point of `router`: start-up (telemetry, configuration), the Lambda client, then
//! the runtime loop.

use pilotlight::{aws, runtime};
use router::Deps;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = runtime::start().await?;
    let lambda = aws::lambda::client(&sdk);
    runtime::serve(Deps { config, lambda }, router::handle).await
}
