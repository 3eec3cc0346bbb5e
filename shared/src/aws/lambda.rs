//! AWS Lambda: the router hands a command to a worker with `Invoke`, asynchronously (`Event`:
//! Lambda queues it, retries twice and dead-letters it on failure) or synchronously
//! (`RequestResponse`: the worker's result or error comes back).
//!
//! API reference: <https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html>.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;

use super::AwsError;
use crate::error::WorkerError;

/// Seconds a synchronous `Invoke` may take: a person's command waits for the worker, up to
/// Lambda's 900 s limit.
pub const SYNC_INVOKE_TIMEOUT_SECONDS: u64 = 900;

/// The router's Lambda client: the shared configuration with attempt and operation timeouts of
/// [`SYNC_INVOKE_TIMEOUT_SECONDS`]. `AWS_ENDPOINT_URL_LAMBDA` reaches `cargo lambda watch` locally.
pub fn client(sdk: &SdkConfig) -> aws_sdk_lambda::Client {
    let timeout = Duration::from_secs(SYNC_INVOKE_TIMEOUT_SECONDS);
    let config = aws_sdk_lambda::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        )
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

/// `Invoke` with `InvocationType=Event`; returns the HTTP status (202 when queued).
///
/// # Errors
/// [`AwsError`] when Lambda does not accept the invocation.
pub async fn invoke_async(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
) -> Result<i32, AwsError> {
    lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map(|out| out.status_code())
        .map_err(|e| AwsError::new("Invoke", e.into_service_error()))
}

/// `Invoke` with `InvocationType=RequestResponse`; returns the worker's JSON result, or its error.
///
/// # Errors
/// [`WorkerError::InvokeFailed`] when Lambda does not run it; [`WorkerError::Worker`] with the
/// worker's own `errorType` and `errorMessage` when the worker fails.
pub async fn invoke_sync(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
) -> Result<Value, WorkerError> {
    let out = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| WorkerError::InvokeFailed(AwsError::new("Invoke", e.into_service_error())))?;
    let body: Value = out
        .payload()
        .map(|b| {
            serde_json::from_slice(b.as_ref())
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b.as_ref()).into_owned()))
        })
        .unwrap_or(Value::Null);
    if let Some(kind) = out.function_error() {
        return Err(WorkerError::Worker {
            function: function.to_owned(),
            error_type: body["errorType"].as_str().unwrap_or(kind).to_owned(),
            message: body["errorMessage"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| body.to_string()),
        });
    }
    Ok(body)
}
