//! Executes a snapshot-copy plan: the creations, then the copies, with bounded concurrency; each
//! call's outcome corrects the report (already there, quota exceeded, failed). One database's
//! failure does not stop the others.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use pilotlight::aws::rds::{self, CallOutcome};
use pilotlight::aws::AwsError;
use pilotlight::plan::snapshot_copy::{CopyPlan, CopySnapshot, CreateSnapshot};
use pilotlight::plan::snapshots::{
    MANAGED_BY, TAG_COPY_OF, TAG_CREATED_AT, TAG_MANAGED_BY, TAG_SOURCE_DB, TAG_SOURCE_REGION,
};

use crate::report::{CopyReport, CreateStatus, RegionReport};
use crate::Deps;

/// Concurrent create or copy calls at once.
pub const CONCURRENCY: usize = 8;

/// Create, then copy, everything `p` plans, and record each outcome in `report`. Nothing starts
/// after `deadline` (the Lambda's, minus the report margin): a creation not started is reported
/// with the reason, a copy not started is `queued`; the next run does them.
pub(crate) async fn execute(
    deps: &Deps,
    p: &CopyPlan,
    report: &mut CopyReport,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) {
    create_all(deps, p, report, now, deadline).await;
    copy_all(deps, p, report, deadline).await;
}

const NOT_STARTED: &str = "not started: the run reached its deadline (the Lambda timeout minus the report margin); the next run does it";

async fn create_all(
    deps: &Deps,
    p: &CopyPlan,
    report: &mut CopyReport,
    now: DateTime<Utc>,
    deadline: Option<tokio::time::Instant>,
) {
    let creates: Vec<(usize, &CreateSnapshot)> = p
        .databases
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.create.as_ref().map(|c| (i, c)))
        .collect();
    let results: Vec<(usize, Result<CallOutcome, String>)> = stream::iter(creates)
        .map(|(i, c)| async move {
            if pilotlight::runtime::past(deadline) {
                return (i, Err(format!("`{}` {NOT_STARTED}", c.snapshot_id)));
            }
            (i, create(deps, c, now).await)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (i, result) in results {
        let d = &mut report.databases[i];
        d.snapshot_status = match result {
            Ok(CallOutcome::Done) => CreateStatus::Created,
            Ok(CallOutcome::AlreadyExists) => CreateStatus::AlreadyExists,
            Ok(CallOutcome::QuotaExceeded(m)) => {
                d.errors.push(format!(
                    "manual snapshot quota exceeded in `{}`: {m}",
                    d.region
                ));
                CreateStatus::QuotaExceeded
            }
            Ok(CallOutcome::Skipped(m)) | Err(m) => {
                d.errors.push(m);
                CreateStatus::Failed
            }
            // a create never answers "gone"
            Ok(CallOutcome::AlreadyGone) => CreateStatus::Failed,
        };
    }
}

/// `CreateDBSnapshot` / `CreateDBClusterSnapshot` with pilotlight's tags.
async fn create(
    deps: &Deps,
    c: &CreateSnapshot,
    now: DateTime<Utc>,
) -> Result<CallOutcome, String> {
    let tags = BTreeMap::from([
        (TAG_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
        (TAG_SOURCE_DB.to_owned(), c.db_id.clone()),
        (TAG_SOURCE_REGION.to_owned(), c.region.clone()),
        (TAG_CREATED_AT.to_owned(), now.to_rfc3339()),
    ]);
    let client = deps.clients.rds(&c.region).map_err(|e| e.to_string())?;
    rds::create_snapshot(client, c.kind, &c.db_id, &c.snapshot_id, &tags)
        .await
        .map_err(|e| e.to_string())
}

async fn copy_all(
    deps: &Deps,
    p: &CopyPlan,
    report: &mut CopyReport,
    deadline: Option<tokio::time::Instant>,
) {
    let copies: Vec<(usize, usize, &CopySnapshot)> = p
        .databases
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            d.regions
                .iter()
                .enumerate()
                .flat_map(move |(j, r)| r.copies.iter().map(move |c| (i, j, c)))
        })
        .collect();
    let results: Vec<(usize, usize, String, Result<CallOutcome, String>)> = stream::iter(copies)
        .map(|(i, j, c)| async move {
            if pilotlight::runtime::past(deadline) {
                // queued like a copy over the limit: the next run starts it
                return (i, j, c.target_id.clone(), Err(NOT_STARTED.to_owned()));
            }
            let result = match deps.clients.rds(&c.region) {
                Ok(client) => match rds::copy_snapshot(client, c).await {
                    // the name is taken: ours only if it is a copy of this very source
                    Ok(CallOutcome::AlreadyExists) => {
                        match rds::snapshot_tag(client, c.kind, &c.target_id, TAG_COPY_OF).await {
                            Ok(Some(of)) if of == c.source_arn => Ok(CallOutcome::AlreadyExists),
                            Ok(other) => Err(format!(
                                "`{}` exists in `{}` but is not a copy of `{}` (its `{TAG_COPY_OF}` is {}): not counted as this source's copy",
                                c.target_id,
                                c.region,
                                c.source_arn,
                                other.map_or("absent".to_owned(), |o| format!("`{o}`"))
                            )),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    other => other.map_err(|e: AwsError| e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            (i, j, c.target_id.clone(), result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (i, j, id, result) in results {
        record_copy(&mut report.databases[i].regions[j], id, result);
    }
}

/// A copy that did not start leaves `copies_started`: already there, queued for lack of quota,
/// or an error.
fn record_copy(r: &mut RegionReport, id: String, result: Result<CallOutcome, String>) {
    if matches!(result, Ok(CallOutcome::Done)) {
        return;
    }
    r.copies_started.retain(|c| c != &id);
    r.full_copies.retain(|c| c != &id);
    match result {
        Ok(CallOutcome::AlreadyExists) => r.copies_already_present.push(id),
        Ok(CallOutcome::QuotaExceeded(m)) => {
            r.errors.push(format!(
                "manual snapshot quota exceeded in `{}`: {m}",
                r.region
            ));
            r.queued.push(id);
        }
        Err(m) if m == NOT_STARTED => r.queued.push(id),
        Ok(CallOutcome::Skipped(m)) | Err(m) => r.errors.push(m),
        Ok(CallOutcome::Done | CallOutcome::AlreadyGone) => {}
    }
}
