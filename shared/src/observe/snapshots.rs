//! Observe snapshots for the snapshot-copy and retention plans: which databases pilotlight keeps
//! snapshots of, and every manual snapshot of the regions involved.

use std::collections::BTreeSet;

use crate::aws::{rds, Clients};
use crate::config::Config;
use crate::error::WorkerError;
use crate::plan::snapshots::{DbKind, Origin, SnapshotInfo, SnapshotSource};

/// The configured databases (each protected database's primary instance) plus, with discovery,
/// every tagged DB instance and cluster; `errors` for regions where discovery failed. A
/// database's own region is never one of its DR regions.
pub async fn sources(config: &Config, clients: &Clients) -> (Vec<SnapshotSource>, Vec<String>) {
    let sn = &config.snapshots;
    let names = |regions: &[crate::config::Region]| -> Vec<String> {
        regions.iter().map(ToString::to_string).collect()
    };
    let mut out: Vec<SnapshotSource> = config
        .databases
        .iter()
        .map(|d| SnapshotSource {
            db_id: d.primary.instance_id.to_string(),
            kind: DbKind::Instance,
            region: d.primary.region.to_string(),
            dr_regions: if sn.dr_regions.is_empty() {
                vec![d.replica.region.to_string()]
            } else {
                names(&sn.dr_regions)
            },
            engine: None,
            origin: Origin::Config,
        })
        .collect();
    let mut errors = Vec::new();
    if let Some(d) = &sn.discover {
        let dr = names(if d.dr_regions.is_empty() {
            &sn.dr_regions
        } else {
            &d.dr_regions
        });
        let found = futures::future::join_all(d.regions.iter().map(|region| async move {
            let result = match clients.rds(region) {
                Ok(c) => rds::discover(c, &d.tag_key, &d.tag_value)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            (region, result)
        }))
        .await;
        for (region, result) in found {
            match result {
                Ok(list) => add_discovered(&mut out, region, list, &dr),
                Err(e) => errors.push(format!("discovery in `{region}` failed: {e}")),
            }
        }
    }
    for s in &mut out {
        let own = s.region.clone();
        s.dr_regions.retain(|r| r != &own);
        s.dr_regions.sort();
        s.dr_regions.dedup();
    }
    (out, errors)
}

/// Add the tagged databases of `region` that are not already sources.
fn add_discovered(
    out: &mut Vec<SnapshotSource>,
    region: &str,
    found: Vec<rds::TaggedDatabase>,
    dr_regions: &[String],
) {
    for t in found {
        if out
            .iter()
            .any(|s| s.db_id == t.db_id && s.region == region && s.kind == t.kind)
        {
            continue;
        }
        out.push(SnapshotSource {
            db_id: t.db_id,
            kind: t.kind,
            region: region.to_owned(),
            dr_regions: dr_regions.to_vec(),
            engine: t.engine,
            origin: Origin::Tag,
        });
    }
}

/// Every manual DB snapshot and DB cluster snapshot of `regions`, listed concurrently, one
/// region at a time in pages of [`rds::PAGE_SIZE`].
///
/// # Errors
/// [`WorkerError::Aws`] when a region cannot be listed (nothing can be planned safely without
/// it); `context` names the job (`snapshot-copy failed`, `retention failed`).
pub async fn list_regions(
    clients: &Clients,
    regions: &BTreeSet<&str>,
    context: &str,
) -> Result<Vec<SnapshotInfo>, WorkerError> {
    let listed = futures::future::join_all(regions.iter().map(|region| async move {
        let client = clients.rds(region)?;
        rds::list_snapshots(client, region)
            .await
            .map_err(|e| WorkerError::aws(context, e))
    }))
    .await;
    let mut snapshots = Vec::new();
    for list in listed {
        snapshots.extend(list?);
    }
    Ok(snapshots)
}
