//! pilotlight's shared library. A file's path says its layer and its job:
//!
//! * [`config`]: the one configuration, checked once at start-up (newtypes for names).
//! * [`command`]: the command vocabulary a person or the router sends to a worker.
//! * [`error`]: the one worker error and its stable `errorType`s.
//! * [`plan`]: pure decisions, one module per job (route, failover, snapshot copy, retention).
//! * [`observe`]: the AWS reads that feed a plan.
//! * [`aws`]: adapters, one file per AWS service; SDK errors stop there.
//! * [`ledger`]: the operations ledger's items and the per-database lease (DynamoDB).
//! * [`metrics`]: CloudWatch Embedded Metric Format lines.
//! * [`runtime`]: start-up shared by every function's `main.rs`.
//!
//! The functions (`functions/<name>`) wire these into Lambda handlers; the README's code map says
//! where to change what.

pub mod aws;
pub mod command;
pub mod config;
pub mod error;
pub mod ledger;
pub mod metrics;
pub mod observe;
pub mod plan;
pub mod runtime;

pub use command::{AlarmTrigger, Command, FailoverRequest};
pub use config::Config;
pub use error::WorkerError;
