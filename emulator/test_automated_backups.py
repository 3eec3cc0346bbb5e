#!/usr/bin/env python3
"""Checks of the emulator's cross-Region automated backups replication (``automated_backups_patches.py``:
``StartDBInstanceAutomatedBackupsReplication``, ``StopDBInstanceAutomatedBackupsReplication``,
``DescribeDBInstanceAutomatedBackups``, the replication lag of the control API, and their IAM
authorisation in ``iam_enforcement.py``) through boto3, against a launcher process this script starts on
port 0 (through ``harness.py``) and stops at the end.

Usage: python emulator/test_automated_backups.py [-k SUBSTRING]

Prints one line per check and, last, ``N passed, M failed``; exits non-zero if any check failed.
Regions: us-east-1 holds the source instances, us-west-2 (and eu-west-1) receive their backups.
Credentials are dummies.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
from harness import Emulator, run_checks  # noqa: E402 - emulator/harness.py, next to this file

SRC, DST, THIRD = "us-east-1", "us-west-2", "eu-west-1"
ACCOUNT = "123456789012"
DEFAULT_LAG = 300.0

CHECKS: list[tuple[str, Callable[[], None]]] = []
EM: Emulator


def check(fn: Callable[[], None]) -> Callable[[], None]:
    CHECKS.append((fn.__name__, fn))
    return fn


def expect_error(code: str, status: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert got == (code, status), f"expected {code} ({status}), got {got}: {e.response['Error'].get('Message')}"
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"expected {code}, the call succeeded")


def source(ident: str, **params: Any) -> dict[str, Any]:
    """A PostgreSQL instance in SRC (automated backups on: moto's default retention is 1 day)."""
    return EM.create_db_instance(SRC, ident, **params)


def start(arn: str, region: str = DST, **params: Any) -> dict[str, Any]:
    return EM.rds(region).start_db_instance_automated_backups_replication(SourceDBInstanceArn=arn, **params)[
        "DBInstanceAutomatedBackup"
    ]


def replicated(region: str, **params: Any) -> list[dict[str, Any]]:
    """The replicated backups (those with an ARN) that DescribeDBInstanceAutomatedBackups answers."""
    found = EM.rds(region).describe_db_instance_automated_backups(**params)["DBInstanceAutomatedBackups"]
    return [b for b in found if b.get("DBInstanceAutomatedBackupsArn")]


def assert_latest(backup: dict[str, Any], before: float, after: float, lag: float) -> None:
    """RestoreWindow.LatestTime is now - lag, "now" being some moment of the call."""
    latest = backup["RestoreWindow"]["LatestTime"].timestamp()
    assert before - lag - 1 <= latest <= after - lag + 1, (latest, before - lag, after - lag, backup)
    assert backup["RestoreWindow"]["EarliestTime"] <= backup["RestoreWindow"]["LatestTime"], backup


# --------------------------------------------------------------------------------------------
# Start, describe
# --------------------------------------------------------------------------------------------
@check
def start_replicates_a_postgres_instance_into_another_region() -> None:
    db = source("orders-db")
    arn, dbi = db["DBInstanceArn"], db["DbiResourceId"]
    assert re.fullmatch(r"db-[A-Z0-9]{26}", dbi), dbi
    before = time.time()
    backup = start(arn)
    after = time.time()
    want_arn = f"arn:aws:rds:{DST}:{ACCOUNT}:auto-backup:ab-{dbi[3:]}"
    assert backup["DBInstanceAutomatedBackupsArn"] == want_arn, backup
    assert backup["Status"] == "replicating", backup
    assert backup["DBInstanceArn"] == arn and backup["DbiResourceId"] == dbi, backup
    assert backup["Region"] == SRC and backup["DBInstanceIdentifier"] == "orders-db", backup
    assert backup["BackupRetentionPeriod"] == 7 and backup["Encrypted"] is False and "KmsKeyId" not in backup, backup
    assert backup["Engine"] == "postgres" and backup["AllocatedStorage"] == 20, backup
    assert_latest(backup, before, after, DEFAULT_LAG)

    # Described in the destination region: no filter, by identifier, by ARN, by resource id.
    for params in ({}, {"DBInstanceIdentifier": "orders-db"}, {"DBInstanceAutomatedBackupsArn": want_arn}, {"DbiResourceId": dbi}):
        before = time.time()
        found = [b for b in replicated(DST, **params) if b["DBInstanceAutomatedBackupsArn"] == want_arn]
        after = time.time()
        assert len(found) == 1 and found[0]["Status"] == "replicating", (params, found)
        assert_latest(found[0], before, after, DEFAULT_LAG)
    # The source lists it, in DescribeDBInstances and in its own automated backup.
    db = EM.rds(SRC).describe_db_instances(DBInstanceIdentifier="orders-db")["DBInstances"][0]
    assert db["DBInstanceAutomatedBackupsReplications"] == [{"DBInstanceAutomatedBackupsArn": want_arn}], db
    local = EM.rds(SRC).describe_db_instance_automated_backups(DBInstanceIdentifier="orders-db")["DBInstanceAutomatedBackups"]
    assert [b["Status"] for b in local] == ["active"], local
    assert local[0]["DBInstanceAutomatedBackupsReplications"] == [{"DBInstanceAutomatedBackupsArn": want_arn}], local
    # Not in the source's region, nor in a third one.
    assert not replicated(SRC, DBInstanceIdentifier="orders-db"), "a replicated backup in the source region"
    assert not [b for b in replicated(THIRD) if b["DBInstanceArn"] == arn]


@check
def every_instance_has_its_own_dbi_resource_id() -> None:
    a, b = source("dbi-a"), source("dbi-b")
    assert a["DbiResourceId"] != b["DbiResourceId"], (a["DbiResourceId"], b["DbiResourceId"])
    snapshot = EM.rds(SRC).describe_db_snapshots(DBInstanceIdentifier="dbi-a")["DBSnapshots"][0]
    assert snapshot["DbiResourceId"] == a["DbiResourceId"], snapshot


@check
def second_start_to_the_same_region_is_refused() -> None:
    arn = source("twice-db")["DBInstanceArn"]
    start(arn, BackupRetentionPeriod=14)
    message = expect_error("InvalidDBInstanceState", 400, start, arn)
    assert "already replicating" in message, message
    found = replicated(DST, DBInstanceIdentifier="twice-db")
    assert len(found) == 1 and found[0]["BackupRetentionPeriod"] == 14, found
    # Another destination region is a separate replication.
    other = start(arn, region=THIRD)
    assert other["DBInstanceAutomatedBackupsArn"].startswith(f"arn:aws:rds:{THIRD}:"), other
    db = EM.rds(SRC).describe_db_instances(DBInstanceIdentifier="twice-db")["DBInstances"][0]
    assert len(db["DBInstanceAutomatedBackupsReplications"]) == 2, db


@check
def unknown_or_unfit_sources_are_refused() -> None:
    expect_error("DBInstanceNotFound", 404, start, f"arn:aws:rds:{SRC}:{ACCOUNT}:db:no-such-db")
    expect_error("InvalidParameterValue", 400, start, "no-such-db")
    arn = source("unfit-db")["DBInstanceArn"]
    message = expect_error("InvalidParameterValue", 400, start, arn, region=SRC)
    assert "destination Region" in message, message
    for days in (0, 36):
        expect_error("InvalidParameterValue", 400, start, arn, BackupRetentionPeriod=days)
    no_backups = source("no-backups-db", BackupRetentionPeriod=0)["DBInstanceArn"]
    expect_error("InvalidDBInstanceState", 400, start, no_backups)
    rds = EM.rds(SRC)
    rds.create_db_cluster(
        DBClusterIdentifier="aurora-src", Engine="aurora-postgresql", MasterUsername="pilotlight", MasterUserPassword="not-a-secret-1"
    )
    aurora = rds.create_db_instance(
        DBInstanceIdentifier="aurora-src-1", DBClusterIdentifier="aurora-src", Engine="aurora-postgresql", DBInstanceClass="db.r6g.large"
    )["DBInstance"]
    message = expect_error("InvalidParameterValue", 400, start, aurora["DBInstanceArn"])
    assert "isn't supported" in message, message
    assert not replicated(DST, Filters=[{"Name": "db-instance-id", "Values": [arn, no_backups, aurora["DBInstanceArn"]]}])


@check
def encrypted_source_needs_a_key_of_the_destination_region() -> None:
    src_key = EM.client("kms", SRC).create_key()["KeyMetadata"]["Arn"]
    dst_key = EM.client("kms", DST).create_key()["KeyMetadata"]["Arn"]
    arn = source("secret-db", StorageEncrypted=True, KmsKeyId=src_key)["DBInstanceArn"]
    message = expect_error("InvalidParameterValue", 400, start, arn)
    assert message == "Encrypted instances require a valid KMS key ID.", message
    expect_error("KMSKeyNotAccessibleFault", 400, start, arn, KmsKeyId=src_key)
    expect_error("KMSKeyNotAccessibleFault", 400, start, arn, KmsKeyId=f"arn:aws:kms:{DST}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000")
    backup = start(arn, KmsKeyId=dst_key.split("/")[-1])
    assert backup["Encrypted"] is True and backup["KmsKeyId"] == dst_key, backup


# --------------------------------------------------------------------------------------------
# The replication lag, pending, stop
# --------------------------------------------------------------------------------------------
@check
def lag_control_moves_latest_time() -> None:
    arn = source("lagging-db")["DBInstanceArn"]
    start(arn)
    try:
        for lag in (1800, 0, 42.5):
            state = EM.set_automated_backups_replication(lag_seconds=lag)
            assert state["lag_seconds"] == lag and state["pending_seconds"] == 0, state
            before = time.time()
            backup = replicated(DST, DBInstanceIdentifier="lagging-db")[0]
            after = time.time()
            assert_latest(backup, before, after, lag)
        entry = next(r for r in EM.automated_backups_replication()["replications"] if r["source_arn"] == arn)
        assert entry["region"] == DST and entry["status"] == "replicating", entry
        assert abs(entry["latest_time"] - (time.time() - 42.5)) < 2, entry
        status, answer = EM.control("PUT", "/automated-backups-replication", {"lag_seconds": -1})
        assert status == 400, (status, answer)
        status, answer = EM.control("PUT", "/automated-backups-replication", {"lag": 10})
        assert status == 400, (status, answer)
    finally:
        state = EM.ok("DELETE", "/automated-backups-replication")
    assert state["lag_seconds"] == DEFAULT_LAG and state["pending_seconds"] == 0, state


@check
def pending_then_replicating() -> None:
    arn = source("slow-start-db")["DBInstanceArn"]
    EM.set_automated_backups_replication(pending_seconds=1)
    try:
        backup = start(arn)
    finally:
        EM.set_automated_backups_replication(pending_seconds=0)
    assert backup["Status"] == "pending" and "RestoreWindow" not in backup, backup
    time.sleep(1.2)
    backup = replicated(DST, DBInstanceIdentifier="slow-start-db")[0]
    assert backup["Status"] == "replicating" and "RestoreWindow" in backup, backup


@check
def stop_retains_the_backup() -> None:
    arn = source("stopping-db")["DBInstanceArn"]
    backup_arn = start(arn)["DBInstanceAutomatedBackupsArn"]
    stopped = EM.rds(DST).stop_db_instance_automated_backups_replication(SourceDBInstanceArn=arn)["DBInstanceAutomatedBackup"]
    assert stopped["Status"] == "retained" and stopped["DBInstanceAutomatedBackupsArn"] == backup_arn, stopped
    latest = stopped["RestoreWindow"]["LatestTime"]
    time.sleep(1.1)
    again = replicated(DST, DBInstanceAutomatedBackupsArn=backup_arn)[0]
    assert again["Status"] == "retained" and again["RestoreWindow"]["LatestTime"] == latest, (latest, again)
    retained = replicated(DST, Filters=[{"Name": "status", "Values": ["retained"]}])
    assert backup_arn in [b["DBInstanceAutomatedBackupsArn"] for b in retained], retained
    db = EM.rds(SRC).describe_db_instances(DBInstanceIdentifier="stopping-db")["DBInstances"][0]
    assert "DBInstanceAutomatedBackupsReplications" not in db, db
    message = expect_error(
        "InvalidDBInstanceState", 400, EM.rds(DST).stop_db_instance_automated_backups_replication, SourceDBInstanceArn=arn
    )
    assert "not replicating to the current region" in message, message
    expect_error(
        "DBInstanceNotFound", 404, EM.rds(DST).stop_db_instance_automated_backups_replication,
        SourceDBInstanceArn=f"arn:aws:rds:{SRC}:{ACCOUNT}:db:no-such-db",
    )
    # Starting again resumes the same replicated backup.
    resumed = start(arn)
    assert resumed["DBInstanceAutomatedBackupsArn"] == backup_arn and resumed["Status"] == "replicating", resumed
    assert len(replicated(DST, DBInstanceIdentifier="stopping-db")) == 1


@check
def deleting_the_source_retains_its_replicated_backups() -> None:
    arn = source("doomed-db")["DBInstanceArn"]
    backup_arn = start(arn)["DBInstanceAutomatedBackupsArn"]
    EM.rds(SRC).delete_db_instance(DBInstanceIdentifier="doomed-db", SkipFinalSnapshot=True)
    found = replicated(DST, DBInstanceAutomatedBackupsArn=backup_arn)
    assert [b["Status"] for b in found] == ["retained"], found
    expect_error(
        "DBInstanceNotFound", 404, EM.rds(DST).stop_db_instance_automated_backups_replication, SourceDBInstanceArn=arn
    )


# --------------------------------------------------------------------------------------------
# Describe: errors, filters, pages; the quota
# --------------------------------------------------------------------------------------------
@check
def describe_refuses_what_matches_nothing() -> None:
    rds = EM.rds(DST)
    expect_error("DBInstanceAutomatedBackupNotFound", 404, rds.describe_db_instance_automated_backups, DBInstanceIdentifier="no-such-db")
    expect_error(
        "DBInstanceAutomatedBackupNotFound", 404, rds.describe_db_instance_automated_backups,
        DBInstanceAutomatedBackupsArn=f"arn:aws:rds:{DST}:{ACCOUNT}:auto-backup:ab-NOSUCHBACKUP",
    )
    assert rds.describe_db_instance_automated_backups(Filters=[{"Name": "db-instance-id", "Values": ["no-such-db"]}])[
        "DBInstanceAutomatedBackups"
    ] == []
    expect_error("InvalidParameterValue", 400, rds.describe_db_instance_automated_backups, Filters=[{"Name": "colour", "Values": ["x"]}])
    expect_error("InvalidParameterValue", 400, rds.describe_db_instance_automated_backups, MaxRecords=10)


@check
def quota_of_twenty_replications_per_region_and_pages() -> None:
    region = "ap-southeast-2"
    arns = [source(f"quota-db-{i:02d}")["DBInstanceArn"] for i in range(21)]
    for arn in arns[:20]:
        start(arn, region=region)
    expect_error("DBInstanceAutomatedBackupQuotaExceeded", 400, start, arns[20], region=region)
    rds = EM.rds(region)
    page = rds.describe_db_instance_automated_backups(MaxRecords=20)
    assert len(page["DBInstanceAutomatedBackups"]) == 20 and "Marker" not in page, page.get("Marker")
    # A stop frees a place (retained backups do not count); 21 backups make two pages.
    rds.stop_db_instance_automated_backups_replication(SourceDBInstanceArn=arns[0])
    start(arns[20], region=region)
    first = rds.describe_db_instance_automated_backups(MaxRecords=20)
    assert len(first["DBInstanceAutomatedBackups"]) == 20 and first.get("Marker"), first.get("Marker")
    second = rds.describe_db_instance_automated_backups(MaxRecords=20, Marker=first["Marker"])
    assert [b["DBInstanceIdentifier"] for b in second["DBInstanceAutomatedBackups"]] == ["quota-db-20"], second
    assert "Marker" not in second, second


# --------------------------------------------------------------------------------------------
# IAM (iam_enforcement.py)
# --------------------------------------------------------------------------------------------
TEMPLATE = f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  BackupsRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{Service: lambda.amazonaws.com}}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: backups
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Sid: Replicate
                Effect: Allow
                Action:
                  - rds:StartDBInstanceAutomatedBackupsReplication
                  - rds:StopDBInstanceAutomatedBackupsReplication
                Resource:
                  - arn:aws:rds:{SRC}:{ACCOUNT}:db:iam-src
                  - arn:aws:rds:{DST}:{ACCOUNT}:auto-backup:*
              - Sid: Describe
                Effect: Allow
                Action: rds:DescribeDBInstanceAutomatedBackups
                Resource: arn:aws:rds:{DST}:{ACCOUNT}:auto-backup:*
  BackupsFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: backups
      Role: !GetAtt BackupsRole.Arn
"""


@check
def iam_authorises_the_resources_of_the_service_authorization_reference() -> None:
    allowed_src = source("iam-src")
    other_src = source("iam-other")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "template.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(TEMPLATE)
        creds = EM.ok("POST", "/iam/roles", {"region": DST, "template": path, "parameters": {}})["functions"]["backups"]
    rds = boto3.client(
        "rds",
        region_name=DST,
        endpoint_url=EM.url,
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds["session_token"],
        config=Config(retries={"total_max_attempts": 1}),
    )
    backup_arn = f"arn:aws:rds:{DST}:{ACCOUNT}:auto-backup:ab-{allowed_src['DbiResourceId'][3:]}"
    EM.clear_requests()
    rds.start_db_instance_automated_backups_replication(SourceDBInstanceArn=allowed_src["DBInstanceArn"])
    entry = [r for r in EM.requests() if r.get("principal") == "backups"][-1]
    assert [(c["action"], c["resource"], c["allowed"]) for c in entry["iam"]] == [
        ("rds:StartDBInstanceAutomatedBackupsReplication", allowed_src["DBInstanceArn"], True),
        ("rds:StartDBInstanceAutomatedBackupsReplication", backup_arn, True),
    ], entry
    # Another source instance (db*), tags without rds:AddTagsToResource (the dependent action): denied.
    message = expect_error("AccessDenied", 403, rds.start_db_instance_automated_backups_replication, SourceDBInstanceArn=other_src["DBInstanceArn"])
    assert f"rds:StartDBInstanceAutomatedBackupsReplication on resource: {other_src['DBInstanceArn']}" in message, message
    rds.stop_db_instance_automated_backups_replication(SourceDBInstanceArn=allowed_src["DBInstanceArn"])
    message = expect_error(
        "AccessDenied", 403, rds.start_db_instance_automated_backups_replication,
        SourceDBInstanceArn=allowed_src["DBInstanceArn"], Tags=[{"Key": "team", "Value": "dr"}],
    )
    assert f"rds:AddTagsToResource on resource: {backup_arn}" in message, message
    assert replicated(DST, DBInstanceAutomatedBackupsArn=backup_arn)[0]["Status"] == "retained", "a denied start changed something"
    # Describe: auto-backup:* without identifier, the db ARN of DBInstanceIdentifier (not allowed here).
    rds.describe_db_instance_automated_backups()
    rds.describe_db_instance_automated_backups(DBInstanceAutomatedBackupsArn=backup_arn)
    message = expect_error("AccessDenied", 403, rds.describe_db_instance_automated_backups, DBInstanceIdentifier="iam-src")
    assert f"arn:aws:rds:{DST}:{ACCOUNT}:db:iam-src" in message, message
    # Stop acts on db* only.
    rds.start_db_instance_automated_backups_replication(SourceDBInstanceArn=allowed_src["DBInstanceArn"])
    EM.clear_requests()
    rds.stop_db_instance_automated_backups_replication(SourceDBInstanceArn=allowed_src["DBInstanceArn"])
    entry = [r for r in EM.requests() if r.get("principal") == "backups"][-1]
    assert [(c["action"], c["resource"]) for c in entry["iam"]] == [
        ("rds:StopDBInstanceAutomatedBackupsReplication", allowed_src["DBInstanceArn"])
    ], entry


def main() -> int:
    global EM
    with Emulator(max_attempts=1) as EM:
        return run_checks(CHECKS, after_failure=lambda: EM.ok("DELETE", "/automated-backups-replication"))


if __name__ == "__main__":
    sys.exit(main())
