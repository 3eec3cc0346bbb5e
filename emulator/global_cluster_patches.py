"""Aurora global databases for pilotlight's emulator (moto 5.2.1): ``FailoverGlobalCluster`` and
``SwitchoverGlobalCluster``, which moto lacks, with AWS's documented semantics, and global clusters
that answer the same from every region. ``install()`` applies the patches; the launcher
(``pilotlight_emulator.py``) calls it at import, routes ``/_pilotlight/global-failovers...`` and
``/_pilotlight/clusters/...`` to ``control()``, calls ``advance_due()`` before every request and
``configure()`` with ``--promotion-seconds``.

Sources: the API reference (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_FailoverGlobalCluster.html,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_SwitchoverGlobalCluster.html,
https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_FailoverState.html) and the Aurora User
Guide, "Using switchover or failover in Amazon Aurora Global Database"
(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-global-database-disaster-recovery.html).

1. One store of global clusters, whichever region is asked
---------------------------------------------------------

A global cluster belongs to no region (its ARN has none: ``arn:aws:rds::<account>:global-cluster:<id>``).
moto keeps every one in its us-east-1 backend (``RDSResponse.global_backend``), and ``CreateDBCluster``
finds it there from any region; but ``RemoveFromGlobalCluster`` and ``DeleteDBCluster`` looked in the
caller's region only (a secondary could not be detached from its own region, and a deleted secondary
stayed a member), ``CreateGlobalCluster`` found its ``SourceDBClusterIdentifier`` (an ARN) only in
us-east-1, left that cluster ``IsWriter`` false and set its ``GlobalClusterIdentifier`` to the global
cluster's ARN, and ``DescribeGlobalClusters`` ignored ``GlobalClusterIdentifier``. Here:

* ``DescribeGlobalClusters`` answers the same from every region; with ``GlobalClusterIdentifier`` only
  that one, or HTTP 404 ``GlobalClusterNotFoundFault`` "Global cluster <id> not found.".
* ``CreateGlobalCluster`` with ``SourceDBClusterIdentifier`` (the ARN of a cluster in any region): that
  cluster is the writer (``IsWriter`` true) and its ``GlobalClusterIdentifier`` is the global cluster's
  identifier, as every member's is (``DBCluster.GlobalClusterIdentifier``, "a user-supplied global
  database cluster identifier"). An identifier already taken answers ``GlobalClusterAlreadyExistsFault``.
* ``RemoveFromGlobalCluster`` (``DbClusterIdentifier``: an ARN, or an identifier in the caller's region)
  works from any region: the cluster leaves ``GlobalClusterMembers``, loses its
  ``GlobalClusterIdentifier`` and is a standalone cluster. An unknown global cluster answers
  ``GlobalClusterNotFoundFault``, an unknown cluster ``DBClusterNotFoundFault``, a cluster that is not
  a member ``InvalidDBClusterStateFault``, a switchover or failover in progress
  ``InvalidGlobalClusterStateFault``. ``DeleteDBCluster`` of a member removes it in any region.
* Every ``GlobalClusterMembers`` entry reports ``SynchronizationStatus`` ``connected`` (enum
  ``connected | pending-resync``, https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_GlobalClusterMember.html).

2. ``FailoverGlobalCluster`` and ``SwitchoverGlobalCluster``
------------------------------------------------------------

* ``FailoverGlobalCluster(GlobalClusterIdentifier, TargetDbClusterIdentifier, AllowDataLoss, Switchover)``:
  with ``AllowDataLoss`` true it is a failover (data loss allowed), otherwise a switchover ("If you
  don't specify AllowDataLoss, the global database cluster operation defaults to a switchover").
  ``AllowDataLoss`` and ``Switchover`` "can't be specified together": both present (whatever their
  values: the stricter reading) answers HTTP 400 ``InvalidParameterCombination``.
* ``SwitchoverGlobalCluster(GlobalClusterIdentifier, TargetDbClusterIdentifier)`` is a switchover.
* ``TargetDbClusterIdentifier`` is the secondary's ARN ("Use the Amazon Resource Name (ARN) for the
  identifier so that Aurora can locate the cluster in its Amazon Web Services Region"), or an
  identifier, looked up in the caller's region. Either call may be made in any region (AWS's CLI
  examples make a switchover in the primary's region and a failover in the target's).
* Checks, in this order (a refused call changes nothing):

  1. unknown global cluster: HTTP 404 ``GlobalClusterNotFoundFault`` "Global cluster <id> not found.";
  2. global cluster not ``available`` (a switchover or failover in progress): HTTP 400
     ``InvalidGlobalClusterStateFault`` "Global cluster <id> is not in available state: a switchover or
     failover is in progress (<status>).";
  3. no such cluster: HTTP 404 ``DBClusterNotFoundFault`` "DBCluster <id> not found.";
  4. target not a member: HTTP 400 ``InvalidDBClusterStateFault`` "DB cluster <arn> is not a member of
     global cluster <id>."; already the writer: the same code, "DB cluster <arn> is already the primary
     (writer) cluster of global cluster <id>."; no DB instance (a headless secondary: "Before you can
     perform a switchover or failover to a headless secondary Aurora DB cluster, you must add a DB
     instance to it"): the same code, "DB cluster <arn> has no DB instances: add one before switching
     over or failing over to it.";
  5. ``EngineVersion`` of the target differs from the primary's ("You can perform managed
     cross-Region switchovers [and failovers] with Aurora Global Database only if the primary and
     secondary DB clusters have the same major and minor engine versions"; patch-level exceptions are
     not modelled: the versions must be equal): HTTP 400 ``InvalidParameterValue`` "The target cluster
     <arn> must use the same engine version as the current primary cluster (<target version> and
     <primary version>)." AWS documents no error code for this (the API reference lists only
     ``InvalidDBClusterStateFault``, ``InvalidGlobalClusterStateFault``, ``GlobalClusterNotFoundFault``
     and ``DBClusterNotFoundFault``): the code is this emulator's choice. The wording is the error
     the AWS Knowledge Center article on version mismatches quotes ("The target cluster
     db-cluster-id must use the same engine version as the current primary cluster", found in its
     Chinese edition, https://repost.aws/zh-Hans/knowledge-center/aurora-postgresql-global-mismatch,
     translated back here);
  6. a switchover needs every member ``available`` ("Switchovers are designed to be used on an Aurora
     global database where all the Aurora clusters [...] are in a healthy state"); a failover only the
     target ("choose an active cluster"): otherwise HTTP 400 ``InvalidDBClusterStateFault`` "DB
     cluster <arn> is not in available state (<status>).".

* Accepted, the call answers at once with the ``GlobalCluster``: ``Status`` ``switching-over`` or
  ``failing-over`` and ``FailoverState`` ``{"Status": "switching-over" | "failing-over",
  "FromDbClusterArn": old writer, "ToDbClusterArn": target, "IsDataLossAllowed": bool}``
  (API_FailoverState: "failing-over – Aurora is promoting the chosen secondary [...] to fail over",
  "switching-over – [...] demoting the primary Aurora DB cluster, promoting the secondary"; the
  model's enum lists only ``pending | failing-over | cancelling``, so an SDK may read
  ``switching-over`` as an unknown value). Until the operation completes, ``DescribeGlobalClusters``
  shows the same, the old writer still ``IsWriter`` true (FromDbClusterArn is the cluster "currently
  being demoted"), and a second call answers ``InvalidGlobalClusterStateFault``.
* The operation takes the launcher's ``--promotion-seconds`` (default 2), as ``PromoteReadReplica``
  does; ``/_pilotlight/global-failovers`` (below) changes that for operations started later, or holds
  them until released. Then the roles swap: the target is the writer (its ``Readers`` the other
  members), the old writer a secondary (``IsWriter`` false, ``GlobalWriteForwardingStatus``), ``Status``
  ``available``, no ``FailoverState``.
* After a failover (``AllowDataLoss``) the old primary rejoins as a secondary ("As soon as that old
  primary Region is healthy and available again, Aurora automatically adds it back to the global
  cluster as a secondary Region": here at once) and Aurora's snapshot of its volume "at the point of
  failure" is in its region: a DB cluster snapshot ``rds:unplanned-global-failover-<old primary
  id>-YYYY-MM-DD-HH-MM`` ("Aurora creates a snapshot named
  rds:unplanned-global-failover-name-of-old-primary-DB-cluster-timestamp"; the timestamp's format is
  not documented: this one is that of automated snapshots, the UTC minute the failover started),
  ``SnapshotType`` ``automated`` ("a system snapshot that's subject to the backup retention period
  configured on the old primary cluster"), ``SnapshotCreateTime`` when the failover started. One with
  that name already there (two failovers in a minute) is kept ("Aurora attempts to take a snapshot").

3. Control API (JSON over HTTP)
-------------------------------

* ``PUT /_pilotlight/global-failovers`` ``{"seconds": 120}`` and/or ``{"hold": true | false}``: how long
  switchovers and failovers started from now on take / hold them in progress until released. ``GET``:
  ``{"seconds", "hold", "operations": [{"id", "kind": "switchover" | "failover", "from", "to" (cluster
  ARNs), "status", "started_at", "available_at" (epoch seconds; null when held)}]}``; ``PUT`` answers
  the same.
* ``POST /_pilotlight/global-failovers/release`` ``{"id": "<global cluster id>"}`` (optional): the
  operations in progress (of that global cluster, or all) complete now; answers ``{"released":
  [{"id"}]}``.
* ``PUT /_pilotlight/clusters/<region>/<id>/status`` ``{"status": "modifying"}``: set a DB cluster's
  status (any lowercase RDS status but ``available``; switchovers then refuse it); ``{"status": null}``
  or ``DELETE``: ``available`` again. ``GET`` reads it. Answers ``{"region", "id", "status",
  "held"}``; 404 for an unknown cluster.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime, timezone
from typing import Any, MutableMapping

from werkzeug.wrappers import Request, Response

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.rds import models as rds_models
from moto.rds import responses as rds_responses
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    InvalidDBClusterStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    RDSClientError,
)

STORE_REGION = "us-east-1"  # where moto keeps global clusters (RDSResponse.global_backend)
SNAPSHOT_PREFIX = "rds:unplanned-global-failover-"

_LOCK = threading.RLock()
_TIMING: dict[str, Any] = {"seconds": 2.0, "hold": False}
# In progress: {"global", "from", "to", "data_loss", "status", "started_at", "available_at"}.
_OPERATIONS: list[dict[str, Any]] = []
_HELD: dict[tuple[str, str], Any] = {}  # (region, cluster id) -> the cluster held in a status
_STATUS = re.compile(r"^[a-z][a-z0-9-]*$")
_ORIGINAL: dict[str, Any] = {}


def configure(seconds: float | None = None) -> None:
    """The launcher's ``--promotion-seconds``."""
    if seconds is not None:
        with _LOCK:
            _TIMING["seconds"] = float(seconds)


def _store(account: str) -> MutableMapping[str, Any]:
    return rds_models.rds_backends[account][STORE_REGION].global_clusters


def _not_found(ident: str) -> RDSClientError:
    return RDSClientError("GlobalClusterNotFoundFault", f"Global cluster {ident} not found.")


def _global(account: str, ident: str) -> Any:
    found = _store(account).get(ident or "")
    if found is None:
        raise _not_found(ident)
    return found


def _cluster(backend: Any, ident: str) -> Any:
    """A DB cluster by ARN (any region of the account) or by identifier in ``backend``'s region."""
    found = None
    if ident.startswith("arn:"):
        parts = ident.split(":")
        if len(parts) == 7 and parts[5] == "cluster":
            try:
                found = rds_models.rds_backends[parts[4]][parts[3]].clusters.get(parts[6])
            except Exception:  # noqa: BLE001 - not a region moto knows
                found = None
    else:
        found = backend.clusters.get(ident)
    if found is None:
        raise DBClusterNotFoundError(ident)
    return found


def _is_member(gc: Any, cluster: Any) -> bool:
    return any(m is cluster for m in gc.members)


def _operation_of(gc: Any) -> dict[str, Any] | None:
    return next((o for o in _OPERATIONS if o["global"] is gc), None)


# --------------------------------------------------------------------------------------------
# 1. One store, whichever region is asked
# --------------------------------------------------------------------------------------------
def _failover_state(self: Any) -> dict[str, Any] | None:
    """``GlobalCluster.FailoverState``: present while a switchover or failover is in progress."""
    op = _operation_of(self)
    if op is None:
        return None
    return {
        "Status": op["status"],
        "FromDbClusterArn": op["from"].db_cluster_arn,
        "ToDbClusterArn": op["to"].db_cluster_arn,
        "IsDataLossAllowed": op["data_loss"],
    }


def _global_cluster_members(self: Any) -> list[dict[str, Any]]:
    return [{**m, "SynchronizationStatus": "connected"} for m in _ORIGINAL["members"].fget(self)]


def _describe_global_clusters(self: Any) -> ActionResult:
    ident = self.params.get("GlobalClusterIdentifier")
    if ident:
        return ActionResult({"GlobalClusters": [_global(self.current_account, ident)]})
    return ActionResult({"GlobalClusters": list(_store(self.current_account).values())})


def _create_global_cluster(self: Any, global_cluster_identifier: str, source_db_cluster_identifier: str | None,
                           *args: Any, **kwargs: Any) -> Any:
    store = _store(self.account_id)
    if global_cluster_identifier in store:
        raise RDSClientError("GlobalClusterAlreadyExistsFault", f"Global cluster {global_cluster_identifier} already exists.")
    backend = self
    source = source_db_cluster_identifier or ""
    if source.startswith("arn:") and len(source.split(":")) == 7:
        region = source.split(":")[3]
        try:
            backend = rds_models.rds_backends[self.account_id][region]
        except Exception:  # noqa: BLE001 - moto answers for a region it does not know
            backend = self
    gc = _ORIGINAL["create"](backend, global_cluster_identifier, source_db_cluster_identifier, *args, **kwargs)
    if backend.global_clusters is not store:  # moto stored it in the source's region: move it
        backend.global_clusters.pop(global_cluster_identifier, None)
        store[global_cluster_identifier] = gc
    for member in gc.members:
        member.is_writer = True
        member.global_cluster_identifier = gc.global_cluster_identifier
    return gc


def _remove_from_global_cluster(self: Any, global_cluster_identifier: str, db_cluster_identifier: str) -> Any:
    with _LOCK:
        gc = _global(self.account_id, global_cluster_identifier)
        if _operation_of(gc) is not None:
            raise RDSClientError(
                "InvalidGlobalClusterStateFault",
                f"Global cluster {gc.global_cluster_identifier} is not in available state: a switchover or failover is in progress ({gc.status}).",
            )
        cluster = _cluster(self, db_cluster_identifier)
        if not _is_member(gc, cluster):
            raise InvalidDBClusterStateFault(f"DB cluster {cluster.db_cluster_arn} is not a member of global cluster {gc.global_cluster_identifier}.")
        gc.members.remove(cluster)
        cluster.global_cluster_identifier = None
        cluster.is_writer = False
        return gc


def _delete_db_cluster(self: Any, cluster_identifier: str, snapshot_name: str | None = None) -> Any:
    deleted = _ORIGINAL["delete"](self, cluster_identifier, snapshot_name)
    with _LOCK:
        for gc in _store(self.account_id).values():
            if _is_member(gc, deleted):
                gc.members.remove(deleted)
    return deleted


# --------------------------------------------------------------------------------------------
# 2. Switchover and failover
# --------------------------------------------------------------------------------------------
def _start(backend: Any, global_id: str, target_id: str, data_loss: bool) -> Any:
    with _LOCK:
        now = time.time()
        _advance(now)
        gc = _global(backend.account_id, global_id)
        if gc.status != "available" or _operation_of(gc) is not None:
            raise RDSClientError(
                "InvalidGlobalClusterStateFault",
                f"Global cluster {gc.global_cluster_identifier} is not in available state: a switchover or failover is in progress ({gc.status}).",
            )
        target = _cluster(backend, target_id)
        arn, name = target.db_cluster_arn, gc.global_cluster_identifier
        if not _is_member(gc, target):
            raise InvalidDBClusterStateFault(f"DB cluster {arn} is not a member of global cluster {name}.")
        writer = next((m for m in gc.members if m.is_writer), None)
        if writer is target:
            raise InvalidDBClusterStateFault(f"DB cluster {arn} is already the primary (writer) cluster of global cluster {name}.")
        if writer is None:
            raise RDSClientError("InvalidGlobalClusterStateFault", f"Global cluster {name} has no primary (writer) cluster.")
        if not target._members:  # moto's DB instances of the cluster
            raise InvalidDBClusterStateFault(f"DB cluster {arn} has no DB instances: add one before switching over or failing over to it.")
        if target.engine_version != writer.engine_version:
            raise InvalidParameterValue(
                f"The target cluster {arn} must use the same engine version as the current primary cluster "
                f"({target.engine_version} and {writer.engine_version})."
            )
        for cluster in [target] if data_loss else gc.members:
            if cluster.status != "available":
                raise InvalidDBClusterStateFault(f"DB cluster {cluster.db_cluster_arn} is not in available state ({cluster.status}).")
        held = _TIMING["hold"]
        op = {
            "global": gc,
            "from": writer,
            "to": target,
            "data_loss": data_loss,
            "status": "failing-over" if data_loss else "switching-over",
            "started_at": now,
            "available_at": None if held else now + _TIMING["seconds"],
        }
        _OPERATIONS.append(op)
        gc.status = op["status"]
        return gc


def _failover_global_cluster(self: Any, global_cluster_identifier: str, target_db_cluster_identifier: str,
                             allow_data_loss: bool = False) -> Any:
    return _start(self, global_cluster_identifier, target_db_cluster_identifier, allow_data_loss)


def _switchover_global_cluster(self: Any, global_cluster_identifier: str, target_db_cluster_identifier: str) -> Any:
    return _start(self, global_cluster_identifier, target_db_cluster_identifier, False)


def _flag(params: Any, name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _failover_response(self: Any) -> ActionResult:
    allow, switch = _flag(self.params, "AllowDataLoss"), _flag(self.params, "Switchover")
    if allow is not None and switch is not None:
        raise InvalidParameterCombination("The AllowDataLoss and Switchover parameters can't be specified together.")
    gc = self.backend.failover_global_cluster(
        self.params.get("GlobalClusterIdentifier", ""), self.params.get("TargetDbClusterIdentifier", ""), bool(allow)
    )
    return ActionResult({"GlobalCluster": gc})


def _switchover_response(self: Any) -> ActionResult:
    gc = self.backend.switchover_global_cluster(
        self.params.get("GlobalClusterIdentifier", ""), self.params.get("TargetDbClusterIdentifier", "")
    )
    return ActionResult({"GlobalCluster": gc})


def _unplanned_snapshot(cluster: Any, started_at: float) -> None:
    """Aurora's snapshot of the old primary "at the point of failure", in its region."""
    when = datetime.fromtimestamp(started_at, timezone.utc).replace(tzinfo=None)
    name = f"{SNAPSHOT_PREFIX}{cluster.db_cluster_identifier}-{when:%Y-%m-%d-%H-%M}"
    backend = cluster.backend
    if backend.clusters.get(cluster.db_cluster_identifier) is not cluster or name in backend.cluster_snapshots:
        return
    snapshot = backend.create_auto_cluster_snapshot(cluster.db_cluster_identifier, name)
    snapshot.created = when


def _complete(op: dict[str, Any]) -> None:
    _OPERATIONS[:] = [o for o in _OPERATIONS if o is not op]
    gc, target = op["global"], op["to"]
    gc.status = "available"
    if _is_member(gc, target):  # the old writer, if still a member, is now a secondary
        for member in gc.members:
            member.is_writer = member is target
    if op["data_loss"]:
        _unplanned_snapshot(op["from"], op["started_at"])


def _advance(now: float) -> None:
    for op in list(_OPERATIONS):
        if op["available_at"] is not None and now >= op["available_at"]:
            _complete(op)


def advance_due() -> None:
    """Complete the switchovers and failovers whose time has come (before every request)."""
    if not _OPERATIONS:
        return
    with _LOCK:
        _advance(time.time())


def release(ident: str | None = None) -> list[dict[str, str]]:
    with _LOCK:
        chosen = [o for o in _OPERATIONS if ident is None or o["global"].global_cluster_identifier == ident.lower()]
        for op in chosen:
            _complete(op)
        return [{"id": o["global"].global_cluster_identifier} for o in chosen]


def _state() -> dict[str, Any]:
    with _LOCK:
        return {
            **_TIMING,
            "operations": [
                {
                    "id": o["global"].global_cluster_identifier,
                    "kind": "failover" if o["data_loss"] else "switchover",
                    "from": o["from"].db_cluster_arn,
                    "to": o["to"].db_cluster_arn,
                    "status": o["status"],
                    "started_at": o["started_at"],
                    "available_at": o["available_at"],
                }
                for o in _OPERATIONS
            ],
        }


# --------------------------------------------------------------------------------------------
# 3. Control API
# --------------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _cluster_status(request: Request, payload: dict[str, Any], region: str, ident: str) -> Response:
    method = request.method
    status = payload.get("status") if method == "PUT" else None
    if method == "PUT" and "status" not in payload:
        return _error("`status` is required: an RDS DB cluster status such as \"modifying\", or null to release")
    if status is not None and (not isinstance(status, str) or not _STATUS.match(status) or status == "available"):
        return _error("`status` must be an RDS DB cluster status other than `available` (e.g. \"modifying\"), or null to release")
    with _LOCK:
        try:
            cluster = rds_models.rds_backends[payload.get("account", DEFAULT_ACCOUNT_ID)][region].clusters.get(ident)
        except Exception:  # noqa: BLE001 - not a region moto knows
            cluster = None
        if cluster is None:
            return _error(f"DBClusterNotFoundFault: DBCluster {ident} not found in {region}.", 404)
        if method == "PUT" and status is not None:
            _HELD[(region, cluster.db_cluster_identifier)] = cluster
            cluster.status = status
        elif method != "GET" and _HELD.pop((region, cluster.db_cluster_identifier), None) is not None:
            cluster.status = "available"
        held = _HELD.get((region, cluster.db_cluster_identifier)) is cluster
        return _json({"region": region, "id": cluster.db_cluster_identifier, "status": cluster.status, "held": held})


def control(request: Request, path: str, payload: dict[str, Any]) -> Response | None:
    """Answer a control path of this module (``path`` is after ``/_pilotlight``), or None."""
    method = request.method
    if path == "/global-failovers" and method == "GET":
        return _json(_state())
    if path == "/global-failovers" and method == "PUT":
        if "seconds" not in payload and "hold" not in payload:
            return _error("give `seconds` (a number >= 0) and/or `hold` (true or false)")
        seconds, hold = payload.get("seconds", _TIMING["seconds"]), payload.get("hold", _TIMING["hold"])
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return _error("`seconds` must be a number >= 0")
        if not isinstance(hold, bool):
            return _error("`hold` must be true or false")
        with _LOCK:
            _TIMING.update(seconds=float(seconds), hold=hold)
        return _json(_state())
    if path == "/global-failovers/release" and method == "POST":
        ident = payload.get("id")
        if ident is not None and not isinstance(ident, str):
            return _error("`id` must be a string (a global cluster identifier)")
        return _json({"released": release(ident)})
    m = re.match(r"^/clusters/([^/]+)/([^/]+)/status$", path)
    if m and method in ("GET", "PUT", "DELETE"):
        return _cluster_status(request, payload, m.group(1), m.group(2))
    return None


# --------------------------------------------------------------------------------------------
def install() -> None:
    if _ORIGINAL:
        return
    _ORIGINAL.update(
        create=rds_models.RDSBackend.create_global_cluster,
        delete=rds_models.RDSBackend.delete_db_cluster,
        members=rds_models.GlobalCluster.global_cluster_members,
    )
    rds_models.GlobalCluster.failover_state = property(_failover_state)  # type: ignore[attr-defined]
    rds_models.GlobalCluster.global_cluster_members = property(_global_cluster_members)  # type: ignore[assignment]
    rds_models.RDSBackend.create_global_cluster = _create_global_cluster  # type: ignore[method-assign]
    rds_models.RDSBackend.remove_from_global_cluster = _remove_from_global_cluster  # type: ignore[method-assign]
    rds_models.RDSBackend.delete_db_cluster = _delete_db_cluster  # type: ignore[method-assign]
    rds_models.RDSBackend.failover_global_cluster = _failover_global_cluster  # type: ignore[attr-defined]
    rds_models.RDSBackend.switchover_global_cluster = _switchover_global_cluster  # type: ignore[attr-defined]
    rds_responses.RDSResponse.describe_global_clusters = _describe_global_clusters  # type: ignore[method-assign]
    rds_responses.RDSResponse.failover_global_cluster = _failover_response  # type: ignore[attr-defined]
    rds_responses.RDSResponse.switchover_global_cluster = _switchover_response  # type: ignore[attr-defined]
