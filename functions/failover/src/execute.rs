//! Executes a failover plan ([`pilotlight::plan::failover::decide_failover`]) step by step:
//! promote, wait for the promotion, repoint each record (compare-and-swap), wait for `INSYNC`,
//! tag the instance, notify. It never re-reads what the plan carries; it reads AWS only to wait
//! for a state or to tell a concurrent run from a person's change.

use std::time::Duration;

use chrono::Utc;
use pilotlight::aws::rds::{self, PromoteOutcome};
use pilotlight::aws::route53::{self, RecordChange};
use pilotlight::aws::{sns, AwsError};
use pilotlight::command::FailoverRequest;
use pilotlight::config::Fencing;
use pilotlight::config::ProtectedDatabase;
use pilotlight::error::WorkerError;
use pilotlight::metrics;
use pilotlight::plan::failover::{
    after_conflict, points_to, rto_start, same_groups, AfterConflict, Decision, InstanceState,
    Observation, PlannedStep, RecordUpdate, RpoEstimate, TAG_GROUPS_BEFORE_FENCE,
};
use pilotlight::plan::status::InstanceStatus;
use tokio::time::Instant;
use tracing::{error, info};

use crate::report::{FailoverReport, NotifyEvent, Outcome, RtoBreakdown, StepRecord, Timeline};
use crate::Deps;

/// One failover run: what it was asked, what it decided, and the report it builds as it goes.
pub(crate) struct Run<'a> {
    deps: &'a Deps,
    db: &'a ProtectedDatabase,
    /// The replica as observed (its ARN is where the decision and the completion are tagged).
    replica: Option<&'a InstanceState>,
    /// The old primary as observed, when its region answered (its ARN is where fencing is tagged).
    primary: Option<&'a InstanceState>,
    /// When this run observed (it saw the replica as the plan says).
    observed_at: chrono::DateTime<Utc>,
    /// Route 53 did not answer when the records were read: promote, but leave DNS pending.
    records_unknown: bool,
    /// Notifications already published for this operation (by this run or an earlier one):
    /// each is published once per operation.
    pub(crate) notified: Vec<String>,
    /// What the operation waits for when this run ends in progress.
    pub(crate) waiting_for: Option<String>,
    /// Fencing after the failover was planned and did not succeed yet.
    pub(crate) fence_pending: bool,
    /// The kind of failure this run met (`failed:<errorType>[:<operation>]`): a `failed`
    /// notification is published once per kind and operation.
    pub(crate) failure_key: Option<String>,
    /// Route 53 changes earlier runs of this operation submitted (from the ledger).
    pub(crate) known_changes: Vec<String>,
    /// Route 53 changes this run submitted.
    pub(crate) submitted_changes: Vec<String>,
    pub(crate) report: FailoverReport,
}

impl<'a> Run<'a> {
    /// A run of `req` on `db` that decided `decision` from `obs`.
    pub(crate) fn new(
        deps: &'a Deps,
        db: &'a ProtectedDatabase,
        req: &FailoverRequest,
        obs: &'a Observation,
        decision: Decision,
        started: chrono::DateTime<Utc>,
    ) -> Self {
        let trigger_time = req
            .trigger
            .as_ref()
            .and_then(|t| t.state_change_time)
            .or(req.dr_detection.map(|d| d.since));
        let replica = obs.replica.as_ref();
        let report = FailoverReport {
            timeline: Timeline {
                // from the health check's metric only: an onset taken from the alarm measures nothing
                failure_onset_at: obs
                    .onset
                    .as_ref()
                    .filter(|o| o.source == "health_check_metric")
                    .map(|o| o.at),
                run_started_at: Some(started),
                alarm_at: rto_start(obs, trigger_time),
                decided_at: Some(Utc::now()),
                promote_issued_at: replica.and_then(|r| r.promotion_started_at),
                ..Timeline::default()
            },
            ..FailoverReport::begin(&db.name, req, decision)
        };
        Self {
            deps,
            db,
            replica,
            primary: obs.primary.as_ref().ok().and_then(|p| p.as_ref()),
            observed_at: obs.observed_at,
            records_unknown: obs.records_error.is_some(),
            notified: vec![],
            waiting_for: None,
            fence_pending: false,
            failure_key: None,
            known_changes: vec![],
            submitted_changes: vec![],
            report,
        }
    }

    /// Nothing left to do: report the writer and the RPO the first run recorded.
    pub(crate) fn already_failed_over(&mut self) {
        self.report.outcome = Outcome::AlreadyFailedOver;
        self.report.writer_endpoint = self.replica.and_then(|i| i.endpoint.clone());
        self.report.rpo_seconds = self.replica.and_then(|i| i.lag_at_promotion_seconds);
    }

    /// The checks said no: report every reason and, unless a dry-run, notify.
    pub(crate) async fn refused(&mut self, reasons: Vec<String>) {
        self.report.outcome = Outcome::Refused;
        self.report.reasons = reasons;
        if !self.report.dry_run {
            self.notify(NotifyEvent::Refused).await;
        }
    }

    /// Every condition holds but the replica is busy: report `in_progress` with the reasons, and
    /// tell the on-call once (the `decision` notification) that the failover waits for it.
    pub(crate) async fn deferred(&mut self, reasons: Vec<String>) {
        self.report.outcome = if self.report.dry_run {
            Outcome::DryRun
        } else {
            Outcome::InProgress
        };
        self.report.reasons = reasons;
        if !self.report.dry_run {
            self.waiting_for = Some("replica_available".into());
            self.notify(NotifyEvent::Decision).await;
        }
    }

    /// Run the plan's `steps` (or, in a dry-run, return them), notify at the decision (the run
    /// that promotes) and at the end, and emit the RTO metric. A plan that only fences reports
    /// `already_failed_over` with the fencing, and notifies `fenced`.
    ///
    /// # Errors
    /// [`WorkerError`] of the step that failed, after a `failed` notification.
    pub(crate) async fn proceed(
        &mut self,
        steps: &[PlannedStep],
        rpo: Option<RpoEstimate>,
        deadline: Instant,
    ) -> Result<(), WorkerError> {
        self.report.rpo_seconds = rpo.as_ref().and_then(|r| r.seconds);
        self.report.rpo = rpo;
        if self.report.dry_run {
            self.report.outcome = Outcome::DryRun;
            return Ok(());
        }
        // Route 53 did not answer: promote (and fence first where planned), leave DNS pending.
        let steps: Vec<PlannedStep> = if self.records_unknown {
            steps
                .iter()
                .filter(|s| {
                    matches!(
                        s,
                        PlannedStep::Promote { .. }
                            | PlannedStep::WaitForPromotion { .. }
                            | PlannedStep::Fence {
                                before_promotion: true,
                                ..
                            }
                    )
                })
                .cloned()
                .collect()
        } else {
            steps.to_vec()
        };
        let steps = &steps[..];
        let only_fence =
            !self.records_unknown && steps.iter().all(|s| matches!(s, PlannedStep::Fence { .. }));
        match self.execute(steps, deadline).await {
            Ok(_) if only_fence => {
                self.report.outcome = Outcome::AlreadyFailedOver;
                self.report.writer_endpoint = self.replica.and_then(|i| i.endpoint.clone());
                self.notify(NotifyEvent::Fenced).await;
                Ok(())
            }
            Ok(outcome) => {
                self.report.outcome = outcome;
                if outcome == Outcome::FailedOver {
                    self.emit_metrics();
                    self.notify(NotifyEvent::Result).await;
                } else if self.report.dns_pending {
                    // the on-call must know the writer moved while DNS did not (yet)
                    self.notify(NotifyEvent::DnsPending).await;
                }
                Ok(())
            }
            Err(e) => {
                error!(database = %self.db.name, error = %e, "failover failed");
                self.report.reasons = vec![e.reason()];
                self.failure_key = Some(match &e {
                    WorkerError::Aws { source, .. } => {
                        format!("failed:{}:{}", e.error_type(), source.operation)
                    }
                    other => format!("failed:{}", other.error_type()),
                });
                self.notify(NotifyEvent::Failed).await;
                Err(e)
            }
        }
    }

    fn emit_metrics(&self) {
        let dims = [("Database", self.db.name.as_str())];
        metrics::emit("FailoverCount", 1.0, "Count", &dims);
        if let Some(rto) = self.report.rto_seconds {
            metrics::emit("FailoverRTOSeconds", rto, "Seconds", &dims);
        }
    }

    fn record(&mut self, step: &str, detail: String) {
        info!(database = %self.db.name, step, %detail, "failover step");
        self.report.steps.push(StepRecord {
            step: step.to_owned(),
            at: Utc::now(),
            detail,
        });
    }

    /// An AWS failure of this failover.
    fn aws(&self, source: AwsError) -> WorkerError {
        WorkerError::aws(format!("failover of `{}` failed", self.db.name), source)
    }

    /// Run the planned steps. Returns `InProgress` when the deadline passes first.
    async fn execute(
        &mut self,
        steps: &[PlannedStep],
        deadline: Instant,
    ) -> Result<Outcome, WorkerError> {
        let rds = self.deps.clients.rds(&self.db.replica.region)?;
        let mut endpoint = self
            .replica
            .filter(|r| r.replica_source.is_none() && r.status == InstanceStatus::Available)
            .and_then(|r| r.endpoint.clone());
        let mut changes = Vec::new();
        let mut fence = None;
        for step in steps {
            match step {
                PlannedStep::Fence {
                    fencing,
                    before_promotion: true,
                    ..
                } => match self.fence(fencing, deadline).await {
                    Ok(done) => {
                        self.record("fence", done.clone());
                        self.report.fencing = Some(done);
                    }
                    Err(why) if why.starts_with("deadline reached") => {
                        self.record("fence", why);
                        self.waiting_for = Some("fencing".into());
                        return Ok(Outcome::InProgress);
                    }
                    Err(why) => {
                        return Err(WorkerError::Refused(format!(
                            "failover of `{}` stopped before the promotion: the primary answers and could not be fenced: {why}",
                            self.db.name
                        )))
                    }
                },
                PlannedStep::Fence { fencing, .. } => fence = Some(fencing),
                PlannedStep::Promote { instance_id, .. } => {
                    if !self.promote(rds, instance_id).await? {
                        self.waiting_for = Some("replica_available".into());
                        return Ok(Outcome::InProgress);
                    }
                    // after the promote, not before: a slow SNS never delays it
                    self.notify(NotifyEvent::Decision).await;
                }
                PlannedStep::WaitForPromotion { instance_id, .. } => {
                    match self.wait_for_promotion(rds, instance_id, deadline).await? {
                        Some(promoted) => endpoint = promoted,
                        None => {
                            self.waiting_for = Some("promotion".into());
                            return Ok(Outcome::InProgress);
                        }
                    }
                }
                PlannedStep::UpdateRecord(update) => {
                    let Some(target) = endpoint.clone() else {
                        return Err(self.aws(AwsError::unusable(
                            "DescribeDBInstances",
                            "the promoted instance reports no endpoint".into(),
                        )));
                    };
                    if !self.known_changes.is_empty() && points_to(&update.from, &target) {
                        // an earlier run of this operation changed it: wait for that change
                        let detail = format!(
                            "`{}` already points to `{target}`: waiting for the change(s) {:?} an earlier run of this operation submitted",
                            update.name, self.known_changes
                        );
                        self.record("update_record", detail);
                        for known in &self.known_changes {
                            if !changes.contains(known) {
                                changes.push(known.clone());
                            }
                        }
                        continue;
                    }
                    match self.update_record(update, &target).await {
                        Ok(Some(change)) => {
                            self.submitted_changes.push(change.clone());
                            changes.push(change)
                        }
                        Ok(None) => {}
                        // Route 53 stopped answering after the promotion: DNS is pending
                        Err(WorkerError::Aws { source, .. }) if source.transient() => {
                            self.report.writer_endpoint = Some(target);
                            self.report.dns_pending = true;
                            self.waiting_for = Some("dns_pending".into());
                            self.record("dns_pending", format!("Route 53 does not answer: {source}; the reconcile pass repoints the records once it answers"));
                            return Ok(Outcome::InProgress);
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        self.report.writer_endpoint = endpoint;
        if self.records_unknown {
            self.report.dns_pending = true;
            self.waiting_for = Some("dns_pending".into());
            self.record(
                "dns_pending",
                "Route 53 did not answer when the records were read: they are repointed by the reconcile pass once it answers".into(),
            );
            return Ok(Outcome::InProgress);
        }
        if !self.wait_in_sync(&changes, deadline).await? {
            self.waiting_for = Some("dns_in_sync".into());
            return Ok(Outcome::InProgress);
        }
        let failover_steps = steps
            .iter()
            .any(|s| !matches!(s, PlannedStep::Fence { .. }));
        if failover_steps {
            self.complete(rds, changes.len()).await?;
        }
        if let Some(fencing) = fence {
            self.fence_after(fencing, deadline).await;
        }
        Ok(Outcome::FailedOver)
    }

    /// Fence the old primary: stop it, or move it to the fencing security groups, wait until RDS
    /// reports them `active` and reboot it (a security group does not cut the connections it
    /// already tracks), then tag it. `Ok(detail)` once fenced; `Err(detail)` when not (yet): an
    /// AWS failure, or the deadline while the change is applied.
    async fn fence(&mut self, fencing: &Fencing, deadline: Instant) -> Result<String, String> {
        let id = self.db.primary.instance_id.to_string();
        let Some(arn) = self.primary.and_then(|p| p.arn.clone()) else {
            return Err(format!("`{id}` reported no ARN"));
        };
        let rds = self
            .deps
            .clients
            .rds(&self.db.primary.region)
            .map_err(|e| e.to_string())?;
        let how = match fencing {
            Fencing::None => return Ok("fencing is `none`".into()),
            Fencing::Stop => {
                rds::stop_instance(rds, &id)
                    .await
                    .map_err(|e| e.to_string())?;
                "stopped (StopDBInstance; RDS starts it again after 7 days: a later run stops it again)".to_owned()
            }
            Fencing::SecurityGroup { security_group_ids } => {
                let current = self
                    .primary
                    .map(|p| p.security_groups.clone())
                    .unwrap_or_default();
                if !same_groups(security_group_ids, &current) {
                    // the groups it had, for a failback's new instance (never the fence's)
                    if !current.is_empty() {
                        rds::tag_value(rds, &arn, TAG_GROUPS_BEFORE_FENCE, &current.join(","))
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    rds::move_to_security_groups(rds, &id, security_group_ids)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                let mut interval = self.first_interval();
                loop {
                    let now = rds::describe_instance(rds, &id)
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or_else(|| format!("`{id}` disappeared while being fenced"))?;
                    if now.status == InstanceStatus::Available
                        && same_groups(security_group_ids, &now.security_groups)
                        && !now.security_groups_pending
                    {
                        break;
                    }
                    if Instant::now() + interval > deadline {
                        return Err(format!(
                            "deadline reached: `{id}` is `{}` and its security groups are not active yet",
                            now.status
                        ));
                    }
                    tokio::time::sleep(interval).await;
                    interval = self.next_interval(interval);
                }
                rds::reboot(rds, &id).await.map_err(|e| e.to_string())?;
                format!("moved to security groups {security_group_ids:?} (ModifyDBInstance) and rebooted to end open sessions (RebootDBInstance)")
            }
        };
        rds::tag_fenced(rds, &arn, Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        Ok(format!("fenced: `{id}` {how}"))
    }

    /// Fence after DNS moved: a failure is reported, never fatal (the failover is done, and the
    /// next run tries again).
    async fn fence_after(&mut self, fencing: &Fencing, deadline: Instant) {
        let detail = match self.fence(fencing, deadline).await {
            Ok(done) => done,
            Err(why) => {
                error!(database = %self.db.name, error = %why, "fencing failed");
                self.fence_pending = true;
                format!("not fenced yet: {why}; the reconcile pass tries again")
            }
        };
        self.record("fence", detail.clone());
        self.report.fencing = Some(detail);
    }

    /// Tag the replica with the decision, then `PromoteReadReplica`. A second promote
    /// (`InvalidDBInstanceState`) means an earlier run got there first, unless the instance is
    /// still a plain available replica: then RDS only said it was busy (a backup, a
    /// modification), no promotion is under way, and this returns `false`: the operation stays
    /// open and the reconcile pass promotes again.
    async fn promote(
        &mut self,
        rds: &aws_sdk_rds::Client,
        instance_id: &str,
    ) -> Result<bool, WorkerError> {
        let decided = self.report.timeline.decided_at.unwrap_or_else(Utc::now);
        if let Some(arn) = self.replica.and_then(|r| r.arn.as_deref()) {
            let t = &self.report.timeline;
            rds::tag_promotion(rds, arn, decided, t.alarm_at, self.report.rpo_seconds)
                .await
                .map_err(|e| self.aws(e))?;
        }
        let outcome = rds::promote(rds, instance_id)
            .await
            .map_err(|e| self.aws(e))?;
        if outcome == PromoteOutcome::AlreadyPromoting {
            let now = rds::describe_instance(rds, instance_id)
                .await
                .map_err(|e| self.aws(e))?;
            if now.is_some_and(|i| {
                i.replica_source.is_some() && i.status == InstanceStatus::Available
            }) {
                self.record(
                    "promote",
                    format!("RDS refused to promote `{instance_id}` (InvalidDBInstanceState) while it is still an available read replica (busy): the reconcile pass promotes it again"),
                );
                return Ok(false);
            }
        }
        self.report.timeline.promote_issued_at = Some(Utc::now());
        let detail = match outcome {
            PromoteOutcome::Started => format!("PromoteReadReplica accepted for `{instance_id}`"),
            PromoteOutcome::AlreadyPromoting => format!(
                "`{instance_id}` is already being promoted (InvalidDBInstanceState): going on"
            ),
        };
        self.record("promote", detail);
        Ok(true)
    }

    fn first_interval(&self) -> Duration {
        Duration::from_millis(self.deps.config.failover.poll_interval_ms)
    }

    fn next_interval(&self, interval: Duration) -> Duration {
        (interval * 2).min(Duration::from_millis(
            self.deps.config.failover.max_poll_interval_ms,
        ))
    }

    /// Poll `DescribeDBInstances` with exponential backoff until the instance is available and
    /// standalone; its endpoint, or `None` at the deadline.
    async fn wait_for_promotion(
        &mut self,
        rds: &aws_sdk_rds::Client,
        instance_id: &str,
        deadline: Instant,
    ) -> Result<Option<Option<String>>, WorkerError> {
        let mut interval = self.first_interval();
        // The instance was not available yet when the promote was answered, or when this run
        // observed it (a retry finishing an earlier run's promotion): the later of the two.
        let mut previous = self
            .report
            .timeline
            .promote_issued_at
            .map(|p| p.max(self.observed_at))
            .or(Some(self.observed_at));
        loop {
            let polled_at = Utc::now();
            let state = rds::describe_instance(rds, instance_id)
                .await
                .map_err(|e| self.aws(e))?
                .ok_or_else(|| {
                    self.aws(AwsError::unusable(
                        "DescribeDBInstances",
                        format!("`{instance_id}` disappeared while being promoted"),
                    ))
                })?;
            if state.status == InstanceStatus::Available
                && state.replica_source.is_none()
                && state.endpoint.is_some()
            {
                self.report.timeline.promote_done_at = Some(Utc::now());
                self.report.timeline.promote_previous_poll_at = previous;
                let detail = format!(
                    "`{instance_id}` is available and standalone at `{}`",
                    state.endpoint.as_deref().unwrap_or("?")
                );
                self.record("wait_for_promotion", detail);
                return Ok(Some(state.endpoint));
            }
            if Instant::now() + interval > deadline {
                let detail = format!("deadline reached: `{instance_id}` is still being promoted");
                self.record("wait_for_promotion", detail);
                return Ok(None);
            }
            previous = Some(polled_at);
            tokio::time::sleep(interval).await;
            interval = self.next_interval(interval);
        }
    }

    /// Compare-and-swap the record to `target`, from the values the plan observed. On a
    /// conflict, re-read it: pointing to `target` means a concurrent run did it; any other value
    /// means someone changed it during the failover, and pilotlight does not overwrite a person's
    /// change. Returns the change to wait for, if any.
    async fn update_record(
        &mut self,
        update: &RecordUpdate,
        target: &str,
    ) -> Result<Option<String>, WorkerError> {
        let r53 = &self.deps.clients.route53;
        let name = &update.name;
        let comment = format!("pilotlight failover of {}", self.db.name);
        match route53::change_record(r53, update, target, &comment)
            .await
            .map_err(|e| self.aws(e))?
        {
            RecordChange::Submitted(id) => {
                self.report
                    .timeline
                    .dns_change_issued_at
                    .get_or_insert_with(Utc::now);
                let detail = format!("`{name}` {:?} -> `{target}` (change `{id}`)", update.from);
                self.record("update_record", detail);
                Ok(Some(id))
            }
            RecordChange::Conflict(refusal) => {
                let (current, current_ttl) = route53::read_cname(r53, &update.hosted_zone_id, name)
                    .await
                    .map_err(|e| self.aws(e))?;
                match after_conflict(update, &current, target) {
                    AfterConflict::DoneByConcurrentRun => {
                        // A concurrent run, or this run's own change whose answer was lost and
                        // retried by the SDK: confirm it with a change of our own to wait for.
                        let confirm = RecordUpdate {
                            from: current.clone(),
                            from_ttl: current_ttl,
                            ..update.clone()
                        };
                        let detail = format!("`{name}` already points to `{target}` (a concurrent run, or a retried request): confirming it");
                        self.record("update_record", detail);
                        match route53::change_record(r53, &confirm, target, &comment)
                            .await
                            .map_err(|e| self.aws(e))?
                        {
                            RecordChange::Submitted(id) => Ok(Some(id)),
                            RecordChange::Conflict(_) => Err(WorkerError::Conflict(format!(
                                "failover of `{}` stopped: `{name}` changed during the failover: not overwriting it",
                                self.db.name
                            ))),
                        }
                    }
                    AfterConflict::ChangedByOthers => Err(WorkerError::Conflict(format!(
                        "failover of `{}` stopped: `{name}` changed during the failover from {:?} to {current:?}: not overwriting it",
                        self.db.name, update.from
                    ))),
                    AfterConflict::Unchanged => Err(self.aws(AwsError::unusable(
                        "ChangeResourceRecordSets",
                        format!("Route 53 refused to repoint `{name}`, which still holds {current:?}: {refusal}"),
                    ))),
                }
            }
        }
    }

    /// `GetChange` with backoff until every change is `INSYNC`; `false` at the deadline.
    async fn wait_in_sync(
        &mut self,
        changes: &[String],
        deadline: Instant,
    ) -> Result<bool, WorkerError> {
        for change in changes {
            let mut interval = self.first_interval();
            while !route53::change_in_sync(&self.deps.clients.route53, change)
                .await
                .map_err(|e| self.aws(e))?
            {
                if Instant::now() + interval > deadline {
                    let detail = format!("deadline reached: change `{change}` is still PENDING");
                    self.record("dns_in_sync", detail);
                    return Ok(false);
                }
                tokio::time::sleep(interval).await;
                interval = self.next_interval(interval);
            }
        }
        Ok(true)
    }

    /// DNS is in sync: tag the instance with the completion, and measure the RTO.
    async fn complete(
        &mut self,
        rds: &aws_sdk_rds::Client,
        changes: usize,
    ) -> Result<(), WorkerError> {
        let now = Utc::now();
        self.report.timeline.dns_in_sync_at = Some(now);
        if let Some(arn) = self.replica.and_then(|r| r.arn.as_deref()) {
            rds::tag_completed(rds, arn, now)
                .await
                .map_err(|e| self.aws(e))?;
        }
        self.record("dns_in_sync", format!("{changes} record change(s) INSYNC"));
        self.report.rto_seconds = self
            .report
            .timeline
            .alarm_at
            .map(|a| (now - a).num_milliseconds() as f64 / 1000.0);
        self.report.rto_breakdown = RtoBreakdown::of(&self.report.timeline);
        Ok(())
    }

    /// Publish the report, once per operation and event (`failed` once per distinct reason); a
    /// failure to publish is recorded, never fatal.
    pub(crate) async fn notify(&mut self, event: NotifyEvent) {
        let key = match event {
            // once per kind of failure (not per message: messages carry request ids)
            NotifyEvent::Failed => self
                .failure_key
                .clone()
                .unwrap_or_else(|| "failed".to_owned()),
            other => other.as_str().to_owned(),
        };
        if self.notified.contains(&key) {
            self.record(
                "notify",
                format!("{}: published already for this operation", event.as_str()),
            );
            return;
        }
        // every message carries the parts known so far (a run that stops early included)
        self.report.rto_breakdown = RtoBreakdown::of(&self.report.timeline);
        let r = &self.report;
        let subject = r.subject(event);
        let message = serde_json::json!({ "event": event, "report": r }).to_string();
        let attrs = [
            ("database", self.db.name.as_str()),
            ("outcome", r.outcome_of(event)),
            ("event", event.as_str()),
        ];
        let topic = &self.deps.config.notifications.topic_arn;
        match sns::publish(&self.deps.clients.sns, topic, &subject, &message, &attrs).await {
            Ok(()) => {
                self.notified.push(key);
                self.record("notify", format!("{}: {subject}", event.as_str()))
            }
            Err(e) => self.report.notification_errors.push(e.to_string()),
        }
    }
}
