//! End to end: the real binaries under `cargo lambda watch` (the Lambda runtime emulator), driven
//! by the real AWS CLI (`aws lambda invoke`), against the local AWS emulator. AWS state is checked
//! afterwards with the AWS API.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // a broken test setup should stop the test loudly

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::{workspace_root, Emulator, Scenario};

fn tool(name: &str) -> PathBuf {
    tests::venv_tool(name, name)
}

/// `cargo lambda watch` serving one function (`--bin`) with its own role's credentials, as Lambda
/// gives a function its execution role; killed (with its process group) on drop.
struct Watch {
    child: Child,
    port: u16,
    _logs: PathBuf,
}

impl Watch {
    /// Serve `bin` deployed with `config`; its Lambda calls go to the emulator, which authorises
    /// them against `bin`'s role and forwards them to the watch serving the callee.
    fn start(emu: &Emulator, config: &pilotlight::Config, bin: &str) -> Self {
        let creds = emu.role_credentials(config, bin);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        // never inside a crate directory: the watcher would rebuild on every log line
        let logs =
            std::env::temp_dir().join(format!("pilotlight-watch-{}-{bin}.log", std::process::id()));
        let log = std::fs::File::create(&logs).expect("log file");
        let mut cmd = Command::new(tool("cargo-lambda"));
        cmd.args([
            "lambda",
            "watch",
            "--bin",
            bin,
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .current_dir(workspace_root())
        .env(
            "PATH",
            format!(
                "{}:{}",
                workspace_root().join(".venv/bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env(
            "PILOTLIGHT_CONFIG",
            serde_json::to_string(config).expect("config json"),
        )
        .env("AWS_ENDPOINT_URL", &emu.url)
        .env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key)
        .env("AWS_SESSION_TOKEN", &creds.session_token)
        .env("AWS_REGION", tests::DR_REGION)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log);
        let child = cmd
            .spawn()
            .expect("start `cargo lambda watch` (run `make setup` to install cargo-lambda)");
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen; see {}",
                logs.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Self {
            child,
            port,
            _logs: logs,
        }
    }

    /// `aws lambda invoke` → (metadata printed by the CLI, the function's output).
    fn invoke(&self, function: &str, payload: &Value) -> (Value, Value) {
        let dir = std::env::temp_dir();
        let input = dir.join(format!(
            "pilotlight-in-{}-{function}.json",
            std::process::id()
        ));
        let output = dir.join(format!(
            "pilotlight-out-{}-{function}.json",
            std::process::id()
        ));
        std::fs::write(&input, payload.to_string()).expect("payload");
        let out = Command::new(tool("aws"))
            .args(["lambda", "invoke", "--endpoint-url"])
            .arg(format!("http://127.0.0.1:{}", self.port))
            .args([
                "--region",
                tests::DR_REGION,
                "--function-name",
                function,
                "--payload",
            ])
            .arg(format!("file://{}", input.display()))
            .arg(&output)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_MAX_ATTEMPTS", "1")
            .output()
            .expect("run the AWS CLI");
        assert!(
            out.status.success(),
            "aws lambda invoke: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let body = std::fs::read(&output)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        (meta, body)
    }
}

impl Watch {
    /// `cargo lambda invoke` of a payload the function rejects → what it printed.
    fn invoke_error(&self, function: &str, payload: &Value) -> String {
        let out = Command::new(tool("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
            ])
            .arg(self.port.to_string())
            .args(["--data-ascii", &payload.to_string(), function])
            .current_dir(workspace_root())
            .output()
            .expect("run cargo lambda invoke");
        assert!(!out.status.success(), "the function accepted {payload}");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SIGTERM lets cargo-lambda stop the function instances it spawned; then make sure.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SNS alarm notification from `events/`, renamed to the scenario's alarm and timed now.
fn sns_alarm(s: &Scenario) -> Value {
    let raw = std::fs::read_to_string(workspace_root().join("events/sns-alarm-orders-alarm.json"))
        .expect("fixture");
    let mut event: Value = serde_json::from_str(&raw).expect("json");
    let mut msg: Value = serde_json::from_str(
        event["Records"][0]["Sns"]["Message"]
            .as_str()
            .expect("message"),
    )
    .expect("alarm");
    msg["AlarmName"] = json!(s.alarm_name);
    msg["AlarmArn"] = json!(format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}",
        s.alarm_name
    ));
    msg["StateChangeTime"] = json!(chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string());
    event["Records"][0]["Sns"]["Message"] = json!(msg.to_string());
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn an_sns_alarm_through_the_router_fails_over_under_the_lambda_emulator() {
    let emu = Emulator::start();
    // Under cargo lambda watch a failover run reaches its Lambda deadline at once (observed: the
    // invocation's deadline leaves no time to wait), so here promotions finish at once; runs
    // that outlive their deadline are tested in failover_emulator.rs.
    emu.set_promotions(json!({"seconds": 0}));
    let s = Scenario::create(&emu, "orders", Some(3.0), 300).await;
    // Each function under its own role; the router's Invoke of the failover function goes
    // through the emulator (IAM) to the watch serving it.
    let worker = Watch::start(&emu, &s.config, "failover");
    emu.forward_lambda(
        &s.config.functions.failover,
        &format!("http://127.0.0.1:{}", worker.port),
        "failover",
    );
    let watch = Watch::start(&emu, &s.config, "router");

    // a person's command is answered synchronously through the router
    let (_, status) = watch.invoke("router", &json!({"command": "status"}));
    assert_eq!(
        status["databases"][0]["replica"]["status"], "available",
        "{status}"
    );
    let (_, plan) = watch.invoke(
        "router",
        &json!({"command": "failover", "database": "orders", "dry_run": true}),
    );
    assert_eq!(plan["outcome"], "refused", "the primary is healthy: {plan}");
    // cargo lambda watch answers a function error with HTTP 500, which the AWS CLI does not
    // parse; `cargo lambda invoke` shows it.
    let err = watch.invoke_error(
        "router",
        &json!({"command": "failover", "database": "payments"}),
    );
    assert!(
        err.contains("UnknownDatabase") && err.contains("payments"),
        "{err}"
    );

    s.primary_down(&emu).await;
    let (_, routed) = watch.invoke("router", &sns_alarm(&s));
    assert_eq!(
        routed["routed"][0]["invocation"], "asynchronous",
        "{routed}"
    );

    let deadline = Instant::now() + Duration::from_secs(180);
    while s.record_values().await != vec![s.replica_endpoint.clone()] {
        assert!(
            Instant::now() < deadline,
            "DNS was not repointed; requests: {:#?}",
            emu.requests()
        );
        tests::pause(500).await;
    }
    assert_eq!(
        s.replica().await,
        (None, "available".to_owned()),
        "the replica is standalone"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut messages = Vec::new();
    while !messages.iter().any(|m: &Value| m["event"] == "result") {
        assert!(
            Instant::now() < deadline,
            "no result notification: {messages:#?}"
        );
        messages.extend(s.notifications().await);
        tests::pause(200).await;
    }
    let result = messages
        .iter()
        .find(|m| m["event"] == "result")
        .expect("result");
    assert_eq!(result["report"]["outcome"], "failed_over");
    assert_eq!(
        result["report"]["writer_endpoint"],
        s.replica_endpoint.as_str()
    );
    assert_eq!(emu.succeeded("PromoteReadReplica"), 1);
}
