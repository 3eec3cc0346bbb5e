//! The `router` function: turns every trigger into a typed command and hands it to the worker
//! that runs it, with the Lambda `Invoke` API — asynchronously (`Event`) for alarms and events,
//! synchronously (`RequestResponse`) for a person's command, whose result it returns as is.
//!
//! Parsing and mapping are pure ([`pilotlight::plan::route`]); this module only executes the
//! routes ([`pilotlight::aws::lambda`]).

use lambda_runtime::LambdaEvent;
use pilotlight::aws::dynamodb::GateOutcome;
use pilotlight::aws::lambda::{invoke_async, invoke_sync};
use pilotlight::command::{Command, SnapshotCopyRequest};
use pilotlight::error::WorkerError;
use pilotlight::plan::route::{parse_trigger, route, Invocation, Route};
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
    /// The ledger table, for the snapshot-copy job's gate (coalescing RDS snapshot events).
    /// `None` (tests of routing alone): a coalesced route is invoked like an asynchronous one.
    pub ledger: Option<pilotlight::aws::dynamodb::Ledger>,
}

/// The job gate's lease for a snapshot-copy run: Lambda's 15-minute maximum plus a minute. A run
/// that dies frees the gate after this.
pub const GATE_SECONDS: i64 = 960;

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
/// A [`WorkerError`] naming what was wrong: an unrecognised event, an invalid command, an unknown
/// database or an alarm that maps to none (`UnknownDatabase`; the others in the same event are still
/// routed), a failed `Invoke`, or the worker's own error for a synchronous command.
pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, WorkerError> {
    let triggers =
        parse_trigger(&event.payload).inspect_err(|e| warn!(error = %e, "input rejected"))?;
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
                invocation: Invocation::Coalesced,
                command: Command::SnapshotCopy(request),
            }) if deps.ledger.is_some() => {
                let owner = format!("router/{}", event.context.request_id);
                let now = chrono::Utc::now();
                let gate = match &deps.ledger {
                    Some(ledger) => ledger
                        .gate_enter(
                            "snapshot-copy",
                            &owner,
                            now,
                            now + chrono::Duration::seconds(GATE_SECONDS),
                        )
                        .await
                        .map_err(|e| WorkerError::aws("the snapshot-copy gate failed", e))?,
                    None => GateOutcome::Entered,
                };
                let command = Command::SnapshotCopy(SnapshotCopyRequest {
                    gate: Some(owner),
                    ..request
                });
                match gate {
                    GateOutcome::Entered => {
                        info!(function = %function, "snapshot-copy gate entered: invoking");
                        let status = match invoke_async(&deps.lambda, &function, &json!(command))
                            .await
                        {
                            Ok(status) => status,
                            Err(e) => {
                                // no run behind the gate: give it up for the retry (or the next
                                // event) to enter
                                if let (Some(ledger), Command::SnapshotCopy(r)) =
                                    (&deps.ledger, &command)
                                {
                                    let owner = r.gate.as_deref().unwrap_or_default();
                                    if let Err(e) =
                                        ledger.gate_release("snapshot-copy", owner).await
                                    {
                                        warn!(error = %e, "the snapshot-copy gate could not be released: it expires by itself");
                                    }
                                }
                                return Err(WorkerError::InvokeFailed(e));
                            }
                        };
                        routed.push(Routed {
                            route: Route::Invoke {
                                function,
                                invocation: Invocation::Coalesced,
                                command,
                            },
                            status_code: Some(status),
                        });
                    }
                    GateOutcome::Queued { holder, until_ms } => {
                        let reason = format!(
                            "coalesced: run `{holder}` is in flight (gate until {until_ms} ms) and passes once more for this event"
                        );
                        info!(%reason, "snapshot-copy event coalesced");
                        routed.push(Routed {
                            route: Route::Ignore { reason },
                            status_code: None,
                        });
                    }
                }
            }
            Ok(Route::Invoke {
                function,
                invocation,
                command,
            }) => {
                info!(function = %function, command = command.name(), database = command.database().unwrap_or("*"), "invoking worker asynchronously");
                let status = invoke_async(&deps.lambda, &function, &json!(command))
                    .await
                    .map_err(WorkerError::InvokeFailed)?;
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
    match WorkerError::joined(errors) {
        Some(e) => Err(e),
        None => Ok(json!({ "routed": routed })),
    }
}
