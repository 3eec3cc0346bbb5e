//! `failover`: the timing of a failover run (deadline, replica lag look-back, polling).

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// Timing of a failover run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverSettings {
    /// How long one run may wait for the promotion and the DNS change, in seconds, before it returns
    /// `in_progress` (the next run finishes the job). Keep it well inside the Lambda timeout.
    pub deadline_seconds: u64,
    /// How far back to look for the replica's last `ReplicaLag` datapoint, in seconds. When the
    /// primary is down, the replica stops reporting lag; the last datapoint before that is the RPO.
    pub lag_lookback_seconds: u64,
    /// First interval between two polls of the promoted instance (and of a DNS change, and of
    /// any other long step), in milliseconds (at least 100); doubles up to `max_poll_interval_ms`.
    /// Default 1000.
    pub poll_interval_ms: u64,
    /// The cap: the largest interval between two polls, in milliseconds. Default
    /// 5000: once RDS reports the promoted instance available, pilotlight sees it within 5 s. At
    /// the cap a wait costs 12 `DescribeDBInstances` (or `GetChange`) calls a minute per database.
    pub max_poll_interval_ms: u64,
    /// A PostgreSQL primary counts as idle when its `TransactionLogsGeneration` (bytes per second,
    /// the most of any minute in the 15 minutes before the failure) is at most this. RDS for
    /// PostgreSQL reports up to five minutes of `ReplicaLag` when the source runs no user
    /// transactions; an idle primary's recovery point is then ~0, not the metric. Default 256:
    /// measure yours at the quietest hour (`aws cloudwatch get-metric-statistics`) and set it above.
    pub idle_primary_log_bytes_per_second: u64,
    /// How long an alarm's run keeps observing, in seconds, when the primary is down by the alarm
    /// and the health check but the evidence that replication stopped has not shown yet (RDS
    /// reports a lost source late), before it refuses; the run's deadline bounds it. Default 300; 0 refuses
    /// at once.
    pub evidence_wait_seconds: u64,
    /// How long one observation may wait for any call outside the replica's region (the primary's
    /// RDS and CloudWatch, Route 53, alarms), in seconds, before it goes on without the answer:
    /// a call cut here counts as "did not answer". The calls run concurrently, so a run decides
    /// within this bound when the primary's region hangs. Default 30 (1..=85: below the SDK's
    /// 90-second operation timeout, which cuts a call anyway).
    pub observe_timeout_seconds: u64,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self {
            deadline_seconds: 600,
            lag_lookback_seconds: 600,
            poll_interval_ms: 1_000,
            max_poll_interval_ms: 5_000,
            idle_primary_log_bytes_per_second: 256,
            evidence_wait_seconds: 300,
            observe_timeout_seconds: 30,
        }
    }
}

/// Check `failover`: the deadline ends inside Lambda's 900 s, the look-back and polling are sane.
pub(super) fn validate(f: &FailoverSettings) -> Result<(), ConfigError> {
    if f.deadline_seconds == 0 || f.deadline_seconds > 840 {
        return Err(invalid(
            "failover.deadline_seconds",
            format!(
                "{} is outside 1..=840: it must end well inside Lambda's 900-second limit",
                f.deadline_seconds
            ),
        ));
    }
    if !(60..=86_400).contains(&f.lag_lookback_seconds) {
        return Err(invalid(
            "failover.lag_lookback_seconds",
            format!(
                "{} is outside 60..=86400: too short always finds the lag unknown",
                f.lag_lookback_seconds
            ),
        ));
    }
    if f.poll_interval_ms < 100 || f.max_poll_interval_ms < f.poll_interval_ms {
        return Err(invalid(
            "failover.poll_interval_ms",
            "must be at least 100 (ms) and no more than `max_poll_interval_ms`",
        ));
    }
    if !(1..=85).contains(&f.observe_timeout_seconds) {
        return Err(invalid(
            "failover.observe_timeout_seconds",
            format!("{} is outside 1..=85", f.observe_timeout_seconds),
        ));
    }
    Ok(())
}
