//! `notifications` (the SNS topic) and `functions` (the workers the router invokes).

use serde::{Deserialize, Serialize};

use super::names::TopicArn;
use super::{invalid, ConfigError};

/// Notification settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// ARN of the SNS topic that receives every decision, refusal, failure and result.
    pub topic_arn: TopicArn,
}

/// Names or ARNs of the worker functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerFunctions {
    /// The function that runs `failover` and `status`.
    pub failover: String,
    /// The function that runs `snapshot-copy`; absent when not deployed.
    #[serde(default)]
    pub snapshot_copy: Option<String>,
    /// The function that runs `retention`; absent when not deployed.
    #[serde(default)]
    pub retention: Option<String>,
}

/// Check `functions`: the failover worker must be named.
pub(super) fn validate(functions: &WorkerFunctions) -> Result<(), ConfigError> {
    if functions.failover.is_empty() {
        return Err(invalid("functions.failover", "must not be empty"));
    }
    Ok(())
}
