//! The `router` function: turns every trigger into a typed command and hands it to the worker
//! that runs it, with the Lambda `Invoke` API — asynchronously (`Event`) for alarms and events,
//! synchronously (`RequestResponse`) for a person's command, whose result it returns as is.
//!
//! Parsing and mapping are pure ([`pilotlight::trigger`]); this module only executes the routes.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use lambda_runtime::{Diagnostic, LambdaEvent};
use pilotlight::aws::AwsError;
use pilotlight::trigger::{parse_trigger, route, Invocation, Route, TriggerError};
use pilotlight::Config;
use serde::Serialize;
use serde_json::{json, Value};
use tracing::{info, warn};

/// What the handler needs, built once in `main`.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The validated configuration.
    pub config: Config,
    /// Lambda client (reaches `cargo lambda watch` locally through `AWS_ENDPOINT_URL_LAMBDA`).
    pub lambda: aws_sdk_lambda::Client,
}

/// One trigger's fate, in the router's answer to an alarm or an event.
#[derive(Debug, Clone, Serialize)]
pub struct Routed {
    /// The route taken (`invoke` with the function and command, or `ignore` with the reason).
    #[serde(flatten)]
    pub route: Route,
    /// HTTP status of the `Invoke` call (202 for an accepted asynchronous invocation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
}

/// Lambda handler.
///
/// A manual command returns the worker's JSON result. Alarms and events return
/// `{"routed": [Routed, ...]}`.
///
/// # Errors
/// A [`Diagnostic`] naming what was wrong: an unrecognised event, an invalid command, an unknown
/// database or an alarm that maps to none (`UnknownDatabase`; the others in the same event are still
/// routed), a failed `Invoke`, or the worker's own error for a synchronous command.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let triggers = parse_trigger(&event.payload).map_err(trigger_error)?;
    let mut routed = Vec::new();
    let mut errors = Vec::new();
    for trigger in triggers {
        match route(&deps.config, trigger) {
            Ok(Route::Invoke {
                function,
                invocation: Invocation::Synchronous,
                command,
            }) => {
                info!(function = %function, command = command.name(), "invoking worker synchronously");
                return invoke_sync(&deps.lambda, &function, &json!(command)).await;
            }
            Ok(Route::Invoke {
                function,
                invocation,
                command,
            }) => {
                info!(function = %function, command = command.name(), database = command.database().unwrap_or("*"), "invoking worker asynchronously");
                let status = invoke_async(&deps.lambda, &function, &json!(command))
                    .await
                    .map_err(|e| pilotlight::diagnostic("InvokeFailed", e))?;
                routed.push(Routed {
                    route: Route::Invoke {
                        function,
                        invocation,
                        command,
                    },
                    status_code: Some(status),
                });
            }
            Ok(ignore @ Route::Ignore { .. }) => {
                if let Route::Ignore { reason } = &ignore {
                    info!(%reason, "trigger ignored");
                }
                routed.push(Routed {
                    route: ignore,
                    status_code: None,
                });
            }
            Err(e) => {
                warn!(error = %e, "trigger not routed");
                errors.push(e);
            }
        }
    }
    if let Some(first) = errors.first() {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(pilotlight::diagnostic(first.error_type(), all.join("; ")));
    }
    Ok(json!({ "routed": routed }))
}

fn trigger_error(e: TriggerError) -> Diagnostic {
    warn!(error = %e, "input rejected");
    pilotlight::diagnostic(e.error_type(), e)
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
/// `InvokeFailed` when Lambda does not run it; the worker's own `errorType` and `errorMessage`
/// when the worker fails.
pub async fn invoke_sync(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &Value,
) -> Result<Value, Diagnostic> {
    let out = lambda
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| {
            pilotlight::diagnostic(
                "InvokeFailed",
                AwsError::new("Invoke", e.into_service_error()),
            )
        })?;
    let body: Value = out
        .payload()
        .map(|b| {
            serde_json::from_slice(b.as_ref())
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b.as_ref()).into_owned()))
        })
        .unwrap_or(Value::Null);
    if let Some(kind) = out.function_error() {
        let error_type = body["errorType"].as_str().unwrap_or(kind).to_owned();
        let message = body["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string());
        return Err(pilotlight::diagnostic(
            &error_type,
            format!("`{function}` failed: {message}"),
        ));
    }
    Ok(body)
}
