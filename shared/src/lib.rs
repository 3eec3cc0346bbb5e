//! pilotlight's shared library: the configuration, the commands and how triggers become commands,
//! the pure failover decision, and the AWS adapters the functions use.
//!
//! The functions (`functions/<name>`) wire these into Lambda handlers; see the README for the
//! whole picture.

pub mod aws;
pub mod aws_snapshots;
pub mod command;
pub mod config;
pub mod decision;
pub mod metrics;
pub mod retention;
pub mod snapshot;
pub mod trigger;

pub use command::{AlarmTrigger, Command, FailoverRequest};
pub use config::Config;

/// Start the tracing subscriber Lambda's runtime provides: JSON lines when
/// `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (default INFO).
pub fn init_telemetry() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// A Lambda error with a stable `errorType` and a message naming what failed.
pub fn diagnostic(error_type: &str, message: impl std::fmt::Display) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: error_type.to_owned(),
        error_message: message.to_string(),
    }
}
