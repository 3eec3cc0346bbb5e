#!/usr/bin/env python3
"""pilotlight's local AWS emulator: moto's server (moto[server] 5.2) with the gaps pilotlight's tests
depend on closed.

Usage:
    python pilotlight_emulator.py [--host 127.0.0.1] [--port 0] [--parent-pid PID] [--snapshot-limit N]
                                  [--promotion-seconds S]

It binds the port (0 = a free one chosen by the OS), prints one line ``READY http://HOST:PORT`` on
stdout and serves until it receives SIGTERM/SIGINT or, with ``--parent-pid``, until that process is
gone (so a test that dies cannot leave an emulator behind). ``--snapshot-limit N`` sets moto's
per-region quota of manual DB snapshots and of manual DB cluster snapshots
(``MOTO_RDS_SNAPSHOT_LIMIT``, which moto reads at every call; default: moto's 1000).
``--promotion-seconds S`` sets how long ``PromoteReadReplica`` takes (default 2), and Aurora global
switchovers and failovers too. From Python,
``harness.py`` (next to this file) starts it and wraps its endpoint, boto3 clients and control API;
the shell scripts (``scripts/demo.sh``, ``scripts/check-infra.sh``) read the READY line themselves.

What it patches in moto 5.2.1 (each one is a behaviour of the real AWS API the tests rely on):

* Conditions of real AWS (``aws_conditions.py``, whose docstring has the details and the AWS
  documentation behind each):

  * RDS ``PromoteReadReplica`` takes time: it answers ``modifying`` at once, then the instance is
    ``modifying``, ``rebooting`` and, after ``--promotion-seconds``, ``available`` (same endpoint);
    ``ReadReplicaSourceDBInstanceIdentifier`` stays set until then, and then the instance is
    detached from its primary (in whichever region). Promoting an instance that is not
    ``available`` (a promotion in progress, or a status held through the control API, e.g.
    ``backing-up``) answers ``InvalidDBInstanceState`` "DB Instance is not in available state.",
    one that is not a read replica "DB Instance is not a read replica.", an unknown id
    ``DBInstanceNotFound`` (moto promoted at once yet kept the source, and answered HTTP 500 for
    an unknown id).
  * Route 53 ``GetHealthCheckStatus`` answers one observation per health checker (default 8, one
    per health-checker region), of which the first N report ``Success: HTTP Status Code 200, OK``
    and the others ``Failure: Connection timed out...`` (moto: three successes, always).
  * Outages: AWS requests of a region (and service, and actions) fail with no answer at all
    (``refused``), hang then get no answer (``timeout``) or answer 503 ``ServiceUnavailable``
    (``5xx``), e.g. Route 53's control plane down while ``ListResourceRecordSets`` works.
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
  * ``DescribeAccountAttributes`` (moto: HTTP 500, not implemented) answers ``AccountQuotas``
    ``ManualSnapshots`` and ``ManualClusterSnapshots``, each ``{AccountQuotaName, Used, Max}``:
    ``Used`` the manual DB snapshots / DB cluster snapshots of the request's region, ``Max`` the
    ``--snapshot-limit`` (default 1000).

* Aurora global databases (``global_cluster_patches.py``, whose docstring has the details and the AWS
  documentation behind each):

  * ``FailoverGlobalCluster`` and ``SwitchoverGlobalCluster`` (moto has neither,
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_FailoverGlobalCluster.html,
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_SwitchoverGlobalCluster.html,
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html):
    ``TargetDbClusterIdentifier`` an ARN (or an identifier in the caller's region), from any region.
    ``AllowDataLoss`` with ``Switchover`` answers ``InvalidParameterCombination``; without
    ``AllowDataLoss`` a failover is a switchover. Refused: unknown global cluster
    (``GlobalClusterNotFoundFault``, 404), one in progress (``InvalidGlobalClusterStateFault``),
    unknown target (``DBClusterNotFoundFault``, 404), a target that is not a member, already the
    writer or has no DB instance (``InvalidDBClusterStateFault``), engine versions that differ
    (``InvalidParameterValue``: AWS documents no code), a member not ``available``
    (``InvalidDBClusterStateFault``; a failover checks only the target). Accepted, the global
    cluster is ``switching-over`` / ``failing-over`` with a ``FailoverState`` (the old writer still
    ``IsWriter``) for ``--promotion-seconds``, then the roles swap and it is ``available``. After a
    failover the old primary is a secondary and its region holds the automated DB cluster snapshot
    ``rds:unplanned-global-failover-<old primary id>-YYYY-MM-DD-HH-MM``.
  * One store of global clusters for every region: ``DescribeGlobalClusters`` (with
    ``GlobalClusterIdentifier``: that one or ``GlobalClusterNotFoundFault``), ``RemoveFromGlobalCluster``
    and ``DeleteDBCluster`` of a member work from any region; ``CreateGlobalCluster`` with a source
    cluster (in any region) makes it the writer. Members report ``SynchronizationStatus``.

* RDS cross-Region automated backups replication (``automated_backups_patches.py``, whose docstring
  has the details and the AWS documentation behind each;
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReplicateBackups.html):

  * ``StartDBInstanceAutomatedBackupsReplication`` and ``StopDBInstanceAutomatedBackupsReplication``
    (moto: HTTP 500, not implemented), called in the destination region with ``SourceDBInstanceArn``.
    Start answers the replicated ``DBInstanceAutomatedBackup`` (``Status`` ``replicating``, or
    ``pending`` for ``pending_seconds`` first; ``DBInstanceAutomatedBackupsArn``
    ``arn:aws:rds:<destination>:<account>:auto-backup:ab-<the source's DbiResourceId without db->``,
    ``Region`` the source's, ``BackupRetentionPeriod`` default 7, ``Encrypted``, ``KmsKeyId``) and the
    source lists it in ``DBInstanceAutomatedBackupsReplications``; Stop makes it ``retained``. Refused:
    unknown source ``DBInstanceNotFound`` (404); already replicating to that region, or Stop with none,
    ``InvalidDBInstanceState``; encrypted source without ``KmsKeyId`` ``InvalidParameterValue``
    "Encrypted instances require a valid KMS key ID."; a key not of the destination region
    ``KMSKeyNotAccessibleFault``; Aurora, RDS Custom, Multi-AZ DB cluster members, the source's own
    region, ``BackupRetentionPeriod`` outside 1..35 ``InvalidParameterValue``; automated backups off on
    the source ``InvalidDBInstanceState``; a 21st replication into a region
    ``DBInstanceAutomatedBackupQuotaExceeded``.
  * ``RestoreWindow.LatestTime`` = now minus the replication lag (control API, default 300 s),
    recomputed at every call; frozen when retained. A deleted source's replications are retained.
  * ``DescribeDBInstanceAutomatedBackups`` answers moto's automated backups of the region, then the
    replicated backups held there; ``DBInstanceIdentifier``, ``DbiResourceId``,
    ``DBInstanceAutomatedBackupsArn`` (no match: ``DBInstanceAutomatedBackupNotFound``, 404),
    ``Filters`` ``status`` / ``db-instance-id`` / ``dbi-resource-id``, ``MaxRecords`` 20..100 and
    ``Marker``.
  * Every DB instance gets its own ``DbiResourceId`` (moto gave all the same one).

* RDS ``RestoreDBInstanceFromDBSnapshot`` (``restore_patches.py``, whose docstring has the details and
  the AWS documentation behind each;
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceFromDBSnapshot.html):

  * A restore takes time: the new instance is ``creating`` (without ``Endpoint``) for 2 s by default
    (control API below), then ``available`` (moto: ``available`` at once).
  * The snapshot must be in the region called and ``available``: else ``DBSnapshotNotFound`` (404) /
    ``InvalidDBSnapshotState`` (a copy still ``copying``; moto restored from it).
  * The request's settings apply as given, ``false`` included (moto dropped ``PubliclyAccessible=false``),
    and AWS's defaults otherwise: the default VPC security group of the subnet group's VPC, the
    engine's default parameter group, no deletion protection, Single-AZ, an Availability Zone of the
    region (moto copied the source instance's subnet group, Availability Zone, deletion protection,
    Multi-AZ and read replica source).
  * ``DeleteDBInstance`` of a ``creating`` instance works with ``SkipFinalSnapshot``; asking for a final
    snapshot answers ``InvalidDBInstanceState`` "Instance <id> is currently creating - a final snapshot
    cannot be taken.".

* Fault injection: chosen actions fail a given number of times with a throttling error, a 5xx or a
  modelled 4xx, optionally only when the request mentions a given string.
* IAM (``iam_enforcement.py``, whose docstring has the rules): requests signed with the credentials
  of a function registered from one of our templates are authorised against that function's role
  (actions, resource ARNs, the condition keys pilotlight's roles use); a denied request answers 403
  ``AccessDenied`` (SNS ``AuthorizationError``, Lambda/KMS ``AccessDeniedException``) and changes
  nothing. Other credentials are not restricted.
* A request log of every AWS call (service, region, action, HTTP status), for tests that assert
  "no call that changes anything" and for benchmarks that count calls.

Control API (JSON over HTTP, under ``/_pilotlight``):

* ``POST /_pilotlight/faults`` ``{"action": "ChangeResourceRecordSets", "count": 1,
  "error": "throttling" | "internal" | "unavailable" | {"status": 400, "code": "X", "message": "..."},
  "service": "route53" (optional), "match": "substring of path or body" (optional)}``
* ``DELETE /_pilotlight/faults``: clear all faults.
* ``PUT /_pilotlight/health-checks/<id>`` ``{"status": "Failure"}`` (or ``"Success"``): every
  checker; or ``{"healthy_checkers": 3, "checkers": 8 (optional, 1..16)}``: the first 3 of 8
  succeed (0 <= healthy <= checkers, else 400). Answers ``{"id", "checkers", "healthy_checkers",
  "status"}``, ``status`` being Route 53's verdict (more than 18% healthy: ``Success``). ``GET``
  reads it.
* ``PUT /_pilotlight/promotions`` ``{"seconds": 120}`` and/or ``{"hold": true | false}``: how long
  promotions started from now on take / hold them ``modifying`` until released. ``GET``:
  ``{"seconds", "hold", "promotions": [{"region", "id", "status", "started_at", "available_at"
  (epoch seconds; null when held)}]}`` (the promotions in flight); ``PUT`` answers the same.
* ``POST /_pilotlight/promotions/release`` ``{"region", "id"}`` (both optional): promotions in
  flight complete now; answers ``{"released": [{"region", "id"}]}``.
* ``PUT /_pilotlight/global-failovers`` ``{"seconds": 120}`` and/or ``{"hold": true | false}``: how long
  global switchovers and failovers started from now on take (default ``--promotion-seconds``) / hold
  them in progress until released. ``GET``: ``{"seconds", "hold", "operations": [{"id" (global
  cluster), "kind": "switchover" | "failover", "from", "to" (cluster ARNs), "status", "started_at",
  "available_at" (epoch seconds; null when held)}]}``; ``PUT`` answers the same.
* ``POST /_pilotlight/global-failovers/release`` ``{"id"}`` (optional): those in progress (of that
  global cluster, or all) complete now; answers ``{"released": [{"id"}]}``.
* ``PUT /_pilotlight/clusters/<region>/<id>/status`` ``{"status": "modifying"}``: set a DB cluster's
  status (switchovers refuse it); ``{"status": null}`` or ``DELETE``: ``available``. ``GET`` reads it.
  Answers ``{"region", "id", "status", "held"}``; 404 for an unknown cluster.
* ``PUT /_pilotlight/instances/<region>/<id>/status`` ``{"status": "backing-up"}``: hold a DB
  instance in a status (``PromoteReadReplica`` refuses it); ``{"status": null}`` or ``DELETE``:
  release it (``available``, or its promotion's status). ``GET`` reads it. Answers ``{"region",
  "id", "status", "held"}``; 404 for an unknown instance.
* ``PUT /_pilotlight/outages`` ``{"region": "us-east-1", "service": "rds" (optional: every service
  signed for that region), "actions": ["ChangeResourceRecordSets", "GetChange"] (optional), "mode":
  "refused" | "timeout" | "5xx", "seconds": 60 (timeout only; default 60)}``: add an outage (region
  and service from the request's SigV4 scope; Route 53 is signed for us-east-1); answers it with
  its ``id``. ``GET``: ``[{"id", "region", "service", "actions", "mode", "seconds", "hanging"}]``.
  ``DELETE``: clear them all and release hanging requests at once; answers ``{"cleared",
  "released"}``. Requests hit are logged with ``"outage": mode`` and status 0 (no answer) or 503;
  control paths are never affected.
* ``POST /_pilotlight/iam/roles`` ``{"region": "us-west-2", "template": "infra/sam/template.yaml"
  (default; relative to the repository), "config": {pilotlight configuration} | "parameters":
  {template parameters}, "overrides": {parameters} (optional)}``: registers each function's role as
  the template writes it, the parameters derived from the configuration as a person deploying it
  would (``iam_enforcement.sam_parameters``); answers ``{"template", "functions": {"failover":
  {"access_key_id", "secret_access_key", "session_token", "policies"}, ...}}``.
* ``PUT /_pilotlight/lambda-forward`` ``{"function": "orders-failover", "url": "http://127.0.0.1:PORT",
  "served_as": "failover"}``: Lambda ``Invoke`` calls of that function, once the caller's IAM check
  passed, are sent on to a Lambda runtime emulator (``cargo lambda watch``) serving it as
  ``served_as``, and its answer is returned (so one function invoking another is authorised too).
* ``GET /_pilotlight/requests``: ``[{"service", "region", "action", "status", "time"}]`` (plus
  ``"principal"`` and ``"iam": [{"action", "resource", "allowed", "why"}]`` for a function's call);
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
* ``PUT /_pilotlight/restores`` ``{"seconds": 30}`` and/or ``{"hold": true | false}``: how long restores
  (``RestoreDBInstanceFromDBSnapshot``) started from now on stay ``creating`` (default 2) / hold them
  ``creating`` until released. ``GET``: ``{"seconds", "hold", "restores": [{"region", "id", "status",
  "snapshot", "started_at", "available_at" (epoch seconds; null when held)}]}``; ``PUT`` answers the
  same, 400 for other keys or values.
* ``POST /_pilotlight/restores/release`` ``{"region", "id"}`` (both optional): restores in flight become
  ``available`` now; answers ``{"released": [{"region", "id"}]}``.
* ``PUT /_pilotlight/automated-backups-replication`` ``{"lag_seconds": 600}`` and/or
  ``{"pending_seconds": 5}`` (numbers >= 0, global): the replication lag behind
  ``RestoreWindow.LatestTime`` (default 300; every replication, at once) / how long replications
  started from now on stay ``pending`` (default 0). ``GET``: ``{"lag_seconds", "pending_seconds",
  "replications": [{"region" (destination), "arn", "source_arn", "source_region", "source_id",
  "status", "started_at", "available_at", "stopped_at", "earliest_time", "latest_time" (epoch
  seconds; null when none)}]}``; ``PUT`` answers the same, 400 for other keys or values.
  ``DELETE``: the default settings again (replications stay).
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
import urllib.error
import urllib.request
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.route53 import models as route53_models
from moto.route53.exceptions import Route53ClientError

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import iam_enforcement  # noqa: E402  (next to this file)
import aws_conditions  # noqa: E402  (next to this file)
import snapshot_patches  # noqa: E402  (next to this file)
import global_cluster_patches  # noqa: E402  (next to this file)
import automated_backups_patches  # noqa: E402  (next to this file)
import restore_patches  # noqa: E402  (next to this file)

snapshot_patches.install()
aws_conditions.install()
global_cluster_patches.install()
automated_backups_patches.install()
restore_patches.install()  # after the two above: it wraps their DeleteDBInstance and statuses

_LOCK = threading.Lock()
# Serialises moto's Lambda API (see Emulator.__call__).
_LAMBDA_LOCK = threading.Lock()
_FAULTS: list[dict[str, Any]] = []
_REQUESTS: list[dict[str, Any]] = []
# Lambda function name -> (runtime emulator URL, the name it serves the function as).
_LAMBDA_FORWARD: dict[str, tuple[str, str]] = {}
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


# --------------------------------------------------------------------------------------------
# Route 53: DELETE precondition (PromoteReadReplica and GetHealthCheckStatus: aws_conditions.py)
# --------------------------------------------------------------------------------------------
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
        # A batch is applied in order, all or nothing: a CREATE of a record set the same batch
        # DELETEs first is valid (a compare-and-swap of a value onto itself confirms it). moto
        # checks each CREATE against the zone before the batch (and its change journal), so it
        # refuses that; check here in order, then let moto apply the DELETEs before the rest.
        def key(rrset: dict[str, Any]) -> tuple[str, str, Any]:
            name = rrset["Name"] if rrset["Name"].endswith(".") else rrset["Name"] + "."
            return (name, rrset.get("Type"), rrset.get("SetIdentifier"))

        present = {(r.name, r.type, r.set_identifier) for r in zone.rrsets}
        recreated = False
        for change in change_list:
            k = key(change["ResourceRecordSet"])
            if change.get("Action") == "DELETE":
                present.discard(k)
            elif change.get("Action") == "CREATE":
                if k in present:
                    raise InvalidChangeBatch(
                        f"[Tried to create resource record set [name='{k[0]}', type='{k[1]}'] but it already exists]"
                    )
                recreated = recreated or any(
                    c.get("Action") == "DELETE" and key(c["ResourceRecordSet"]) == k for c in change_list
                )
                present.add(k)
            else:
                present.add(k)
        if not recreated:
            return _original_change_rrsets(self, zoneid, change_list)
        deletes = [c for c in change_list if c.get("Action") == "DELETE"]
        _original_change_rrsets(self, zoneid, deletes)
        return _original_change_rrsets(self, zoneid, [c for c in change_list if c.get("Action") != "DELETE"])


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
    if path == "/requests" and request.method == "GET":
        with _LOCK:
            return Response(json.dumps(_REQUESTS), content_type="application/json")
    if path == "/requests" and request.method == "DELETE":
        with _LOCK:
            _REQUESTS.clear()
        return Response("{}", content_type="application/json")
    if path == "/lambda-forward" and request.method == "PUT":
        if not all(isinstance(payload.get(k), str) and payload[k] for k in ("function", "url")):
            return Response('{"error": "`function` and `url` are required"}', status=400, content_type="application/json")
        with _LOCK:
            _LAMBDA_FORWARD[payload["function"]] = (payload["url"].rstrip("/"), payload.get("served_as") or payload["function"])
        return Response(json.dumps(payload), content_type="application/json")
    if path == "/iam/roles" and request.method == "POST":
        return iam_control(payload)
    for module in (aws_conditions, snapshot_patches, global_cluster_patches, automated_backups_patches, restore_patches):
        answer = module.control(request, path, payload)
        if answer is not None:
            return answer
    return Response('{"error": "unknown control path"}', status=404, content_type="application/json")


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# IAM error codes per service (the rest answer `AccessDenied`).
_ACCESS_DENIED_CODE = {"sns": "AuthorizationError", "lambda": "AccessDeniedException", "kms": "AccessDeniedException", "dynamodb": "AccessDeniedException"}


def forward_invoke(request: Request, body: bytes, name: str) -> Response | None:
    """A Lambda ``Invoke`` of a forwarded function, sent on to the runtime emulator serving it."""
    with _LOCK:
        target = _LAMBDA_FORWARD.get(name.rsplit(":", 1)[-1] if name.startswith("arn:") else name)
    if target is None:
        return None
    url, served_as = target
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower().startswith("x-amz-") and k.lower() not in ("x-amz-date", "x-amz-security-token", "x-amz-content-sha256")
        or k.lower() == "content-type"
    }
    upstream = urllib.request.Request(
        f"{url}/2015-03-31/functions/{served_as}/invocations{('?' + request.query_string.decode()) if request.query_string else ''}",
        data=body,
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(upstream, timeout=900) as answer:  # noqa: S310 - loopback URL the test set
            status, answer_headers, data = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as e:
        status, answer_headers, data = e.code, e.headers, e.read()
    keep = {k: v for k, v in answer_headers.items() if k.lower().startswith("x-amz") or k.lower() == "content-type"}
    return Response(data, status=status, headers=keep)


def iam_control(payload: dict[str, Any]) -> Response:
    """``POST /_pilotlight/iam/roles``: register the function roles of a template (see module doc)."""
    template = payload.get("template") or "infra/sam/template.yaml"
    path = template if os.path.isabs(template) else os.path.join(_REPO, template)
    region = payload.get("region")
    if not isinstance(region, str) or not region:
        return Response('{"error": "`region` (where the functions run) is required"}', status=400, content_type="application/json")
    try:
        if isinstance(payload.get("config"), dict):
            parameters = iam_enforcement.sam_parameters(payload["config"])
        else:
            parameters = payload.get("parameters") or {}
        parameters.update(payload.get("overrides") or {})
        functions = iam_enforcement.register_template(path, parameters, region)
    except (OSError, ValueError, KeyError) as e:
        return Response(json.dumps({"error": f"cannot load roles from {template}: {e!r}"}), status=400, content_type="application/json")
    return Response(json.dumps({"template": template, "functions": functions}), content_type="application/json")


class Emulator:
    """WSGI middleware in front of moto's dispatcher."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        snapshot_patches.release_due()
        aws_conditions.advance_due()
        restore_patches.advance_due()
        global_cluster_patches.advance_due()
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
        denied = iam_enforcement.authorise(
            entry, iam_enforcement.access_key_of(request), service, region, action, request, body
        )
        if denied is not None:
            code = _ACCESS_DENIED_CODE.get(service, "AccessDenied")
            response = fault_response(service, {"status": 403, "code": code, "message": denied})
            entry["status"] = response.status_code
            return response(environ, start_response)
        invoke = _INVOKE_PATH.match(request.path) if service == "lambda" else None
        if invoke is not None:
            forwarded = forward_invoke(request, body, invoke.group(1))
            if forwarded is not None:
                entry["status"] = forwarded.status_code
                return forwarded(environ, start_response)
        outage = aws_conditions.take_outage(service, region, action, entry)
        if outage is not None:
            if outage["mode"] != "5xx":
                aws_conditions.drop_connection(environ, outage)  # hangs first if "timeout"; never returns
            response = fault_response(service, aws_conditions.SERVICE_UNAVAILABLE)
            entry["status"] = response.status_code
            return response(environ, start_response)
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
    parser.add_argument(
        "--promotion-seconds",
        type=float,
        default=2.0,
        help="how long PromoteReadReplica takes (modifying, then rebooting, then available; default 2), "
        "and Aurora global switchovers and failovers",
    )
    parser.add_argument(
        "--reboot-seconds",
        type=float,
        default=1.0,
        help="how long RebootDBInstance takes (rebooting, then available; default 1)",
    )
    args = parser.parse_args()
    if args.promotion_seconds < 0:
        parser.error("--promotion-seconds must be >= 0")
    if args.reboot_seconds < 0:
        parser.error("--reboot-seconds must be >= 0")
    aws_conditions.configure(promotion_seconds=args.promotion_seconds, reboot_seconds=args.reboot_seconds)
    global_cluster_patches.configure(seconds=args.promotion_seconds)
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
