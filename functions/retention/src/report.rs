//! What a retention run answers: per database and region every snapshot once (kept with its
//! rules, skipped with its reason, or deleted), what was freed, the stall guard, and the alerts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use pilotlight::metrics;
use pilotlight::plan::retention::{
    RegionRole, RetentionDecision, RetentionPolicy, Rule, SkipReason, Verdict,
};
use pilotlight::plan::snapshots::DbKind;
use serde::Serialize;

/// Entries of each list a region's report answers. A synchronous Lambda response is at most
/// 6 MB (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>), and a
/// region may hold 100,000 snapshots (about 5 MB of ids): the lists are cut here and the counts
/// are whole.
pub const MAX_LISTED: usize = 5_000;

fn first_listed<T: Serialize, S: serde::Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let n = v.len().min(MAX_LISTED);
    let mut seq = s.serialize_seq(Some(n))?;
    for item in &v[..n] {
        seq.serialize_element(item)?;
    }
    seq.end()
}

/// A snapshot kept, and every rule that keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    /// Snapshot id.
    pub id: String,
    /// `SnapshotCreateTime` (UTC).
    pub created_at: Option<DateTime<Utc>>,
    /// The rules.
    pub rules: Vec<Rule>,
}

/// A snapshot that was never a candidate, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Snapshot id.
    pub id: String,
    /// Why.
    pub reason: SkipReason,
}

/// One database in one region: every snapshot appears once, in `kept`, `skipped` or `deleted`.
#[derive(Debug, Clone, Serialize)]
pub struct RegionReport {
    /// DB instance or cluster identifier.
    pub database: String,
    /// Instance or cluster.
    pub kind: DbKind,
    /// The region.
    pub region: String,
    /// The database's own region, or a DR region.
    pub role: RegionRole,
    /// The policy applied.
    pub policy: RetentionPolicy,
    /// Snapshots kept, newest first, with the rules that keep them (the first
    /// [`MAX_LISTED`]; `kept_count` has them all).
    #[serde(serialize_with = "first_listed")]
    pub kept: Vec<Kept>,
    /// How many are kept.
    pub kept_count: usize,
    /// Snapshots that are not candidates (someone else's, held, automated, busy), with the reason
    /// (the first [`MAX_LISTED`]; `skipped_count` has them all).
    #[serde(serialize_with = "first_listed")]
    pub skipped: Vec<Skipped>,
    /// How many are skipped.
    pub skipped_count: usize,
    /// Snapshots deleted by this run (in a dry-run: that it would delete), newest first (the
    /// first [`MAX_LISTED`]; `freed_count` has them all).
    #[serde(serialize_with = "first_listed")]
    pub deleted: Vec<String>,
    /// A list above was cut at [`MAX_LISTED`] entries.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// Deletes that failed, with the error (those snapshots are not in `deleted`).
    pub errors: Vec<String>,
    /// How many snapshots were deleted.
    pub freed_count: usize,
    /// Sum of the deleted snapshots' allocated storage, in GiB.
    pub freed_gib: i64,
    /// The stall guard's message, when it fired (nothing deleted).
    pub stalled: Option<String>,
    /// Allocated storage (GiB) of each snapshot in `deleted`, in the same order, for `freed_gib`
    /// when a delete fails.
    #[serde(skip)]
    sizes: Vec<i32>,
}

impl RegionReport {
    /// The report of one decision, before any deletion (what a dry-run answers).
    pub fn of_decision(
        database: String,
        kind: DbKind,
        region: String,
        role: RegionRole,
        policy: RetentionPolicy,
        decision: RetentionDecision,
    ) -> Self {
        let mut r = RegionReport {
            database,
            kind,
            region,
            role,
            policy,
            kept: vec![],
            kept_count: 0,
            skipped: vec![],
            skipped_count: 0,
            deleted: vec![],
            truncated: false,
            errors: vec![],
            freed_count: 0,
            freed_gib: 0,
            stalled: decision.stalled,
            sizes: Vec::new(),
        };
        for d in decision.snapshots {
            match d.verdict {
                Verdict::Keep { rules } => r.kept.push(Kept {
                    id: d.id,
                    created_at: d.created_at,
                    rules,
                }),
                Verdict::Skip { reason } => r.skipped.push(Skipped { id: d.id, reason }),
                Verdict::Delete => {
                    let size = d.allocated_storage_gib.unwrap_or(0);
                    r.freed_gib += i64::from(size);
                    r.sizes.push(size);
                    r.deleted.push(d.id);
                }
            }
        }
        r.freed_count = r.deleted.len();
        r.kept_count = r.kept.len();
        r.skipped_count = r.skipped.len();
        r.truncated = [r.kept.len(), r.skipped.len(), r.deleted.len()]
            .iter()
            .any(|n| *n > MAX_LISTED);
        r
    }

    /// Deletes that did not happen (by index into `deleted`): those snapshots leave `deleted`
    /// and the freed figures; each failure is an error, and the ones the deadline stopped are
    /// one error with their count.
    pub(crate) fn not_deleted(&mut self, missed: Vec<(usize, crate::execute::Missed)>) {
        let mut gone = vec![false; self.deleted.len()];
        let mut deadline = 0usize;
        for (j, m) in missed {
            if let Some(g) = gone.get_mut(j) {
                *g = true;
            }
            match m {
                crate::execute::Missed::Failed(msg) => {
                    tracing::warn!(snapshot = %self.deleted.get(j).map_or("?", String::as_str), error = %msg, "delete failed");
                    self.errors.push(msg);
                }
                crate::execute::Missed::Deadline => deadline += 1,
            }
        }
        if deadline > 0 {
            self.errors.push(format!(
                "{deadline} snapshot(s) not deleted yet: the run reached its deadline (the Lambda timeout minus the report margin); the next run deletes them"
            ));
        }
        let mut j = 0;
        self.deleted.retain(|_| {
            j += 1;
            !gone[j - 1]
        });
        let mut j = 0;
        self.sizes.retain(|_| {
            j += 1;
            !gone[j - 1]
        });
        let freed: i64 = self.sizes.iter().map(|g| i64::from(*g)).sum();
        self.freed_gib = freed;
        self.freed_count = self.deleted.len();
    }
}

/// The JSON result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// "Now" of the decision (UTC).
    pub now: DateTime<Utc>,
    /// Per database and region.
    pub results: Vec<RegionReport>,
    /// Errors not tied to one database (discovery).
    pub errors: Vec<String>,
    /// What was alerted (stalled databases, failed deletes).
    pub alerts: Vec<String>,
    /// Alerts that could not be published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notification_errors: Vec<String>,
}

impl RetentionReport {
    /// Every stalled database and every failed delete, one line each, after the run's errors.
    pub fn collect_alerts(&self) -> Vec<String> {
        let mut alerts = self.errors.clone();
        for r in &self.results {
            if let Some(m) = &r.stalled {
                alerts.push(format!("`{}` in `{}`: {m}", r.database, r.region));
            }
            alerts.extend(
                r.errors
                    .iter()
                    .map(|e| format!("`{}` in `{}`: {e}", r.database, r.region)),
            );
        }
        alerts
    }

    /// The counts an alert carries beside its lines.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "deleted": self.results.iter().map(|r| r.freed_count).sum::<usize>(),
            "stalled": self.results.iter().filter(|r| r.stalled.is_some()).count(),
        })
    }

    /// One EMF `SnapshotsDeleted` line per region.
    pub fn emit_metrics(&self) {
        let mut per_region: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &self.results {
            *per_region.entry(&r.region).or_default() += r.freed_count;
        }
        for (region, n) in per_region {
            metrics::emit("SnapshotsDeleted", n as f64, "Count", &[("Region", region)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pilotlight::plan::retention::SnapshotDecision;
    use pilotlight::plan::status::SnapshotStatus;

    #[test]
    fn a_report_of_a_huge_region_lists_the_first_entries_and_counts_them_all() {
        let n = MAX_LISTED + 7;
        let decision = RetentionDecision {
            snapshots: (0..n)
                .map(|i| SnapshotDecision {
                    id: format!("pilotlight-db-{i:06}"),
                    kind: DbKind::Instance,
                    created_at: None,
                    status: SnapshotStatus::Available,
                    allocated_storage_gib: Some(1),
                    verdict: Verdict::Delete,
                })
                .collect(),
            stalled: None,
        };
        let r = RegionReport::of_decision(
            "db".into(),
            DbKind::Instance,
            "us-west-2".into(),
            RegionRole::Dr,
            RetentionPolicy::default(),
            decision,
        );
        let json = serde_json::to_value(&r).unwrap_or_default();
        assert_eq!(json["deleted"].as_array().map(Vec::len), Some(MAX_LISTED));
        assert_eq!(json["freed_count"], serde_json::json!(n));
        assert_eq!(json["freed_gib"], serde_json::json!(n));
        assert_eq!(json["truncated"], serde_json::json!(true));
    }
}
