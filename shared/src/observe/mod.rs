//! The AWS reads that feed a plan: what [`crate::plan`] decides from. Each read is concurrent
//! where it can be, and a read that may fail because a region is down is recorded in the
//! observation instead of failing the whole run.
//!
//! * [`failover`]: one protected database's primary, replica, replica lag, alarms, health check
//!   and records.
//! * [`aurora`]: one Aurora global database's members, roles, lag, alarms, health check and
//!   records.
//! * [`snapshots`]: the databases whose snapshots are kept (configured and tag-discovered), and
//!   every region's manual snapshots.

pub mod aurora;
pub mod failover;
pub mod snapshots;
