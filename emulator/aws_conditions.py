"""Conditions of real AWS that pilotlight's emulator (moto 5.2.1) reproduces strictly: an RDS
promotion and an RDS reboot that take time, Route 53 health checkers that may disagree, and regional
outages. ``install()`` applies the patches; the launcher (``pilotlight_emulator.py``) calls it at
import, routes ``/_pilotlight/promotions``, ``/_pilotlight/reboots``, ``/_pilotlight/instances/...``,
``/_pilotlight/health-checks/...``
and ``/_pilotlight/outages`` to ``control()``, calls ``advance_due()`` before every request and asks
``take_outage()`` about every AWS request (just before fault injection).

1. RDS ``PromoteReadReplica`` takes time
----------------------------------------

* The call answers at once with ``DBInstanceStatus`` ``modifying``; the instance then reports
  ``modifying`` for the first half of the promotion time, ``rebooting`` for the second half, then
  ``available``. The promotion time is the launcher's ``--promotion-seconds S`` (default 2); the
  control API changes it for promotions started later, or holds them (``modifying``) until released.
  The RDS User Guide: "When you promote a read replica, RDS reboots the DB instance before making it
  available. The promotion process can take several minutes or longer to complete"
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.Promote.html); the statuses
  are those of the status table (available, backing-up, modifying, rebooting, storage-optimization...,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html#Overview.DBInstance.Status).
* ``ReadReplicaSourceDBInstanceIdentifier`` stays set (and the primary keeps listing the replica in
  ``ReadReplicaDBInstanceIdentifiers``) until the promotion completes; then the instance is detached
  from its source, in whichever region the source is. This is the stricter reading, and the one the
  AWS CLI reference shows: its ``promote-read-replica`` example answers ``"DBInstanceStatus":
  "modifying"`` together with ``"ReadReplicaSourceDBInstanceIdentifier": "test-instance"``
  (https://docs.aws.amazon.com/cli/latest/reference/rds/promote-read-replica.html). A tool that reads
  "no source" as "done" is thus caught: it must wait for ``available``.
* The endpoint never changes (moto derives it from the identifier, which a promotion keeps).
* ``PromoteReadReplica`` of an instance whose status is not ``available`` answers HTTP 400
  ``InvalidDBInstanceState`` "DB Instance is not in available state." — including a second promote
  while the first is in progress. The API reference: "a read replica cannot be promoted to a
  standalone instance when it is in the backing-up status", and ``InvalidDBInstanceState`` "The DB
  instance isn't in a valid state", HTTP 400
  (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_PromoteReadReplica.html). The
  documentation gives no message text; the wording is RDS's own, as a real AWS CLI transcript shows
  it (README of https://github.com/fred1717/ITF-Masters-Tour, section 13.9.4: "An error occurred
  (InvalidDBInstanceState) when calling the PromoteReadReplica operation: DB Instance is not in
  available state." while the replica was backing up, then "DB Instance is not a read replica." once
  it was promoted). The status is checked first. An available instance that is not a read replica
  answers ``InvalidDBInstanceState`` "DB Instance is not a read replica."; an unknown id answers
  ``DBInstanceNotFound`` "DBInstance <id> not found." (HTTP 404, moto's wording).
* Any instance can be held in a status through the control API (``backing-up``, ``modifying``,
  ``rebooting``, ``storage-optimization``, ...: any lowercase RDS status but ``available``) until
  released: ``DescribeDBInstances`` reports it and ``PromoteReadReplica`` refuses it. A hold set on
  a promoting instance masks the promotion's own status; the promotion still runs (and completes,
  detaching the source) underneath, as when RDS backs up a promoted instance. Released, the instance
  shows its promotion's status, or ``available``.
* Status is advanced lazily: ``advance_due()`` runs before every request (control paths included),
  under a lock.

1a. RDS ``RebootDBInstance`` takes time
---------------------------------------

* "Rebooting a DB instance restarts the database engine service. Rebooting a DB instance results in
  a momentary outage, during which the DB instance status is set to rebooting"
  (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RebootDBInstance.html, which refers
  to https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RebootInstance.html). The call
  answers at once with ``DBInstanceStatus`` ``rebooting``; the instance reports ``rebooting`` for the
  reboot time, then ``available`` (moto answered the instance unchanged, ``available``). The reboot
  time is the launcher's ``--reboot-seconds S`` (default 1); the control API changes it for reboots
  started later, or holds them (``rebooting``) until released. The endpoint never changes.
* ``RebootDBInstance`` of an instance whose status is not ``available`` (rebooting, a promotion in
  flight, a held status, ``stopped``...) answers HTTP 400 ``InvalidDBInstanceState`` (the API
  reference lists it for this action: "The DB instance isn't in a valid state", HTTP 400); moto
  accepted any. AWS documents no message text; the one used, "Instance cannot currently reboot due
  to an in-progress management operation.", is what RDS answered to reboots of instances being
  modified (https://github.com/hashicorp/terraform-provider-aws/issues/27325,
  https://github.com/hashicorp/terraform/issues/29976). An unknown id answers ``DBInstanceNotFound``
  (HTTP 404, moto's). ``ForceFailover`` is accepted and ignored, as moto does.
* A held status (``/_pilotlight/instances/<region>/<id>/status``) masks a reboot in flight, which
  still runs underneath; a promotion in flight of the same instance wins over a reboot (neither can
  start while the other is in flight, since each needs ``available``).

1b. Read replication status (``StatusInfos``) and stopping an instance
------------------------------------------------------------------------

* ``DescribeDBInstances`` reports, for a read replica, one ``StatusInfos`` entry
  ``{"StatusType": "read replication", "Status": "replicating", "Normal": true}`` ("The status of a
  read replica. If the DB instance isn't a read replica, the value is blank",
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstance.html; "For a StatusType of
  read replica, the values can be replicating, replication stop point set, replication stop point
  reached, error, stopped, or terminated",
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceStatusInfo.html). moto
  reports none. A test sets another status (``error`` with a ``Message``, as when the source is
  gone) through ``PUT /_pilotlight/instances/<region>/<id>/replication``; a standalone instance
  reports no entry.
* ``StopDBInstance`` of an instance that still has read replicas answers ``InvalidDBInstanceState``
  ("You can't stop a DB instance that has a read replica, or that is a read replica",
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_StopInstance.html; AWS documents no
  message text or code for this case: the code is the one RDS uses for a state it refuses). moto only
  refuses the replica side.

1c. CloudWatch ``GetMetricStatistics`` periods
----------------------------------------------

CloudWatch aggregates the datapoints of a period and stamps each statistic with the start of its
period ("Amazon CloudWatch aggregates statistics according to the period length that you specify",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricStatistics.html;
1-minute datapoints are at whole minutes). moto starts its periods at the first datapoint and
stamps them with its exact time, so a datapoint put a fraction of a second before an alarm's
state change could read as after it. The periods here are whole multiples of ``Period`` since the
epoch (whole minutes for 60 s), stamped with their start.

2. Route 53 health checkers
---------------------------

``GetHealthCheckStatus`` answers one ``HealthCheckObservation`` per health checker ("A list that
contains one HealthCheckObservation element for each Amazon Route 53 health checker that is
reporting a status", https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheckStatus.html):
8 by default, one in each health-checker region, in the order the API reference lists them for
``HealthCheckObservation.Region`` (us-east-1 | us-west-1 | us-west-2 | eu-west-1 | ap-southeast-1 |
ap-southeast-2 | ap-northeast-1 | sa-east-1,
https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckObservation.html); with more
(up to 16) the regions come round again (real checks commonly report about two checkers per region). Each
has ``Region``, ``IPAddress`` (an address of that region's health-checker range, service
``ROUTE53_HEALTHCHECKS`` of https://ip-ranges.amazonaws.com/ip-ranges.json, for looks only) and
``StatusReport`` ``{Status, CheckedTime}`` (https://docs.aws.amazon.com/Route53/latest/APIReference/API_StatusReport.html,
"A description of the status of the health check endpoint as reported by one of the Amazon Route 53
health checkers"): ``Success: HTTP Status Code 200, OK`` or ``Failure: Connection timed out. The
endpoint or the internet connection is down, or requests are being blocked by your firewall.``, the
strings real checkers report (the Knowledge Center lists connection time-outs as the first cause of
unhealthy checks: https://repost.aws/knowledge-center/route-53-fix-unhealthy-health-checks).
The control API sets, per health check, how many checkers there are and how many report success:
always the first ones, so answers are deterministic. Route 53 itself calls a check healthy when
more than 18% of its checkers report it healthy
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html):
3 of 8 is healthy, 1 of 8 is not; the control API answers that verdict as ``status``.

3. Outages
----------

An outage makes matching AWS requests fail the way an unreachable or failing service does: the
region and service come from the request's SigV4 ``Credential=`` scope (Route 53 and IAM are signed
for us-east-1: an outage of us-east-1 without ``service`` takes them down too), optionally only
some actions. AWS's fault-isolation whitepaper: "The Route 53 control plane consists of all public
Route 53 APIs [...]. It is hosted in us-east-1 [...]. During a control plane impairment, CRUDL-type
operations for Route 53 may not work, but DNS resolution and health checks [...] will continue to
work" (https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/appendix-b---edge-network-global-service-guidance.html);
``{"region": "us-east-1", "service": "route53", "actions": ["ChangeResourceRecordSets",
"GetChange"], "mode": "5xx"}`` is the impairment a failover must survive, while
``ListResourceRecordSets`` still answers. Modes:

* ``refused``: the connection is shut down without any HTTP answer; the SDK sees the connection
  closed (botocore ``ConnectionClosedError``), as with a dropped connection. (A connection cannot
  be refused at TCP level here: the region is only known once the signed request is read.)
* ``timeout``: the request hangs ``seconds`` (default 60, longer than pilotlight's 20 s attempt
  timeout) or until the outages are cleared, then the connection is shut down without an answer.
* ``5xx``: HTTP 503 ``ServiceUnavailable`` "The request has failed due to a temporary failure of the
  server." in the service's error format (the common error of the APIs:
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/CommonErrors.html).

All three are what AWS SDKs treat as transient and retry (standard retry mode,
https://docs.aws.amazon.com/general/latest/gr/api-retries.html): "socket-level failures where no
HTTP response was received (connect timeouts, read timeouts, or server-closed connections), HTTP
500, 502, 503, and 504 responses" (https://docs.aws.amazon.com/sdk-for-python/v1/guide/config-retries.html). Requests hit by an outage stay in
the request log with ``"outage": mode`` and status 0 (no answer) or 503. Control paths are never
affected.

Control API (JSON over HTTP)
----------------------------

* ``PUT /_pilotlight/promotions`` ``{"seconds": 120}`` and/or ``{"hold": true | false}``: promotion
  time of promotions started from now on / hold them (``modifying``) until released. Answers the
  state, as ``GET`` does.
* ``GET /_pilotlight/promotions``: ``{"seconds", "hold", "promotions": [{"region", "id", "status",
  "started_at", "available_at"}]}`` (epoch seconds; ``available_at`` null when held; ``status`` as
  ``DescribeDBInstances`` reports it).
* ``POST /_pilotlight/promotions/release`` ``{"region", "id"}`` (both optional): the promotions in
  flight (in that region / of that id, or all) complete now. Answers ``{"released": [{"region",
  "id"}]}``.
* ``PUT /_pilotlight/reboots`` ``{"seconds": 5}`` and/or ``{"hold": true | false}``: reboot time of
  reboots started from now on / hold them (``rebooting``) until released. Answers the state, as
  ``GET`` does.
* ``GET /_pilotlight/reboots``: ``{"seconds", "hold", "reboots": [{"region", "id", "status",
  "started_at", "available_at"}]}`` (as for promotions).
* ``POST /_pilotlight/reboots/release`` ``{"region", "id"}`` (both optional): the reboots in flight
  (in that region / of that id, or all) complete now. Answers ``{"released": [{"region", "id"}]}``.
* ``PUT /_pilotlight/instances/<region>/<id>/status`` ``{"status": "backing-up"}``: hold the
  instance in that status; ``{"status": null}`` or ``DELETE``: release it. ``GET`` reads it. Answers
  ``{"region", "id", "status", "held"}``; 404 for an unknown instance.
* ``PUT /_pilotlight/health-checks/<id>`` ``{"status": "Success" | "Failure"}`` (every checker) or
  ``{"healthy_checkers": 3, "checkers": 8}`` (``checkers`` optional, default 8, 1..16; 0 <=
  ``healthy_checkers`` <= ``checkers``). ``GET`` reads it. Answers ``{"id", "checkers",
  "healthy_checkers", "status"}``, ``status`` being Route 53's verdict (more than 18% healthy:
  ``Success``).
* ``PUT /_pilotlight/outages`` ``{"region": "us-east-1", "service": "rds" (optional), "actions":
  ["ChangeResourceRecordSets", "GetChange"] (optional), "mode": "refused" | "timeout" | "5xx",
  "seconds": 60 (timeout only)}``: add one; answers it with its ``id``. ``GET``: the list, each with
  ``hanging`` (requests it holds now). ``DELETE``: clear them all and release hanging requests at
  once; answers ``{"cleared", "released"}``.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import socket
import threading
import time
from datetime import timedelta
from typing import Any, NoReturn

from werkzeug.wrappers import Request, Response

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.utils import utcnow
from moto.cloudwatch import models as cloudwatch_models
from moto.rds import models as rds_models
from moto.rds.exceptions import DBInstanceNotFoundError, RDSClientError
from moto.route53 import responses as route53_responses

_LOCK = threading.RLock()

# --------------------------------------------------------------------------------------------
# 1. RDS promotion over time
# --------------------------------------------------------------------------------------------
NOT_AVAILABLE = "DB Instance is not in available state."
NOT_A_REPLICA = "DB Instance is not a read replica."

_PROMOTION: dict[str, Any] = {"seconds": 2.0, "hold": False}
# In flight: {"region", "id", "database", "backend", "status", "started_at", "rebooting_at", "available_at"}.
_PROMOTIONS: list[dict[str, Any]] = []
# RebootDBInstance (1a): settings, and reboots in flight {"region", "id", "database", "backend",
# "started_at", "available_at"}.
NOT_REBOOTABLE = "Instance cannot currently reboot due to an in-progress management operation."
_REBOOT: dict[str, Any] = {"seconds": 1.0, "hold": False}
_REBOOTS: list[dict[str, Any]] = []
# Held statuses: (region, id) -> {"database", "status"}.
_HELD_STATUS: dict[tuple[str, str], dict[str, Any]] = {}
_STATUS = re.compile(r"^[a-z][a-z0-9-]*$")
# Read replication status set by a test: (region, id) -> {"database", "status", "message"}.
_REPLICATION: dict[tuple[str, str], dict[str, Any]] = {}
# DBInstanceStatusInfo.Status values for StatusType "read replication" (API_DBInstanceStatusInfo).
REPLICATION_STATUSES = {
    "replicating", "replication stop point set", "replication stop point reached", "error", "stopped", "terminated",
}


def _status_infos(self: Any) -> list[dict[str, Any]]:
    """``DBInstance.StatusInfos``: one "read replication" entry for a read replica, none otherwise."""
    if not self.is_replica:
        return []
    entry = _REPLICATION.get((self.region, self.db_instance_identifier))
    if entry is None or entry["database"] is not self:
        return [{"StatusType": "read replication", "Status": "replicating", "Normal": True}]
    info = {"StatusType": "read replication", "Status": entry["status"], "Normal": entry["status"] == "replicating"}
    if entry["message"]:
        info["Message"] = entry["message"]
    return [info]


_ORIGINAL_STOP: Any = None
_ORIGINAL_METRIC_STATISTICS: Any = None


def _get_metric_statistics(self: Any, namespace: str, metric_name: str, start_time: Any, end_time: Any,
                           period: int, stats: list[str], dimensions: list[dict[str, str]], unit: str | None = None) -> Any:
    """``GetMetricStatistics`` with periods aligned to multiples of ``period`` (see 1c)."""
    found = _ORIGINAL_METRIC_STATISTICS(self, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit)
    buckets: dict[int, Any] = {}
    for statistic in found:
        for datum in statistic.metric_data:
            epoch = int(datum.timestamp.timestamp())
            begin = epoch - epoch % period
            bucket = buckets.get(begin)
            if bucket is None:
                stamp = datum.timestamp - timedelta(seconds=epoch - begin, microseconds=datum.timestamp.microsecond)
                bucket = buckets[begin] = cloudwatch_models.Statistics(stats, stamp)
            bucket.metric_data.append(datum)
            bucket.unit = datum.unit
    return [buckets[k] for k in sorted(buckets)]


def _stop_db_instance(self: Any, db_instance_identifier: str, db_snapshot_identifier: str | None = None) -> Any:
    """``StopDBInstance``, refusing an instance that still has read replicas (moto does not)."""
    database = self.databases.get(db_instance_identifier)
    if database is not None and database.replicas:
        raise RDSClientError(
            "InvalidDBInstanceState",
            f"Cannot stop DB instance {db_instance_identifier}: it has read replicas.",
        )
    return _ORIGINAL_STOP(self, db_instance_identifier, db_snapshot_identifier)


def configure(promotion_seconds: float | None = None, reboot_seconds: float | None = None) -> None:
    """The launcher's ``--promotion-seconds`` and ``--reboot-seconds``."""
    with _LOCK:
        if promotion_seconds is not None:
            _PROMOTION["seconds"] = float(promotion_seconds)
        if reboot_seconds is not None:
            _REBOOT["seconds"] = float(reboot_seconds)


def _promotion_of(database: Any) -> dict[str, Any] | None:
    return next((p for p in _PROMOTIONS if p["database"] is database), None)


def _reboot_of(database: Any) -> dict[str, Any] | None:
    return next((r for r in _REBOOTS if r["database"] is database), None)


# Other operations in flight that set an instance's status (database -> status or None), consulted
# after a promotion: ``restore_patches.py`` registers the ``creating`` of a restore.
STATUS_PROVIDERS: list[Any] = []


def _apply_status(database: Any, region: str, ident: str) -> None:
    """Set what ``DescribeDBInstances`` reports: a held status, else the promotion's, else
    ``rebooting`` for a reboot in flight, else that of another operation in flight
    (``STATUS_PROVIDERS``), else available."""
    held = _HELD_STATUS.get((region, ident))
    if held is not None and held["database"] is database:
        database.status = held["status"]
        return
    promotion = _promotion_of(database)
    if promotion is not None:
        database.status = promotion["status"]
        return
    if _reboot_of(database) is not None:
        database.status = "rebooting"
        return
    for provider in STATUS_PROVIDERS:
        status = provider(database)
        if status is not None:
            database.status = status
            return
    database.status = "available"


def _detach(backend: Any, database: Any) -> None:
    source_id = database.source_db_instance_identifier
    database.is_replica = False
    database.source_db_instance_identifier = None
    if not source_id:
        return
    try:
        primary = backend.find_db_from_id(source_id)  # an ARN names another region's backend
    except Exception:  # the primary is gone: nothing to detach from
        return
    for ident in (database.db_instance_arn, database.db_instance_identifier):
        if ident in primary.replicas:
            primary.replicas.remove(ident)


def _complete(promotion: dict[str, Any]) -> None:
    _PROMOTIONS[:] = [p for p in _PROMOTIONS if p is not promotion]
    database, backend = promotion["database"], promotion["backend"]
    if backend.databases.get(promotion["id"]) is not database:  # deleted meanwhile
        return
    _detach(backend, database)
    _apply_status(database, promotion["region"], promotion["id"])


def _complete_reboot(reboot: dict[str, Any]) -> None:
    _REBOOTS[:] = [r for r in _REBOOTS if r is not reboot]
    database, backend = reboot["database"], reboot["backend"]
    if backend.databases.get(reboot["id"]) is database:  # not deleted meanwhile
        _apply_status(database, reboot["region"], reboot["id"])


def _advance(now: float) -> None:
    for reboot in list(_REBOOTS):
        if reboot["available_at"] is not None and now >= reboot["available_at"]:
            _complete_reboot(reboot)
    for promotion in list(_PROMOTIONS):
        if promotion["available_at"] is not None and now >= promotion["available_at"]:
            _complete(promotion)
        elif promotion["rebooting_at"] is not None and now >= promotion["rebooting_at"]:
            if promotion["status"] != "rebooting":
                promotion["status"] = "rebooting"
                _apply_status(promotion["database"], promotion["region"], promotion["id"])


def advance_due() -> None:
    """Move promotions (``modifying`` -> ``rebooting`` -> ``available``) and reboots (``rebooting`` ->
    ``available``) on; before every request."""
    if not _PROMOTIONS and not _REBOOTS:
        return
    with _LOCK:
        _advance(time.time())


def _promote_read_replica(self: Any, db_kwargs: dict[str, Any]) -> Any:
    """``RDSBackend.promote_read_replica``: starts a promotion and answers the instance ``modifying``."""
    database_id = db_kwargs["db_instance_identifier"]
    database = self.databases.get(database_id)
    if database is None:
        raise DBInstanceNotFoundError(database_id)
    with _LOCK:
        now = time.time()
        _advance(now)
        if database.status != "available":
            raise RDSClientError("InvalidDBInstanceState", NOT_AVAILABLE)
        if not database.is_replica:
            raise RDSClientError("InvalidDBInstanceState", NOT_A_REPLICA)
        seconds = _PROMOTION["seconds"]
        held = _PROMOTION["hold"]
        _PROMOTIONS.append(
            {
                "region": self.region_name,
                "id": database_id,
                "database": database,
                "backend": self,
                "status": "modifying",
                "started_at": now,
                "rebooting_at": None if held else now + seconds / 2,
                "available_at": None if held else now + seconds,
            }
        )
        _apply_status(database, self.region_name, database_id)
    return database


def _reboot_db_instance(self: Any, db_instance_identifier: str, *args: Any, **kwargs: Any) -> Any:
    """``RDSBackend.reboot_db_instance``: starts a reboot and answers the instance ``rebooting``."""
    database = self.databases.get(db_instance_identifier)
    if database is None:
        raise DBInstanceNotFoundError(db_instance_identifier)
    with _LOCK:
        now = time.time()
        _advance(now)
        if database.status != "available":
            raise RDSClientError("InvalidDBInstanceState", NOT_REBOOTABLE)
        seconds, held = _REBOOT["seconds"], _REBOOT["hold"]
        _REBOOTS.append(
            {
                "region": self.region_name,
                "id": db_instance_identifier,
                "database": database,
                "backend": self,
                "started_at": now,
                "available_at": None if held else now + seconds,
            }
        )
        _apply_status(database, self.region_name, db_instance_identifier)
    return database


def release_reboots(region: str | None = None, ident: str | None = None) -> list[dict[str, str]]:
    with _LOCK:
        chosen = [
            r
            for r in _REBOOTS
            if (region is None or r["region"] == region) and (ident is None or r["id"] == ident)
        ]
        for reboot in chosen:
            _complete_reboot(reboot)
        return [{"region": r["region"], "id": r["id"]} for r in chosen]


def _reboot_state() -> dict[str, Any]:
    with _LOCK:
        return {
            "seconds": _REBOOT["seconds"],
            "hold": _REBOOT["hold"],
            "reboots": [
                {
                    "region": r["region"],
                    "id": r["id"],
                    "status": r["database"].status,
                    "started_at": r["started_at"],
                    "available_at": r["available_at"],
                }
                for r in _REBOOTS
            ],
        }


def release_promotions(region: str | None = None, ident: str | None = None) -> list[dict[str, str]]:
    with _LOCK:
        chosen = [
            p
            for p in _PROMOTIONS
            if (region is None or p["region"] == region) and (ident is None or p["id"] == ident)
        ]
        for promotion in chosen:
            _complete(promotion)
        return [{"region": p["region"], "id": p["id"]} for p in chosen]


def _promotion_state() -> dict[str, Any]:
    with _LOCK:
        return {
            "seconds": _PROMOTION["seconds"],
            "hold": _PROMOTION["hold"],
            "promotions": [
                {
                    "region": p["region"],
                    "id": p["id"],
                    "status": p["database"].status,
                    "started_at": p["started_at"],
                    "available_at": p["available_at"],
                }
                for p in _PROMOTIONS
            ],
        }


def _instance_or_none(payload: dict[str, Any], region: str, ident: str) -> Any:
    """The moto DB instance `ident` in `region` (of `payload["account"]`, default account), or None."""
    try:
        backend = rds_models.rds_backends[payload.get("account", DEFAULT_ACCOUNT_ID)][region]
    except Exception:  # not a region moto knows
        return None
    return backend.databases.get(ident)


def _not_found(region: str, ident: str) -> Response:
    return _error(f"DBInstanceNotFound: DBInstance {ident} not found in {region}.", 404)


def _instance_answer(region: str, ident: str, database: Any) -> Response:
    held = _HELD_STATUS.get((region, ident))
    return _json(
        {
            "region": region,
            "id": ident,
            "status": database.status,
            "held": held is not None and held["database"] is database,
        }
    )


# --------------------------------------------------------------------------------------------
# 2. Route 53 health checkers
# --------------------------------------------------------------------------------------------
SUCCESS = "Success: HTTP Status Code 200, OK"
FAILURE = (
    "Failure: Connection timed out. The endpoint or the internet connection is down, "
    "or requests are being blocked by your firewall."
)
# Route 53's health-checker regions (HealthCheckObservation.Region), each with the start of one of
# its health-checker ranges (ip-ranges.json, service ROUTE53_HEALTHCHECKS).
CHECKER_REGIONS: list[tuple[str, str]] = [
    ("us-east-1", "54.243.31.192"),
    ("us-west-1", "54.183.255.128"),
    ("us-west-2", "54.244.52.192"),
    ("eu-west-1", "54.228.16.0"),
    ("ap-southeast-1", "54.251.31.128"),
    ("ap-southeast-2", "54.252.79.128"),
    ("ap-northeast-1", "54.248.220.0"),
    ("sa-east-1", "54.232.40.64"),
]
DEFAULT_CHECKERS = 8
MAX_CHECKERS = 16
# health check id -> {"checkers", "healthy_checkers"}; absent: every default checker healthy.
_HEALTH: dict[str, dict[str, int]] = {}


def _health_state(health_check_id: str) -> dict[str, int]:
    with _LOCK:
        return dict(_HEALTH.get(health_check_id, {"checkers": DEFAULT_CHECKERS, "healthy_checkers": DEFAULT_CHECKERS}))


def observations(health_check_id: str) -> list[dict[str, Any]]:
    """The ``HealthCheckObservations`` of a health check: the first ``healthy_checkers`` succeed."""
    state = _health_state(health_check_id)
    now = utcnow()
    result = []
    for i in range(state["checkers"]):
        region, base = CHECKER_REGIONS[i % len(CHECKER_REGIONS)]
        result.append(
            {
                "Region": region,
                "IPAddress": str(ipaddress.IPv4Address(base) + 1 + i // len(CHECKER_REGIONS)),
                "StatusReport": {
                    "Status": SUCCESS if i < state["healthy_checkers"] else FAILURE,
                    # checkers do not coordinate: each reports its own last check
                    "CheckedTime": now - timedelta(seconds=i),
                },
            }
        )
    return result


def _get_health_check_status(self: Any) -> Any:
    """``Route53.get_health_check_status`` (moto always reported three successes)."""
    health_check_id = self._get_param("HealthCheckId")
    self.backend.get_health_check(health_check_id)  # NoSuchHealthCheck as moto answers it
    return route53_responses.ActionResult({"HealthCheckObservations": observations(health_check_id)})


def _health_answer(health_check_id: str) -> Response:
    state = _health_state(health_check_id)
    healthy = state["healthy_checkers"] > 0.18 * state["checkers"]
    return _json({"id": health_check_id, **state, "status": "Success" if healthy else "Failure"})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _set_health(health_check_id: str, payload: dict[str, Any]) -> Response:
    status, healthy = payload.get("status"), payload.get("healthy_checkers")
    checkers = payload.get("checkers", DEFAULT_CHECKERS)
    if (status is None) == (healthy is None):
        return _error("give either `status` (`Success` or `Failure`) or `healthy_checkers`")
    if not _is_int(checkers) or not 1 <= checkers <= MAX_CHECKERS:
        return _error(f"`checkers` must be an integer from 1 to {MAX_CHECKERS}")
    if status is not None:
        if status not in ("Success", "Failure"):
            return _error("`status` must be `Success` or `Failure`")
        healthy = checkers if status == "Success" else 0
    elif not _is_int(healthy) or not 0 <= healthy <= checkers:
        return _error(f"`healthy_checkers` must be an integer from 0 to `checkers` ({checkers})")
    with _LOCK:
        _HEALTH[health_check_id] = {"checkers": checkers, "healthy_checkers": healthy}
    return _health_answer(health_check_id)


# --------------------------------------------------------------------------------------------
# 3. Outages
# --------------------------------------------------------------------------------------------
MODES = ("refused", "timeout", "5xx")
DEFAULT_TIMEOUT_SECONDS = 60
# For fault_response (pilotlight_emulator.py): AWS's common ServiceUnavailable error.
SERVICE_UNAVAILABLE = {
    "status": 503,
    "code": "ServiceUnavailable",
    "message": "The request has failed due to a temporary failure of the server.",
}
_OUTAGES: list[dict[str, Any]] = []
_OUTAGE_IDS = itertools.count(1)
_CLEARED: dict[int, threading.Event] = {}  # outage id -> set when it is cleared
_HANGING: dict[int, int] = {}  # outage id -> requests it holds now


class OutageDrop(ConnectionAbortedError):
    """Raised out of the WSGI app after the socket is shut down: werkzeug then drops the
    connection quietly (it treats ConnectionError as "the client went away") and writes nothing."""


def take_outage(service: str, region: str, action: str, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The first outage that matches an AWS request, or None; marks its request-log ``entry``."""
    if not _OUTAGES:
        return None
    with _LOCK:
        for outage in _OUTAGES:
            if outage["region"] != region:
                continue
            if outage["service"] is not None and outage["service"] != service:
                continue
            if outage["actions"] is not None and action not in outage["actions"]:
                continue
            entry["outage"] = outage["mode"]
            return dict(outage)
    return None


def drop_connection(environ: dict[str, Any], outage: dict[str, Any]) -> NoReturn:
    """``refused`` / ``timeout``: (hang, then) shut the connection down without any HTTP answer."""
    if outage["mode"] == "timeout":
        with _LOCK:
            cleared = _CLEARED.get(outage["id"])
            _HANGING[outage["id"]] = _HANGING.get(outage["id"], 0) + 1
        try:
            if cleared is not None:
                cleared.wait(outage["seconds"])
        finally:
            with _LOCK:
                if outage["id"] in _HANGING:
                    _HANGING[outage["id"]] -= 1
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client is already gone
            pass
    raise OutageDrop(f"emulated outage ({outage['mode']}): connection closed without an answer")


def _public(outage: dict[str, Any]) -> dict[str, Any]:
    return {**outage, "hanging": _HANGING.get(outage["id"], 0)}


def _add_outage(payload: dict[str, Any]) -> Response:
    region, service, actions = payload.get("region"), payload.get("service"), payload.get("actions")
    mode, seconds = payload.get("mode"), payload.get("seconds")
    if not isinstance(region, str) or not region:
        return _error("`region` is required (e.g. \"us-east-1\"; Route 53 and IAM are signed for us-east-1)")
    if service is not None and (not isinstance(service, str) or not service):
        return _error("`service` must be a SigV4 service name (e.g. \"rds\", \"route53\") or absent")
    if actions is not None and (
        not isinstance(actions, list) or not actions or not all(isinstance(a, str) and a for a in actions)
    ):
        return _error("`actions` must be a non-empty list of action names or absent")
    if mode not in MODES:
        return _error("`mode` must be `refused`, `timeout` or `5xx`")
    if mode != "timeout" and seconds is not None:
        return _error("`seconds` applies to `timeout` only")
    if mode == "timeout":
        seconds = DEFAULT_TIMEOUT_SECONDS if seconds is None else seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            return _error("`seconds` must be a number > 0")
    outage = {
        "id": next(_OUTAGE_IDS),
        "region": region,
        "service": service,
        "actions": actions,
        "mode": mode,
        "seconds": seconds,
    }
    with _LOCK:
        _OUTAGES.append(outage)
        _CLEARED[outage["id"]] = threading.Event()
        return _json(_public(outage))


def clear_outages() -> dict[str, int]:
    with _LOCK:
        cleared = len(_OUTAGES)
        released = sum(_HANGING.values())
        _OUTAGES.clear()
        for event in _CLEARED.values():
            event.set()
        _CLEARED.clear()
        _HANGING.clear()
    return {"cleared": cleared, "released": released}


# --------------------------------------------------------------------------------------------
# Control API
# --------------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def control(request: Request, path: str, payload: dict[str, Any]) -> Response | None:
    """Answer a control path of this module (``path`` is after ``/_pilotlight``), or None."""
    method = request.method
    timed = {"/promotions": (_PROMOTION, _promotion_state, release_promotions), "/reboots": (_REBOOT, _reboot_state, release_reboots)}
    for base, (settings, state, release) in timed.items():
        if path == base and method == "GET":
            return _json(state())
        if path == base and method == "PUT":
            if "seconds" not in payload and "hold" not in payload:
                return _error("give `seconds` (a number >= 0) and/or `hold` (true or false)")
            seconds, hold = payload.get("seconds", settings["seconds"]), payload.get("hold", settings["hold"])
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                return _error("`seconds` must be a number >= 0")
            if not isinstance(hold, bool):
                return _error("`hold` must be true or false")
            with _LOCK:
                settings.update(seconds=float(seconds), hold=hold)
            return _json(state())
        if path == base + "/release" and method == "POST":
            region, ident = payload.get("region"), payload.get("id")
            if region is not None and not isinstance(region, str) or ident is not None and not isinstance(ident, str):
                return _error("`region` and `id` must be strings")
            return _json({"released": release(region, ident)})

    m = re.match(r"^/instances/([^/]+)/([^/]+)/status$", path)
    if m and method in ("GET", "PUT", "DELETE"):
        region, ident = m.group(1), m.group(2)
        status = payload.get("status") if method == "PUT" else None
        if method == "PUT" and "status" not in payload:
            return _error("`status` is required: an RDS status such as \"backing-up\", or null to release")
        if status is not None and (not isinstance(status, str) or not _STATUS.match(status) or status == "available"):
            return _error("`status` must be an RDS DB instance status other than `available` (e.g. \"backing-up\"), or null to release")
        with _LOCK:
            database = _instance_or_none(payload, region, ident)
            if database is None:
                return _not_found(region, ident)
            if method == "PUT" and status is not None:
                _HELD_STATUS[(region, ident)] = {"database": database, "status": status}
                _apply_status(database, region, ident)
            elif method != "GET":
                if _HELD_STATUS.pop((region, ident), None) is not None:
                    _apply_status(database, region, ident)
            return _instance_answer(region, ident, database)

    m = re.match(r"^/instances/([^/]+)/([^/]+)/replication$", path)
    if m and method == "PUT":
        region, ident = m.group(1), m.group(2)
        status, message = payload.get("status"), payload.get("message")
        if status is not None and status not in REPLICATION_STATUSES:
            return _error(f"`status` must be one of {sorted(REPLICATION_STATUSES)}, or null for the default (replicating)")
        if message is not None and not isinstance(message, str):
            return _error("`message` must be a string")
        with _LOCK:
            database = _instance_or_none(payload, region, ident)
            if database is None:
                return _not_found(region, ident)
            if status is None:
                _REPLICATION.pop((region, ident), None)
            else:
                _REPLICATION[(region, ident)] = {"database": database, "status": status, "message": message}
            return _json({"region": region, "id": ident, "status_infos": _status_infos(database)})

    m = re.match(r"^/health-checks/([^/]+)$", path)
    if m and method == "PUT":
        return _set_health(m.group(1), payload)
    if m and method == "GET":
        return _health_answer(m.group(1))

    if path == "/outages" and method == "PUT":
        return _add_outage(payload)
    if path == "/outages" and method == "GET":
        with _LOCK:
            return _json([_public(o) for o in _OUTAGES])
    if path == "/outages" and method == "DELETE":
        return _json(clear_outages())
    return None


# --------------------------------------------------------------------------------------------
def install() -> None:
    global _ORIGINAL_STOP
    global _ORIGINAL_METRIC_STATISTICS
    rds_models.DBInstance.status_infos = property(_status_infos)  # type: ignore[attr-defined]
    if _ORIGINAL_METRIC_STATISTICS is None:
        _ORIGINAL_METRIC_STATISTICS = cloudwatch_models.CloudWatchBackend.get_metric_statistics
    cloudwatch_models.CloudWatchBackend.get_metric_statistics = _get_metric_statistics  # type: ignore[method-assign]
    if _ORIGINAL_STOP is None:
        _ORIGINAL_STOP = rds_models.RDSBackend.stop_db_instance
    rds_models.RDSBackend.stop_db_instance = _stop_db_instance  # type: ignore[method-assign]
    rds_models.RDSBackend.promote_read_replica = _promote_read_replica  # type: ignore[method-assign]
    rds_models.RDSBackend.reboot_db_instance = _reboot_db_instance  # type: ignore[method-assign]
    route53_responses.Route53.get_health_check_status = _get_health_check_status  # type: ignore[method-assign]
