//! Lambda entry point of `router`: start-up (telemetry, configuration), the Lambda client, then
//! the runtime loop.

use pilotlight::{aws, runtime};
use router::Deps;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = runtime::start().await?;
    let lambda = aws::lambda::client(&sdk);
    let ledger = Some(aws::dynamodb::Ledger::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.ledger.table_name,
    ));
    runtime::serve(
        Deps {
            config,
            lambda,
            ledger,
        },
        router::handle,
    )
    .await
}
