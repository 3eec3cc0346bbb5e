#!/usr/bin/env python3
"""pilotlight's local AWS emulator: moto's server (moto[server] 5.2) with the gaps pilotlight's tests
depend on closed.

Usage:
    python pilotlight_emulator.py [--host 127.0.0.1] [--port 0] [--parent-pid PID] [--snapshot-limit N]

It binds the port (0 = a free one chosen by the OS), prints one line ``READY http://HOST:PORT`` on
stdout and serves until it receives SIGTERM/SIGINT or, with ``--parent-pid``, until that process is
gone (so a test that dies cannot leave an emulator behind). ``--snapshot-limit N`` sets moto's
per-region quota of manual DB snapshots and of manual DB cluster snapshots
(``MOTO_RDS_SNAPSHOT_LIMIT``, which moto reads at every call; default: moto's 1000). From Python,
``harness.py`` (next to this file) starts it and wraps its endpoint, boto3 clients and control API;
the shell scripts (``scripts/demo.sh``, ``scripts/check-infra.sh``) read the READY line themselves.

What it patches in moto 5.2.1 (each one is a behaviour of the real AWS API the tests rely on):

* RDS ``PromoteReadReplica``: moto leaves ``ReadReplicaSourceDBInstanceIdentifier`` set and the
  replica still listed on its primary; here the promoted instance becomes standalone and the
  primary (in whichever region) forgets it. Promoting an instance that is not a read replica
  answers ``InvalidDBInstanceState`` as RDS does, and an unknown id answers ``DBInstanceNotFound``
  (moto answers HTTP 500).
* Route 53 ``GetHealthCheckStatus``: moto always reports success; here the status of each health
  check can be set through the control API below.
* Route 53 ``ChangeResourceRecordSets``: a ``DELETE`` must name the record set's current values
  (TTL and records) exactly, or the whole batch fails with ``InvalidChangeBatch``, as in Route 53.
  This is what makes a DELETE+CREATE batch a compare-and-swap.
* RDS snapshots (``snapshot_patches.py``, whose docstring has the details):

  * ``DescribeDBSnapshots``, ``DescribeDBClusterSnapshots`` and ``DescribeDBClusters`` paginate
    (``MaxRecords`` 20..100, default 100, else ``InvalidParameterValue``; ``Marker``), in creation
    order; moto returned everything at once. ``DescribeDBInstances`` is moto's own pagination.
  * Copies in flight: while held (control API below), copies made by ``CopyDBSnapshot`` /
    ``CopyDBClusterSnapshot`` stay ``copying`` (``PercentProgress`` 0) until released; deleting one
    answers ``InvalidDBSnapshotState`` / ``InvalidDBClusterSnapshotStateFault`` (or, with
    ``"delete": "cancel"``, ends the copy). Copies carry ``SourceDBSnapshotIdentifier`` /
    ``SourceRegion`` / ``SourceDBClusterSnapshotArn``; DB snapshots carry ``PercentProgress``.
  * Creation time: the tag ``pilotlight-emulator:create-time`` = ``2025-10-15T03:00:00Z`` on a
    snapshot made by ``CreateDBSnapshot``, ``CreateDBClusterSnapshot``, ``CopyDBSnapshot`` or
    ``CopyDBClusterSnapshot`` sets its ``SnapshotCreateTime`` (and ``OriginalSnapshotCreateTime``
    of a DB snapshot that is not a copy).
  * Snapshot quota: only manual snapshots count and automated ones never fail on it (moto counted
    both); over it, ``SnapshotQuotaExceeded``.
  * Deleting an automated snapshot answers ``InvalidDBSnapshotState`` /
    ``InvalidDBClusterSnapshotStateFault`` "Only manual snapshots may be deleted." (moto deleted it).

* Fault injection: chosen actions fail a given number of times with a throttling error, a 5xx or a
  modelled 4xx, optionally only when the request mentions a given string.
* A request log of every AWS call (service, region, action, HTTP status), for tests that assert
  "no call that changes anything" and for benchmarks that count calls.

Control API (JSON over HTTP, under ``/_pilotlight``):

* ``POST /_pilotlight/faults`` ``{"action": "ChangeResourceRecordSets", "count": 1,
  "error": "throttling" | "internal" | "unavailable" | {"status": 400, "code": "X", "message": "..."},
  "service": "route53" (optional), "match": "substring of path or body" (optional)}``
* ``DELETE /_pilotlight/faults``: clear all faults.
* ``PUT /_pilotlight/health-checks/<id>`` ``{"status": "Failure"}`` (or ``"Success"``).
* ``GET /_pilotlight/requests``: ``[{"service", "region", "action", "status", "time"}]``;
  ``DELETE /_pilotlight/requests`` clears it.
* ``PUT /_pilotlight/snapshot-copies`` ``{"hold": true, "seconds": 30 (optional), "delete":
  "refuse" | "cancel" (optional)}``: hold copies made from now on (each released ``seconds`` after
  it was made, if given); ``{"hold": false}`` stops holding new ones. ``GET`` shows the state and
  the held copies: ``{"hold", "seconds", "delete", "held": [{"region", "id", "kind", "release_at"}]}``.
* ``POST /_pilotlight/snapshot-copies/release`` ``{"region": "us-west-2", "id": "..."}`` (both
  optional): held copies become ``available``; answers ``{"released": [{"region", "id", "kind"}]}``.
* ``PUT /_pilotlight/snapshots/create-time`` ``{"region", "id", "time", "original_time"
  (optional)}``: set an existing DB snapshot's or DB cluster snapshot's ``SnapshotCreateTime``.
* ``POST /_pilotlight/snapshots/automated`` ``{"region", "instance_id" | "cluster_id", "id", "time"
  (optional)}``: make one more automated snapshot (moto makes one per instance/cluster at creation).
  Both answer ``{"region", "id", "kind", "arn", "snapshot_create_time"}``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.rds import models as rds_models
from moto.rds.exceptions import DBInstanceNotFoundError, RDSClientError
from moto.route53 import models as route53_models
from moto.route53 import responses as route53_responses
from moto.route53.exceptions import Route53ClientError
from moto.core.utils import utcnow

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snapshot_patches  # noqa: E402  (next to this file)

snapshot_patches.install()

_LOCK = threading.Lock()
# Serialises moto's Lambda API (see Emulator.__call__).
_LAMBDA_LOCK = threading.Lock()
_FAULTS: list[dict[str, Any]] = []
_REQUESTS: list[dict[str, Any]] = []
_HEALTH_CHECK_STATUS: dict[str, str] = {}


# --------------------------------------------------------------------------------------------
# RDS: PromoteReadReplica
# --------------------------------------------------------------------------------------------
def _promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
    database_id = db_kwargs["db_instance_identifier"]
    database = self.databases.get(database_id)
    if database is None:
        raise DBInstanceNotFoundError(database_id)
    with _LOCK:
        if not database.is_replica:
            raise RDSClientError("InvalidDBInstanceState", f"DB Instance {database_id} is not a read replica.")
        source_id = database.source_db_instance_identifier
        database.is_replica = False
        database.source_db_instance_identifier = None
    if source_id:
        try:
            primary = self.find_db_from_id(source_id)
        except Exception:  # the primary is gone: nothing to detach from
            primary = None
        if primary is not None:
            for ident in (database.db_instance_arn, database.db_instance_identifier):
                if ident in primary.replicas:
                    primary.replicas.remove(ident)
    return database


rds_models.RDSBackend.promote_read_replica = _promote_read_replica


# --------------------------------------------------------------------------------------------
# Route 53: GetHealthCheckStatus and DELETE precondition
# --------------------------------------------------------------------------------------------
def _get_health_check_status(self: Any) -> Any:
    health_check_id = self._get_param("HealthCheckId")
    self.backend.get_health_check(health_check_id)
    status = _HEALTH_CHECK_STATUS.get(health_check_id, "Success")
    if status.lower().startswith("success"):
        report = "Success: HTTP Status Code: 200. Resolved IP: 127.0.13.37. OK"
    else:
        report = "Failure: Connection timed out. The endpoint or the internet connection is down, or requests are being blocked by your firewall."
    observations = [
        {
            "Region": region,
            "IPAddress": f"127.0.13.{i + 1}",
            "StatusReport": {"Status": report, "CheckedTime": utcnow()},
        }
        for i, region in enumerate(["us-east-1", "eu-west-1", "ap-southeast-1"])
    ]
    return route53_responses.ActionResult({"HealthCheckObservations": observations})


route53_responses.Route53.get_health_check_status = _get_health_check_status


class InvalidChangeBatch(Route53ClientError):
    def __init__(self, message: str) -> None:
        super().__init__("InvalidChangeBatch", message)


_original_change_rrsets = route53_models.Route53Backend.change_resource_record_sets


def _change_resource_record_sets(self: Any, zoneid: str, change_list: list[dict[str, Any]]) -> None:
    with _LOCK:
        zone = self.get_hosted_zone(zoneid)
        for change in change_list:
            if change.get("Action") != "DELETE":
                continue
            rrset = change["ResourceRecordSet"]
            name = rrset["Name"] if rrset["Name"].endswith(".") else rrset["Name"] + "."
            current = next(
                (
                    r
                    for r in zone.rrsets
                    if r.name == name
                    and r.type == rrset.get("Type")
                    and r.set_identifier == rrset.get("SetIdentifier")
                ),
                None,
            )
            if current is None:
                raise InvalidChangeBatch(
                    f"[Tried to delete resource record set [name='{name}', type='{rrset.get('Type')}'] but it was not found]"
                )
            wanted = [r["Value"] if isinstance(r, dict) else r for r in rrset.get("ResourceRecords", [])]
            have = [r["Value"] if isinstance(r, dict) else r for r in current.records]
            if "AliasTarget" not in rrset and (
                sorted(wanted) != sorted(have) or str(rrset.get("TTL")) != str(current.ttl)
            ):
                raise InvalidChangeBatch(
                    f"[Tried to delete resource record set [name='{name}', type='{rrset.get('Type')}'] but the values provided do not match the current values]"
                )
        return _original_change_rrsets(self, zoneid, change_list)


route53_models.Route53Backend.change_resource_record_sets = _change_resource_record_sets


# --------------------------------------------------------------------------------------------
# Request classification, faults and the request log
# --------------------------------------------------------------------------------------------
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_ROUTE53_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ChangeResourceRecordSets"),
    ("GET", re.compile(r"^/2013-04-01/hostedzone/[^/]+/rrset/?$"), "ListResourceRecordSets"),
    ("GET", re.compile(r"^/2013-04-01/change/[^/]+$"), "GetChange"),
    ("GET", re.compile(r"^/2013-04-01/healthcheck/[^/]+/status$"), "GetHealthCheckStatus"),
    ("GET", re.compile(r"^/2013-04-01/healthcheck/[^/]+$"), "GetHealthCheck"),
    ("POST", re.compile(r"^/2013-04-01/healthcheck/?$"), "CreateHealthCheck"),
    ("POST", re.compile(r"^/2013-04-01/hostedzone/?$"), "CreateHostedZone"),
    ("GET", re.compile(r"^/2013-04-01/hostedzone/[^/]+$"), "GetHostedZone"),
    ("GET", re.compile(r"^/2013-04-01/hostedzone/?$"), "ListHostedZones"),
]


def classify(request: Request, body: bytes) -> tuple[str, str, str]:
    """(service, region, action) of an AWS request signed with SigV4."""
    auth = request.headers.get("Authorization", "")
    m = _CREDENTIAL.search(auth)
    region, service = (m.group(1), m.group(2)) if m else ("", "")
    target = request.headers.get("X-Amz-Target")
    if target:
        return service, region, target.split(".")[-1]
    if service == "route53":
        for method, pattern, action in _ROUTE53_ROUTES:
            if request.method == method and pattern.match(request.path):
                return service, region, action
        return service, region, f"{request.method} {request.path}"
    if service == "lambda":
        return service, region, f"{request.method} {request.path}"
    action = request.args.get("Action")
    if not action and body:
        try:
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        except Exception:
            action = ""
    return service, region, action or f"{request.method} {request.path}"


_QUERY_SERVICES = {"rds", "monitoring", "sns", "sts", "iam", "ec2", "elasticloadbalancing"}


def fault_response(service: str, error: Any) -> Response:
    if error == "throttling":
        status, code, message = 400, "Throttling", "Rate exceeded"
        if service not in _QUERY_SERVICES and service != "route53":
            code = "ThrottlingException"
    elif error == "internal":
        status, code, message = 500, "InternalFailure", "The request processing has failed because of an unknown error (injected)."
    elif error == "unavailable":
        status, code, message = 503, "ServiceUnavailable", "The service is unavailable (injected)."
    else:
        status = int(error.get("status", 400))
        code = error["code"]
        message = error.get("message", f"{code} (injected)")
    request_id = str(uuid.uuid4())
    if service in _QUERY_SERVICES or service == "route53":
        xmlns = ' xmlns="https://route53.amazonaws.com/doc/2013-04-01/"' if service == "route53" else ""
        kind = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return Response(body, status=status, content_type="text/xml", headers={"x-amzn-RequestId": request_id})
    body = json.dumps({"__type": code, "message": message})
    return Response(
        body,
        status=status,
        content_type="application/x-amz-json-1.0",
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": code},
    )


def take_fault(service: str, action: str, haystack: str) -> Any:
    with _LOCK:
        for fault in _FAULTS:
            if fault["count"] <= 0 or fault["action"] != action:
                continue
            if fault.get("service") and fault["service"] != service:
                continue
            if fault.get("match") and fault["match"] not in haystack:
                continue
            fault["count"] -= 1
            return fault["error"]
    return None


def control(request: Request) -> Response:
    path = request.path[len("/_pilotlight") :]
    payload = request.get_json(silent=True) or {}
    if path == "/faults" and request.method == "POST":
        if not isinstance(payload.get("action"), str) or not payload["action"]:
            return Response('{"error": "`action` is required"}', status=400, content_type="application/json")
        fault = {
            "action": payload["action"],
            "count": int(payload.get("count", 1)),
            "error": payload.get("error", "throttling"),
            "service": payload.get("service"),
            "match": payload.get("match"),
        }
        with _LOCK:
            _FAULTS.append(fault)
        return Response(json.dumps(fault), content_type="application/json")
    if path == "/faults" and request.method == "DELETE":
        with _LOCK:
            _FAULTS.clear()
        return Response("{}", content_type="application/json")
    if path == "/faults" and request.method == "GET":
        with _LOCK:
            return Response(json.dumps(_FAULTS), content_type="application/json")
    m = re.match(r"^/health-checks/([^/]+)$", path)
    if m and request.method == "PUT":
        status = payload.get("status")
        if status not in ("Success", "Failure"):
            return Response('{"error": "`status` must be `Success` or `Failure`"}', status=400, content_type="application/json")
        _HEALTH_CHECK_STATUS[m.group(1)] = status
        return Response(json.dumps({"id": m.group(1), "status": status}), content_type="application/json")
    if path == "/requests" and request.method == "GET":
        with _LOCK:
            return Response(json.dumps(_REQUESTS), content_type="application/json")
    if path == "/requests" and request.method == "DELETE":
        with _LOCK:
            _REQUESTS.clear()
        return Response("{}", content_type="application/json")
    answer = snapshot_patches.control(request, path, payload)
    if answer is not None:
        return answer
    return Response('{"error": "unknown control path"}', status=404, content_type="application/json")


class Emulator:
    """WSGI middleware in front of moto's dispatcher."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        snapshot_patches.release_due()
        if request.path.startswith("/_pilotlight/"):
            return control(request)(environ, start_response)
        body = request.get_data(cache=True)
        # moto reads the body again from the WSGI stream: hand it a fresh one.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        service, region, action = classify(request, body)
        entry = {"service": service, "region": region, "action": action, "status": 0, "time": time.time()}
        with _LOCK:
            _REQUESTS.append(entry)
        error = take_fault(service, action, request.full_path + "\n" + body.decode("utf-8", "replace"))
        if error is not None:
            response = fault_response(service, error)
            entry["status"] = response.status_code
            entry["fault"] = True
            return response(environ, start_response)

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            entry["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        if service == "lambda":
            # moto 5.2's Lambda control plane is not safe under concurrent requests: terraform's
            # parallel CreateFunction calls were answered "Function already exist" (409) for
            # functions that did not exist, and the provider retried that until its 10-minute
            # timeout. Lambda itself serves them concurrently; here they take turns.
            with _LAMBDA_LOCK:
                return list(self.app(environ, recording_start_response))
        return self.app(environ, recording_start_response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=0)
    parser.add_argument(
        "--snapshot-limit",
        type=int,
        default=None,
        help="per-region quota of manual DB snapshots and of manual DB cluster snapshots (default: moto's 1000)",
    )
    args = parser.parse_args()
    if args.snapshot_limit is not None:
        if args.snapshot_limit < 0:
            parser.error("--snapshot-limit must be >= 0")
        # moto reads it at every snapshot creation (RDSBackend.SNAPSHOT_QUOTA), not at import.
        os.environ["MOTO_RDS_SNAPSHOT_LIMIT"] = str(args.snapshot_limit)

    app = Emulator(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True)
    host, port = server.server_address[:2]
    print(f"READY http://{host}:{port}", flush=True)

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.parent_pid:

        def watch_parent() -> None:
            while True:
                try:
                    os.kill(args.parent_pid, 0)
                except OSError:
                    stop()
                    return
                time.sleep(1)

        threading.Thread(target=watch_parent, daemon=True).start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
