//! The one error of pilotlight's functions, and its stable Lambda `errorType`s.
//!
//! A refusal or a dry-run is not an error: it is a report. An error tells the on-call which of
//! three things happened: the input was wrong (nothing was called that changes anything), pilotlight
//! refused to do something unsafe or found someone else's change (`Refused`, `Conflict`), or AWS
//! failed (`AwsCallFailed`, after the SDK's retries). The README's error table lists every
//! `errorType`; they are part of the public contract (alarms and subscription filters match them).

use lambda_runtime::Diagnostic;

use crate::aws::{AwsError, UnknownRegion};

/// Everything a function can fail with. Messages are lowercase and name values in backticks.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Not JSON of any shape the router accepts. `errorType` `UnrecognisedEvent`.
    #[error("unrecognised event: {0}")]
    UnrecognisedEvent(String),
    /// An SNS record whose message is not a CloudWatch alarm notification. `errorType` `NotAnAlarm`.
    #[error("{0}")]
    NotAnAlarm(String),
    /// The input is not a command this function runs, names a region pilotlight does not use, or
    /// a worker that is not deployed. `errorType` `InvalidCommand`.
    #[error("{0}")]
    InvalidCommand(String),
    /// A command names, or an alarm maps to, no protected database. `errorType` `UnknownDatabase`.
    #[error("{0}")]
    UnknownDatabase(String),
    /// pilotlight stopped rather than go on blindly: RDS refused a promotion
    /// (`InvalidDBInstanceState`) of a replica that is still an available read replica, so no
    /// promotion is under way and waiting for one would wait for nothing. `errorType` `Refused`.
    #[error("{0}")]
    Refused(String),
    /// Something pilotlight was changing was changed by someone else meanwhile (a DNS record
    /// repointed by a person during a failover); pilotlight does not overwrite it.
    /// `errorType` `Conflict`.
    #[error("{0}")]
    Conflict(String),
    /// An AWS call failed after the SDK's retries; `context` says what pilotlight was doing.
    /// `errorType` `AwsCallFailed`.
    #[error("{context}: {source}")]
    Aws {
        /// What failed, e.g. "failover of `orders` failed".
        context: String,
        /// The failed call.
        #[source]
        source: AwsError,
    },
    /// The reconcile pass could not advance one or more databases (each named with its error);
    /// the others were advanced. `errorType` `ReconcileFailed`.
    #[error("{0}")]
    ReconcileFailed(String),
    /// The router's `Invoke` of a worker failed. `errorType` `InvokeFailed`.
    #[error("{0}")]
    InvokeFailed(AwsError),
    /// A worker invoked synchronously by the router failed: its own `errorType` and message,
    /// passed through unchanged.
    #[error("`{function}` failed: {message}")]
    Worker {
        /// The worker function.
        function: String,
        /// The worker's `errorType`.
        error_type: String,
        /// The worker's `errorMessage`.
        message: String,
    },
    /// A report could not be serialized. `errorType` `Serialization`.
    #[error("{0}")]
    Serialization(String),
}

impl WorkerError {
    /// The stable `errorType` Lambda reports for this error.
    pub fn error_type(&self) -> &str {
        match self {
            Self::UnrecognisedEvent(_) => "UnrecognisedEvent",
            Self::NotAnAlarm(_) => "NotAnAlarm",
            Self::InvalidCommand(_) => "InvalidCommand",
            Self::UnknownDatabase(_) => "UnknownDatabase",
            Self::Refused(_) => "Refused",
            Self::Conflict(_) => "Conflict",
            Self::Aws { .. } => "AwsCallFailed",
            Self::ReconcileFailed(_) => "ReconcileFailed",
            Self::InvokeFailed(_) => "InvokeFailed",
            Self::Worker { error_type, .. } => error_type,
            Self::Serialization(_) => "Serialization",
        }
    }

    /// The error as a failed run's report states it (`reasons`): an AWS failure without the
    /// context the report already gives, anything else as displayed.
    pub fn reason(&self) -> String {
        match self {
            Self::Aws { source, .. } => source.to_string(),
            other => other.to_string(),
        }
    }

    /// An AWS failure while doing `context`.
    pub fn aws(context: impl Into<String>, source: AwsError) -> Self {
        Self::Aws {
            context: context.into(),
            source,
        }
    }

    /// Several errors of one input (an SNS event with several records) as one: the first one's
    /// `errorType`, every message. `None` when there is none.
    pub fn joined(errors: Vec<WorkerError>) -> Option<WorkerError> {
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let first = errors.into_iter().next()?;
        Some(match first {
            Self::NotAnAlarm(_) => Self::NotAnAlarm(message),
            Self::InvalidCommand(_) => Self::InvalidCommand(message),
            Self::UnknownDatabase(_) => Self::UnknownDatabase(message),
            other => other,
        })
    }
}

impl From<UnknownRegion> for WorkerError {
    fn from(e: UnknownRegion) -> Self {
        Self::InvalidCommand(e.to_string())
    }
}

impl From<serde_json::Error> for WorkerError {
    fn from(e: serde_json::Error) -> Self {
        Self::Serialization(e.to_string())
    }
}

impl From<WorkerError> for Diagnostic {
    fn from(e: WorkerError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_safety_refusal_and_a_conflict_are_not_reported_as_aws_failures() {
        let aws = WorkerError::aws(
            "failover of `orders` failed",
            AwsError::unusable("PromoteReadReplica", "boom".into()),
        );
        let cases = [
            (WorkerError::Refused("r".into()), "Refused"),
            (WorkerError::Conflict("c".into()), "Conflict"),
            (aws, "AwsCallFailed"),
            (
                WorkerError::from(UnknownRegion {
                    service: "rds",
                    region: "eu-north-1".into(),
                }),
                "InvalidCommand",
            ),
        ];
        for (error, expected) in cases {
            let message = error.to_string();
            let d = Diagnostic::from(error);
            assert_eq!(d.error_type, expected);
            assert_eq!(d.error_message, message);
        }
    }

    #[test]
    fn several_routing_errors_keep_the_first_type_and_every_message() {
        let joined = WorkerError::joined(vec![
            WorkerError::UnknownDatabase("a".into()),
            WorkerError::InvalidCommand("b".into()),
        ]);
        let d = joined.map(Diagnostic::from);
        assert_eq!(
            d.as_ref().map(|d| d.error_type.as_str()),
            Some("UnknownDatabase")
        );
        assert_eq!(d.map(|d| d.error_message), Some("a; b".to_owned()));
    }
}
