//! Executes retention's decisions: `DeleteDBSnapshot` / `DeleteDBClusterSnapshot` of every
//! snapshot decided `delete`, `delete_concurrency` at a time. A failed delete is recorded and the
//! others go on; not found (already gone: an overlapping run, a person) is what a delete wants and
//! counts as deleted; invalid state (busy) is reported, not retried.

use futures::stream::{self, StreamExt};
use pilotlight::aws::rds::{self, CallOutcome};
use pilotlight::plan::snapshots::DbKind;

use crate::report::RegionReport;
use crate::Deps;

/// Delete what `results` say to delete, and record each failure in its region's report. No
/// delete starts after `deadline` (the Lambda's, minus the report margin): those are counted,
/// reported once per region as not deleted, and the next run deletes them. The queue holds two
/// indices per snapshot, not its id: a region may hold 100,000.
pub(crate) async fn delete_all(
    deps: &Deps,
    results: &mut [RegionReport],
    deadline: Option<tokio::time::Instant>,
) {
    let jobs: Vec<(usize, usize)> = results
        .iter()
        .enumerate()
        .flat_map(|(i, r)| (0..r.deleted.len()).map(move |j| (i, j)))
        .collect();
    let concurrency = deps.config.retention.delete_concurrency.max(1);
    let shared: &[RegionReport] = results;
    let outcomes: Vec<(usize, usize, Option<Missed>)> = stream::iter(jobs)
        .map(|(i, j)| async move {
            if pilotlight::runtime::past(deadline) {
                return (i, j, Some(Missed::Deadline));
            }
            let r = &shared[i];
            let failure = delete(deps, &r.region, r.kind, &r.deleted[j]).await;
            (i, j, failure.map(Missed::Failed))
        })
        .buffer_unordered(concurrency)
        .filter_map(|(i, j, m)| async move { m.map(|m| (i, j, Some(m))) })
        .collect()
        .await;
    let mut per_region: Vec<Vec<(usize, Missed)>> = vec![Vec::new(); results.len()];
    for (i, j, missed) in outcomes {
        if let Some(m) = missed {
            per_region[i].push((j, m));
        }
    }
    for (r, missed) in results.iter_mut().zip(per_region) {
        if !missed.is_empty() {
            r.not_deleted(missed);
        }
    }
}

/// Why a snapshot decided `delete` was not deleted.
#[derive(Debug, Clone)]
pub(crate) enum Missed {
    /// The delete failed; the message says why.
    Failed(String),
    /// Not started: the run reached its deadline.
    Deadline,
}

/// Delete one snapshot; why it was not deleted, if it was not.
async fn delete(deps: &Deps, region: &str, kind: DbKind, id: &str) -> Option<String> {
    let result = match deps.clients.rds(region) {
        Ok(client) => rds::delete_snapshot(client, kind, id)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(CallOutcome::Done | CallOutcome::AlreadyExists | CallOutcome::AlreadyGone) => None,
        Ok(CallOutcome::Skipped(m) | CallOutcome::QuotaExceeded(m)) | Err(m) => {
            Some(format!("`{id}` not deleted: {m}"))
        }
    }
}
