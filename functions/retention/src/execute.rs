//! Executes retention's decisions: `DeleteDBSnapshot` / `DeleteDBClusterSnapshot` of every
//! snapshot decided `delete`, `delete_concurrency` at a time. A failed delete is recorded and the
//! others go on; not found (already gone: an overlapping run, a person) is what a delete wants and
//! counts as deleted; invalid state (busy) is reported, not retried.

use futures::stream::{self, StreamExt};
use pilotlight::aws::rds::{self, CallOutcome};
use pilotlight::plan::snapshots::DbKind;
use tracing::warn;

use crate::report::RegionReport;
use crate::Deps;

/// Delete what `results` say to delete, and record each failure in its region's report. No
/// delete starts after `deadline` (the Lambda's, minus the report margin): those are reported
/// not deleted, and the next run deletes them.
pub(crate) async fn delete_all(
    deps: &Deps,
    results: &mut [RegionReport],
    deadline: Option<tokio::time::Instant>,
) {
    let jobs: Vec<(usize, String, DbKind, String)> = results
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.deleted
                .iter()
                .map(move |id| (i, r.region.clone(), r.kind, id.clone()))
        })
        .collect();
    let concurrency = deps.config.retention.delete_concurrency.max(1);
    let outcomes: Vec<(usize, String, Option<String>)> = stream::iter(jobs)
        .map(|(i, region, kind, id)| async move {
            if pilotlight::runtime::past(deadline) {
                let why = format!("`{id}` not deleted yet: the run reached its deadline (the Lambda timeout minus the report margin); the next run deletes it");
                return (i, id, Some(why));
            }
            let failure = delete(deps, &region, kind, &id).await;
            (i, id, failure)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for (i, id, failure) in outcomes {
        if let Some(msg) = failure {
            warn!(snapshot = %id, error = %msg, "delete failed");
            results[i].not_deleted(&id, msg);
        }
    }
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
