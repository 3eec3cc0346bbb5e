//! Harness for pilotlight's end-to-end tests: starts the local AWS emulator
//! (`emulator/pilotlight_emulator.py`, moto with pilotlight's patches) on a free loopback
//! port, builds a protected-database scenario in it with the real SDK, and reads AWS state back.
//!
//! Every process a test starts is stopped when its guard drops; the emulator also exits by itself
//! when the test process is gone (`--parent-pid`).
//!
//! A harness whose setup fails stops the test loudly: `expect` and `panic!` are its error handling.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StateValue, Statistic,
};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, RrType,
};
use pilotlight::config::Config;
use serde::Deserialize;
use serde_json::{json, Value};

/// Region of the primaries and of the health check alarms.
pub const PRIMARY_REGION: &str = "us-east-1";
/// Region of the replicas, the functions and the notification topic.
pub const DR_REGION: &str = "us-west-2";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A command from the project's `.venv/bin` (installed by `make setup`), else `fallback` on the PATH.
pub fn venv_tool(name: &str, fallback: &str) -> PathBuf {
    let venv = workspace_root().join(".venv/bin").join(name);
    if venv.exists() {
        venv
    } else {
        eprintln!(
            "tests: {} is missing (run `make setup`): using `{fallback}` from PATH",
            venv.display()
        );
        fallback.into()
    }
}

/// The Python that runs the emulator: `PILOTLIGHT_PYTHON`, else the project's `.venv`, else `python3`.
pub fn python() -> PathBuf {
    match std::env::var_os("PILOTLIGHT_PYTHON") {
        Some(p) => p.into(),
        None => venv_tool("python", "python3"),
    }
}

/// Temporary credentials of one function's role, as the emulator registered it from
/// `infra/sam/template.yaml` (`POST /_pilotlight/iam/roles`).
#[derive(Debug, Clone, Deserialize)]
pub struct RoleCredentials {
    /// `ASIA...`.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token.
    pub session_token: String,
}

/// A running emulator; killed on drop.
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

/// One AWS call the emulator served.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    /// SigV4 service name (`rds`, `route53`, `monitoring`, `sns`, ...).
    pub service: String,
    /// Region the call was signed for.
    pub region: String,
    /// API action (`PromoteReadReplica`, `ChangeResourceRecordSets`, ...).
    pub action: String,
    /// HTTP status answered.
    pub status: u16,
    /// When it was served (epoch seconds).
    #[serde(default)]
    pub time: f64,
}

impl Emulator {
    /// Start an emulator on a free loopback port and wait for it to be ready.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Start an emulator with extra launcher arguments (e.g. `["--snapshot-limit", "5000"]`).
    pub fn start_with(args: &[&str]) -> Self {
        let script = workspace_root().join("emulator/pilotlight_emulator.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--host", "127.0.0.1", "--port", "0", "--parent-pid"])
            .arg(std::process::id().to_string())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator (run `make setup` to install moto)");
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("emulator READY line");
        let url = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("emulator did not start: {line:?}"))
            .to_owned();
        Self { child, url }
    }

    /// SDK configuration for `region` that reaches the emulator, with dummy credentials.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_rds::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "pilotlight-tests",
            ))
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(pilotlight::aws::MAX_ATTEMPTS),
            )
            .load()
            .await
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        control(&self.url, method, path, body)
    }

    /// Register the roles of `infra/sam/template.yaml` for a deployment of `config` (functions in
    /// [`DR_REGION`]) and return the credentials of `function`'s role: requests signed with them
    /// are authorised against that role, with IAM enforced.
    pub fn role_credentials(&self, config: &Config, function: &str) -> RoleCredentials {
        role_credentials(&self.url, config, function)
    }

    /// Forward Lambda `Invoke` calls of `function` (after the caller's IAM check) to a Lambda
    /// runtime emulator at `url` serving it as `served_as`.
    pub fn forward_lambda(&self, function: &str, url: &str, served_as: &str) {
        self.control(
            "PUT",
            "/lambda-forward",
            Some(json!({"function": function, "url": url, "served_as": served_as})),
        );
    }

    /// Make the next `count` calls of `action` fail with `error` (`"throttling"`, `"internal"`,
    /// `"unavailable"` or `{"status", "code", "message"}`).
    pub fn inject_fault(&self, action: &str, count: u32, error: Value) {
        self.control(
            "POST",
            "/faults",
            Some(json!({"action": action, "count": count, "error": error})),
        );
    }

    /// As [`Emulator::inject_fault`], only for requests whose path or body contains `matching`.
    pub fn inject_fault_matching(&self, action: &str, count: u32, error: Value, matching: &str) {
        self.control(
            "POST",
            "/faults",
            Some(json!({"action": action, "count": count, "error": error, "match": matching})),
        );
    }

    /// Clear every injected fault.
    pub fn control_clear_faults(&self) {
        self.control("DELETE", "/faults", None);
    }

    /// Set a Route 53 health check's status (`Success` or `Failure`).
    pub fn set_health_check(&self, id: &str, status: &str) {
        self.control(
            "PUT",
            &format!("/health-checks/{id}"),
            Some(json!({"status": status})),
        );
    }

    /// Route 53's checkers of health check `id`: `checkers` observations (1..16), the first
    /// `healthy` of them reporting success (Route 53 calls it healthy above 18 %).
    pub fn set_health_checkers(&self, id: &str, healthy: u32, checkers: u32) {
        self.control(
            "PUT",
            &format!("/health-checks/{id}"),
            Some(json!({"healthy_checkers": healthy, "checkers": checkers})),
        );
    }

    /// The read replication status the replica `id` in `region` reports in `StatusInfos`
    /// (`"error"`, `"stopped"`, ...; `None`: `replicating`, the default).
    pub fn set_replication(&self, region: &str, id: &str, status: Option<&str>, message: &str) {
        self.control(
            "PUT",
            &format!("/instances/{region}/{id}/replication"),
            Some(json!({"status": status, "message": message})),
        );
    }

    /// How promotions started from now on behave: `{"seconds": S}` (how long `PromoteReadReplica`
    /// takes) and/or `{"hold": true|false}` (stay `modifying` until released).
    pub fn set_promotions(&self, settings: Value) {
        self.control("PUT", "/promotions", Some(settings));
    }

    /// How reboots started from now on behave: `{"seconds": S}` (how long `RebootDBInstance`
    /// reports `rebooting`; launcher default 1) and/or `{"hold": true|false}` (stay `rebooting`
    /// until released through `/_pilotlight/reboots/release`).
    pub fn set_reboots(&self, settings: Value) {
        self.control("PUT", "/reboots", Some(settings));
    }

    /// How Aurora global switchovers and failovers started from now on behave: `{"seconds": S}`
    /// and/or `{"hold": true|false}` (`/_pilotlight/global-failovers`).
    pub fn set_global_failovers(&self, settings: Value) {
        self.control("PUT", "/global-failovers", Some(settings));
    }

    /// Finish every Aurora global switchover or failover in flight now.
    pub fn release_global_failovers(&self) {
        self.control("POST", "/global-failovers/release", Some(json!({})));
    }

    /// Cross-region automated backups replication: `{"lag_seconds": N}` (how far the latest
    /// restorable time trails now) and/or `{"pending_seconds": M}`.
    pub fn set_automated_backups_replication(&self, settings: Value) {
        self.control("PUT", "/automated-backups-replication", Some(settings));
    }

    /// How DB instance restores (`RestoreDBInstanceFromDBSnapshot`) started from now on behave:
    /// `{"seconds": S}` (how long the instance stays `creating`) and/or `{"hold": true|false}`
    /// (`/_pilotlight/restores`).
    pub fn set_restores(&self, settings: Value) {
        self.control("PUT", "/restores", Some(settings));
    }

    /// Finish every restore in flight now (`available`).
    pub fn release_restores(&self) {
        self.control("POST", "/restores/release", Some(json!({})));
    }

    /// Finish every promotion in flight now.
    pub fn release_promotions(&self) {
        self.control("POST", "/promotions/release", Some(json!({})));
    }

    /// Hold a DB instance in `status` (`backing-up`, `modifying`, ...); `None` releases it.
    pub fn hold_instance_status(&self, region: &str, id: &str, status: Option<&str>) {
        self.control(
            "PUT",
            &format!("/instances/{region}/{id}/status"),
            Some(json!({ "status": status })),
        );
    }

    /// An outage: `{"region", "service" (optional), "actions" (optional), "mode": "refused" |
    /// "timeout" | "5xx", "seconds" (timeout)}`.
    pub fn add_outage(&self, outage: Value) {
        self.control("PUT", "/outages", Some(outage));
    }

    /// End every outage (hanging requests are released at once).
    pub fn clear_outages(&self) {
        self.control("DELETE", "/outages", None);
    }

    /// Hold every snapshot copy made from now on in the `copying` state (`false`: stop holding new ones).
    pub fn hold_copies(&self, hold: bool) {
        self.control("PUT", "/snapshot-copies", Some(json!({"hold": hold})));
    }

    /// Make every held copy `available`.
    pub fn release_copies(&self) {
        self.control("POST", "/snapshot-copies/release", Some(json!({})));
    }

    /// Create a symmetric KMS key in `region` with the real AWS CLI; returns its ARN.
    pub fn create_kms_key(&self, region: &str) -> String {
        let out = Command::new(venv_tool("aws", "aws"))
            .args([
                "kms",
                "create-key",
                "--endpoint-url",
                &self.url,
                "--region",
                region,
            ])
            .args(["--query", "KeyMetadata.Arn", "--output", "text"])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .output()
            .expect("aws kms create-key");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Calls of `action` served (any status).
    pub fn calls(&self, action: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.action == action)
            .count()
    }

    /// Every AWS call served so far.
    pub fn requests(&self) -> Vec<Request> {
        serde_json::from_value(self.control("GET", "/requests", None)).unwrap_or_default()
    }

    /// Forget the calls served so far.
    pub fn clear_requests(&self) {
        self.control("DELETE", "/requests", None);
    }

    /// Successful (2xx) calls of `action`.
    pub fn succeeded(&self, action: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.action == action && (200..300).contains(&r.status))
            .count()
    }

    /// Actions that change something (anything but Describe/List/Get/Receive), as served, except
    /// pilotlight's own records in its ledger (DynamoDB: see [`Emulator::ledger_writes`]).
    pub fn mutating_calls(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.service != "dynamodb")
            .map(|r| r.action)
            .filter(|a| {
                !["Describe", "List", "Get", "Receive"]
                    .iter()
                    .any(|p| a.starts_with(p))
            })
            .collect()
    }
}

impl Emulator {
    /// Writes to the operations ledger (DynamoDB `PutItem`, `UpdateItem`), as served.
    pub fn ledger_writes(&self) -> usize {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.service == "dynamodb" && matches!(r.action.as_str(), "PutItem" | "UpdateItem")
            })
            .count()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A protected database built in the emulator: a primary in [`PRIMARY_REGION`], its read replica
/// in [`DR_REGION`], a hosted zone with a CNAME to the primary, a health check and its alarm, the
/// replica's `ReplicaLag`, an SNS topic with an SQS queue subscribed.
pub struct Scenario {
    /// The database's name in the configuration.
    pub name: String,
    /// The configuration document for it.
    pub config: Config,
    /// Hosted zone id.
    pub zone_id: String,
    /// The record's name.
    pub record_name: String,
    /// The health check id.
    pub health_check_id: String,
    /// The alarm name.
    pub alarm_name: String,
    /// The queue subscribed to the topic.
    pub queue_url: String,
    /// Primary endpoint.
    pub primary_endpoint: String,
    /// Replica endpoint.
    pub replica_endpoint: String,
    /// Clients for checking state.
    pub aws: AwsState,
    /// The emulator's URL (for registering function roles).
    pub emulator_url: String,
}

/// SDK clients the tests use to arrange and to check AWS state.
#[derive(Clone)]
pub struct AwsState {
    /// RDS in the primary region.
    pub rds_primary: aws_sdk_rds::Client,
    /// RDS in the DR region.
    pub rds_dr: aws_sdk_rds::Client,
    /// Route 53.
    pub route53: aws_sdk_route53::Client,
    /// CloudWatch in the primary region (alarms).
    pub cw_primary: aws_sdk_cloudwatch::Client,
    /// CloudWatch in the DR region (replica lag).
    pub cw_dr: aws_sdk_cloudwatch::Client,
    /// SNS in the DR region.
    pub sns: aws_sdk_sns::Client,
    /// SQS in the DR region.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB in the DR region (the functions' region: the ledger).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The SDK configuration (DR region) the functions use.
    pub sdk: SdkConfig,
}

impl AwsState {
    /// Clients for the emulator.
    pub async fn new(emu: &Emulator) -> Self {
        let p = emu.sdk_config(PRIMARY_REGION).await;
        let d = emu.sdk_config(DR_REGION).await;
        Self {
            rds_primary: aws_sdk_rds::Client::new(&p),
            rds_dr: aws_sdk_rds::Client::new(&d),
            route53: aws_sdk_route53::Client::new(&p),
            cw_primary: aws_sdk_cloudwatch::Client::new(&p),
            cw_dr: aws_sdk_cloudwatch::Client::new(&d),
            sns: aws_sdk_sns::Client::new(&d),
            sqs: aws_sdk_sqs::Client::new(&d),
            dynamodb: aws_sdk_dynamodb::Client::new(&d),
            sdk: d,
        }
    }
}

impl Scenario {
    /// Build the scenario `name` with the replica's lag at `lag_seconds` (none when `None`) and
    /// the given RPO budget.
    pub async fn create(
        emu: &Emulator,
        name: &str,
        lag_seconds: Option<f64>,
        rpo_budget_seconds: u64,
    ) -> Self {
        Self::create_with_engine(emu, name, "postgres", lag_seconds, rpo_budget_seconds).await
    }

    /// As [`Scenario::create`], with the RDS `engine` of primary and replica (`postgres`, `mysql`).
    pub async fn create_with_engine(
        emu: &Emulator,
        name: &str,
        engine: &str,
        lag_seconds: Option<f64>,
        rpo_budget_seconds: u64,
    ) -> Self {
        let aws = AwsState::new(emu).await;
        let primary_id = format!("{name}-primary");
        let replica_id = format!("{name}-replica");
        let primary = aws
            .rds_primary
            .create_db_instance()
            .db_instance_identifier(&primary_id)
            .engine(engine)
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .master_username("pilotlight")
            .master_user_password("not-a-secret-1")
            .send()
            .await
            .expect("create primary");
        let primary_arn = primary
            .db_instance()
            .and_then(|i| i.db_instance_arn())
            .expect("arn")
            .to_owned();
        let primary_endpoint = primary
            .db_instance()
            .and_then(|i| i.endpoint())
            .and_then(|e| e.address())
            .expect("endpoint")
            .to_owned();
        let replica = aws
            .rds_dr
            .create_db_instance_read_replica()
            .db_instance_identifier(&replica_id)
            .source_db_instance_identifier(&primary_arn)
            .send()
            .await
            .expect("create replica");
        let replica_endpoint = replica
            .db_instance()
            .and_then(|i| i.endpoint())
            .and_then(|e| e.address())
            .expect("endpoint")
            .to_owned();

        let zone_name = format!("{name}.example.internal");
        let zone = aws
            .route53
            .create_hosted_zone()
            .name(&zone_name)
            .caller_reference(format!("{name}-zone"))
            .send()
            .await
            .expect("create zone");
        let zone_id = zone
            .hosted_zone()
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
            .expect("zone");
        let record_name = format!("db.{zone_name}");
        aws.route53
            .change_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .changes(
                        Change::builder()
                            .action(ChangeAction::Create)
                            .resource_record_set(
                                ResourceRecordSet::builder()
                                    .name(&record_name)
                                    .r#type(RrType::Cname)
                                    .ttl(60)
                                    .resource_records(
                                        ResourceRecord::builder()
                                            .value(&primary_endpoint)
                                            .build()
                                            .expect("rr"),
                                    )
                                    .build()
                                    .expect("rrset"),
                            )
                            .build()
                            .expect("change"),
                    )
                    .build()
                    .expect("batch"),
            )
            .send()
            .await
            .expect("create record");

        let health_check_id = aws
            .route53
            .create_health_check()
            .caller_reference(format!("{name}-hc"))
            .health_check_config(
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Tcp)
                    .fully_qualified_domain_name(&primary_endpoint)
                    .port(5432)
                    .build()
                    .expect("hc config"),
            )
            .send()
            .await
            .expect("create health check")
            .health_check()
            .map(|h| h.id().to_owned())
            .expect("hc id");
        emu.set_health_check(&health_check_id, "Success");

        let alarm_name = format!("{name}-primary-unhealthy");
        aws.cw_primary
            .put_metric_alarm()
            .alarm_name(&alarm_name)
            .namespace("AWS/Route53")
            .metric_name("HealthCheckStatus")
            .dimensions(
                Dimension::builder()
                    .name("HealthCheckId")
                    .value(&health_check_id)
                    .build(),
            )
            .statistic(Statistic::Minimum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::LessThanThreshold)
            .send()
            .await
            .expect("put alarm");
        set_alarm(&aws.cw_primary, &alarm_name, StateValue::Ok).await;

        if let Some(lag) = lag_seconds {
            put_replica_lag(&aws.cw_dr, &replica_id, lag).await;
        }

        let topic_arn = aws
            .sns
            .create_topic()
            .name(format!("{name}-notifications"))
            .send()
            .await
            .expect("topic")
            .topic_arn()
            .expect("arn")
            .to_owned();
        let queue_url = aws
            .sqs
            .create_queue()
            .queue_name(format!("{name}-notifications"))
            .send()
            .await
            .expect("queue")
            .queue_url()
            .expect("url")
            .to_owned();
        let queue_arn = format!("arn:aws:sqs:{DR_REGION}:123456789012:{name}-notifications");
        aws.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("subscribe");

        create_ledger_table(&aws.dynamodb, &format!("{name}-ledger")).await;
        let config = Config::from_json(
            &json!({
                "databases": [{
                    "name": name,
                    "primary": {"region": PRIMARY_REGION, "instance_id": primary_id},
                    "replica": {"region": DR_REGION, "instance_id": replica_id},
                    "records": [{"hosted_zone_id": zone_id, "name": record_name, "type": "CNAME", "ttl": 60}],
                    "alarms": [{"name": alarm_name, "region": PRIMARY_REGION}],
                    "health_check_id": health_check_id,
                    "rpo_budget_seconds": rpo_budget_seconds
                }],
                "notifications": {"topic_arn": topic_arn},
                "ledger": {"table_name": format!("{name}-ledger"), "lease_seconds": 5},
                "functions": {"failover": format!("{name}-failover")},
                "failover": {"deadline_seconds": 60, "lag_lookback_seconds": 600, "poll_interval_ms": 100, "max_poll_interval_ms": 1000, "evidence_wait_seconds": 0}
            })
            .to_string(),
        )
        .expect("valid config");
        Self {
            name: name.to_owned(),
            config,
            zone_id,
            record_name,
            health_check_id,
            alarm_name,
            queue_url,
            primary_endpoint,
            replica_endpoint,
            aws,
            emulator_url: emu.url.clone(),
        }
    }

    /// The primary goes down: RDS reports it `failed`, health check failing, the replica reports
    /// read replication `error` (it lost its source: the evidence from the replica's side), alarm
    /// in `ALARM`. [`Scenario::primary_back`] makes it `available` again.
    pub async fn primary_down(&self, emu: &Emulator) {
        emu.hold_instance_status(
            PRIMARY_REGION,
            &format!("{}-primary", self.name),
            Some("failed"),
        );
        emu.set_health_check(&self.health_check_id, "Failure");
        emu.set_replication(
            DR_REGION,
            &format!("{}-replica", self.name),
            Some("error"),
            "Replication has stopped: the source is unreachable.",
        );
        set_alarm(&self.aws.cw_primary, &self.alarm_name, StateValue::Alarm).await;
    }

    /// The old primary is `available` again (its status no longer held).
    pub fn primary_back(&self, emu: &Emulator) {
        emu.hold_instance_status(PRIMARY_REGION, &format!("{}-primary", self.name), None);
    }

    /// The primary is down but the replica still replicates (no evidence from its side): health
    /// check failing, alarm in `ALARM`.
    pub async fn primary_unhealthy_only(&self, emu: &Emulator) {
        emu.set_health_check(&self.health_check_id, "Failure");
        set_alarm(&self.aws.cw_primary, &self.alarm_name, StateValue::Alarm).await;
    }

    /// The failover request an alarm on this scenario's primary sends (delivered by SNS, state
    /// change now). Lambda's retries of one event send the same request again.
    pub fn alarm_request(&self) -> pilotlight::command::FailoverRequest {
        pilotlight::command::FailoverRequest {
            database: self.name.clone(),
            dry_run: false,
            force: false,
            reason: None,
            dr_detection: None,
            trigger: Some(pilotlight::command::AlarmTrigger {
                alarm_name: self.alarm_name.clone(),
                state: "ALARM".into(),
                state_change_time: Some(chrono::Utc::now()),
                region: Some(PRIMARY_REGION.into()),
                health_check_id: Some(self.health_check_id.clone()),
                delivered_by: pilotlight::command::Delivery::Sns,
            }),
        }
    }

    /// A person's failover request (`reason` "drill").
    pub fn manual_request(
        &self,
        dry_run: bool,
        force: bool,
    ) -> pilotlight::command::FailoverRequest {
        pilotlight::command::FailoverRequest {
            database: self.name.clone(),
            dry_run,
            force,
            reason: Some("drill".into()),
            trigger: None,
            dr_detection: None,
        }
    }

    /// The failover function's dependencies, reaching the emulator with the failover role.
    pub fn failover_deps(&self) -> failover::Deps {
        failover::Deps {
            config: self.config.clone(),
            clients: self.role_clients("failover", &self.config),
        }
    }

    /// Clients for `function` deployed with `config`, signed with that function's role from
    /// `infra/sam/template.yaml` (IAM enforced by the emulator).
    pub fn role_clients(&self, function: &str, config: &Config) -> pilotlight::aws::Clients {
        let creds = role_credentials(&self.emulator_url, config, function);
        let sdk = self
            .aws
            .sdk
            .to_builder()
            .credentials_provider(aws_sdk_rds::config::SharedCredentialsProvider::new(
                aws_sdk_rds::config::Credentials::new(
                    creds.access_key_id,
                    creds.secret_access_key,
                    Some(creds.session_token),
                    None,
                    "pilotlight-role",
                ),
            ))
            .build();
        pilotlight::aws::Clients::new(&sdk, config)
    }

    /// Where the record points now.
    pub async fn record_values(&self) -> Vec<String> {
        let out = self
            .aws
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .expect("list records");
        out.resource_record_sets()
            .iter()
            .filter(|r| r.name().trim_end_matches('.') == self.record_name)
            .flat_map(|r| r.resource_records().iter().map(|v| v.value().to_owned()))
            .collect()
    }

    /// The replica's `ReadReplicaSourceDBInstanceIdentifier` and status.
    pub async fn replica(&self) -> (Option<String>, String) {
        let out = self
            .aws
            .rds_dr
            .describe_db_instances()
            .db_instance_identifier(format!("{}-replica", self.name))
            .send()
            .await
            .expect("describe replica");
        let i = &out.db_instances()[0];
        (
            i.read_replica_source_db_instance_identifier()
                .map(str::to_owned),
            i.db_instance_status().unwrap_or_default().to_owned(),
        )
    }

    /// The notifications received so far (SNS → SQS, raw delivery): `(attributes, body)`.
    pub async fn notifications(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..10 {
            let out = self
                .aws
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                all.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null));
                if let Some(h) = m.receipt_handle() {
                    let _ = self
                        .aws
                        .sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(h)
                        .send()
                        .await;
                }
            }
        }
        all
    }
}

/// The ledger table as `infra/` creates it (keys `pk`, `sk`; on-demand), named as the templates
/// name it: `<NamePrefix>-ledger`.
pub async fn create_ledger_table(dynamodb: &aws_sdk_dynamodb::Client, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    let key = |n: &str, k: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(k)
            .build()
            .expect("key")
    };
    dynamodb
        .create_table()
        .table_name(table)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the ledger table");
}

/// A call to the emulator's control API (`/_pilotlight/...`) at `url`.
fn control(url: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let req = ureq::request(method, &format!("{url}/_pilotlight{path}"));
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    }
    .unwrap_or_else(|e| panic!("emulator control {method} {path}: {e}"));
    resp.into_json().unwrap_or(Value::Null)
}

/// See [`Emulator::role_credentials`].
pub fn role_credentials(url: &str, config: &Config, function: &str) -> RoleCredentials {
    let answer = control(
        url,
        "POST",
        "/iam/roles",
        Some(json!({"region": DR_REGION, "config": config})),
    );
    serde_json::from_value(answer["functions"][function].clone())
        .unwrap_or_else(|e| panic!("no role for {function} in {answer}: {e}"))
}

/// `SetAlarmState`.
pub async fn set_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue) {
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .expect("set alarm state");
}

/// `PutMetricData` of `AWS/RDS` `ReplicaLag` for `instance_id`, now.
pub async fn put_replica_lag(cw: &aws_sdk_cloudwatch::Client, instance_id: &str, lag: f64) {
    cw.put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            MetricDatum::builder()
                .metric_name("ReplicaLag")
                .dimensions(
                    Dimension::builder()
                        .name("DBInstanceIdentifier")
                        .value(instance_id)
                        .build(),
                )
                .value(lag)
                .timestamp(aws_smithy_types::DateTime::from_secs(
                    chrono::Utc::now().timestamp(),
                ))
                .build(),
        )
        .send()
        .await
        .expect("put replica lag");
}

/// `PutMetricData` of one metric with one dimension: `(minutes ago, value)` datapoints, each at
/// the start of its minute.
pub async fn put_metric_series(
    cw: &aws_sdk_cloudwatch::Client,
    namespace: &str,
    metric: &str,
    dimension: (&str, &str),
    points: &[(i64, f64)],
) {
    let minute = chrono::Utc::now().timestamp() / 60 * 60;
    for chunk in points.chunks(20) {
        let data = chunk
            .iter()
            .map(|(ago, v)| {
                MetricDatum::builder()
                    .metric_name(metric)
                    .dimensions(
                        Dimension::builder()
                            .name(dimension.0)
                            .value(dimension.1)
                            .build(),
                    )
                    .value(*v)
                    .timestamp(aws_smithy_types::DateTime::from_secs(minute - ago * 60))
                    .build()
            })
            .collect();
        cw.put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .expect("put metric data");
    }
}

/// Sleep helper for polling loops in tests.
pub async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// An Aurora global database on top of a [`Scenario`] (its zone, record, health check, alarm,
/// topic and ledger): a primary cluster in [`PRIMARY_REGION`] and a secondary in [`DR_REGION`],
/// each with one instance, members of the global database `<name>-global`; the record points at
/// the primary cluster's endpoint, and the configuration holds one `aurora_global` entry.
pub struct AuroraScenario {
    /// The shared pieces; `base.config` is the Aurora configuration.
    pub base: Scenario,
    /// Global cluster id.
    pub global_id: String,
    /// Primary cluster ARN.
    pub primary_arn: String,
    /// Secondary cluster ARN.
    pub secondary_arn: String,
    /// Primary cluster endpoint.
    pub primary_endpoint: String,
    /// Secondary cluster endpoint.
    pub secondary_endpoint: String,
}

impl AuroraScenario {
    /// Build it; `secondary_version`: the secondary's engine version (the primary's is
    /// `8.0.mysql_aurora.3.05.2`).
    pub async fn create(
        emu: &Emulator,
        name: &str,
        rpo_budget_seconds: u64,
        secondary_version: &str,
    ) -> Self {
        let mut base = Scenario::create(emu, name, None, rpo_budget_seconds).await;
        let global_id = format!("{name}-global");
        let cluster = |rds: aws_sdk_rds::Client,
                       id: String,
                       version: String,
                       global: Option<String>| async move {
            let out = rds
                .create_db_cluster()
                .db_cluster_identifier(&id)
                .engine("aurora-mysql")
                .engine_version(version)
                .master_username("pilotlight")
                .master_user_password("not-a-secret-1")
                .set_global_cluster_identifier(global)
                .send()
                .await
                .expect("create cluster");
            rds.create_db_instance()
                .db_instance_identifier(format!("{id}-1"))
                .db_cluster_identifier(&id)
                .engine("aurora-mysql")
                .db_instance_class("db.r6g.large")
                .send()
                .await
                .expect("create cluster instance");
            let c = out.db_cluster().expect("cluster");
            (
                c.db_cluster_arn().expect("arn").to_owned(),
                c.endpoint().expect("endpoint").to_owned(),
            )
        };
        let (primary_arn, primary_endpoint) = cluster(
            base.aws.rds_primary.clone(),
            format!("{name}-use1"),
            "8.0.mysql_aurora.3.05.2".into(),
            None,
        )
        .await;
        base.aws
            .rds_primary
            .create_global_cluster()
            .global_cluster_identifier(&global_id)
            .source_db_cluster_identifier(&primary_arn)
            .send()
            .await
            .expect("create global cluster");
        let (secondary_arn, secondary_endpoint) = cluster(
            base.aws.rds_dr.clone(),
            format!("{name}-usw2"),
            secondary_version.into(),
            Some(global_id.clone()),
        )
        .await;
        // the record points at the primary cluster
        let record = aws_sdk_route53::types::ResourceRecordSet::builder()
            .name(format!("{}.", base.record_name.trim_end_matches('.')))
            .r#type(aws_sdk_route53::types::RrType::Cname)
            .ttl(60)
            .resource_records(
                aws_sdk_route53::types::ResourceRecord::builder()
                    .value(&primary_endpoint)
                    .build()
                    .expect("value"),
            )
            .build()
            .expect("record");
        base.aws
            .route53
            .change_resource_record_sets()
            .hosted_zone_id(&base.zone_id)
            .change_batch(
                aws_sdk_route53::types::ChangeBatch::builder()
                    .changes(
                        aws_sdk_route53::types::Change::builder()
                            .action(aws_sdk_route53::types::ChangeAction::Upsert)
                            .resource_record_set(record)
                            .build()
                            .expect("change"),
                    )
                    .build()
                    .expect("batch"),
            )
            .send()
            .await
            .expect("point the record at the primary cluster");
        let mut doc: Value =
            serde_json::from_str(&serde_json::to_string(&base.config).expect("json"))
                .expect("json");
        doc["databases"] = json!([{
            "name": name,
            "kind": "aurora_global",
            "global_cluster_id": global_id,
            "primary": {"region": PRIMARY_REGION, "cluster_id": format!("{name}-use1")},
            "secondary": {"region": DR_REGION, "cluster_id": format!("{name}-usw2")},
            "records": [{"hosted_zone_id": base.zone_id, "name": base.record_name, "type": "CNAME", "ttl": 60}],
            "alarms": [{"name": base.alarm_name, "region": PRIMARY_REGION}],
            "health_check_id": base.health_check_id,
            "rpo_budget_seconds": rpo_budget_seconds
        }]);
        base.config = Config::from_json(&doc.to_string()).expect("aurora config");
        emu.clear_requests();
        Self {
            base,
            global_id,
            primary_arn,
            secondary_arn,
            primary_endpoint,
            secondary_endpoint,
        }
    }

    /// `PutMetricData` of the secondary's `AuroraGlobalDBRPOLag` (milliseconds) at each of
    /// `minutes_ago`.
    pub async fn put_lag_ms(&self, ms: f64, minutes_ago: &[i64]) {
        let points: Vec<(i64, f64)> = minutes_ago.iter().map(|m| (*m, ms)).collect();
        put_metric_series(
            &self.base.aws.cw_dr,
            "AWS/RDS",
            "AuroraGlobalDBRPOLag",
            ("DBClusterIdentifier", &format!("{}-usw2", self.base.name)),
            &points,
        )
        .await;
    }

    /// The writer's ARN, as the global database reports it.
    pub async fn writer(&self) -> String {
        let out = self
            .base
            .aws
            .rds_dr
            .describe_global_clusters()
            .global_cluster_identifier(&self.global_id)
            .send()
            .await
            .expect("describe global cluster");
        out.global_clusters()
            .first()
            .and_then(|g| {
                g.global_cluster_members()
                    .iter()
                    .find(|m| m.is_writer() == Some(true))
            })
            .and_then(|m| m.db_cluster_arn())
            .unwrap_or_default()
            .to_owned()
    }
}
