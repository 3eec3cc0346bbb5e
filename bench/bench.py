#!/usr/bin/env python3
"""pilotlight benchmark: measures the release binaries of the four functions and prints one table.

It builds nothing. It runs ``<bin-dir>/<function>/bootstrap`` (default ``target/lambda``, where
``cargo lambda build --release`` puts them; with ``--output-format zip`` only ``bootstrap.zip`` is
there and the binary is taken from it) as Lambda would start it, against a small local
stand-in for the Lambda Runtime API and, for the jobs, against pilotlight's AWS emulator
(``emulator/pilotlight_emulator.py``, started through ``emulator/harness.py``), and measures:

* cold start: process start (just before ``Popen``) to the first ``GET .../invocation/next``;
* peak RSS (``wait4`` ``ru_maxrss``), wall time (event served -> response received) and CPU time
  (``ru_utime + ru_stime``) of one whole job per function;
* the size of each ``bootstrap.zip`` and the binary's architecture (ELF header);
* the AWS API calls of each job, by action, from the emulator's request log, against what they
  should be;
* how snapshot-copy and retention scale (databases, snapshots).

It is a benchmark, not a test: it prints figures next to their budgets and never fails on a budget.
It exits non-zero when something could not be measured at all, and with ``--quick`` (the CI smoke
run) also when a job did not do what it must (AWS calls other than expected, no failover).

Usage: .venv/bin/python bench/bench.py [--bin-dir DIR] [--runs N] [--quick]
                                       [--only cold,memory,size,calls,scale,rto] [--keep-logs]
                                       [--rto-promotion-seconds S] [--rto-runs N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "emulator"))
sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
from harness import Emulator  # noqa: E402 - emulator/harness.py, the one launcher harness

EVENTS = ROOT / "events"
FUNCTIONS = ["router", "failover", "snapshot-copy", "retention"]
FLOOR = "(floor)"  # cold-start baseline: bash sending the same GET

MIB = 1024 * 1024
COLD_START_BUDGET_MS = 15.0
RSS_BUDGET_MB = {"router": 40, "failover": 40, "snapshot-copy": 64, "retention": 64}
ZIP_BUDGET_MB = 5.0

PRIMARY, DR = "us-east-1", "us-west-2"
ACCOUNT = "123456789012"
PROTECT_TAG = ("pilotlight:protect", "true")
PAGE = 100  # records per page of every list call pilotlight makes
LIST_ACTIONS = ("DescribeDBInstances", "DescribeDBClusters", "DescribeDBSnapshots", "DescribeDBClusterSnapshots")
RETENTION_POLICY = {"max_age_days": 30, "min_keep": 3, "daily": 7, "weekly": 4, "monthly": 12}

# The minimal failover (one record, one alarm, a health check), as the README states it.
EXPECTED_FAILOVER_CALLS = Counter(
    {
        "DescribeDBInstances": 3,  # primary and replica (observation), then 1 poll until standalone
        "GetMetricStatistics": 3,  # ReplicaLag, HealthCheckStatus (the onset), TransactionLogsGeneration
        "DescribeAlarms": 1,
        "GetHealthCheckStatus": 1,
        "ListResourceRecordSets": 1,
        "Publish": 2,  # decision, result
        "AddTagsToResource": 2,  # the decision before the promotion, the completion after DNS
        "PromoteReadReplica": 1,
        "ChangeResourceRecordSets": 1,
        "GetChange": 1,
        # the operations ledger: the lease, the existing-operation check, the operation opened
        # before the promotion and closed after DNS (each one transaction: the operation and the
        # state's pointer), the lease given back
        "UpdateItem": 2,
        "GetItem": 1,
        "TransactWriteItems": 2,
    }
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ================================================================================================
# Lambda Runtime API stand-in (and the Lambda Invoke API, for the router)
# ================================================================================================
@dataclass
class Invocation:
    kind: str  # "response" | "error" | "init-error"
    body: bytes
    at: float  # perf_counter
    headers: dict[str, str]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed function resets its connections: that is how every run ends, not an error.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class RuntimeApi:
    """A ThreadingHTTPServer on 127.0.0.1:0 speaking the parts of the Lambda Runtime API a Rust
    function uses. It serves the queued events in order; once they are gone, a ``GET next`` is
    held open until the stand-in closes (the function is killed before that). It records the time
    of the first ``GET next``, when each event was served and the function's answer."""

    def __init__(self, events: list[bytes] | None = None, function_arn: str = "") -> None:
        self.events: deque[bytes] = deque(events or [])
        self.function_arn = function_arn
        self.lock = threading.Lock()
        self.first_next: float | None = None
        self.got_first_next = threading.Event()
        self.served_at: float | None = None
        self.answer: Invocation | None = None
        self.answers: list[Invocation] = []  # every answer, in order (a warm process serves several)
        self.answered = threading.Event()
        self.stopping = threading.Event()
        self.invokes: list[dict[str, Any]] = []  # Lambda Invoke calls (router)
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self) -> None:  # noqa: N802
                now = time.perf_counter()
                if not self.path.startswith("/2018-06-01/runtime/invocation/next"):
                    self._send(404, b'{"message": "not found"}')
                    return
                with api.lock:
                    if api.first_next is None:
                        api.first_next = now
                        api.got_first_next.set()
                    event = api.events.popleft() if api.events else None
                if event is None:  # hold it: the bench kills the function meanwhile
                    while not api.stopping.wait(0.05):
                        pass
                    self.close_connection = True
                    return
                request_id = f"bench-{int(time.time() * 1000)}"
                deadline_ms = int((time.time() + 900) * 1000)
                self._send(
                    200,
                    event,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                        "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
                    },
                )
                api.served_at = time.perf_counter()

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                now = time.perf_counter()
                m = re.match(r"^/2018-06-01/runtime/invocation/[^/]+/(response|error)$", self.path)
                if m or self.path == "/2018-06-01/runtime/init/error":
                    kind = m.group(1) if m else "init-error"
                    api.answer = Invocation(kind, body, now, dict(self.headers.items()))
                    api.answers.append(api.answer)
                    self._send(202, b'{"status": "OK"}', {"Content-Type": "application/json"})
                    api.answered.set()
                    return
                m = re.match(r"^/2015-03-31/functions/([^/]+)/invocations$", self.path)
                if m:  # Lambda Invoke (the router's call to a worker)
                    kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                    api.invokes.append({"function": m.group(1), "type": kind, "body": body})
                    if kind == "Event":
                        self._send(202, b"", {"x-amzn-RequestId": "bench"})
                    else:
                        self._send(200, b"{}", {"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST"})
                    return
                self._send(404, b'{"message": "not found"}')

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


# ================================================================================================
# The emulator
# ================================================================================================
def start_emulator(logdir: Path, name: str, promotion_seconds: float = 0) -> Emulator:
    """pilotlight's AWS emulator on a free port (``emulator/harness.py``), exits with the bench
    (``--parent-pid``); its stderr in ``<logdir>/emulator-<name>.log``, its cwd ``logdir``.
    Promotions are instant by default (the figures are pilotlight's own cost, not RDS's); the RTO
    section sets how long one lasts."""
    python = ROOT / ".venv" / "bin" / "python"
    return Emulator(
        "--snapshot-limit", "100000",
        "--promotion-seconds", str(promotion_seconds),
        log_file=logdir / f"emulator-{name}.log",
        cwd=logdir,
        python=python if python.exists() else sys.executable,
        max_attempts=3,
        max_pool_connections=16,
        timeout=300,
    )


# ================================================================================================
# Running a function
# ================================================================================================
@dataclass
class JobResult:
    function: str
    job: str
    rss_mb: float | None = None
    wall_s: float | None = None
    cpu_s: float | None = None
    answer_kind: str | None = None
    answer: Any = None
    answer_bytes: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)  # emulator request log of the job
    invokes: list[dict[str, Any]] = field(default_factory=list)  # Lambda Invoke calls (stand-in)
    error: str | None = None
    note: str = ""
    hwm_mb: float | None = None  # VmHWM just before SIGTERM, a cross-check of ru_maxrss
    log_path: Path | None = None  # the function's stdout and stderr

    def counts(self) -> Counter[str]:
        return Counter(c["action"] for c in self.calls)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.bin_dir = Path(args.bin_dir)
        if not self.bin_dir.is_absolute():
            self.bin_dir = (Path.cwd() / self.bin_dir).resolve()
        self.tmp = Path(tempfile.mkdtemp(prefix="pilotlight-bench-"))
        self.home = self.tmp / "home"  # empty: no ~/.aws of whoever runs the bench
        self.home.mkdir()
        self.binaries: dict[str, Path] = {}
        self.subreaper = False
        self.binary_notes: dict[str, str] = {}
        self.unmeasured: list[str] = []
        self.notes: list[str] = []
        self.example_config = json.loads((EVENTS / "config.example.json").read_text())

    # ---------------------------------------------------------------------------------------
    def binary(self, fn: str) -> Path | None:
        if fn in self.binaries:
            return self.binaries[fn]
        path = self.bin_dir / fn / "bootstrap"
        if not path.is_file():
            archive = self.bin_dir / fn / "bootstrap.zip"
            if not archive.is_file():
                return None
            dest = self.tmp / "bin" / fn
            dest.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(archive) as z:
                z.extract("bootstrap", dest)
            path = dest / "bootstrap"
            path.chmod(0o755)
            self.binary_notes[fn] = "extracted from bootstrap.zip"
        self.binaries[fn] = path
        return path

    def env(self, fn: str, runtime_api: str, config: dict[str, Any], endpoint: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "PILOTLIGHT_CONFIG": json.dumps(config),
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "AWS_LAMBDA_FUNCTION_NAME": f"pilotlight-{fn}",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/pilotlight-{fn}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
            "AWS_REGION": DR,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_ENDPOINT_URL": endpoint,
        }
        env.update(extra or {})
        return env

    def spawn(self, fn: str, env: dict[str, str], log_name: str) -> tuple[subprocess.Popen[bytes], Any, float]:
        binary = self.binary(fn)
        assert binary is not None
        out = open(self.tmp / f"{log_name}.log", "wb")  # noqa: SIM115
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(binary)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp, stdin=subprocess.DEVNULL)
        return proc, out, t0

    @staticmethod
    def reap(proc: subprocess.Popen[bytes], sig: int) -> Any:
        """Signal the process (if still running) and wait for it; its rusage."""
        if proc.returncode is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return usage

    def spawn_lean(self, fn: str, env: dict[str, str], log_name: str) -> int:
        """Start the function so that ``wait4``'s ``ru_maxrss`` is its own.

        Linux carries the high-water RSS of the address space an ``execve`` replaces into the
        process's ``ru_maxrss``: a function spawned straight from this Python process (tens of MB
        with boto3 loaded) would report at least the bench's own RSS. So a small ``/bin/sh`` starts
        it in the background and exits; the bench is a child subreaper (``PR_SET_CHILD_SUBREAPER``),
        so the function becomes its child and ``os.wait4`` reads its rusage. Returns the pid."""
        binary = self.binary(fn)
        assert binary is not None
        if not self.subreaper:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
            self.subreaper = True
        sh = subprocess.Popen(
            ["/bin/sh", "-c", '"$0" >"$1" 2>&1 </dev/null &\necho $!', str(binary), str(self.tmp / f"{log_name}.log")],
            env=env,
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert sh.stdout is not None
        pid = int(sh.stdout.readline())
        sh.stdout.close()
        sh.wait()
        return pid

    @staticmethod
    def hwm_mb(pid: int) -> float | None:
        """VmHWM (peak RSS of the current address space) from /proc, in MB."""
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    # ---------------------------------------------------------------------------------------
    def cold_start(self, fn: str, i: int) -> tuple[float | None, str | None]:
        """One cold start of `fn`: ms from just before Popen to its first GET next, or why not.
        `fn` = FLOOR: a bash that only sends that GET (the cost of spawning and of the stand-in)."""
        api = RuntimeApi([], f"arn:aws:lambda:{DR}:{ACCOUNT}:function:pilotlight-{fn}")
        proc = out = None
        try:
            env = self.env(fn, api.address, self.example_config, "http://127.0.0.1:1")
            if fn == FLOOR:
                out = open(self.tmp / f"cold-floor-{i}.log", "wb")  # noqa: SIM115
                script = 'exec 3<>"/dev/tcp/${AWS_LAMBDA_RUNTIME_API%:*}/${AWS_LAMBDA_RUNTIME_API#*:}"; echo -ne "GET /2018-06-01/runtime/invocation/next HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n" >&3; read -r _ <&3'
                t0 = time.perf_counter()
                proc = subprocess.Popen(["/bin/bash", "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp, stdin=subprocess.DEVNULL)
            else:
                proc, out, t0 = self.spawn(fn, env, f"cold-{fn}-{i}")
            deadline = t0 + 10
            while not api.got_first_next.wait(0.005):
                if proc.poll() is not None or time.perf_counter() > deadline:
                    break
            if api.first_next is None:
                why = f"exited with {proc.returncode}" if proc.poll() is not None else "no GET within 10 s"
                return None, f"run {i + 1}: {why} (log: {self.tmp / f'cold-{fn}-{i}.log'})"
            return (api.first_next - t0) * 1000, None
        finally:
            if proc is not None and proc.returncode is None:
                self.reap(proc, signal.SIGKILL)
            if out is not None:
                out.close()
            api.close()

    # ---------------------------------------------------------------------------------------
    def run_job(
        self,
        fn: str,
        job: str,
        event: dict[str, Any],
        config: dict[str, Any],
        emu: Emulator,
        extra_env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> JobResult:
        """One event through the function against the emulator; rusage after SIGTERM."""
        result = JobResult(fn, job)
        timeout = timeout or self.args.job_timeout
        api = RuntimeApi([json.dumps(event).encode()], f"arn:aws:lambda:{DR}:{ACCOUNT}:function:pilotlight-{fn}")
        extra = dict(extra_env or {})
        for k, v in extra.items():
            extra[k] = v.replace("{RUNTIME_API}", api.address)
        pid: int | None = None
        log_name = f"job-{fn}-{re.sub(r'[^A-Za-z0-9]+', '-', job).strip('-')}"
        result.log_path = self.tmp / f"{log_name}.log"
        usage = None
        try:
            emu.clear_requests()
            env = self.env(fn, api.address, config, emu.url, extra)
            t0 = time.perf_counter()
            pid = self.spawn_lean(fn, env, log_name)
            deadline = t0 + timeout
            while not api.answered.wait(0.02):
                done, status, ru = os.wait4(pid, os.WNOHANG)
                if done:
                    usage, pid = ru, None
                    result.error = f"the function exited with {os.waitstatus_to_exitcode(status)} before answering (log: {self.tmp / log_name}.log)"
                    break
                if time.perf_counter() > deadline:
                    result.error = f"no answer within {timeout:.0f} s"
                    break
            if pid is not None:
                result.hwm_mb = self.hwm_mb(pid)
                os.kill(pid, signal.SIGTERM)
                _, _, usage = os.wait4(pid, 0)
                pid = None
            assert usage is not None
            result.rss_mb = usage.ru_maxrss / 1024
            result.cpu_s = usage.ru_utime + usage.ru_stime
            result.calls = emu.requests()
            result.invokes = list(api.invokes)
            if api.answer is not None:
                result.answer_kind = api.answer.kind
                result.answer_bytes = len(api.answer.body)
                result.wall_s = api.answer.at - (api.served_at or t0)
                try:
                    result.answer = json.loads(api.answer.body or b"null")
                except ValueError:
                    result.answer = api.answer.body[:500].decode("utf-8", "replace")
                if api.answer.kind != "response" and result.error is None:
                    result.error = f"the function answered {api.answer.kind}: {api.answer.body[:300].decode('utf-8', 'replace')}"
        finally:
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.wait4(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            api.close()
        return result


    def run_events(self, fn: str, name: str, events: list[dict[str, Any]], config: dict[str, Any], emu: Emulator) -> tuple[list[Any], float]:
        """Several events through one process of `fn` (the first cold, the rest warm): each answer
        (parsed JSON), or the error text of a missing one; and when the process was spawned
        (epoch seconds)."""
        api = RuntimeApi([json.dumps(e).encode() for e in events], f"arn:aws:lambda:{DR}:{ACCOUNT}:function:pilotlight-{fn}")
        pid: int | None = None
        try:
            env = self.env(fn, api.address, config, emu.url, {})
            spawned_at = time.time()
            pid = self.spawn_lean(fn, env, f"rto-{name}")
            deadline = time.perf_counter() + self.args.job_timeout
            while len(api.answers) < len(events) and time.perf_counter() < deadline:
                done, status, _ = os.wait4(pid, os.WNOHANG)
                if done:
                    pid = None
                    break
                time.sleep(0.05)
        finally:
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                os.wait4(pid, 0)
            api.close()
        out: list[Any] = []
        for i in range(len(events)):
            if i < len(api.answers) and api.answers[i].kind == "response":
                try:
                    out.append(json.loads(api.answers[i].body))
                except ValueError:
                    out.append(f"answer {i + 1} is not JSON")
            else:
                out.append(f"no answer to event {i + 1} (log: {self.tmp / f'rto-{name}.log'})")
        return out, spawned_at


# ================================================================================================
# Fixtures
# ================================================================================================
def create_instances(emu: Emulator, region: str, ids: list[str], tags: list[dict[str, str]]) -> None:
    def one(ident: str) -> None:
        emu.create_db_instance(region, ident, Tags=tags)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, ids))


def notification_topic(emu: Emulator) -> str:
    return emu.client("sns", DR).create_topic(Name="pilotlight-notifications")["TopicArn"]


LEDGER_TABLE = "pilotlight-ledger"


def ledger_table(emu: Emulator) -> dict[str, Any]:
    """The operations ledger as infra/ creates it (`<NamePrefix>-ledger`); its config section."""
    emu.client("dynamodb", DR).create_table(
        TableName=LEDGER_TABLE,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return {"table_name": LEDGER_TABLE}


def failover_fixture(emu: Emulator) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tests' Scenario, primary down: (config, event)."""
    database, event = failover_database(emu, "orders")
    config = {
        "databases": [database],
        "notifications": {"topic_arn": notification_topic(emu)},
        "ledger": ledger_table(emu),
        "functions": {"failover": "pilotlight-failover"},
        "failover": {"deadline_seconds": 60, "lag_lookback_seconds": 600, "poll_interval_ms": 100, "max_poll_interval_ms": 1000},
    }
    return config, event


def failover_database(emu: Emulator, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One protected database `name` whose primary is down: (its configuration, the alarm's
    failover event, state change now)."""
    primary = emu.create_db_instance(PRIMARY, f"{name}-primary")
    emu.client("rds", DR).create_db_instance_read_replica(
        DBInstanceIdentifier=f"{name}-replica", SourceDBInstanceIdentifier=primary["DBInstanceArn"]
    )
    endpoint = primary["Endpoint"]["Address"]
    r53 = emu.client("route53", PRIMARY)
    zone_id = r53.create_hosted_zone(Name=f"{name}.example.internal", CallerReference=f"bench-zone-{name}")["HostedZone"]["Id"].split("/")[-1]
    record = f"db.{name}.example.internal"
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "CREATE",
                    "ResourceRecordSet": {"Name": record, "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": endpoint}]},
                }
            ]
        },
    )
    hc = r53.create_health_check(
        CallerReference=f"bench-hc-{name}",
        HealthCheckConfig={"Type": "TCP", "FullyQualifiedDomainName": endpoint, "Port": 5432},
    )["HealthCheck"]["Id"]
    emu.ok("PUT", f"/health-checks/{hc}", {"status": "Failure"})
    # RDS reports the primary failed, the replica lost its source: the evidence an automatic
    # failover needs (a failed primary is fenced later, once it is available again)
    emu.hold_instance_status(PRIMARY, f"{name}-primary", "failed")
    emu.set_replication(DR, f"{name}-replica", "error", "Replication has stopped: the source is unreachable.")
    alarm = f"{name}-primary-unhealthy"
    cw_p = emu.client("cloudwatch", PRIMARY)
    cw_p.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Route53",
        MetricName="HealthCheckStatus",
        Dimensions=[{"Name": "HealthCheckId", "Value": hc}],
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="LessThanThreshold",
    )
    cw_p.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="set by the benchmark")
    emu.client("cloudwatch", DR).put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "ReplicaLag",
                "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": f"{name}-replica"}],
                "Value": 1.0,
                "Timestamp": datetime.now(timezone.utc),
            }
        ],
    )
    database = {
        "name": name,
        "primary": {"region": PRIMARY, "instance_id": f"{name}-primary"},
        "replica": {"region": DR, "instance_id": f"{name}-replica"},
        "records": [{"hosted_zone_id": zone_id, "name": record, "type": "CNAME", "ttl": 60}],
        "alarms": [{"name": alarm, "region": PRIMARY}],
        "health_check_id": hc,
        "rpo_budget_seconds": 300,
    }
    event = {
        "command": "failover",
        "database": name,
        "trigger": {
            "alarm_name": alarm,
            "state": "ALARM",
            "state_change_time": rfc3339(datetime.now(timezone.utc)),
            "delivered_by": "sns",
        },
    }
    return database, event


def snapshot_config(base: dict[str, Any], first_db: str, discover: bool, retention: dict[str, Any] | None = None) -> dict[str, Any]:
    """The example configuration with `first_db` as the protected database's primary."""
    config = json.loads(json.dumps(base))
    config["databases"][0]["primary"]["instance_id"] = first_db
    config["snapshots"]["kms_keys"] = {}
    if discover:
        config["snapshots"]["discover"] = {
            "tag_key": PROTECT_TAG[0],
            "tag_value": PROTECT_TAG[1],
            "regions": [PRIMARY],
            "dr_regions": [DR],
        }
    else:
        config["snapshots"].pop("discover", None)
    if retention is not None:
        config["retention"]["primary"] = retention
    return config


def db_ids(n: int) -> list[str]:
    return [f"db{i:05d}" for i in range(n)]


# ================================================================================================
# Expected calls
# ================================================================================================
def pages(n: int) -> int:
    """List calls for n records: ceil(n / 100), and one call for none."""
    return max(1, math.ceil(n / PAGE))


def expected_retention_kept(times: list[datetime], now: datetime, policy: dict[str, int]) -> int:
    """How many of `times` (newest first, all pilotlight's, available) the policy keeps."""
    keep: set[int] = {0}  # the newest available one, always
    for i, t in enumerate(times):
        if policy["max_age_days"] and now - t < timedelta(days=policy["max_age_days"]):
            keep.add(i)
    keep.update(range(min(policy["min_keep"], len(times))))
    for rule, bucket in (
        ("daily", lambda t: t.date()),
        ("weekly", lambda t: t.isocalendar()[:2]),
        ("monthly", lambda t: (t.year, t.month)),
    ):
        seen: list[Any] = []
        for i, t in enumerate(times):
            b = bucket(t)
            if b in seen:
                continue
            if len(seen) >= policy[rule]:
                break
            seen.append(b)
            keep.add(i)
    return len(keep)


def is_2xx(call: dict[str, Any]) -> bool:
    return 200 <= int(call.get("status") or 0) < 300


def compare(calls: list[dict[str, Any]], expected: Counter[str]) -> tuple[str, bool, str]:
    """`action measured/expected, ...`, whether they match, and a note on retried attempts.
    Extra attempts of an action that are all failed ones (the SDK retrying) still match."""
    measured = Counter(c["action"] for c in calls)
    failed = Counter(c["action"] for c in calls if not is_2xx(c))
    order = first_seen(calls)
    actions = order + sorted(a for a in set(measured) | set(expected) if a not in order)
    parts, ok, retried = [], True, []
    for a in actions:
        m, e, f = measured.get(a, 0), expected.get(a, 0), failed.get(a, 0)
        if m == 0 and e == 0:
            continue
        parts.append(f"{a} {m}/{e}")
        if m == e:
            continue
        if e < m <= e + f:
            retried.append(f"{a} +{m - e}")
            continue
        ok = False
    note = f" (plus failed attempts the SDK retried: {', '.join(retried)})" if retried else ""
    return ", ".join(parts), ok, note


def by_action(calls: list[dict[str, Any]]) -> str:
    counts: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    order: list[str] = []
    for c in calls:
        if c["action"] not in counts:
            order.append(c["action"])
        counts[c["action"]] += 1
        if not is_2xx(c):
            failed[f"{c['action']} {c.get('status')}"] += 1
    text = ", ".join(f"{a} ×{counts[a]}" for a in order) or "none"
    if failed:
        text += " (not 2xx: " + ", ".join(f"{k} ×{v}" for k, v in failed.items()) + ")"
    return text


def first_seen(calls: list[dict[str, Any]]) -> list[str]:
    order: list[str] = []
    for c in calls:
        if c["action"] not in order:
            order.append(c["action"])
    return order


def non_2xx(calls: list[dict[str, Any]]) -> str:
    bad = Counter(f"{c['action']} {c.get('status')}" for c in calls if not is_2xx(c))
    return ("; not 2xx: " + ", ".join(f"{k} ×{v}" for k, v in bad.items())) if bad else ""


# ================================================================================================
# Table
# ================================================================================================
Row = tuple[str, str, str, str, str, str]  # measure, function, job, figure, budget/expected, result


def fmt_ms(v: float) -> str:
    return f"{v:.1f} ms"


def fmt_mb(v: float) -> str:
    return f"{v:.1f} MB"


def fmt_s(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def job_figure(r: JobResult) -> str:
    if r.rss_mb is None:
        return "not measured"
    text = f"RSS {fmt_mb(r.rss_mb)}, wall {fmt_s(r.wall_s)}, CPU {fmt_s(r.cpu_s)}"
    if r.answer_bytes:
        text += f", answer {r.answer_bytes / 1024:.0f} KiB" if r.answer_bytes >= 10 * 1024 else ""
    return text


LAMBDA_RESPONSE_LIMIT = 6 * MIB  # synchronous invocation response payload


def failure_reason(r: JobResult, action: str) -> str:
    """What the function logged about a failed call of `action` (its `aws call failed` line)."""
    try:
        text = r.log_path.read_text(errors="replace") if r.log_path else ""
    except OSError:
        return ""
    for line in text.splitlines():
        if f'operation="{action}"' in line and "error=" in line:
            m = re.search(r"operation: (.+?)(?:: [A-Z]\w+(?:Exception|Error|Fault)\b|\s\(|$)", line)
            return (m.group(1) if m else line.split("error=", 1)[1]).strip()[:120]
    return ""


def job_flags(r: JobResult, rss_budget: float | None) -> list[str]:
    """What is wrong with a job's figures besides its calls: RSS over budget, an answer Lambda
    would refuse, failed AWS calls."""
    flags = []
    if rss_budget is not None and r.rss_mb is not None and r.rss_mb > rss_budget:
        flags.append(f"✗ RSS over {rss_budget:g} MB by {r.rss_mb - rss_budget:.1f} MB")
    if r.answer_bytes > LAMBDA_RESPONSE_LIMIT:
        flags.append(f"✗ answer {r.answer_bytes / MIB:.1f} MB: over Lambda's 6 MB response payload limit")
    failed: dict[str, list[int]] = {}
    for c in r.calls:
        if not is_2xx(c):
            failed.setdefault(c["action"], []).append(int(c.get("status") or 0))
    for action, statuses in failed.items():
        reason = failure_reason(r, action)
        if not reason:
            codes = ", ".join(sorted({str(x) if x else "none (the emulator raised)" for x in statuses}))
            reason = f"HTTP {codes}; the function logged no error: the SDK's retry succeeded"
        flags.append(f"✗ {action} failed ×{len(statuses)} ({reason})")
    return flags


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def print_table(rows: list[Row]) -> None:
    header = ("measure", "function", "job", "figure", "budget / expected", "result")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(cell(c) for c in row) + " |")


# ================================================================================================
# Main
# ================================================================================================
def elf_arch(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(20)
    if head[:4] != b"\x7fELF":
        return "not ELF"
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return {0x3E: "x86_64", 0xB7: "aarch64"}.get(machine, f"ELF machine {machine:#x}")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return commit + (" (working tree modified)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


POLL_CAP_S = 5.0  # failover.max_poll_interval_ms by default (shared/src/config/failover.rs)
RTO_SHARE_BUDGET_S = 1.0 + POLL_CAP_S


def rto_rows(bench: Bench, args: argparse.Namespace) -> list[Row]:
    """pilotlight's share of the RTO with a promotion that lasts a set time, the default polling:
    `--rto-runs` failovers each in a fresh process (cold) and in one process after a first
    failover (warm); the median share beside the budget (1 s + the poll cap)."""
    seconds = args.rto_promotion_seconds if args.rto_promotion_seconds is not None else (3.0 if args.quick else 8.0)
    n = max(1, args.rto_runs)
    rows: list[Row] = []
    with start_emulator(bench.tmp, "rto", promotion_seconds=seconds) as emu:
        names = [f"rto{i}" for i in range(2 * n + 1)]
        fixtures = [failover_database(emu, name) for name in names]
        config = {
            "databases": [d for d, _ in fixtures],
            "notifications": {"topic_arn": notification_topic(emu)},
            "ledger": ledger_table(emu),
            "functions": {"failover": "pilotlight-failover"},
            # the shipped polling (first 1 s, doubling, capped at 5 s); only the deadline is shorter
            "failover": {"deadline_seconds": 120},
        }
        events = [e for _, e in fixtures]
        log(f"RTO: {n} cold failovers, promotion {seconds:g} s")
        cold = []
        for i in range(n):
            answers, spawned = bench.run_events("failover", f"cold-{i}", [events[i]], config, emu)
            cold.append((answers[0], spawned))
        log(f"RTO: 1 + {n} warm failovers in one process")
        warm_answers, _ = bench.run_events("failover", "warm", events[n:], config, emu)
        warm = [(a, None) for a in warm_answers[1:]]
    for kind, answers in (("cold", cold), ("warm", warm)):
        shares: list[float] = []
        exact: list[float] = []
        parts: dict[str, list[float]] = {"startup": [], "decision": [], "gap": [], "change": []}
        problems: list[str] = []
        for a, spawned in answers:
            if not isinstance(a, dict) or a.get("outcome") != "failed_over":
                problems.append(a if isinstance(a, str) else f"outcome `{a.get('outcome') if isinstance(a, dict) else a}`, expected `failed_over`")
                continue
            b = a.get("rto_breakdown") or {}
            need = ("pilotlight_share_seconds", "decision_seconds", "promotion_seconds", "observed_to_change_seconds", "availability_gap_max_seconds")
            if any(b.get(f) is None for f in need):
                problems.append(f"a part is missing in the report's rto_breakdown: {b}")
                continue
            # A cold start is part of the RTO too: process spawn -> the handler's first action.
            startup = 0.0
            if spawned is not None:
                run_started = datetime.fromisoformat(a["timeline"]["run_started_at"].replace("Z", "+00:00")).timestamp()
                startup = max(0.0, run_started - spawned)
                parts["startup"].append(startup)
            # On the emulator the promotion lasts exactly `seconds`: the exact available -> seen is
            # (seen - promotion time); the report states the bound (the poll interval).
            real_gap = max(0.0, b["promotion_seconds"] - seconds)
            shares.append(startup + b["pilotlight_share_seconds"])
            exact.append(startup + b["decision_seconds"] + real_gap + b["observed_to_change_seconds"])
            parts["decision"].append(b["decision_seconds"])
            parts["gap"].append(real_gap)
            parts["change"].append(b["observed_to_change_seconds"])
        if not shares:
            rows.append(("RTO share", "failover", f"{kind}, promotion {seconds:g} s", "not measured: " + "; ".join(problems[:2]), f"≤ {RTO_SHARE_BUDGET_S:g} s", "✗ expected `failed_over`"))
            continue
        med = median(shares)
        startup_text = f"process start → first action {median(parts['startup']) * 1000:.0f} ms, " if parts["startup"] else ""
        figure = (
            f"{med:.2f} s median of {len(shares)} as reported (min {min(shares):.2f}, max {max(shares):.2f}), "
            f"{median(exact):.2f} s exact on the emulator; {startup_text}decision {median(parts['decision']):.3f} s, "
            f"available→seen {median(parts['gap']):.2f} s (the poll schedule), seen→DNS change {median(parts['change']):.3f} s"
        )
        ok = med <= RTO_SHARE_BUDGET_S
        result = ("✓" if ok else "✗ over budget") + (f"; {len(problems)} run(s) {'expected `failed_over`'}: {problems[0]}" if problems else "")
        rows.append(("RTO share", "failover", f"{kind}, promotion {seconds:g} s, default polling (1 s doubling, cap 5 s)", figure, f"≤ 1 s + poll cap = {RTO_SHARE_BUDGET_S:g} s", result))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(ROOT / "target" / "lambda"), help="where <function>/bootstrap and bootstrap.zip are (default: target/lambda)")
    parser.add_argument("--runs", type=int, default=None, help="cold starts per function (default 7; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smaller jobs and scale points, for a smoke run")
    parser.add_argument("--only", default="cold,memory,size,calls,scale,rto", help="comma-separated subset of cold,memory,size,calls,scale,rto")
    parser.add_argument("--rto-promotion-seconds", type=float, default=None, help="how long a promotion lasts in the RTO section (default 8; 3 with --quick)")
    parser.add_argument("--rto-runs", type=int, default=5, help="failovers per kind (cold, warm) in the RTO section (default 5)")
    parser.add_argument("--job-timeout", type=float, default=900, help="seconds one job may take (Lambda's limit: 900)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the functions' and emulators' logs")
    parser.add_argument("--retention-points", default=None, help="comma-separated snapshot counts of the retention scale section (default 1000,10000,50000,100000; 200,1000 with --quick)")
    parser.add_argument("--copy-points", default=None, help="comma-separated database counts of the snapshot-copy scale section (default 10,100,1000; 10,50 with --quick)")
    args = parser.parse_args()
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - {"cold", "memory", "size", "calls", "scale", "rto"}
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    runs = args.runs if args.runs is not None else (3 if args.quick else 7)
    if runs < 1:
        parser.error("--runs must be >= 1")
    copy_dbs = 20 if args.quick else 200
    retention_n = 1_000 if args.quick else 10_000
    copy_scale = [10, 50] if args.quick else [10, 100, 1_000]
    # 100,000 snapshots in one region: retention must stay within its 64 MB budget (RSS_BUDGET_MB)
    retention_scale = [200, 1_000] if args.quick else [1_000, 10_000, 50_000, 100_000]
    try:
        if args.retention_points is not None:
            retention_scale = [int(n) for n in args.retention_points.split(",") if n.strip()]
        if args.copy_points is not None:
            copy_scale = [int(n) for n in args.copy_points.split(",") if n.strip()]
    except ValueError:
        parser.error("--retention-points and --copy-points take comma-separated integers")

    bench = Bench(args)
    started = time.monotonic()
    rows: list[Row] = []
    failed = False
    try:
        missing = [fn for fn in FUNCTIONS if bench.binary(fn) is None]
        archs = {fn: elf_arch(p) for fn in FUNCTIONS if (p := bench.binary(fn)) is not None}
        arch_text = ", ".join(sorted(set(archs.values()))) or "no binary found"
        load = os.getloadavg()
        print(f"pilotlight benchmark — {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S')} UTC")
        print(f"machine: {os.cpu_count()} cores (load average at start {load[0]:.2f}), commit {git_commit()}")
        print(f"binaries: {bench.bin_dir} — architecture {arch_text}" + (" (--quick)" if args.quick else ""))
        print(flush=True)
        for fn in missing:
            bench.unmeasured.append(f"{fn}: no {bench.bin_dir / fn / 'bootstrap'} (nor bootstrap.zip)")

        # ---- cold start ------------------------------------------------------------------
        if "cold" in sections:
            cold_fns = [fn for fn in FUNCTIONS if fn not in missing]
            if os.access("/bin/bash", os.X_OK):
                cold_fns.append(FLOOR)
            samples: dict[str, list[float]] = {fn: [] for fn in cold_fns}
            errors: dict[str, str] = {}
            log(f"cold starts: {runs} rounds over {', '.join(cold_fns)}")
            load_before = os.getloadavg()[0]
            for i in range(runs):  # round-robin, so that a busy moment hits every function alike
                for fn in cold_fns:
                    if fn in errors:
                        continue
                    ms, error = bench.cold_start(fn, i)
                    if ms is None:
                        errors[fn] = error or "?"
                    else:
                        samples[fn].append(ms)
            load_after = os.getloadavg()[0]
            if max(load_before, load_after) > (os.cpu_count() or 1) * 0.75:
                bench.notes.append(
                    f"The machine was busy during the cold starts (load average {load_before:.1f} → {load_after:.1f} on "
                    f"{os.cpu_count()} cores): medians and maxima are inflated by waiting for a CPU; the minimum is the closest to an idle machine."
                )
            for fn in cold_fns:
                got = samples[fn]
                if fn == FLOOR:
                    if got:
                        rows.append(
                            (
                                "cold start",
                                FLOOR,
                                f"bash: spawn + connect + the same GET, median of {len(got)}",
                                f"{fmt_ms(median(got))} (min {min(got):.1f}, max {max(got):.1f})",
                                "baseline: the bench's own share of the figures above",
                                "–",
                            )
                        )
                    continue
                if fn in errors or not got:
                    bench.unmeasured.append(f"cold start of {fn}: {errors.get(fn)}")
                    rows.append(("cold start", fn, f"process start → first GET next, {runs} runs", "not measured", f"≤ {COLD_START_BUDGET_MS:.0f} ms", "–"))
                    continue
                med = median(got)
                rows.append(
                    (
                        "cold start",
                        fn,
                        f"process start → first GET next, median of {len(got)}",
                        f"{fmt_ms(med)} (min {min(got):.1f}, max {max(got):.1f})",
                        f"≤ {COLD_START_BUDGET_MS:.0f} ms",
                        "✓" if med <= COLD_START_BUDGET_MS else f"✗ over by {med - COLD_START_BUDGET_MS:.1f} ms",
                    )
                )

        # ---- jobs (memory, calls) ---------------------------------------------------------
        jobs: dict[str, JobResult] = {}
        need_jobs = sections & {"memory", "calls"}
        scale_results: dict[tuple[str, int], JobResult] = {}
        retention_expect: dict[int, tuple[int, int]] = {}  # n -> (model kept, n)

        def attempt(label: str, job: Callable[[], Any]) -> Any:
            """Run one job; if it cannot run at all, say so and go on with the others."""
            try:
                return job()
            except Exception as e:  # noqa: BLE001 - reported, then the next job runs
                log(f"  {label}: {type(e).__name__}: {e}")
                bench.unmeasured.append(f"{label}: {type(e).__name__}: {e}")
                return None

        def retention_job(n: int) -> JobResult:
            with start_emulator(bench.tmp, f"retention-{n}") as emu:
                create_instances(emu, PRIMARY, ["db00000"], [])
                notification_topic(emu)
                now = datetime.now(timezone.utc).replace(microsecond=0)
                newest = now - timedelta(hours=1, minutes=17)  # no snapshot on a rule's boundary
                step = 2 * 3600
                t = time.monotonic()
                emu.ok(
                    "POST",
                    "/snapshots/bulk",
                    {
                        "region": PRIMARY,
                        "instance_id": "db00000",
                        "count": n,
                        "prefix": "pilotlight-db00000-",
                        "newest": rfc3339(newest),
                        "step_seconds": step,
                        "tags": {
                            "pilotlight:managed-by": "pilotlight",
                            "pilotlight:source-db": "db00000",
                            "pilotlight:source-region": PRIMARY,
                        },
                    },
                )
                log(f"  {n} snapshots made in {time.monotonic() - t:.1f} s")
                times = [newest - timedelta(seconds=step * i) for i in range(n)]
                retention_expect[n] = (expected_retention_kept(times, now, RETENTION_POLICY), n)
                config = snapshot_config(bench.example_config, "db00000", discover=False, retention=RETENTION_POLICY)
                return bench.run_job("retention", f"{n:,} snapshots", {"command": "retention"}, config, emu)

        def copy_first_run(n: int, second: bool) -> list[JobResult]:
            with start_emulator(bench.tmp, f"snapshot-copy-{n}") as emu:
                t = time.monotonic()
                create_instances(emu, PRIMARY, db_ids(n), [{"Key": PROTECT_TAG[0], "Value": PROTECT_TAG[1]}])
                notification_topic(emu)
                log(f"  {n} DB instances made in {time.monotonic() - t:.1f} s")
                config = snapshot_config(bench.example_config, "db00000", discover=True)
                out = [bench.run_job("snapshot-copy", f"{n:,} databases, run 1 (create)", {"command": "snapshot-copy"}, config, emu)]
                if second:
                    emu.ok("PUT", "/snapshot-copies", {"hold": True})
                    out.append(bench.run_job("snapshot-copy", f"{n:,} databases, run 2 (copy, copies held)", {"command": "snapshot-copy"}, config, emu))
                return out

        def failover_job() -> JobResult:
            with start_emulator(bench.tmp, "failover") as emu:
                config, event = failover_fixture(emu)
                r = bench.run_job("failover", "one failover (alarm → promoted, DNS, 2 SNS)", event, config, emu)
                outcome = r.answer.get("outcome") if isinstance(r.answer, dict) else None
                if r.error is None and outcome != "failed_over":
                    r.note = f"outcome `{outcome}`, expected `failed_over`"
                return r

        def router_job() -> JobResult:
            with start_emulator(bench.tmp, "router") as emu:
                event = json.loads((EVENTS / "sns-alarm-orders-alarm.json").read_text())
                r = bench.run_job(
                    "router",
                    "SNS alarm notification → async Invoke",
                    event,
                    bench.example_config,
                    emu,
                    extra_env={"AWS_ENDPOINT_URL_LAMBDA": "http://{RUNTIME_API}"},
                )
                if r.error is None and not (len(r.invokes) == 1 and r.invokes[0]["type"] == "Event"):
                    r.note = f"expected one Invoke of type Event, got {[(i['function'], i['type']) for i in r.invokes]}"
                return r

        def keep(key: str, r: JobResult | None) -> None:
            if r is not None:
                jobs[key] = r

        if need_jobs and "failover" not in missing:
            log("job: failover")
            keep("failover", attempt("failover job", failover_job))
        if need_jobs and "router" not in missing:
            log("job: router")
            keep("router", attempt("router job", router_job))
        if need_jobs and "snapshot-copy" not in missing:
            log(f"job: snapshot-copy over {copy_dbs} databases (two runs)")
            both = attempt(f"snapshot-copy job over {copy_dbs} databases", lambda: copy_first_run(copy_dbs, second=True))
            if both:
                keep("snapshot-copy", both[0])
                keep("snapshot-copy/2", both[1])
        if (need_jobs or ("scale" in sections and retention_n in retention_scale)) and "retention" not in missing:
            log(f"job: retention over {retention_n} snapshots")
            keep("retention", attempt(f"retention job over {retention_n} snapshots", lambda: retention_job(retention_n)))
            if "retention" in jobs:
                scale_results[("retention", retention_n)] = jobs["retention"]

        # ---- scale -----------------------------------------------------------------------
        if "scale" in sections:
            if "snapshot-copy" not in missing:
                for n in copy_scale:
                    if n == copy_dbs and "snapshot-copy" in jobs:
                        scale_results[("snapshot-copy", n)] = jobs["snapshot-copy"]
                        continue
                    log(f"scale: snapshot-copy over {n} databases")
                    got = attempt(f"snapshot-copy at {n} databases", lambda n=n: copy_first_run(n, second=False))
                    if got:
                        scale_results[("snapshot-copy", n)] = got[0]
            if "retention" not in missing:
                for n in retention_scale:
                    if ("retention", n) in scale_results:
                        continue
                    log(f"scale: retention over {n} snapshots")
                    got = attempt(f"retention at {n} snapshots", lambda n=n: retention_job(n))
                    if got is not None:
                        scale_results[("retention", n)] = got

        # ---- expected calls of the snapshot jobs ---------------------------------------
        def copy_expected(n: int, run: int, r: JobResult) -> Counter[str]:
            # the manual snapshot quota of each region involved (the source region, the DR region)
            exp = Counter({"DescribeDBInstances": pages(n), "DescribeDBClusters": 1, "DescribeAccountAttributes": 2})
            if run == 1:
                exp.update({"DescribeDBSnapshots": 2, "DescribeDBClusterSnapshots": 2, "CreateDBSnapshot": n, "Publish": 1})
            else:
                exp.update(
                    {
                        "DescribeDBSnapshots": pages(n) + 1,
                        "DescribeDBClusterSnapshots": 2,
                        "CopyDBSnapshot": min(20, n),
                        "Publish": 1,
                    }
                )
            return exp

        def retention_expected(n: int, r: JobResult) -> tuple[Counter[str], str]:
            kept, _ = retention_expect.get(n, (0, n))
            deleted_by_report = None
            if isinstance(r.answer, dict):
                # `freed_count` counts every deletion; `deleted` lists at most the first 5,000 (Lambda's 6 MB answer)
                deleted_by_report = sum(x.get("freed_count", len(x.get("deleted", []))) for x in r.answer.get("results", []))
            exp = Counter({"DescribeDBSnapshots": pages(n) + 1, "DescribeDBClusterSnapshots": 2, "DeleteDBSnapshot": n - kept})
            extra = f"policy keeps {kept} of {n}"
            if deleted_by_report is not None and deleted_by_report != n - kept:
                extra += f"; the function's report says {deleted_by_report} deleted"
            return exp, extra

        def ok_mark(ok: bool, retried: str = "") -> str:
            return "✓ as expected" + retried if ok else "✗ differs"

        # ---- memory rows -------------------------------------------------------------------
        if "memory" in sections:
            for fn, key in (("router", "router"), ("failover", "failover"), ("snapshot-copy", "snapshot-copy"), ("snapshot-copy", "snapshot-copy/2"), ("retention", "retention")):
                r = jobs.get(key)
                if r is None:
                    continue
                budget = RSS_BUDGET_MB[fn]
                if r.rss_mb is None or r.error:
                    bench.unmeasured.append(f"peak RSS of {fn} ({r.job}): {r.error}")
                    rows.append(("peak RSS", fn, r.job, job_figure(r) + (f" — {r.error}" if r.error else ""), f"≤ {budget} MB", "not measured" if r.rss_mb is None else "✗ job failed"))
                    continue
                res = "; ".join(["✓" if r.rss_mb <= budget else f"✗ over by {r.rss_mb - budget:.1f} MB"] + job_flags(r, None))
                if r.hwm_mb is not None and abs(r.hwm_mb - r.rss_mb) > 1:
                    bench.notes.append(f"{fn} ({r.job}): ru_maxrss {r.rss_mb:.1f} MB but VmHWM {r.hwm_mb:.1f} MB before SIGTERM")
                if r.note:
                    res += f" ({r.note})"
                rows.append(("peak RSS", fn, r.job, job_figure(r), f"≤ {budget} MB", res))

        # ---- size rows ---------------------------------------------------------------------
        if "size" in sections:
            for fn in FUNCTIONS:
                archive = bench.bin_dir / fn / "bootstrap.zip"
                if not archive.is_file():
                    bench.unmeasured.append(f"artifact size of {fn}: no {archive}")
                    rows.append(("artifact", fn, "bootstrap.zip", "not measured (no zip)", f"≤ {ZIP_BUDGET_MB:.0f} MB", "–"))
                    continue
                size = archive.stat().st_size / MIB
                binary = bench.binary(fn)
                unzipped = f", binary {binary.stat().st_size / MIB:.1f} MB" if binary else ""
                rows.append(
                    (
                        "artifact",
                        fn,
                        "bootstrap.zip",
                        f"{size:.2f} MB ({archs.get(fn, '?')}{unzipped})",
                        f"≤ {ZIP_BUDGET_MB:.0f} MB",
                        "✓" if size <= ZIP_BUDGET_MB else f"✗ over by {size - ZIP_BUDGET_MB:.2f} MB",
                    )
                )

        # ---- call rows ---------------------------------------------------------------------
        if "calls" in sections:
            r = jobs.get("failover")
            if r is not None:
                if r.error:
                    bench.unmeasured.append(f"AWS calls of failover: {r.error}")
                measured = r.counts()
                text, ok, retried = compare(r.calls, EXPECTED_FAILOVER_CALLS)
                rows.append(
                    (
                        "AWS calls",
                        "failover",
                        r.job,
                        f"{sum(measured.values())} calls: {by_action(r.calls)}",
                        f"{sum(EXPECTED_FAILOVER_CALLS.values())} calls (README's minimal sequence); measured/expected: {text}",
                        ("✓ equal multiset" + retried if ok else "✗ differs") + (f" ({r.note})" if r.note else ""),
                    )
                )
            r = jobs.get("router")
            if r is not None:
                invokes = ", ".join(f"Invoke {i['type']} → {i['function']}" for i in r.invokes) or "no Invoke"
                ok = not r.calls and len(r.invokes) == 1 and r.invokes[0]["type"] == "Event"
                rows.append(
                    (
                        "AWS calls",
                        "router",
                        r.job,
                        f"{len(r.calls) + len(r.invokes)} call(s): {invokes} (stand-in); emulator: {by_action(r.calls)}",
                        "1 call: Invoke (Event) of pilotlight-failover",
                        "✓ as expected" if ok else "✗ differs",
                    )
                )
            for key, run in (("snapshot-copy", 1), ("snapshot-copy/2", 2)):
                r = jobs.get(key)
                if r is None:
                    continue
                exp = copy_expected(copy_dbs, run, r)
                text, ok, retried = compare(r.calls, exp)
                queued = None
                if isinstance(r.answer, dict):
                    queued = sum(len(reg.get("queued", [])) for d in r.answer.get("databases", []) for reg in d.get("regions", []))
                extra = f"; report: {queued} queued" if run == 2 and queued is not None else ""
                rows.append(("AWS calls", "snapshot-copy", r.job, f"{len(r.calls)} calls{non_2xx(r.calls)}{extra}", f"measured/expected: {text}", "; ".join([ok_mark(ok, retried)] + job_flags(r, None))))
            r = jobs.get("retention")
            if r is not None:
                exp, extra = retention_expected(retention_n, r)
                text, ok, retried = compare(r.calls, exp)
                rows.append(("AWS calls", "retention", r.job, f"{len(r.calls)} calls{non_2xx(r.calls)}; {extra}", f"measured/expected: {text}", "; ".join([ok_mark(ok, retried)] + job_flags(r, None))))

        # ---- scale rows --------------------------------------------------------------------
        if "scale" in sections:
            for fn, points, unit in (("snapshot-copy", copy_scale, "databases, run 1"), ("retention", retention_scale, "snapshots")):
                measured_points: list[tuple[int, JobResult]] = []
                for n in points:
                    r = scale_results.get((fn, n))
                    if r is None:
                        continue
                    if fn == "snapshot-copy":
                        exp = copy_expected(n, 1, r)
                        extra = ""
                    else:
                        exp, extra = retention_expected(n, r)
                    text, ok, retried = compare(r.calls, exp)
                    if r.error:
                        bench.unmeasured.append(f"{fn} at {n} {unit.split(',')[0]}: {r.error}")
                    else:
                        measured_points.append((n, r))
                    rows.append(
                        (
                            "scale",
                            fn,
                            f"{n:,} {unit}",
                            (job_figure(r) if not r.error else f"{job_figure(r)} — {r.error}") + f"; {len(r.calls)} calls" + (f"; {extra}" if extra else ""),
                            f"measured/expected: {text}",
                            "; ".join([ok_mark(ok, retried) if not r.error else "✗ not finished"] + job_flags(r, RSS_BUDGET_MB[fn])),
                        )
                    )
                if len(measured_points) >= 2:
                    growth = []
                    for (n0, a), (n1, b) in zip(measured_points, measured_points[1:]):
                        if a.wall_s and b.wall_s and a.cpu_s and b.cpu_s:
                            growth.append(
                                f"{n0:,}→{n1:,} (×{n1 / n0:g}): wall ×{b.wall_s / a.wall_s:.1f}, CPU ×{b.cpu_s / a.cpu_s:.1f}, "
                                f"calls ×{len(b.calls) / max(1, len(a.calls)):.1f}, RSS {a.rss_mb:.1f} → {b.rss_mb:.1f} MB"
                            )
                    rows.append(("scale", fn, "growth", "; ".join(growth), "linear: each × n", "–"))

        if "rto" in sections and "failover" not in missing:
            rows.extend(rto_rows(bench, args))

        print_table(rows)
        print()
        print("Notes:")
        print("- MB = 2^20 bytes.")
        if "rto" in sections:
            print(
                "- RTO share: the emulator answers on loopback over plain HTTP, so TLS set-up and cross-region latency to real AWS are "
                "not in these figures; the cold rows add process start → the handler's first action (Lambda's init in a real cold start)."
            )
        if "cold" in sections:
            print(
                "- Cold start: from just before `Popen` to the process's first `GET /2018-06-01/runtime/invocation/next` on a local "
                "Runtime API stand-in (held open; the process is then killed). Runs alternate between the functions. The (floor) row is "
                "a bash that only connects and sends that GET: the part of every figure that is process spawning and the stand-in."
            )
        if sections & {"memory", "calls", "scale"}:
            print(
                "- Peak RSS: `wait4` `ru_maxrss` of the function process through one event, SIGTERM after its answer. The function is "
                "started through a small `/bin/sh` (the bench being a child subreaper), because Linux counts the RSS of the process that "
                "called `execve` in `ru_maxrss`: spawned straight from this Python it would read ~50 MB whatever the function does. "
                "Wall: event served → answer received; CPU: user + system of the whole process, start-up included."
            )
            print(
                "- Jobs run against pilotlight's AWS emulator (moto 5.2.1 + patches, a Python process on the same machine): wall times "
                "are mostly the emulator's; the function's own cost is its CPU time. Calls come from the emulator's request log "
                "(every attempt, retries included), measured/expected per action."
            )
        if "x86_64" in arch_text:
            print(
                "- The binaries are x86_64: this machine cannot build arm64 (no aarch64 Rust std is installed and none can be fetched), "
                "so arm64 (Graviton) figures are not measured here."
            )
        if bench.binary_notes:
            print(f"- {', '.join(bench.binary_notes)}: no `bootstrap` next to `bootstrap.zip` (cargo lambda `--output-format zip`); the binary was extracted from the zip into a temp dir.")
        for note in bench.notes:
            print(f"- {note}")
        # A smoke run (CI) also fails when a job measured but did not do what it must: a failover
        # that did not fail over, a router that did not hand over, AWS calls other than expected.
        wrong = [" | ".join(r[:4]) for r in rows if any(m in r[5] for m in ("✗ differs", "expected `", "expected one Invoke", "✗ over budget"))]
        if args.quick and wrong:
            failed = True
            print("- Wrong (fails a --quick run):")
            for w in wrong:
                print(f"  - {w}")
        if bench.unmeasured:
            failed = True
            print("- Not measured:")
            for u in bench.unmeasured:
                print(f"  - {u}")
        load = os.getloadavg()
        print(f"- Benchmark wall time {time.monotonic() - started:.0f} s; load average at the end {load[0]:.2f}.")
    finally:
        if failed or args.keep_logs:
            print(f"- Logs kept in {bench.tmp}")
        else:
            shutil.rmtree(bench.tmp, ignore_errors=True)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
