"""Cross-Region automated backups replication for pilotlight's emulator (moto 5.2.1):
``StartDBInstanceAutomatedBackupsReplication`` and ``StopDBInstanceAutomatedBackupsReplication``, which
moto lacks (its server answered HTTP 500), and ``DescribeDBInstanceAutomatedBackups`` answering the
replicated backups of the region asked, with AWS's documented semantics. ``install()`` applies the
patches; the launcher (``pilotlight_emulator.py``) calls it at import and routes
``/_pilotlight/automated-backups-replication`` to ``control()``.

Sources:

* API reference: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StartDBInstanceAutomatedBackupsReplication.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_StopDBInstanceAutomatedBackupsReplication.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBInstanceAutomatedBackups.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstanceAutomatedBackup.html (and the
  service model botocore ships, whose error shapes give each code's HTTP status).
* User Guide, "Replicating automated backups to another AWS Region" and its pages
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReplicateBackups.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/AutomatedBackups.Replicating.Enable.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/AutomatedBackups.Replicating.Describe.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/AutomatedBackups.StopReplicating.html) and
  "Supported Regions and DB engines for cross-Region automated backups"
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.RDS_Fea_Regions_DB-eng.Feature.CrossRegionAutomatedBackups.html).
* AWS Prescriptive Guidance, "Amazon RDS PITR snapshot replication"
  (https://docs.aws.amazon.com/prescriptive-guidance/latest/dr-standard-edition-amazon-rds/rds-pitr-snapshot.html):
  "asynchronous replication, so the underlying RPO is on the slightly higher side, ranging 5–30 minutes".
* What the real API answers where the documentation is silent, as AWS's own clients handle it: the
  Terraform AWS provider (``internal/service/rds/instance_automated_backups_replication.go``) waits for
  ``pending`` then ``replicating``, treats ``retained`` as "replication stopped", and on delete ignores
  ``InvalidDBInstanceState`` whose message contains "not replicating to the current region"; the
  CloudFormation RDS resource provider matches "Encrypted instances require a valid KMS key ID", which
  users report as ``InvalidParameterValue``.

1. ``StartDBInstanceAutomatedBackupsReplication`` (called in the destination region)
------------------------------------------------------------------------------------

Parameters: ``SourceDBInstanceArn`` (required: the ARN of a DB instance made in this emulator, any other
region of the account), ``BackupRetentionPeriod`` (default 7, as the AWS CLI example and the Terraform
provider use; 1..35), ``KmsKeyId`` (a KMS key of the destination region: key id, key ARN, alias name or
alias ARN), ``Tags`` (kept, answered as ``TagList``); ``PreSignedUrl`` and ``SourceRegion`` are ignored
("This setting applies only to AWS GovCloud (US) Regions. It's ignored in other AWS Regions").

Checks, in this order (a refused call changes nothing):

1. ``SourceDBInstanceArn`` is not an RDS DB instance ARN: HTTP 400 ``InvalidParameterValue``
   "Invalid SourceDBInstanceArn <value>: must be a DB instance ARN (arn:aws:rds:<region>:<account>:db:<id>)."
2. no such DB instance: HTTP 404 ``DBInstanceNotFound`` "DBInstance <arn> not found.";
3. the source is in the region called: HTTP 400 ``InvalidParameterValue`` "The source DB instance
   <arn> is in <region>: call StartDBInstanceAutomatedBackupsReplication in the destination Region."
   ("Enables replication of automated backups to a different AWS Region"; the code is this
   emulator's choice, as AWS answers an unsupported Region with ``InvalidParameterValue``);
4. an engine without backup replication, or an instance of a DB cluster: HTTP 400
   ``InvalidParameterValue`` "Automated backup replication isn't supported for <engine> DB instance
   <id>." Supported: RDS for Db2, MariaDB, MySQL, Oracle, PostgreSQL and SQL Server (engines
   ``db2-*``, ``mariadb``, ``mysql``, ``oracle-*``, ``postgres``, ``sqlserver-*``); not Aurora ("This
   command doesn't apply to RDS Custom, Aurora MySQL, and Aurora PostgreSQL"), RDS Custom
   (``custom-*``), nor members of Multi-AZ DB clusters ("Automated backup replication isn't supported
   for Multi-AZ DB clusters"). AWS documents no error code for these: ``InvalidParameterValue`` is this
   emulator's choice;
5. automated backups off on the source (``BackupRetentionPeriod`` 0: "To be able to replicate automated
   backups, make sure to enable them"): HTTP 400 ``InvalidDBInstanceState`` "Automated backups are not
   enabled for DB instance <id>.";
6. ``BackupRetentionPeriod`` outside 1..35 (RDS's bounds for automated backups; 0 would mean none):
   HTTP 400 ``InvalidParameterValue``;
7. the source already replicates to this region (``pending`` or ``replicating``): HTTP 400
   ``InvalidDBInstanceState`` "Automated backups of DB instance <arn> are already replicating to the
   current region <region>." AWS documents no specific error for this case; ``InvalidDBInstanceState``
   is the documented one ("The DB instance isn't in a valid state") and the one AWS answers in the
   mirror case of Stop;
8. an encrypted source without ``KmsKeyId``: HTTP 400 ``InvalidParameterValue`` "Encrypted instances
   require a valid KMS key ID." (what AWS answers; the guide: "If you've enabled encryption on the
   source DB instance, choose the AWS KMS key for encrypting the backups"); a ``KmsKeyId`` that is not a
   key of the destination region (unknown, or a key ARN of another region): HTTP 400
   ``KMSKeyNotAccessibleFault`` "Specified KMS key [<key>] does not exist, is not enabled or you do not
   have permissions to access it." (moto's check, as for ``CopyDBSnapshot``). A ``KmsKeyId`` given for
   an unencrypted source is checked the same way and encrypts the replicated backups;
9. already 20 replications into this region (``pending`` or ``replicating``; "You can replicate up to
   20 backups to each destination AWS Region for each AWS account"): HTTP 400
   ``DBInstanceAutomatedBackupQuotaExceeded`` (the documented quota error).

Accepted, it answers ``DBInstanceAutomatedBackup`` (the fields below) and the source instance lists the
replicated backup in ``DescribeDBInstances`` ``DBInstanceAutomatedBackupsReplications``
(``[{"DBInstanceAutomatedBackupsArn"}]``, as in the guide's example), and so does the source's own
automated backup in its region, until the replication stops. Starting again after a stop resumes the
same replicated backup (same ARN, ``EarliestTime`` kept).

2. The replicated backup (``DBInstanceAutomatedBackup``)
--------------------------------------------------------

* ``DBInstanceAutomatedBackupsArn``: ``arn:aws:rds:<destination region>:<account>:auto-backup:ab-<S>``
  where ``db-<S>`` is the source's ``DbiResourceId`` (the guide's example pairs
  ``db-L2IJCEXJP7XQ7HOJ4SIEXAMPLE`` with ``auto-backup:ab-L2IJCEXJP7XQ7HOJ4SIEXAMPLE``). moto gave every
  DB instance the same ``DbiResourceId`` (``db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U``); AWS's is "unique to an
  AWS Region", so here each new DB instance gets its own (``db-`` and 26 upper-case letters and digits).
* ``DBInstanceArn`` (the source's ARN), ``DbiResourceId``, ``Region`` (the source's region),
  ``DBInstanceIdentifier`` (the source's), ``Engine``, ``EngineVersion``, ``AllocatedStorage``, ``Port``,
  ``InstanceCreateTime``, ``MasterUsername``, ``StorageType``, ``Iops``, ``LicenseModel``,
  ``IAMDatabaseAuthenticationEnabled`` (the source's, when it has them), ``Encrypted``, ``KmsKeyId``
  (the destination key's ARN; absent when not encrypted), ``BackupRetentionPeriod``, ``BackupTarget``
  ``region``, ``TagList``.
* ``Status`` (a string in the model: ``active | retained | creating`` are the values it describes, but
  AWS shows a replicated backup otherwise): ``pending`` for ``pending_seconds`` after the start (control
  API; default 0, so a start answers ``replicating`` at once), then ``replicating`` (the guide's
  ``describe-db-instance-automated-backups`` example in the destination region), ``retained`` after
  ``StopDBInstanceAutomatedBackupsReplication`` ("Replicated backups are retained, subject to the
  backup retention period"; the ``status`` filter: "retained - Automated backups for deleted instances
  and after backup replication is stopped") or once the source instance is deleted (it has nothing
  more to replicate: this emulator's choice, AWS documents no status for that case).
* ``RestoreWindow`` ``{EarliestTime, LatestTime}``, recomputed at every call: while ``replicating``,
  ``LatestTime`` = now − the replication lag (``lag_seconds``, default 300: the low end of the
  Prescriptive Guidance's 5–30 minutes), so a lag changed through the control API moves it at once;
  ``EarliestTime`` = the newest automated snapshot of the source when the replication started (its
  creation time if none), no older than the retention period, never after ``LatestTime``. Frozen at
  the stop: a ``retained`` backup keeps the ``LatestTime`` it had then. Absent while ``pending`` (nothing
  replicated yet) and on a backup stopped before it left ``pending``.

3. ``StopDBInstanceAutomatedBackupsReplication`` (called in the destination region)
------------------------------------------------------------------------------------

``SourceDBInstanceArn`` required. A value that is not a DB instance ARN: HTTP 400
``InvalidParameterValue``; an unknown (or deleted) source: HTTP 404 ``DBInstanceNotFound``; no
replication of that source to the region called (never started, or already stopped): HTTP 400
``InvalidDBInstanceState`` "Automated backups of DB instance <arn> are not replicating to the current
region <region>." (the phrase the Terraform provider matches). Accepted: the backup is ``retained``
(``RestoreWindow`` frozen) and answered as ``DBInstanceAutomatedBackup``; the source no longer lists it.

4. ``DescribeDBInstanceAutomatedBackups``
-----------------------------------------

In the region called: moto's automated backups of that region's DB instances (``active``, or
``retained`` after a delete that kept them; answered as moto does) followed by the replicated backups
held in that region, in start order. Parameters: ``DBInstanceIdentifier`` (case-insensitive),
``DbiResourceId``, ``DBInstanceAutomatedBackupsArn`` (a replicated backup's ARN), ``Filters``
``status`` / ``db-instance-id`` (identifiers or DB instance ARNs) / ``dbi-resource-id``; an unknown
filter name answers HTTP 400 ``InvalidParameterValue``. ``DBInstanceIdentifier``, ``DbiResourceId`` or
``DBInstanceAutomatedBackupsArn`` matching nothing answers HTTP 404
``DBInstanceAutomatedBackupNotFound`` "No automated backup found for <value>." (the one error the API
documents; the Terraform provider reads it as "gone"); ``Filters`` alone matching nothing answers an
empty list. ``MaxRecords`` (20..100, default 100, else ``InvalidParameterValue``) and ``Marker``
paginate. moto answered every automated backup of the region whatever the parameters but
``DBInstanceIdentifier``.

Not modelled: the Region pairs AWS supports (any two regions replicate here), ``DeleteDBInstanceAutomatedBackup``,
``RestoreDBInstanceToPointInTime`` from a replicated backup, retention expiring, and the KMS key of a
retained backup having to match the one given when replication starts again.

5. Control API (JSON over HTTP)
-------------------------------

* ``PUT /_pilotlight/automated-backups-replication`` ``{"lag_seconds": 600}`` and/or
  ``{"pending_seconds": 5}`` (numbers >= 0; global, for every replication, at once for the lag, for
  replications started from now on for the pending time). Answers the state, as ``GET`` does; 400 for
  anything else.
* ``GET /_pilotlight/automated-backups-replication``: ``{"lag_seconds", "pending_seconds",
  "replications": [{"region" (destination), "arn", "source_arn", "source_region", "source_id",
  "status", "started_at", "available_at" (end of pending), "stopped_at" (null unless retained),
  "earliest_time", "latest_time" (epoch seconds; null without a restore window)}]}``.
* ``DELETE /_pilotlight/automated-backups-replication``: settings back to the defaults (300, 0);
  replications stay. Answers the state.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import string
import threading
import time
from datetime import datetime, timezone
from typing import Any

from werkzeug.wrappers import Request, Response

from moto.core.responses import ActionResult
from moto.rds import models as rds_models
from moto.rds import responses as rds_responses
from moto.rds.exceptions import InvalidParameterValue, RDSClientError

DEFAULT_LAG_SECONDS = 300.0
DEFAULT_PENDING_SECONDS = 0.0
DEFAULT_RETENTION_DAYS = 7
QUOTA_PER_REGION = 20

_LOCK = threading.RLock()
_SETTINGS: dict[str, float] = {"lag_seconds": DEFAULT_LAG_SECONDS, "pending_seconds": DEFAULT_PENDING_SECONDS}
# Replicated backups, in start order: {"account", "region" (destination), "arn", "source" (moto's
# DBInstance), "source_arn", "source_region", "source_id", "dbi", "retention", "encrypted",
# "kms_key_id", "tags", "fields" (the source's, at the start), "started_at", "available_at",
# "earliest", "stopped_at", "frozen_latest"} (times in epoch seconds).
_REPLICATIONS: list[dict[str, Any]] = []
_DB_ARN = re.compile(r"^arn:([^:]+):rds:([a-z0-9-]+):(\d{12}):db:([A-Za-z0-9-]+)$")
_SUPPORTED_ENGINE = re.compile(r"^(?:db2-.+|mariadb|mysql|oracle-.+|postgres|sqlserver-.+)$")
_RESOURCE_ID_CHARS = string.ascii_uppercase + string.digits
_ORIGINAL: dict[str, Any] = {}


def _error(code: str, message: str) -> RDSClientError:
    return RDSClientError(code, message)


def _utc(epoch: float) -> datetime:
    """moto's serializer writes naive datetimes as UTC (``...Z``)."""
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def _epoch(value: Any) -> float | None:
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def new_dbi_resource_id() -> str:
    return "db-" + "".join(secrets.choice(_RESOURCE_ID_CHARS) for _ in range(26))


def backup_arn(partition: str, region: str, account: str, dbi_resource_id: str) -> str:
    """The ARN of the replicated backup of the instance ``dbi_resource_id`` in ``region``."""
    suffix = dbi_resource_id[3:] if dbi_resource_id.startswith("db-") else dbi_resource_id
    return f"arn:{partition}:rds:{region}:{account}:auto-backup:ab-{suffix}"


# --------------------------------------------------------------------------------------------
# State of one replicated backup
# --------------------------------------------------------------------------------------------
def _status(rep: dict[str, Any], now: float) -> str:
    if rep["stopped_at"] is not None:
        return "retained"
    return "pending" if now < rep["available_at"] else "replicating"


def _window(rep: dict[str, Any], now: float) -> tuple[float, float] | None:
    status = _status(rep, now)
    if status == "retained":
        latest = rep["frozen_latest"]
    elif status == "replicating":
        latest = now - _SETTINGS["lag_seconds"]
    else:
        latest = None
    if latest is None:
        return None
    earliest = max(rep["earliest"], now - rep["retention"] * 86400.0)
    return min(earliest, latest), latest


def _active(rep: dict[str, Any]) -> bool:
    return rep["stopped_at"] is None


def _retain(rep: dict[str, Any], now: float) -> None:
    window = _window(rep, now)
    rep["frozen_latest"] = window[1] if window else None
    rep["stopped_at"] = now


def _item(rep: dict[str, Any], now: float) -> dict[str, Any]:
    """The ``DBInstanceAutomatedBackup`` of a replicated backup."""
    out: dict[str, Any] = {
        "DBInstanceArn": rep["source_arn"],
        "DbiResourceId": rep["dbi"],
        "Region": rep["source_region"],
        "DBInstanceIdentifier": rep["source_id"],
    }
    window = _window(rep, now)
    if window is not None:
        out["RestoreWindow"] = {"EarliestTime": _utc(window[0]), "LatestTime": _utc(window[1])}
    out.update({k: v for k, v in rep["fields"].items() if v is not None})
    out.update(
        Status=_status(rep, now),
        Encrypted=rep["encrypted"],
        BackupRetentionPeriod=rep["retention"],
        DBInstanceAutomatedBackupsArn=rep["arn"],
        BackupTarget="region",
        TagList=rep["tags"],
    )
    if rep["kms_key_id"]:
        out["KmsKeyId"] = rep["kms_key_id"]
    return out


def _source_fields(db: Any) -> dict[str, Any]:
    def get(name: str) -> Any:
        return getattr(db, name, None)

    return {
        "AllocatedStorage": get("allocated_storage"),
        "Port": get("port"),
        "InstanceCreateTime": get("instance_create_time"),
        "MasterUsername": get("master_username"),
        "Engine": get("engine"),
        "EngineVersion": get("engine_version"),
        "LicenseModel": get("license_model"),
        "Iops": get("iops"),
        "StorageType": get("storage_type"),
        "IAMDatabaseAuthenticationEnabled": get("enable_iam_database_authentication"),
    }


def _replications_of(source: Any) -> list[dict[str, str]] | None:
    """``DBInstanceAutomatedBackupsReplications`` of a source instance (None: none)."""
    with _LOCK:
        arns = [{"DBInstanceAutomatedBackupsArn": r["arn"]} for r in _REPLICATIONS if r["source"] is source and _active(r)]
    return arns or None


# --------------------------------------------------------------------------------------------
# 1. Start, 3. Stop
# --------------------------------------------------------------------------------------------
def _source(params: Any) -> tuple[str, str, str, Any]:
    """(ARN, region, identifier, moto's DBInstance) of ``SourceDBInstanceArn``."""
    arn = params.get("SourceDBInstanceArn") or ""
    m = _DB_ARN.match(arn)
    if m is None:
        raise InvalidParameterValue(
            f"Invalid SourceDBInstanceArn {arn}: must be a DB instance ARN (arn:aws:rds:<region>:<account>:db:<id>)."
        )
    _, region, account, ident = m.groups()
    try:
        db = rds_models.rds_backends[account][region].databases.get(ident)
    except Exception:  # noqa: BLE001 - a region or account moto does not know
        db = None
    if db is None:
        raise _error("DBInstanceNotFound", f"DBInstance {arn} not found.")
    return arn, region, ident, db


def _retention(params: Any) -> int:
    value = params.get("BackupRetentionPeriod")
    if value is None or value == "":
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = -1
    if not 1 <= days <= 35:
        raise InvalidParameterValue(f"Invalid value {value} for BackupRetentionPeriod: must be between 1 and 35.")
    return days


def _earliest(db: Any, now: float) -> float:
    """When the replicated history starts: the source's newest automated snapshot, else its creation."""
    try:  # a snapshot holds a copy of its instance: match it by identifiers
        snapshots = [
            s for s in db.backend.database_snapshots.values()
            if s.snapshot_type == "automated" and s.db_instance_identifier == db.db_instance_identifier
            and s.dbi_resource_id == db.dbi_resource_id
        ]
    except Exception:  # noqa: BLE001
        snapshots = []
    times = [t for t in (_epoch(getattr(s, "created", None)) for s in snapshots) if t is not None and t <= now]
    if times:
        return max(times)
    created = _epoch(getattr(db, "instance_create_time", None))
    return created if created is not None and created <= now else now


def start(backend: Any, params: Any) -> dict[str, Any]:
    region = backend.region_name
    arn, source_region, ident, db = _source(params)
    if source_region == region:
        raise InvalidParameterValue(
            f"The source DB instance {arn} is in {region}: call StartDBInstanceAutomatedBackupsReplication in the destination Region."
        )
    engine = str(getattr(db, "engine", ""))
    if not _SUPPORTED_ENGINE.match(engine) or getattr(db, "db_cluster_identifier", None):
        raise InvalidParameterValue(f"Automated backup replication isn't supported for {engine} DB instance {ident}.")
    if not getattr(db, "backup_retention_period", 0):
        raise _error("InvalidDBInstanceState", f"Automated backups are not enabled for DB instance {ident}.")
    retention = _retention(params)
    with _LOCK:
        now = time.time()
        if any(r["source"] is db and r["region"] == region and _active(r) for r in _REPLICATIONS):
            raise _error(
                "InvalidDBInstanceState",
                f"Automated backups of DB instance {arn} are already replicating to the current region {region}.",
            )
        kms = params.get("KmsKeyId") or None
        encrypted = bool(getattr(db, "storage_encrypted", False))
        if encrypted and not kms:
            raise InvalidParameterValue("Encrypted instances require a valid KMS key ID.")
        kms_arn = backend._validate_kms_key(kms) if kms else None  # KMSKeyNotAccessibleFault
        active = [r for r in _REPLICATIONS if r["region"] == region and r["account"] == backend.account_id and _active(r)]
        if len(active) >= QUOTA_PER_REGION:
            raise _error(
                "DBInstanceAutomatedBackupQuotaExceeded",
                f"Cannot replicate automated backups of {arn}: {region} already receives {QUOTA_PER_REGION} replications (the quota).",
            )
        partition = arn.split(":")[1]
        backup = backup_arn(partition, region, backend.account_id, db.dbi_resource_id)
        rep = next((r for r in _REPLICATIONS if r["arn"] == backup), None)
        if rep is None:
            rep = {"arn": backup, "earliest": _earliest(db, now)}
            _REPLICATIONS.append(rep)
        tags = params.get("Tags")
        rep.update(
            account=backend.account_id,
            region=region,
            source=db,
            source_arn=arn,
            source_region=source_region,
            source_id=db.db_instance_identifier,
            dbi=db.dbi_resource_id,
            retention=retention,
            encrypted=encrypted or kms_arn is not None,
            kms_key_id=kms_arn,
            tags=[{"Key": t.get("Key"), "Value": t.get("Value", "")} for t in tags] if isinstance(tags, list) else rep.get("tags", []),
            fields=_source_fields(db),
            started_at=now,
            available_at=now + _SETTINGS["pending_seconds"],
            stopped_at=None,
            frozen_latest=None,
        )
        return _item(rep, now)


def stop(backend: Any, params: Any) -> dict[str, Any]:
    region = backend.region_name
    arn, _, _, db = _source(params)
    with _LOCK:
        now = time.time()
        rep = next((r for r in _REPLICATIONS if r["source"] is db and r["region"] == region and _active(r)), None)
        if rep is None:
            raise _error(
                "InvalidDBInstanceState",
                f"Automated backups of DB instance {arn} are not replicating to the current region {region}.",
            )
        _retain(rep, now)
        return _item(rep, now)


def _start_response(self: Any) -> ActionResult:
    return ActionResult({"DBInstanceAutomatedBackup": start(self.backend, self.params)})


def _stop_response(self: Any) -> ActionResult:
    return ActionResult({"DBInstanceAutomatedBackup": stop(self.backend, self.params)})


def _delete_db_instance(self: Any, db_instance_identifier: str, *args: Any, **kwargs: Any) -> Any:
    """A deleted source has nothing more to replicate: its replicated backups are retained."""
    database = _ORIGINAL["delete_db_instance"](self, db_instance_identifier, *args, **kwargs)
    with _LOCK:
        now = time.time()
        for rep in _REPLICATIONS:
            if rep["source"] is database and _active(rep):
                _retain(rep, now)
    return database


# --------------------------------------------------------------------------------------------
# 4. Describe
# --------------------------------------------------------------------------------------------
def _page_size(params: Any) -> int:
    value = params.get("MaxRecords")
    if value is None or value == "":
        return 100
    try:
        size = int(value)
    except (TypeError, ValueError):
        size = 0
    if not 20 <= size <= 100:
        raise InvalidParameterValue(f"Invalid value {value} for MaxRecords. Must be between 20 and 100")
    return size


def _offset(marker: Any) -> int:
    if not marker:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(str(marker).encode()))
        return int(data["automated-backups"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidParameterValue(f"Invalid value {marker} for Marker.") from None


def _candidates(backend: Any, now: float) -> list[tuple[dict[str, str], Any]]:
    """Every automated backup of ``backend``'s region: (what the filters compare, what is answered)."""
    out: list[tuple[dict[str, str], Any]] = []
    for local in backend.describe_db_instance_automated_backups():
        ident = local.db_instance_identifier
        db = backend.databases.get(ident)
        snapshots = getattr(local, "automated_snapshots", None) or []
        dbi = getattr(db, "dbi_resource_id", None) or next((s.dbi_resource_id for s in snapshots), "")
        keys = {
            "id": ident,
            "arn": f"arn:{backend.partition}:rds:{backend.region_name}:{backend.account_id}:db:{ident}",
            "dbi": dbi or "",
            "status": local.status,
            "backup_arn": "",
        }
        out.append((keys, local))
    with _LOCK:
        for rep in _REPLICATIONS:
            if rep["region"] != backend.region_name or rep["account"] != backend.account_id:
                continue
            keys = {"id": rep["source_id"], "arn": rep["source_arn"], "dbi": rep["dbi"], "status": _status(rep, now), "backup_arn": rep["arn"]}
            out.append((keys, _item(rep, now)))
    return out


def _filtered(candidates: list[tuple[dict[str, str], Any]], params: Any) -> list[Any]:
    def same(a: str, b: str) -> bool:
        return a.lower() == b.lower()

    chosen = candidates
    for param, key in (("DBInstanceIdentifier", "id"), ("DbiResourceId", "dbi"), ("DBInstanceAutomatedBackupsArn", "backup_arn")):
        value = params.get(param)
        if value:
            chosen = [c for c in chosen if c[0][key] and same(c[0][key], str(value))]
            if not chosen:
                raise _error("DBInstanceAutomatedBackupNotFound", f"No automated backup found for {value}.")
    for f in params.get("Filters") or []:
        name, values = f.get("Name"), [str(v) for v in (f.get("Values") or [])]
        if name == "status":
            chosen = [c for c in chosen if c[0]["status"] in values]
        elif name == "db-instance-id":
            chosen = [c for c in chosen if any(same(v, c[0]["id"]) or same(v, c[0]["arn"]) for v in values)]
        elif name == "dbi-resource-id":
            chosen = [c for c in chosen if any(same(v, c[0]["dbi"]) for v in values)]
        else:
            raise InvalidParameterValue(f"Unrecognized filter name: {name}.")
    return [c[1] for c in chosen]


def _describe_response(self: Any) -> ActionResult:
    params = self.params
    size = _page_size(params)
    start_at = _offset(params.get("Marker"))
    found = _filtered(_candidates(self.backend, time.time()), params)
    page = found[start_at : start_at + size]
    result: dict[str, Any] = {"DBInstanceAutomatedBackups": page}
    if start_at + size < len(found):
        marker = json.dumps({"automated-backups": start_at + size}).encode()
        result["Marker"] = base64.urlsafe_b64encode(marker).decode()
    return ActionResult(result)


# --------------------------------------------------------------------------------------------
# 5. Control API
# --------------------------------------------------------------------------------------------
def state() -> dict[str, Any]:
    with _LOCK:
        now = time.time()
        replications = []
        for rep in _REPLICATIONS:
            window = _window(rep, now)
            replications.append(
                {
                    "region": rep["region"],
                    "arn": rep["arn"],
                    "source_arn": rep["source_arn"],
                    "source_region": rep["source_region"],
                    "source_id": rep["source_id"],
                    "status": _status(rep, now),
                    "started_at": rep["started_at"],
                    "available_at": rep["available_at"],
                    "stopped_at": rep["stopped_at"],
                    "earliest_time": window[0] if window else None,
                    "latest_time": window[1] if window else None,
                }
            )
        return {**_SETTINGS, "replications": replications}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def control(request: Request, path: str, payload: dict[str, Any]) -> Response | None:
    """Answer a control path of this module (``path`` is after ``/_pilotlight``), or None."""
    if path != "/automated-backups-replication":
        return None
    if request.method == "GET":
        return _json(state())
    if request.method == "DELETE":
        with _LOCK:
            _SETTINGS.update(lag_seconds=DEFAULT_LAG_SECONDS, pending_seconds=DEFAULT_PENDING_SECONDS)
        return _json(state())
    if request.method != "PUT":
        return _json({"error": "use GET, PUT or DELETE"}, 405)
    keys = {"lag_seconds", "pending_seconds"}
    if not payload or not set(payload) <= keys:
        return _json({"error": "give `lag_seconds` and/or `pending_seconds` (numbers >= 0), nothing else"}, 400)
    for key, value in payload.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            return _json({"error": f"`{key}` must be a number >= 0"}, 400)
    with _LOCK:
        _SETTINGS.update({k: float(v) for k, v in payload.items()})
    return _json(state())


# --------------------------------------------------------------------------------------------
def install() -> None:
    if _ORIGINAL:
        return
    _ORIGINAL.update(
        init=rds_models.DBInstance.__init__,
        delete_db_instance=rds_models.RDSBackend.delete_db_instance,
    )

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        _ORIGINAL["init"](self, *args, **kwargs)
        self.dbi_resource_id = new_dbi_resource_id()

    rds_models.DBInstance.__init__ = init  # type: ignore[method-assign]
    rds_models.DBInstance.db_instance_automated_backups_replications = property(  # type: ignore[attr-defined]
        lambda self: _replications_of(self)
    )
    rds_models.DBInstanceAutomatedBackup.db_instance_automated_backups_replications = property(  # type: ignore[attr-defined]
        lambda self: _replications_of(self.backend.databases.get(self.db_instance_identifier))
    )
    rds_models.RDSBackend.delete_db_instance = _delete_db_instance  # type: ignore[method-assign]
    rds_responses.RDSResponse.start_db_instance_automated_backups_replication = _start_response  # type: ignore[attr-defined]
    rds_responses.RDSResponse.stop_db_instance_automated_backups_replication = _stop_response  # type: ignore[attr-defined]
    rds_responses.RDSResponse.describe_db_instance_automated_backups = _describe_response  # type: ignore[method-assign]
