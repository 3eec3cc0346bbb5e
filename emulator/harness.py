"""Start pilotlight's AWS emulator from Python and talk to it: the one harness of
``emulator/test_emulator.py``, ``emulator/test_conditions.py``, ``emulator/test_global_clusters.py``,
``emulator/test_automated_backups.py`` (the emulator's own checks) and ``bench/bench.py`` (the
benchmark).

``Emulator(*args)`` runs the launcher ``pilotlight_emulator.py`` (next to this file) as
``python pilotlight_emulator.py --host 127.0.0.1 --port 0 --parent-pid <this process> *args``,
waits for its ``READY http://HOST:PORT`` line and stops it on ``stop()`` or at the end of a
``with`` block (SIGTERM, SIGKILL after 15 s). ``--parent-pid`` makes the launcher exit by itself
if this process dies first.

API:

* ``Emulator(*args, log_file=None, cwd=None, python=None, max_attempts=1, max_pool_connections=10,
  timeout=30)``: ``args`` go to the launcher (e.g. ``"--snapshot-limit", "3"``); its stderr goes
  to ``log_file`` (a path, truncated) or nowhere; ``cwd`` is its working directory; ``python`` its
  interpreter (default: this one). Raises ``RuntimeError`` if the launcher does not print READY.
* ``.url``: the endpoint, ``http://127.0.0.1:PORT``.
* ``.client(service, region)``: a cached boto3 client at ``.url``, dummy credentials, boto3's
  ``standard`` retry mode with ``max_attempts`` attempts in all (1: no retry) and
  ``max_pool_connections`` (thread-safe). ``.rds(region)`` is ``.client("rds", region)``.
* ``.create_db_instance(region, ident, **params) -> DBInstance``: a small PostgreSQL instance
  (db.t3.micro, 20 GB, dummy master user and password); ``params`` add to or override these.
* ``.control(method, path, body=None) -> (status, answer)``: the control API
  ``/_pilotlight<path>`` (JSON in and out, ``timeout`` seconds); never raises on an HTTP error.
  ``.ok(method, path, body=None) -> answer`` is the same but raises ``EmulatorError`` unless 200.
* ``.requests()`` / ``.clear_requests()``: the request log (``GET`` / ``DELETE /requests``).
* Conditions of real AWS (``aws_conditions.py``), each a thin wrapper of one control call that
  raises ``EmulatorError`` unless 200:

  * ``.set_promotions(seconds=None, hold=None)`` (``PUT /promotions``), ``.promotions()``
    (``GET``): ``{"seconds", "hold", "promotions": [...]}``; ``.release_promotions(region=None,
    ident=None)`` (``POST /promotions/release``): the released ``[{"region", "id"}]``.
  * ``.hold_instance_status(region, ident, status)`` (``PUT /instances/<region>/<id>/status``),
    ``.release_instance_status(region, ident)`` (``DELETE``), ``.instance_status(region, ident)``
    (``GET``): ``{"region", "id", "status", "held"}``.
  * ``.set_health_check(ident, status=None, healthy_checkers=None, checkers=None)`` (``PUT
    /health-checks/<id>``): ``{"id", "checkers", "healthy_checkers", "status"}``.
  * ``.add_outage(region, mode, service=None, actions=None, seconds=None)`` (``PUT /outages``): the
    outage with its ``id``; ``.outages()`` (``GET``); ``.clear_outages()`` (``DELETE``):
    ``{"cleared", "released"}``.
* Aurora global databases (``global_cluster_patches.py``): ``.set_global_failovers(seconds=None,
  hold=None)`` (``PUT /global-failovers``), ``.global_failovers()`` (``GET``): ``{"seconds", "hold",
  "operations": [...]}``; ``.release_global_failovers(ident=None)`` (``POST
  /global-failovers/release``): the released ``[{"id"}]``; ``.set_cluster_status(region, ident,
  status)`` (``PUT /clusters/<region>/<id>/status``, ``None`` releases): ``{"region", "id",
  "status", "held"}``.
* Cross-Region automated backups replication (``automated_backups_patches.py``):
  ``.set_automated_backups_replication(lag_seconds=None, pending_seconds=None)`` (``PUT
  /automated-backups-replication``), ``.automated_backups_replication()`` (``GET``): ``{"lag_seconds",
  "pending_seconds", "replications": [...]}``.
* ``.stop()`` (idempotent); ``with Emulator(...) as emu:`` stops it on exit.

The control API and the patches are described in ``pilotlight_emulator.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import IO, Any, Callable

LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pilotlight_emulator.py")


class EmulatorError(RuntimeError):
    """A control API call that did not answer 200."""


class Emulator:
    """One launcher process on a free loopback port (see the module docstring)."""

    def __init__(
        self,
        *args: str,
        log_file: str | os.PathLike[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        python: str | os.PathLike[str] | None = None,
        max_attempts: int = 1,
        max_pool_connections: int = 10,
        timeout: float = 30,
    ) -> None:
        self.max_attempts = max_attempts
        self.max_pool_connections = max_pool_connections
        self.timeout = timeout
        self._clients: dict[tuple[str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self.log_file: IO[bytes] | None = open(log_file, "wb") if log_file is not None else None  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [
                    str(python or sys.executable),
                    LAUNCHER,
                    "--host", "127.0.0.1", "--port", "0",
                    "--parent-pid", str(os.getpid()),
                    *args,
                ],
                stdout=subprocess.PIPE,
                stderr=self.log_file if self.log_file is not None else subprocess.DEVNULL,
                text=True,
                cwd=cwd,
            )
        except BaseException:
            if self.log_file is not None:
                self.log_file.close()
            raise
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY http://"):
            self.stop()
            see = f" (see {self.log_file.name})" if self.log_file is not None else ""
            raise RuntimeError(f"the emulator did not start: {line!r}{see}")
        self.url: str = line.split()[1]

    # ---- AWS clients ------------------------------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        import boto3
        from botocore.config import Config

        key = (service, region)
        with self._clients_lock:  # boto3's default session does not make clients thread-safely
            if key not in self._clients:
                self._clients[key] = boto3.client(
                    service,
                    region_name=region,
                    endpoint_url=self.url,
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",
                    config=Config(
                        retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
                        max_pool_connections=self.max_pool_connections,
                    ),
                )
            return self._clients[key]

    def rds(self, region: str) -> Any:
        return self.client("rds", region)

    def create_db_instance(self, region: str, ident: str, **params: Any) -> dict[str, Any]:
        return self.rds(region).create_db_instance(
            **{
                "DBInstanceIdentifier": ident,
                "DBInstanceClass": "db.t3.micro",
                "Engine": "postgres",
                "MasterUsername": "pilotlight",
                "MasterUserPassword": "not-a-secret-1",
                "AllocatedStorage": 20,
                **params,
            }
        )["DBInstance"]

    # ---- control API ------------------------------------------------------------------------
    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/_pilotlight{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, _decode(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, _decode(e.read())

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.control(method, path, body)
        if status != 200:
            raise EmulatorError(f"emulator control {method} {path}: {status} {str(answer)[:500]!r}")
        return answer

    def requests(self) -> list[dict[str, Any]]:
        return self.ok("GET", "/requests")

    def clear_requests(self) -> None:
        self.ok("DELETE", "/requests")

    # ---- conditions of real AWS (aws_conditions.py) -----------------------------------------
    def set_promotions(self, seconds: float | None = None, hold: bool | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("seconds", seconds), ("hold", hold)) if v is not None}
        return self.ok("PUT", "/promotions", body)

    def promotions(self) -> dict[str, Any]:
        return self.ok("GET", "/promotions")

    def release_promotions(self, region: str | None = None, ident: str | None = None) -> list[dict[str, str]]:
        body = {k: v for k, v in (("region", region), ("id", ident)) if v is not None}
        return self.ok("POST", "/promotions/release", body)["released"]

    def hold_instance_status(self, region: str, ident: str, status: str) -> dict[str, Any]:
        return self.ok("PUT", f"/instances/{region}/{ident}/status", {"status": status})

    def release_instance_status(self, region: str, ident: str) -> dict[str, Any]:
        return self.ok("DELETE", f"/instances/{region}/{ident}/status")

    def set_replication(self, region: str, ident: str, status: str | None, message: str | None = None) -> dict[str, Any]:
        return self.ok("PUT", f"/instances/{region}/{ident}/replication", {"status": status, "message": message})

    def instance_status(self, region: str, ident: str) -> dict[str, Any]:
        return self.ok("GET", f"/instances/{region}/{ident}/status")

    def set_health_check(
        self,
        ident: str,
        status: str | None = None,
        healthy_checkers: int | None = None,
        checkers: int | None = None,
    ) -> dict[str, Any]:
        body = {
            k: v
            for k, v in (("status", status), ("healthy_checkers", healthy_checkers), ("checkers", checkers))
            if v is not None
        }
        return self.ok("PUT", f"/health-checks/{ident}", body)

    def add_outage(
        self,
        region: str,
        mode: str,
        service: str | None = None,
        actions: list[str] | None = None,
        seconds: float | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"region": region, "mode": mode}
        body.update({k: v for k, v in (("service", service), ("actions", actions), ("seconds", seconds)) if v is not None})
        return self.ok("PUT", "/outages", body)

    def outages(self) -> list[dict[str, Any]]:
        return self.ok("GET", "/outages")

    def clear_outages(self) -> dict[str, int]:
        return self.ok("DELETE", "/outages")

    # ---- Aurora global databases (global_cluster_patches.py) ---------------------------------
    def set_global_failovers(self, seconds: float | None = None, hold: bool | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("seconds", seconds), ("hold", hold)) if v is not None}
        return self.ok("PUT", "/global-failovers", body)

    def global_failovers(self) -> dict[str, Any]:
        return self.ok("GET", "/global-failovers")

    def release_global_failovers(self, ident: str | None = None) -> list[dict[str, str]]:
        return self.ok("POST", "/global-failovers/release", {"id": ident} if ident is not None else {})["released"]

    def set_cluster_status(self, region: str, ident: str, status: str | None) -> dict[str, Any]:
        return self.ok("PUT", f"/clusters/{region}/{ident}/status", {"status": status})

    # ---- cross-Region automated backups replication (automated_backups_patches.py) -----------
    def set_automated_backups_replication(
        self, lag_seconds: float | None = None, pending_seconds: float | None = None
    ) -> dict[str, Any]:
        body = {k: v for k, v in (("lag_seconds", lag_seconds), ("pending_seconds", pending_seconds)) if v is not None}
        return self.ok("PUT", "/automated-backups-replication", body)

    def automated_backups_replication(self) -> dict[str, Any]:
        return self.ok("GET", "/automated-backups-replication")

    # ---- lifetime ---------------------------------------------------------------------------
    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.log_file is not None:
            self.log_file.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()


def _decode(raw: bytes) -> Any:
    """A control answer: JSON (empty = None); anything else (a crash page) as text."""
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")


def run_checks(
    checks: list[tuple[str, Callable[[], None]]],
    after_failure: Callable[[], None] | None = None,
) -> int:
    """Run the boto3 checks of a test script: one line per check, ``-k SUBSTRING`` to pick some,
    ``N passed, M failed (Ts)`` last; a failure is reported and the next check runs (after
    ``after_failure``, which undoes what a failed check may have left). Returns the exit code."""
    import time
    import traceback

    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
    passed = failed = 0
    started_all = time.monotonic()
    for name, fn in checks:
        if only and only not in name:
            continue
        started = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001 - every failure is reported, then the next check runs
            failed += 1
            print(f"FAIL {name}", flush=True)
            traceback.print_exc(file=sys.stdout)
            if after_failure is not None:
                try:
                    after_failure()
                except Exception:  # noqa: BLE001
                    pass
        else:
            passed += 1
            print(f"ok   {name} ({time.monotonic() - started:.1f}s)", flush=True)
    print(f"{passed} passed, {failed} failed ({time.monotonic() - started_all:.1f}s)", flush=True)
    return 1 if failed else 0
