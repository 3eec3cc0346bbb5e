"""RDS ``RestoreDBInstanceFromDBSnapshot`` for pilotlight's emulator (moto 5.2.1), as strict as AWS
where pilotlight's DR drill depends on it: the drill restores the newest DR snapshot copy into a
temporary instance in the DR region, waits until it is ``available``, then deletes it
(``DeleteDBInstance`` with ``SkipFinalSnapshot`` and ``DeleteAutomatedBackups``). ``install()``
applies the patches; the launcher (``pilotlight_emulator.py``) calls it at import (after
``aws_conditions.install()`` and ``automated_backups_patches.install()``), routes
``/_pilotlight/restores...`` to ``control()`` and calls ``advance_due()`` before every request.

API reference: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceFromDBSnapshot.html
(the same text as botocore's service model for RDS, from which the quotes below are taken).

Patches (what moto 5.2.1 did is in brackets):

* A restore takes time. The call answers the new instance with ``DBInstanceStatus`` ``creating``;
  it stays ``creating`` for the restore time (default 2 s, control API below), then is
  ``available``. ``creating`` is the first status of the DB instance status table
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/accessing-monitoring.html#Overview.DBInstance.Status).
  While ``creating`` the instance has no ``Endpoint`` ("The endpoint might not be shown for
  instances with the status of creating", API_DBInstance.html). A status held through
  ``PUT /_pilotlight/instances/<region>/<id>/status`` masks the restore's, as it masks a
  promotion's (``aws_conditions.py``). [moto: ``available`` at once, with an endpoint.]
* The snapshot must exist in the region called, and be ``available``: an unknown identifier, or an
  ARN of another region (a snapshot is restored where it is: copy it first), answers
  ``DBSnapshotNotFound`` (HTTP 404, moto's message "DBSnapshot <id> not found."); a snapshot that is
  not ``available`` (a copy still ``copying``, ``snapshot_patches.py``) answers
  ``InvalidDBSnapshotState`` (HTTP 400; the code is the one the API reference lists for the call,
  AWS documents no message: "DB snapshot <id> is not in the available state." is the emulator's).
  An identifier already in use answers ``DBInstanceAlreadyExists`` (moto). [moto restored from a
  ``copying`` snapshot, and from an ARN of any region by its name in the region called.]
* The new instance takes the request's ``DBInstanceClass``, ``DBSubnetGroupName``,
  ``VpcSecurityGroupIds``, ``PubliclyAccessible``, ``Tags`` (DescribeDBInstances ``TagList`` and
  ``ListTagsForResource``), ``DeletionProtection``, ``MultiAZ``, ... as given, ``false`` and ``0``
  included [moto dropped every false value: ``PubliclyAccessible=false`` came out unset].
  Not given, the API reference's defaults apply rather than the source instance's settings:
  "the default security group" ("VpcSecurityGroupIds ... Default: The default EC2 VPC security group
  for the DB subnet group's VPC": of the subnet group's VPC if one is given, else of the default VPC);
  the default DB parameter group ("If you don't specify a value for DBParameterGroupName, then RDS
  uses the default DBParameterGroup for the specified DB engine"); "By default, deletion protection
  isn't enabled"; "By default, the new DB instance is created as a Single-AZ deployment"; no DB
  subnet group (moto has no ``default`` one) and the Availability Zone of the first subnet of the
  subnet group given, else ``<region>a``. The option group is ``OptionGroupName``, else the
  source's own if it was chosen and the restore is in the source's region, else the engine's
  default (``default:<engine>-<major>-<minor>``, moto's naming). The restored instance is not a
  read replica, whatever its source was. [moto copied the source instance's subnet group (so a
  cross-region copy of an instance in a subnet group could not be restored), Availability Zone (of
  the source's region), deletion protection, Multi-AZ, read replica source and option group.]
  Without ``Tags`` the instance keeps moto's behaviour: the source instance's tags.
* ``DeleteDBInstance`` of a ``creating`` instance: with ``SkipFinalSnapshot`` it is deleted (the
  restore ends); asking for a final snapshot answers ``InvalidDBInstanceState`` "Instance <id> is
  currently creating - a final snapshot cannot be taken." (HTTP 400), RDS's wording as deployment
  logs show it (CloudFormation ``DELETE_FAILED`` of an ``AWS::RDS::DBInstance`` still creating);
  ``InvalidDBInstanceState`` ("The DB instance isn't in a valid state") is among the errors of
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBInstance.html.
  [moto deleted it and made the final snapshot.]
* ``planned_groups(region, params)``: the option group, DB parameter group and DB subnet group a
  restore request will give the new instance; ``iam_enforcement.py`` authorises the request on
  them (resource types ``og*``, ``pg*``, ``subgrp*`` of the Service Authorization Reference).

Control API (JSON over HTTP):

* ``PUT /_pilotlight/restores`` ``{"seconds": 30}`` and/or ``{"hold": true | false}``: how long
  restores started from now on stay ``creating`` (a number >= 0; default 2) / hold them
  ``creating`` until released. Answers the state, as ``GET`` does; 400 for other values.
* ``GET /_pilotlight/restores``: ``{"seconds", "hold", "restores": [{"region", "id", "status",
  "snapshot", "started_at", "available_at"}]}`` (the restores in flight; epoch seconds,
  ``available_at`` null when held; ``status`` as ``DescribeDBInstances`` reports it; ``snapshot``
  the identifier restored from).
* ``POST /_pilotlight/restores/release`` ``{"region", "id"}`` (both optional): the restores in
  flight (in that region / of that instance, or all) complete now (``available``). Answers
  ``{"released": [{"region", "id"}]}``.
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.rds import models as rds_models
from moto.rds.exceptions import (
    DBInstanceAlreadyExists,
    DBSnapshotNotFoundFault,
    InvalidParameterValue,
    RDSClientError,
)

import aws_conditions  # next to this file; shares its lock and status logic

_LOCK = aws_conditions._LOCK

_RESTORE: dict[str, Any] = {"seconds": 2.0, "hold": False}
# In flight: {"region", "id", "database", "backend", "snapshot", "started_at", "available_at"}.
_RESTORES: list[dict[str, Any]] = []

CREATING = "creating"
NOT_AVAILABLE_SNAPSHOT = "DB snapshot {} is not in the available state."
CREATING_NO_FINAL_SNAPSHOT = "Instance {} is currently creating - a final snapshot cannot be taken."

# Attributes of the source instance that a restore does not carry over (see the module doc).
_NOT_CARRIED = {
    "backend", "db_parameter_group_name", "vpc_security_group_ids", "max_allocated_storage",  # moto's own list
    "db_subnet_group_name", "db_subnet_group", "availability_zone", "deletion_protection", "multi_az",
    "source_db_instance_identifier", "replicas", "is_replica", "status", "option_group_name",
    "copy_tags_to_snapshot",
}


# --------------------------------------------------------------------------------------------
# What a restore request makes
# --------------------------------------------------------------------------------------------
def _snapshot_of(backend: Any, ident: str | None) -> Any:
    """The DB snapshot a restore in ``backend``'s region names (identifier or ARN), or None."""
    if not ident:
        return None
    if ident.startswith("arn:"):
        parts = ident.split(":")
        if len(parts) < 7 or parts[5] != "snapshot" or parts[3] != backend.region_name or parts[4] != backend.account_id:
            return None
        ident = parts[6]
    return backend.database_snapshots.get(ident)


def _default_option_group(engine: str, version: str) -> str:
    semantic = str(version).split(".")
    suffix = semantic[0] + ("-" + semantic[1] if len(semantic) > 1 else "")
    return f"default:{engine}-{suffix}"


def _default_parameter_group(engine: str, version: str) -> str:
    return f"default.{engine.lower()}{'.'.join(str(version).rsplit('.')[:-1])}"


def _param(params: Any, snake: str, camel: str) -> Any:
    value = params.get(snake)
    return params.get(camel) if value is None else value


def _groups(backend: Any, snapshot: Any, params: Any) -> dict[str, str | None]:
    source = snapshot.database
    option_group = _param(params, "option_group_name", "OptionGroupName")
    if not option_group:
        if getattr(source, "option_group_supplied", False) and source.region == backend.region_name:
            option_group = source.option_group_name
        else:
            option_group = _default_option_group(source.engine, source.engine_version)
    return {
        "option_group": option_group,
        "parameter_group": _param(params, "db_parameter_group_name", "DBParameterGroupName")
        or _default_parameter_group(source.engine, source.engine_version),
        "subnet_group": _param(params, "db_subnet_group_name", "DBSubnetGroupName") or None,
    }


def planned_groups(region: str, params: dict[str, Any], account: str = DEFAULT_ACCOUNT_ID) -> dict[str, str | None] | None:
    """``{"option_group", "parameter_group", "subnet_group"}`` a restore request (query parameters
    ``DBSnapshotIdentifier``, ``OptionGroupName``, ``DBParameterGroupName``, ``DBSubnetGroupName``)
    gives the new instance (``subnet_group`` None: none given), or None when the snapshot is not
    one the emulator holds in ``region`` (the request then fails with ``DBSnapshotNotFound``)."""
    try:
        backend = rds_models.rds_backends[account][region]
    except Exception:  # noqa: BLE001 - a region moto does not know
        return None
    snapshot = _snapshot_of(backend, params.get("DBSnapshotIdentifier"))
    if snapshot is None:
        return None
    return _groups(backend, snapshot, params)


def _restore(self: Any, from_snapshot_id: str | None, overrides: Any) -> Any:
    """``RDSBackend.restore_db_instance_from_db_snapshot`` (see the module doc)."""
    if not from_snapshot_id:
        raise InvalidParameterValue("DBSnapshotIdentifier is required (the emulator does not restore DB cluster snapshots).")
    snapshot = _snapshot_of(self, from_snapshot_id)
    if snapshot is None:
        raise DBSnapshotNotFoundFault(from_snapshot_id)
    ident = overrides["db_instance_identifier"]
    if ident in self.databases:  # moto keys instances by the identifier as given
        raise DBInstanceAlreadyExists()
    if snapshot.status != "available":
        raise RDSClientError("InvalidDBSnapshotState", NOT_AVAILABLE_SNAPSHOT.format(snapshot.db_snapshot_identifier))
    if "allocated_storage" in overrides and overrides["allocated_storage"] is not None:
        if overrides["allocated_storage"] < snapshot.allocated_storage:
            raise InvalidParameterValue("The allocated storage size can't be less than the source snapshot or backup size.")

    source = snapshot.database
    props: dict[str, Any] = {}
    for key, value in source.__dict__.items():
        key = key.removeprefix("_")
        if key not in _NOT_CARRIED:
            props[key] = copy.copy(value)
    props["kms_key_id"] = snapshot.kms_key_id
    props["storage_encrypted"] = snapshot.encrypted
    groups = _groups(self, snapshot, overrides)
    # moto checks a named option group exists; its default name needs no check.
    if groups["option_group"] != _default_option_group(source.engine, source.engine_version):
        props["option_group_name"] = groups["option_group"]
    for key, value in overrides.items():
        if value is not None:
            props[key] = value
    if not props.get("availability_zone") and props.get("db_subnet_group_name"):
        group = self.describe_db_subnet_groups(props["db_subnet_group_name"])[0]  # DBSubnetGroupNotFoundFault
        subnets = getattr(group, "_subnets", None) or []
        if subnets:
            props["availability_zone"] = subnets[0].availability_zone
    if not props.get("vpc_security_group_ids") and props.get("db_subnet_group_name"):
        group = self.describe_db_subnet_groups(props["db_subnet_group_name"])[0]
        default = ec2_backends[self.account_id][self.region_name].get_default_security_group(group.vpc_id)
        if default is not None:
            props["vpc_security_group_ids"] = [default.id]

    database = self.create_db_instance(props)
    with _LOCK:
        now = time.time()
        held = _RESTORE["hold"]
        _RESTORES.append(
            {
                "region": self.region_name,
                "id": ident,
                "database": database,
                "backend": self,
                "snapshot": snapshot.db_snapshot_identifier,
                "started_at": now,
                "available_at": None if held else now + _RESTORE["seconds"],
            }
        )
        aws_conditions._apply_status(database, self.region_name, ident)
    return database


def _restore_status(database: Any) -> str | None:
    """``creating`` while ``database`` is being restored (a status provider of ``aws_conditions``)."""
    return CREATING if any(r["database"] is database for r in _RESTORES) else None


def _complete(restore: dict[str, Any]) -> None:
    _RESTORES[:] = [r for r in _RESTORES if r is not restore]
    database, backend = restore["database"], restore["backend"]
    if backend.databases.get(restore["id"]) is not database:  # deleted meanwhile
        return
    aws_conditions._apply_status(database, restore["region"], restore["id"])


def _advance(now: float) -> None:
    for restore in list(_RESTORES):
        if restore["available_at"] is not None and now >= restore["available_at"]:
            _complete(restore)


def advance_due() -> None:
    """Restores whose time has come become ``available``; before every request."""
    if not _RESTORES:
        return
    with _LOCK:
        _advance(time.time())


def release(region: str | None = None, ident: str | None = None) -> list[dict[str, str]]:
    with _LOCK:
        chosen = [r for r in _RESTORES if (region is None or r["region"] == region) and (ident is None or r["id"] == ident)]
        for restore in chosen:
            _complete(restore)
        return [{"region": r["region"], "id": r["id"]} for r in chosen]


# --------------------------------------------------------------------------------------------
# DeleteDBInstance of a creating instance; the endpoint while creating
# --------------------------------------------------------------------------------------------
_ORIGINAL: dict[str, Any] = {}


def _delete_db_instance(
    self: Any,
    db_instance_identifier: str,
    final_db_snapshot_identifier: str | None = None,
    skip_final_snapshot: bool | None = False,
    delete_automated_backups: bool | None = True,
) -> Any:
    with _LOCK:
        _advance(time.time())
        database = self.databases.get(db_instance_identifier)
        if database is not None and database.status == CREATING and not skip_final_snapshot:
            raise RDSClientError("InvalidDBInstanceState", CREATING_NO_FINAL_SNAPSHOT.format(database.db_instance_identifier))
        result = _ORIGINAL["delete_db_instance"](
            self, db_instance_identifier, final_db_snapshot_identifier, skip_final_snapshot, delete_automated_backups
        )
        _RESTORES[:] = [r for r in _RESTORES if r["database"] is not result]
        return result


def _endpoint(self: Any) -> dict[str, Any] | None:
    if self.status == CREATING:
        return None
    return _ORIGINAL["endpoint"].fget(self)


# --------------------------------------------------------------------------------------------
# Control API
# --------------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _state() -> dict[str, Any]:
    with _LOCK:
        return {
            "seconds": _RESTORE["seconds"],
            "hold": _RESTORE["hold"],
            "restores": [
                {
                    "region": r["region"],
                    "id": r["id"],
                    "status": r["database"].status,
                    "snapshot": r["snapshot"],
                    "started_at": r["started_at"],
                    "available_at": r["available_at"],
                }
                for r in _RESTORES
            ],
        }


def control(request: Request, path: str, payload: dict[str, Any]) -> Response | None:
    """Answer a control path of this module (``path`` is after ``/_pilotlight``), or None."""
    method = request.method
    if path == "/restores" and method == "GET":
        return _json(_state())
    if path == "/restores" and method == "PUT":
        unknown = sorted(set(payload) - {"seconds", "hold"})
        if unknown or not payload:
            return _error("give `seconds` (a number >= 0) and/or `hold` (true or false), nothing else")
        seconds, hold = payload.get("seconds", _RESTORE["seconds"]), payload.get("hold", _RESTORE["hold"])
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return _error("`seconds` must be a number >= 0")
        if not isinstance(hold, bool):
            return _error("`hold` must be true or false")
        with _LOCK:
            _RESTORE.update(seconds=float(seconds), hold=hold)
        return _json(_state())
    if path == "/restores/release" and method == "POST":
        region, ident = payload.get("region"), payload.get("id")
        if region is not None and not isinstance(region, str) or ident is not None and not isinstance(ident, str):
            return _error("`region` and `id` must be strings")
        return _json({"released": release(region, ident)})
    return None


def install() -> None:
    if _ORIGINAL:
        return
    _ORIGINAL.update(
        delete_db_instance=rds_models.RDSBackend.delete_db_instance,
        endpoint=rds_models.DBInstance.endpoint,
    )
    rds_models.RDSBackend.restore_db_instance_from_db_snapshot = _restore  # type: ignore[method-assign]
    rds_models.RDSBackend.delete_db_instance = _delete_db_instance  # type: ignore[method-assign]
    rds_models.DBInstance.endpoint = property(_endpoint)  # type: ignore[assignment,method-assign]
    aws_conditions.STATUS_PROVIDERS.append(_restore_status)
