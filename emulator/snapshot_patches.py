"""RDS snapshot patches for pilotlight's emulator (moto 5.2.1): what the tests of cross-region
snapshot copy and of snapshot retention need. ``install()`` applies them; the launcher
(``pilotlight_emulator.py``) calls it at import, routes ``/_pilotlight/snapshot...`` control paths to
``control()`` and calls ``release_due()`` before every AWS request.

Patches (each one is a behaviour of the real RDS API that moto 5.2.1 lacks):

* Pagination of ``DescribeDBSnapshots``, ``DescribeDBClusterSnapshots`` and ``DescribeDBClusters``
  (moto returns everything in one page and ignores ``MaxRecords``/``Marker``): ``MaxRecords``
  defaults to 100 and must be 20..100, otherwise ``InvalidParameterValue`` ("Invalid value N for
  MaxRecords. Must be between 20 and 100"); the response carries ``Marker`` while more records
  remain. Records come in creation order; the marker names the last record returned, so deleting
  records between pages (as retention does) neither skips nor repeats the others. A marker that
  does not decode answers ``InvalidParameterValue``. ``DescribeDBInstances`` is left to moto, which
  already paginates it (without checking the 20..100 range).
* Copies in flight: while a hold is set through the control API, each snapshot made by
  ``CopyDBSnapshot``/``CopyDBClusterSnapshot`` is ``copying`` with ``PercentProgress`` 0 until it is
  released (or its hold time runs out), then ``available`` with 100. ``DeleteDBSnapshot`` /
  ``DeleteDBClusterSnapshot`` of a copying snapshot is refused with ``InvalidDBSnapshotState`` /
  ``InvalidDBClusterSnapshotStateFault`` ("The DB snapshot must be in the available state to be
  deleted.", the note of the API reference) unless the hold was set with ``"delete": "cancel"``:
  then the delete goes through and ends the copy, which is what the API reference says in the same
  breath ("If the snapshot is being copied, the copy operation is terminated").
* Copies say where they come from: ``SourceDBSnapshotIdentifier`` (the source's ARN) and, across
  regions, ``SourceRegion`` on a DB snapshot copy; ``SourceDBClusterSnapshotArn`` on a cluster
  snapshot copy. Every DB snapshot reports ``PercentProgress`` (100 when available), as RDS does.
* Creation time: a snapshot made by ``CreateDBSnapshot``, ``CreateDBClusterSnapshot``,
  ``CopyDBSnapshot`` or ``CopyDBClusterSnapshot`` whose tags (given, or copied with ``CopyTags``)
  include ``pilotlight-emulator:create-time`` = an RFC 3339 time (``2025-10-15T03:00:00Z``) gets that
  ``SnapshotCreateTime``; an original (non-copy) DB snapshot also gets it as
  ``OriginalSnapshotCreateTime``, while a copy keeps its source's ``OriginalSnapshotCreateTime``
  (RDS: "Doesn't change when the snapshot is copied"). The tag stays on the snapshot. A value that
  does not parse answers ``InvalidParameterValue`` and no snapshot is made.
* Snapshot quota: RDS counts only *manual* snapshots against the per-region quota (DB snapshots
  and cluster snapshots separately), and automated snapshots never fail on it. moto counts
  automated snapshots too (so an instance's automated snapshot took a slot, and at the limit
  ``CreateDBInstance`` itself failed). Here only manual snapshots count; exceeding the limit answers
  moto's ``SnapshotQuotaExceeded``. The limit is moto's: ``MOTO_RDS_SNAPSHOT_LIMIT``, read at every
  call (default 1000); the launcher's ``--snapshot-limit N`` sets it.
* ``DeleteDBSnapshot``/``DeleteDBClusterSnapshot`` of an automated snapshot is refused with
  ``InvalidDBSnapshotState``/``InvalidDBClusterSnapshotStateFault`` "Only manual snapshots may be
  deleted." (moto deleted it).
* ``DescribeAccountAttributes`` (moto 5.2.1 does not implement it: its server answered HTTP 500,
  ``NotImplementedError``) answers, per region, the two manual snapshot quotas
  (https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeAccountAttributes.html,
  API_AccountQuota.html): ``AccountQuotas`` = ``[{"AccountQuotaName": "ManualSnapshots", "Used": N,
  "Max": L}, {"AccountQuotaName": "ManualClusterSnapshots", "Used": M, "Max": L}]``, N and M the
  manual DB snapshots and manual DB cluster snapshots of the request's region (copies and copies in
  flight included, automated snapshots not), L the limit above (``MOTO_RDS_SNAPSHOT_LIMIT`` /
  ``--snapshot-limit``, read at every call). Snapshots made with the bulk control call's ``"quota":
  "bypass"`` count too, so ``Used`` can exceed ``Max``. RDS's other quotas (``DBInstances``,
  ``AllocatedStorage``, ...) are not answered: moto models none of them.

Control API (JSON over HTTP):

* ``PUT /_pilotlight/snapshot-copies`` ``{"hold": true, "seconds": 30 (optional),
  "delete": "refuse" | "cancel" (optional, default "refuse")}``: hold every copy made from now on
  (with ``seconds``, each copy is released that many seconds after it was made); ``{"hold": false}``
  stops holding new copies (the ones held stay held). Answers the state, as ``GET`` does.
* ``GET /_pilotlight/snapshot-copies``: ``{"hold", "seconds", "delete", "held": [{"region", "id",
  "kind": "db-snapshot" | "cluster-snapshot", "release_at": epoch seconds | null}]}``.
* ``POST /_pilotlight/snapshot-copies/release`` ``{"region": "us-west-2" (optional), "id": "..."
  (optional)}``: every held copy (in that region / with that id, or all) becomes ``available``.
  Answers ``{"released": [{"region", "id", "kind"}]}``.
* ``PUT /_pilotlight/snapshots/create-time`` ``{"region", "id", "time": "2025-10-15T03:00:00Z",
  "original_time": "..." (optional)}``: set ``SnapshotCreateTime`` of an existing DB snapshot or DB
  cluster snapshot (and ``OriginalSnapshotCreateTime`` of a DB snapshot that is not a copy, or
  ``original_time`` if given). Answers ``{"region", "id", "kind", "snapshot_create_time"}``; 404 if
  there is no such snapshot.
* ``POST /_pilotlight/snapshots/automated`` ``{"region", "instance_id" | "cluster_id", "id",
  "time" (optional)}``: make an automated snapshot (moto already makes one per instance and cluster
  at creation, named ``rds:<id>-YYYY-MM-DD-HH-MM``; this makes more, with chosen names and times).
  Answers ``{"region", "id", "kind", "arn", "snapshot_create_time"}``.
* ``POST /_pilotlight/snapshots/bulk`` ``{"region", "instance_id", "count", "prefix" (default
  ``bulk-``), "newest": RFC 3339 (default now), "step_seconds" (default 3600), "tags": {"k": "v"},
  "quota": "enforce" | "bypass" (default "enforce")}``: make ``count`` manual DB snapshots of the
  instance at once, in moto's backend (the objects ``CreateDBSnapshot`` makes, without the HTTP
  round trips), named ``<prefix>00000``.. (``00000`` the newest), ``SnapshotCreateTime`` =
  ``newest - i * step_seconds``, each with ``tags``; for benchmarks with tens of thousands of
  snapshots. With ``"enforce"`` the manual snapshot quota is checked once for the whole batch
  (nothing is made if it would be exceeded: 400 ``SnapshotQuotaExceeded``); an id already taken
  answers 400 ``DBSnapshotAlreadyExists`` and nothing is made; an unknown instance 404. Answers
  ``{"created": N, "region", "newest": id, "oldest": id}``.

Notes on what moto already does right (nothing patched): cross-region ``CopyDBSnapshot`` /
``CopyDBClusterSnapshot`` with the source's ARN, ``KmsKeyId`` (key id or ARN of a key in the
destination region's moto KMS; a key of another region answers ``KMSKeyNotAccessibleFault``) and
``CopyTags``: the copy is encrypted with that key (its ARN) and carries the source's tags. moto
looks the source up in its own backend of the region named in the ARN (same account), so the
source must have been made in the emulator. When ``Tags`` are given too, moto copies only those
(RDS behaves so for clusters, per moto's own verification). ``SnapshotType`` and
``DBInstanceIdentifier`` filters, ``ListTagsForResource`` on snapshot ARNs and deletes work.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import itertools
import json
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from werkzeug.wrappers import Request, Response

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.rds import models as rds_models
from moto.rds import responses as rds_responses
from moto.rds.exceptions import (
    DBClusterSnapshotNotFoundError,
    DBSnapshotNotFoundFault,
    InvalidDBClusterSnapshotStateFault,
    InvalidParameterValue,
    RDSClientError,
    SnapshotQuotaExceededFault,
)

CREATE_TIME_TAG = "pilotlight-emulator:create-time"

_LOCK = threading.RLock()
_SEQ = itertools.count(1)
_QUOTA = threading.local()
_HOLD: dict[str, Any] = {"hold": False, "seconds": None, "delete": "refuse"}
# Held copies: {"snapshot", "region", "id", "kind", "release_at"}.
_HELD: list[dict[str, Any]] = []

RDSBackend = rds_models.RDSBackend
RDSResponse = rds_responses.RDSResponse


def _invalid_db_snapshot_state(message: str) -> RDSClientError:
    return RDSClientError("InvalidDBSnapshotState", message)


# --------------------------------------------------------------------------------------------
# Creation order (for pagination) and PercentProgress
# --------------------------------------------------------------------------------------------
def _stamp_creation_order(cls: type, percent_progress: bool = False) -> None:
    original = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._pilotlight_seq = next(_SEQ)
        if percent_progress and getattr(self, "percent_progress", None) is None:
            self.percent_progress = 100

    cls.__init__ = __init__  # type: ignore[method-assign]


# --------------------------------------------------------------------------------------------
# Pagination
# --------------------------------------------------------------------------------------------
def _page_size(params: Any) -> int:
    value = params.get("MaxRecords")
    if value is None:
        return 100
    size = int(value)
    if size < 20 or size > 100:
        raise InvalidParameterValue(f"Invalid value {value} for MaxRecords. Must be between 20 and 100")
    return size


def _encode_marker(kind: str, item: Any, ident: str) -> str:
    raw = json.dumps({"k": kind, "s": getattr(item, "_pilotlight_seq", 0), "i": ident}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_marker(kind: str, marker: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(marker + "=" * (-len(marker) % 4)))
        if data["k"] != kind:
            raise ValueError(kind)
        return int(data["s"]), str(data["i"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidParameterValue(f"The parameter Marker is not valid: {marker}") from None


def _paginated(result_key: str, kind: str, ident: Callable[[Any], str]) -> Callable[[Callable[..., Any]], Any]:
    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def handler(self: Any) -> ActionResult:
            size = _page_size(self.params)
            marker = self.params.get("Marker")
            after = _decode_marker(kind, marker) if marker else None
            result = original(self).result
            key = lambda item: (getattr(item, "_pilotlight_seq", 0), ident(item))  # noqa: E731
            items = sorted(result[result_key], key=key)
            if after is not None:
                items = [item for item in items if key(item) > after]
            page = items[:size]
            next_marker = _encode_marker(kind, page[-1], ident(page[-1])) if len(items) > size else None
            return ActionResult({result_key: page, "Marker": next_marker})

        handler.__name__ = original.__name__
        return handler

    return wrap


# --------------------------------------------------------------------------------------------
# Creation time
# --------------------------------------------------------------------------------------------
def parse_time(value: Any) -> datetime:
    """An RFC 3339 time as moto keeps times: naive UTC."""
    if not isinstance(value, str):
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"RFC 3339 time without an offset: {value!r}")
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)


def _tagged_create_time(snapshot: Any) -> datetime | None:
    for tag in snapshot.tags or []:
        if tag.get("Key") == CREATE_TIME_TAG:
            try:
                return parse_time(tag.get("Value"))
            except ValueError:
                raise InvalidParameterValue(
                    f"The value of tag {CREATE_TIME_TAG} must be an RFC 3339 UTC time such as 2025-10-15T03:00:00Z, not {tag.get('Value')!r}"
                ) from None
    return None


def _apply_create_time(store: Any, ident: str, snapshot: Any, is_copy: bool) -> None:
    try:
        when = _tagged_create_time(snapshot)
    except RDSClientError:
        store.pop(ident, None)
        raise
    if when is None:
        return
    snapshot.created = when
    if not is_copy and hasattr(snapshot, "original_snapshot_create_time"):
        snapshot.original_snapshot_create_time = when


# --------------------------------------------------------------------------------------------
# Quota (manual snapshots only) and the create/copy wrappers
# --------------------------------------------------------------------------------------------
def _snapshot_quota(self: Any) -> int:
    if getattr(_QUOTA, "bypass", False):
        return sys.maxsize
    return int(os.environ.get("MOTO_RDS_SNAPSHOT_LIMIT", 1000))


def _limit() -> int:
    return int(os.environ.get("MOTO_RDS_SNAPSHOT_LIMIT", 1000))


def _manual_count(store: Any) -> int:
    """The manual snapshots of one store (``database_snapshots`` or ``cluster_snapshots``)."""
    # list() copies the values in one step under the GIL: concurrent creates must not make the
    # count fail with "OrderedDict mutated during iteration".
    return sum(1 for s in list(store.values()) if s.snapshot_type == "manual")


def _check_manual_quota(store: Any) -> None:
    if _manual_count(store) >= _limit():
        raise SnapshotQuotaExceededFault()


def _call_without_moto_quota(original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    previous = getattr(_QUOTA, "bypass", False)
    _QUOTA.bypass = True
    try:
        return original(*args, **kwargs)
    finally:
        _QUOTA.bypass = previous


def _arguments(original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = inspect.signature(original).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _hold_copy(snapshot: Any, region: str, ident: str, kind: str) -> None:
    with _LOCK:
        if not _HOLD["hold"]:
            return
        seconds = _HOLD["seconds"]
        snapshot.status = "copying"
        snapshot.percent_progress = 0
        _HELD.append(
            {
                "snapshot": snapshot,
                "region": region,
                "id": ident,
                "kind": kind,
                "release_at": time.time() + seconds if seconds is not None else None,
            }
        )


_orig_create_db_snapshot = RDSBackend.create_db_snapshot
_orig_copy_db_snapshot = RDSBackend.copy_db_snapshot
_orig_create_db_cluster_snapshot = RDSBackend.create_db_cluster_snapshot
_orig_copy_db_cluster_snapshot = RDSBackend.copy_db_cluster_snapshot


def _create_db_snapshot(*args: Any, **kwargs: Any) -> Any:
    a = _arguments(_orig_create_db_snapshot, args, kwargs)
    self, ident = a["self"], a["db_snapshot_identifier"]
    if (
        a["snapshot_type"] == "manual"
        and a["db_instance_identifier"] in self.databases
        and ident not in self.database_snapshots
    ):
        _check_manual_quota(self.database_snapshots)
    snapshot = _call_without_moto_quota(_orig_create_db_snapshot, *args, **kwargs)
    _apply_create_time(self.database_snapshots, ident, snapshot, is_copy=False)
    return snapshot


def _copy_db_snapshot(*args: Any, **kwargs: Any) -> Any:
    a = _arguments(_orig_copy_db_snapshot, args, kwargs)
    self, ident = a["self"], a["target_db_snapshot_identifier"]
    if ident not in self.database_snapshots:
        _check_manual_quota(self.database_snapshots)
    snapshot = _call_without_moto_quota(_orig_copy_db_snapshot, *args, **kwargs)
    source = self.get_db_snapshot(a["source_db_snapshot_identifier"])
    snapshot.source_db_snapshot_identifier = source.arn
    if source.region != self.region_name:
        snapshot.source_region = source.region
    _apply_create_time(self.database_snapshots, ident, snapshot, is_copy=True)
    _hold_copy(snapshot, self.region_name, snapshot.db_snapshot_identifier, "db-snapshot")
    return snapshot


def _create_db_cluster_snapshot(*args: Any, **kwargs: Any) -> Any:
    a = _arguments(_orig_create_db_cluster_snapshot, args, kwargs)
    self, ident = a["self"], a["db_cluster_snapshot_identifier"]
    if (
        a["snapshot_type"] == "manual"
        and a["db_cluster_identifier"] in self.clusters
        and ident not in self.cluster_snapshots
    ):
        _check_manual_quota(self.cluster_snapshots)
    snapshot = _call_without_moto_quota(_orig_create_db_cluster_snapshot, *args, **kwargs)
    _apply_create_time(self.cluster_snapshots, ident, snapshot, is_copy=False)
    return snapshot


def _copy_db_cluster_snapshot(*args: Any, **kwargs: Any) -> Any:
    a = _arguments(_orig_copy_db_cluster_snapshot, args, kwargs)
    self, ident = a["self"], a["target_db_cluster_snapshot_identifier"]
    if ident not in self.cluster_snapshots:
        _check_manual_quota(self.cluster_snapshots)
    snapshot = _call_without_moto_quota(_orig_copy_db_cluster_snapshot, *args, **kwargs)
    source = self.get_db_cluster_snapshot(a["source_db_cluster_snapshot_identifier"])
    snapshot.source_db_cluster_snapshot_arn = source.arn
    _apply_create_time(self.cluster_snapshots, ident, snapshot, is_copy=True)
    _hold_copy(snapshot, self.region_name, snapshot.db_cluster_snapshot_identifier, "cluster-snapshot")
    return snapshot


# --------------------------------------------------------------------------------------------
# DescribeAccountAttributes: the manual snapshot quotas (moto 5.2.1 has no such action)
# --------------------------------------------------------------------------------------------
def account_quotas(backend: Any) -> list[dict[str, Any]]:
    """The ``AccountQuotas`` of one account's backend in one region: ``ManualSnapshots`` and
    ``ManualClusterSnapshots``, ``Used`` = its manual snapshots (copies in flight included), ``Max`` =
    the limit ``_check_manual_quota`` enforces. Per region, like the quota itself."""
    limit = _limit()
    return [
        {"AccountQuotaName": "ManualSnapshots", "Used": _manual_count(backend.database_snapshots), "Max": limit},
        {"AccountQuotaName": "ManualClusterSnapshots", "Used": _manual_count(backend.cluster_snapshots), "Max": limit},
    ]


def _describe_account_attributes_response(self: Any) -> ActionResult:
    # No parameters (API_DescribeAccountAttributes); the region is the request's.
    return ActionResult({"AccountQuotas": account_quotas(self.backend)})


# --------------------------------------------------------------------------------------------
# Deletes: automated snapshots and copies in flight
# --------------------------------------------------------------------------------------------
def _forget_held(snapshot: Any) -> None:
    with _LOCK:
        _HELD[:] = [h for h in _HELD if h["snapshot"] is not snapshot]


_orig_delete_db_snapshot_response = RDSResponse.delete_db_snapshot
_orig_delete_db_cluster_snapshot_response = RDSResponse.delete_db_cluster_snapshot


def _delete_db_snapshot_response(self: Any) -> Any:
    ident = self.params.get("DBSnapshotIdentifier")
    snapshot = self.backend.database_snapshots.get(ident) if ident else None
    if snapshot is not None:
        if snapshot.snapshot_type == "automated":
            raise _invalid_db_snapshot_state("Only manual snapshots may be deleted.")
        if snapshot.status == "copying":
            if _HOLD["delete"] != "cancel":
                raise _invalid_db_snapshot_state("The DB snapshot must be in the available state to be deleted.")
            _forget_held(snapshot)
    return _orig_delete_db_snapshot_response(self)


def _delete_db_cluster_snapshot_response(self: Any) -> Any:
    ident = self.params.get("DBClusterSnapshotIdentifier")
    snapshot = self.backend.cluster_snapshots.get(ident) if ident else None
    if snapshot is not None:
        if snapshot.snapshot_type == "automated":
            raise InvalidDBClusterSnapshotStateFault("Only manual snapshots may be deleted.")
        if snapshot.status == "copying":
            if _HOLD["delete"] != "cancel":
                raise InvalidDBClusterSnapshotStateFault(
                    "The DB cluster snapshot must be in the available state to be deleted."
                )
            _forget_held(snapshot)
    return _orig_delete_db_cluster_snapshot_response(self)


# --------------------------------------------------------------------------------------------
# Releasing held copies
# --------------------------------------------------------------------------------------------
def _release(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    released = []
    for entry in entries:
        entry["snapshot"].status = "available"
        entry["snapshot"].percent_progress = 100
        released.append({"region": entry["region"], "id": entry["id"], "kind": entry["kind"]})
    return released


def release(region: str | None = None, ident: str | None = None) -> list[dict[str, str]]:
    with _LOCK:
        chosen = [
            h
            for h in _HELD
            if (region is None or h["region"] == region) and (ident is None or h["id"] == ident.lower())
        ]
        _HELD[:] = [h for h in _HELD if not any(h is c for c in chosen)]
        return _release(chosen)


def release_due() -> None:
    """Release the held copies whose time has come (called before every AWS request)."""
    if not _HELD:
        return
    now = time.time()
    with _LOCK:
        due = [h for h in _HELD if h["release_at"] is not None and h["release_at"] <= now]
        if due:
            _HELD[:] = [h for h in _HELD if not any(h is d for d in due)]
            _release(due)


# --------------------------------------------------------------------------------------------
# Control API
# --------------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _hold_state() -> dict[str, Any]:
    with _LOCK:
        return {
            **_HOLD,
            "held": [{k: h[k] for k in ("region", "id", "kind", "release_at")} for h in _HELD],
        }


def _find_snapshot(region: str, ident: str) -> tuple[str, Any] | None:
    for _account, backend_region, backend in rds_models.rds_backends.iter_backends():
        if backend_region != region:
            continue
        if ident in backend.database_snapshots:
            return "db-snapshot", backend.database_snapshots[ident]
        if ident in backend.cluster_snapshots:
            return "cluster-snapshot", backend.cluster_snapshots[ident]
    return None


def _describe(region: str, kind: str, snapshot: Any) -> dict[str, Any]:
    return {
        "region": region,
        "id": snapshot.resource_id,
        "kind": kind,
        "arn": snapshot.arn,
        "snapshot_create_time": snapshot.created.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z"),
    }


def control(request: Request, path: str, payload: dict[str, Any]) -> Response | None:
    """Answer a control path of this module (``path`` is after ``/_pilotlight``), or None."""
    if path == "/snapshot-copies" and request.method == "GET":
        return _json(_hold_state())
    if path == "/snapshot-copies" and request.method == "PUT":
        if not isinstance(payload.get("hold"), bool):
            return _error("`hold` must be true or false")
        seconds = payload.get("seconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0):
            return _error("`seconds` must be a number >= 0")
        delete = payload.get("delete", "refuse")
        if delete not in ("refuse", "cancel"):
            return _error("`delete` must be `refuse` or `cancel`")
        with _LOCK:
            _HOLD.update(hold=payload["hold"], seconds=seconds if payload["hold"] else None, delete=delete)
        return _json(_hold_state())
    if path == "/snapshot-copies/release" and request.method == "POST":
        region, ident = payload.get("region"), payload.get("id")
        if region is not None and not isinstance(region, str) or ident is not None and not isinstance(ident, str):
            return _error("`region` and `id` must be strings")
        return _json({"released": release(region, ident)})
    if path == "/snapshots/create-time" and request.method == "PUT":
        region, ident = payload.get("region"), payload.get("id")
        if not isinstance(region, str) or not isinstance(ident, str):
            return _error("`region` and `id` are required")
        try:
            when = parse_time(payload.get("time"))
            original = parse_time(payload["original_time"]) if "original_time" in payload else None
        except ValueError as e:
            return _error(str(e))
        with _LOCK:
            found = _find_snapshot(region, ident)
            if found is None:
                return _error(f"no DB snapshot or DB cluster snapshot {ident} in {region}", 404)
            kind, snapshot = found
            snapshot.created = when
            if hasattr(snapshot, "original_snapshot_create_time"):
                if original is not None:
                    snapshot.original_snapshot_create_time = original
                elif getattr(snapshot, "source_db_snapshot_identifier", None) is None:
                    snapshot.original_snapshot_create_time = when
        return _json(_describe(region, kind, snapshot))
    if path == "/snapshots/automated" and request.method == "POST":
        region, ident = payload.get("region"), payload.get("id")
        instance_id, cluster_id = payload.get("instance_id"), payload.get("cluster_id")
        if not isinstance(region, str) or not isinstance(ident, str) or not (instance_id or cluster_id):
            return _error("`region`, `id` and `instance_id` or `cluster_id` are required")
        try:
            when = parse_time(payload["time"]) if "time" in payload else None
        except ValueError as e:
            return _error(str(e))
        backend = rds_models.rds_backends[payload.get("account", DEFAULT_ACCOUNT_ID)][region]
        try:
            if instance_id:
                snapshot = backend.create_auto_snapshot(instance_id, ident)
                kind = "db-snapshot"
            else:
                snapshot = backend.create_auto_cluster_snapshot(cluster_id, ident)
                kind = "cluster-snapshot"
        except RDSClientError as e:
            return _error(f"{e.code}: {e.message}", 404 if "NotFound" in e.code else 400)
        if when is not None:
            snapshot.created = when
            if hasattr(snapshot, "original_snapshot_create_time"):
                snapshot.original_snapshot_create_time = when
        return _json(_describe(region, kind, snapshot))
    if path == "/snapshots/bulk" and request.method == "POST":
        return _bulk_snapshots(payload)
    return None


def _bulk_snapshots(payload: dict[str, Any]) -> Response:
    """``POST /_pilotlight/snapshots/bulk``: ``count`` manual DB snapshots of one instance at once."""
    region, instance_id = payload.get("region"), payload.get("instance_id")
    if not isinstance(region, str) or not isinstance(instance_id, str):
        return _error("`region` and `instance_id` are required")
    count, step = payload.get("count"), payload.get("step_seconds", 3600)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return _error("`count` must be an integer >= 0")
    if isinstance(step, bool) or not isinstance(step, (int, float)) or step < 0:
        return _error("`step_seconds` must be a number >= 0")
    prefix = payload.get("prefix", "bulk-")
    if not isinstance(prefix, str) or not prefix:
        return _error("`prefix` must be a non-empty string")
    tags = payload.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        return _error("`tags` must be an object of strings")
    quota = payload.get("quota", "enforce")
    if quota not in ("enforce", "bypass"):
        return _error("`quota` must be `enforce` or `bypass`")
    try:
        newest = parse_time(payload["newest"]) if "newest" in payload else datetime.now(timezone.utc).replace(tzinfo=None)
    except ValueError as e:
        return _error(str(e))
    backend = rds_models.rds_backends[payload.get("account", DEFAULT_ACCOUNT_ID)][region]
    if instance_id not in backend.databases:
        return _error(f"DBInstanceNotFound: DBInstance {instance_id} not found.", 404)
    width = max(5, len(str(max(count - 1, 0))))
    ids = [f"{prefix}{i:0{width}d}".lower() for i in range(count)]  # i = 0 is the newest
    with _LOCK:
        taken = [ident for ident in ids if ident in backend.database_snapshots]
        if taken:
            return _error(f"DBSnapshotAlreadyExists: Cannot create the snapshot because a snapshot with the identifier {taken[0]} already exists.")
        if quota == "enforce":
            manual = _manual_count(backend.database_snapshots)
            if manual + count > _limit():
                return _error(
                    f"SnapshotQuotaExceeded: {manual} manual snapshots + {count} is over the limit of {_limit()} "
                    "(--snapshot-limit, or \"quota\": \"bypass\"); nothing was created"
                )
        previous = getattr(_QUOTA, "bypass", False)
        _QUOTA.bypass = True  # checked once above, not once per snapshot (that is quadratic)
        try:
            for i in reversed(range(count)):  # oldest first: creation order follows time
                snapshot = _orig_create_db_snapshot(
                    backend,
                    instance_id,
                    ids[i],
                    snapshot_type="manual",
                    tags=[{"Key": k, "Value": v} for k, v in tags.items()],
                )
                when = newest - timedelta(seconds=step * i)
                snapshot.created = when
                snapshot.original_snapshot_create_time = when
        finally:
            _QUOTA.bypass = previous
    return _json({"created": count, "region": region, "newest": ids[0] if ids else None, "oldest": ids[-1] if ids else None})


# --------------------------------------------------------------------------------------------
def install() -> None:
    _stamp_creation_order(rds_models.DBSnapshot, percent_progress=True)
    _stamp_creation_order(rds_models.DBClusterSnapshot)
    _stamp_creation_order(rds_models.DBCluster)

    RDSResponse.describe_db_snapshots = _paginated(
        "DBSnapshots", "db-snapshot", lambda s: s.db_snapshot_identifier
    )(RDSResponse.describe_db_snapshots)
    RDSResponse.describe_db_cluster_snapshots = _paginated(
        "DBClusterSnapshots", "cluster-snapshot", lambda s: s.db_cluster_snapshot_identifier
    )(RDSResponse.describe_db_cluster_snapshots)
    RDSResponse.describe_db_clusters = _paginated(
        "DBClusters", "cluster", lambda c: c.db_cluster_identifier
    )(RDSResponse.describe_db_clusters)

    RDSBackend.SNAPSHOT_QUOTA = property(_snapshot_quota)  # type: ignore[assignment]
    RDSBackend.create_db_snapshot = _create_db_snapshot  # type: ignore[method-assign]
    RDSBackend.copy_db_snapshot = _copy_db_snapshot  # type: ignore[method-assign]
    RDSBackend.create_db_cluster_snapshot = _create_db_cluster_snapshot  # type: ignore[method-assign]
    RDSBackend.copy_db_cluster_snapshot = _copy_db_cluster_snapshot  # type: ignore[method-assign]

    RDSResponse.describe_account_attributes = _describe_account_attributes_response  # type: ignore[attr-defined]

    RDSResponse.delete_db_snapshot = _delete_db_snapshot_response  # type: ignore[method-assign]
    RDSResponse.delete_db_cluster_snapshot = _delete_db_cluster_snapshot_response  # type: ignore[method-assign]
