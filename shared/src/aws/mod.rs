//! AWS adapters, one file per service: [`rds`], [`route53`], [`cloudwatch`], [`sns`], [`lambda`],
//! [`dynamodb`] (the operations ledger).
//!
//! SDK errors stop here. The modeled faults the logic cares about become domain outcomes
//! (`PromoteOutcome::AlreadyPromoting`, `RecordChange::Conflict`, `CallOutcome::AlreadyExists`,
//! ...); every other SDK error becomes an [`AwsError`] naming the operation, logged with
//! `DisplayErrorContext`. SDK types never leave this module; statuses are parsed into the enums of
//! [`crate::plan`].
//!
//! Retries of throttling and transient errors are the SDK's (standard mode, [`MAX_ATTEMPTS`]
//! attempts with exponential backoff and jitter:
//! <https://docs.aws.amazon.com/sdk-for-rust/latest/dg/retries.html>); nothing here loops on an
//! error.

pub mod aurora;
pub mod backups;
pub mod cloudwatch;
pub mod drill;
pub mod dynamodb;
pub mod failback;
pub mod lambda;
pub mod rds;
pub mod route53;
pub mod sns;

use std::collections::HashMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_types::error::display::DisplayErrorContext;
use chrono::{DateTime, Utc};

use crate::config::Config;

/// Attempts per AWS call (first try included) under the SDK's standard retry mode.
pub const MAX_ATTEMPTS: u32 = 5;

/// Seconds one attempt of an AWS call may take before the SDK abandons it (and retries).
pub const ATTEMPT_TIMEOUT_SECONDS: u64 = 20;
/// Seconds one AWS call may take, retries included: a call into a region that is down fails
/// instead of eating the Lambda's time.
pub const OPERATION_TIMEOUT_SECONDS: u64 = 90;

/// A failed AWS call, after the SDK's retries.
#[derive(Debug, thiserror::Error)]
#[error("`{operation}` failed: {message}")]
pub struct AwsError {
    /// The API action, e.g. `PromoteReadReplica`.
    pub operation: &'static str,
    /// The SDK's error with its whole context.
    pub message: String,
    /// The service did not answer: no connection, a timeout, or HTTP 5xx after the SDK's
    /// retries (set by [`AwsError::from_sdk`]; a refusal such as `AccessDenied` is an answer).
    pub unreachable: bool,
    /// The service answered that it is throttling (`Throttling`, `ThrottlingException`,
    /// `PriorRequestNotComplete`, `RequestLimitExceeded`, `TooManyRequestsException`,
    /// `ProvisionedThroughputExceededException`) after the SDK's retries. Route 53 throttles with
    /// HTTP 400 (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests>).
    pub throttled: bool,
}

/// Error codes AWS services answer when they throttle a caller.
const THROTTLING_CODES: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "PriorRequestNotComplete",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
];

impl AwsError {
    /// Wrap an SDK (or builder) error of `operation`, with its whole context, and log it.
    pub fn new(operation: &'static str, err: impl std::error::Error) -> Self {
        let message = DisplayErrorContext(&err).to_string();
        tracing::warn!(operation, error = %message, "aws call failed");
        Self {
            operation,
            message,
            unreachable: false,
            throttled: false,
        }
    }

    /// The service did not answer or throttled: worth trying again later (a refusal is not).
    pub fn transient(&self) -> bool {
        self.unreachable || self.throttled
    }

    /// As [`AwsError::new`], from the SDK's own error, telling "no answer" (dispatch failure,
    /// timeout, HTTP 5xx) from an answer.
    pub fn from_sdk<E>(
        operation: &'static str,
        err: aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::http::Response,
        >,
    ) -> Self
    where
        E: std::error::Error
            + aws_smithy_types::error::metadata::ProvideErrorMetadata
            + Send
            + Sync
            + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        use aws_smithy_types::error::metadata::ProvideErrorMetadata;
        let throttled = err.code().is_some_and(|c| THROTTLING_CODES.contains(&c));
        let unreachable = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
            SdkError::ResponseError(r) => r.raw().status().is_server_error(),
            SdkError::ServiceError(s) => s.raw().status().is_server_error(),
            _ => false,
        };
        let mut e = Self::new(operation, err);
        e.unreachable = unreachable;
        e.throttled = throttled;
        e
    }

    /// An AWS answer the adapter cannot use (e.g. a record of a kind pilotlight does not manage).
    pub fn unusable(operation: &'static str, message: String) -> Self {
        Self {
            operation,
            message,
            unreachable: false,
            throttled: false,
        }
    }
}

/// An RDS answer that refuses the request as such (`InvalidParameterCombination`,
/// `InvalidParameterValue`, `AccessDenied`): sending it again cannot help, unlike throttling or
/// a region that does not answer.
pub(crate) fn refused_as_such(
    e: &impl aws_smithy_types::error::metadata::ProvideErrorMetadata,
) -> bool {
    matches!(
        e.code(),
        Some("InvalidParameterCombination" | "InvalidParameterValue" | "AccessDenied")
    )
}

/// A region pilotlight has no client for: it is not in the configuration. Not an AWS failure:
/// the [`crate::error::WorkerError`] it becomes is `InvalidCommand`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("region `{region}` is not in the configuration: pilotlight has no {service} client for it")]
pub struct UnknownRegion {
    /// `rds` or `cloudwatch`.
    pub service: &'static str,
    /// The region asked for.
    pub region: String,
}

/// Load the shared SDK configuration once at start-up: the default credential and region chain
/// (`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` are honoured), standard retries with
/// [`MAX_ATTEMPTS`] attempts, and [`ATTEMPT_TIMEOUT_SECONDS`] / [`OPERATION_TIMEOUT_SECONDS`].
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(ATTEMPT_TIMEOUT_SECONDS))
                .operation_timeout(Duration::from_secs(OPERATION_TIMEOUT_SECONDS))
                .build(),
        )
        .load()
        .await
}

/// The SDK clients the workers use: RDS and CloudWatch in every configured region, Route 53
/// (global, signed in `us-east-1`), SNS in the topic's region, and DynamoDB (the ledger) in the
/// region the function runs in (the SDK configuration's own region). Building them makes no
/// network call.
#[derive(Debug, Clone)]
pub struct Clients {
    rds: HashMap<String, aws_sdk_rds::Client>,
    cloudwatch: HashMap<String, aws_sdk_cloudwatch::Client>,
    /// Route 53.
    pub route53: aws_sdk_route53::Client,
    /// SNS in the notification topic's region.
    pub sns: aws_sdk_sns::Client,
    /// DynamoDB in the function's own region (the ledger).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Lambda in the drill's validation function's region (from its ARN, else the function's
    /// own region); `None` when `drill.validation_function` is not set.
    pub lambda: Option<aws_sdk_lambda::Client>,
}

impl Clients {
    /// One client per service and region, from one `SdkConfig`.
    pub fn new(sdk: &SdkConfig, config: &Config) -> Self {
        let regional = |r: &str| {
            let mut b = sdk.to_builder();
            b.set_region(Some(Region::new(r.to_owned())));
            b.build()
        };
        let mut rds = HashMap::new();
        let mut cloudwatch = HashMap::new();
        for region in config.regions() {
            let c = regional(&region);
            rds.insert(region.to_string(), aws_sdk_rds::Client::new(&c));
            cloudwatch.insert(region.to_string(), aws_sdk_cloudwatch::Client::new(&c));
        }
        // Route 53's health check metrics exist only in us-east-1.
        cloudwatch
            .entry("us-east-1".to_owned())
            .or_insert_with(|| aws_sdk_cloudwatch::Client::new(&regional("us-east-1")));
        // `arn:<partition>:lambda:<region>:<account>:function:<name>`: the function's region
        let lambda = config.drill.validation_function.as_deref().map(|f| {
            match f
                .split(':')
                .nth(3)
                .filter(|r| f.starts_with("arn:") && !r.is_empty())
            {
                Some(region) => lambda::client(&regional(region)),
                None => lambda::client(sdk),
            }
        });
        Self {
            rds,
            cloudwatch,
            lambda,
            route53: aws_sdk_route53::Client::new(&regional("us-east-1")),
            sns: aws_sdk_sns::Client::new(&regional(config.notifications.topic_arn.region())),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        }
    }

    /// Build from explicit clients (tests with `aws-smithy-mocks`).
    pub fn from_parts(
        rds: HashMap<String, aws_sdk_rds::Client>,
        cloudwatch: HashMap<String, aws_sdk_cloudwatch::Client>,
        route53: aws_sdk_route53::Client,
        sns: aws_sdk_sns::Client,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        Self {
            rds,
            cloudwatch,
            route53,
            sns,
            dynamodb,
            lambda: None,
        }
    }

    /// The RDS client for `region`; the configuration's regions are known at start-up.
    ///
    /// # Errors
    /// [`UnknownRegion`] when `region` is not one of the configured regions.
    pub fn rds(&self, region: &str) -> Result<&aws_sdk_rds::Client, UnknownRegion> {
        self.rds.get(region).ok_or_else(|| UnknownRegion {
            service: "rds",
            region: region.to_owned(),
        })
    }

    /// The CloudWatch client for `region`.
    ///
    /// # Errors
    /// [`UnknownRegion`] when `region` is not one of the configured regions.
    pub fn cloudwatch(&self, region: &str) -> Result<&aws_sdk_cloudwatch::Client, UnknownRegion> {
        self.cloudwatch.get(region).ok_or_else(|| UnknownRegion {
            service: "cloudwatch",
            region: region.to_owned(),
        })
    }
}

/// An SDK timestamp as UTC.
pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
