//! Pure decisions, one module per job: no SDK import, no I/O. Each takes what was observed (and
//! `now`) and returns a plan that carries everything its executor needs; a dry-run returns the
//! plan as it is.
//!
//! * [`route`]: a trigger (SNS alarm, EventBridge event, schedule, command) → a worker's command.
//! * [`failover`]: what a failover must still do (refuse, promote, wait, repoint DNS).
//! * [`aurora`]: the same for an Aurora global database (switchover or failover).
//! * [`snapshot_copy`]: what to snapshot, copy and queue, and each DR region's RPO exposure.
//! * [`drill`]: the DR drill's snapshot, instance name and next step; what it may delete.
//! * [`failback`]: bringing a database home after a failover (prepare, switch).
//! * [`retention`]: which of pilotlight's snapshots the policy keeps, and why.
//! * [`snapshots`], [`status`]: the vocabulary they share (snapshots, tags, AWS statuses).

pub mod aurora;
pub mod backups;
pub mod drill;
pub mod failback;
pub mod failover;
pub mod retention;
pub mod route;
pub mod snapshot_copy;
pub mod snapshots;
pub mod status;
