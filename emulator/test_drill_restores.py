#!/usr/bin/env python3
"""Checks of the emulator's ``RestoreDBInstanceFromDBSnapshot`` for pilotlight's DR drill
(``restore_patches.py``: a restore that takes time, its control API, strict input, the new
instance's settings and tags, ``DeleteDBInstance`` of an instance still ``creating``) and of its IAM
authorisation (``iam_enforcement.py``: the resources a restore acts on, ``DeleteDBInstance`` under a
``rds:db-tag/pilotlight:drill`` condition) through boto3, against a launcher process this script
starts on port 0 (through ``harness.py``) and stops at the end.

Usage: python emulator/test_drill_restores.py [-k SUBSTRING]

Prints one line per check and, last, ``N passed, M failed``; exits non-zero if any check failed.
Regions: us-east-1 holds the primaries and their snapshots, us-west-2 (the DR region) their copies
and the drill instances. Credentials are dummies.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
from harness import Emulator, run_checks  # noqa: E402 - emulator/harness.py, next to this file

SRC, DST = "us-east-1", "us-west-2"
ACCOUNT = "123456789012"
DEFAULT_SECONDS = 2.0

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


def dr_copy(name: str, **params: Any) -> dict[str, Any]:
    """A primary ``<name>-primary`` in SRC, a snapshot of it and its copy ``<name>-copy`` in DST."""
    EM.create_db_instance(SRC, f"{name}-primary", **params)
    snap = EM.rds(SRC).create_db_snapshot(DBInstanceIdentifier=f"{name}-primary", DBSnapshotIdentifier=f"{name}-snap")["DBSnapshot"]
    return EM.rds(DST).copy_db_snapshot(
        SourceDBSnapshotIdentifier=snap["DBSnapshotArn"], TargetDBSnapshotIdentifier=f"{name}-copy", SourceRegion=SRC
    )["DBSnapshot"]


def restore(ident: str, snapshot: str, client: Any = None, **params: Any) -> dict[str, Any]:
    rds = client or EM.rds(DST)
    return rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier=ident, DBSnapshotIdentifier=snapshot, **params)["DBInstance"]


def describe(ident: str) -> dict[str, Any]:
    return EM.rds(DST).describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]


def wait_available(ident: str, limit: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        db = describe(ident)
        if db["DBInstanceStatus"] == "available":
            return db
        assert db["DBInstanceStatus"] == "creating", db["DBInstanceStatus"]
        assert time.monotonic() < deadline, f"{ident} still {db['DBInstanceStatus']} after {limit}s"
        time.sleep(0.05)


def network(name: str) -> dict[str, str]:
    """A VPC in DST with two subnets, a DB subnet group ``<name>-subnets`` and a security group."""
    ec2 = EM.client("ec2", DST)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{DST}b")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.2.0/24", AvailabilityZone=f"{DST}c")["Subnet"]["SubnetId"]
    EM.rds(DST).create_db_subnet_group(DBSubnetGroupName=f"{name}-subnets", DBSubnetGroupDescription="drill", SubnetIds=[a, b])
    sg = ec2.create_security_group(GroupName=f"{name}-sg", Description="drill", VpcId=vpc)["GroupId"]
    default = [g["GroupId"] for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["SecurityGroups"] if g["GroupName"] == "default"]
    return {"vpc": vpc, "subnet_group": f"{name}-subnets", "sg": sg, "default_sg": default[0]}


def reset() -> None:
    EM.ok("PUT", "/restores", {"seconds": DEFAULT_SECONDS, "hold": False})
    EM.ok("POST", "/restores/release", {})
    EM.ok("PUT", "/snapshot-copies", {"hold": False})
    EM.ok("POST", "/snapshot-copies/release", {})


# --------------------------------------------------------------------------------------------
# A restore takes time
# --------------------------------------------------------------------------------------------
@check
def restore_answers_creating_without_endpoint_then_is_available_after_the_restore_time() -> None:
    copy = dr_copy("timed")
    state = EM.ok("GET", "/restores")
    assert state == {"seconds": DEFAULT_SECONDS, "hold": False, "restores": []}, state
    EM.ok("PUT", "/restores", {"seconds": 1})
    started = time.monotonic()
    db = restore("pilotlight-drill-timed", copy["DBSnapshotArn"])
    assert db["DBInstanceStatus"] == "creating" and "Endpoint" not in db, db
    assert db["DBInstanceArn"] == f"arn:aws:rds:{DST}:{ACCOUNT}:db:pilotlight-drill-timed", db
    seen = describe("pilotlight-drill-timed")
    assert seen["DBInstanceStatus"] == "creating" and "Endpoint" not in seen, seen
    flight = EM.ok("GET", "/restores")["restores"]
    assert [(r["region"], r["id"], r["status"], r["snapshot"]) for r in flight] == [(DST, "pilotlight-drill-timed", "creating", "timed-copy")], flight
    assert abs(flight[0]["available_at"] - flight[0]["started_at"] - 1) < 0.01, flight
    done = wait_available("pilotlight-drill-timed")
    assert time.monotonic() - started >= 0.9, "available before the restore time"
    assert done["Endpoint"]["Address"].startswith("pilotlight-drill-timed.") and done["Endpoint"]["Port"] == 5432, done
    assert EM.ok("GET", "/restores")["restores"] == []
    # Restores started before a change keep their time; the default is 2 s.
    EM.ok("PUT", "/restores", {"seconds": DEFAULT_SECONDS})
    restore("pilotlight-drill-timed-2", "timed-copy")
    time.sleep(1.2)
    assert describe("pilotlight-drill-timed-2")["DBInstanceStatus"] == "creating"
    wait_available("pilotlight-drill-timed-2")


@check
def held_restores_stay_creating_until_released() -> None:
    dr_copy("held")
    answer = EM.ok("PUT", "/restores", {"seconds": 0, "hold": True})
    assert answer["hold"] is True and answer["seconds"] == 0, answer
    restore("pilotlight-drill-held-a", "held-copy")
    restore("pilotlight-drill-held-b", "held-copy")
    time.sleep(0.3)
    for ident in ("pilotlight-drill-held-a", "pilotlight-drill-held-b"):
        assert describe(ident)["DBInstanceStatus"] == "creating", ident
    flight = EM.ok("GET", "/restores")["restores"]
    assert sorted(r["id"] for r in flight) == ["pilotlight-drill-held-a", "pilotlight-drill-held-b"], flight
    assert all(r["available_at"] is None for r in flight), flight
    # A status held through the control API masks the restore's, as it masks a promotion's.
    EM.hold_instance_status(DST, "pilotlight-drill-held-b", "backing-up")
    assert describe("pilotlight-drill-held-b")["DBInstanceStatus"] == "backing-up"
    EM.release_instance_status(DST, "pilotlight-drill-held-b")
    assert describe("pilotlight-drill-held-b")["DBInstanceStatus"] == "creating"
    released = EM.ok("POST", "/restores/release", {"region": DST, "id": "pilotlight-drill-held-a"})["released"]
    assert released == [{"region": DST, "id": "pilotlight-drill-held-a"}], released
    assert describe("pilotlight-drill-held-a")["DBInstanceStatus"] == "available"
    assert describe("pilotlight-drill-held-b")["DBInstanceStatus"] == "creating"
    assert EM.ok("POST", "/restores/release", {"region": SRC})["released"] == []
    assert EM.ok("POST", "/restores/release", {})["released"] == [{"region": DST, "id": "pilotlight-drill-held-b"}]
    assert describe("pilotlight-drill-held-b")["DBInstanceStatus"] == "available"
    EM.ok("PUT", "/restores", {"hold": False})
    restore("pilotlight-drill-held-c", "held-copy")
    wait_available("pilotlight-drill-held-c", limit=2)  # seconds 0: available at the next request


@check
def control_api_refuses_what_it_does_not_understand() -> None:
    for body in ({}, {"seconds": -1}, {"seconds": "2"}, {"seconds": True}, {"hold": "yes"}, {"seconds": 1, "other": 1}):
        status, answer = EM.control("PUT", "/restores", body)
        assert status == 400 and "error" in answer, (body, status, answer)
    status, answer = EM.control("POST", "/restores/release", {"region": 1})
    assert status == 400, answer
    assert EM.ok("GET", "/restores")["seconds"] == DEFAULT_SECONDS


# --------------------------------------------------------------------------------------------
# The new instance
# --------------------------------------------------------------------------------------------
@check
def request_settings_and_tags_are_on_the_new_instance() -> None:
    dr_copy("settings", Tags=[{"Key": "team", "Value": "orders"}], DeletionProtection=True, MultiAZ=True)
    net = network("settings")
    tags = [{"Key": "pilotlight:drill", "Value": "2025-10-15T03:00:00Z"}, {"Key": "pilotlight:managed-by", "Value": "pilotlight"}]
    db = restore(
        "pilotlight-drill-settings", "settings-copy", DBInstanceClass="db.t3.small", DBSubnetGroupName=net["subnet_group"],
        VpcSecurityGroupIds=[net["sg"]], PubliclyAccessible=False, Tags=tags,
    )
    for seen in (db, wait_available("pilotlight-drill-settings")):
        assert seen["DBInstanceClass"] == "db.t3.small", seen
        assert seen["PubliclyAccessible"] is False, seen
        assert seen["DBSubnetGroup"]["DBSubnetGroupName"] == net["subnet_group"] and seen["DBSubnetGroup"]["VpcId"] == net["vpc"], seen
        assert [g["VpcSecurityGroupId"] for g in seen["VpcSecurityGroups"]] == [net["sg"]], seen
        assert seen["TagList"] == tags, seen["TagList"]
        # AWS's defaults, not the source's: no deletion protection, Single-AZ, an AZ of the subnet group.
        assert seen["DeletionProtection"] is False and seen["MultiAZ"] is False, seen
        assert seen["AvailabilityZone"] == f"{DST}b", seen
        assert "ReadReplicaSourceDBInstanceIdentifier" not in seen and seen["ReadReplicaDBInstanceIdentifiers"] == [], seen
        assert seen["Engine"] == "postgres" and seen["AllocatedStorage"] == 20, seen
    listed = EM.rds(DST).list_tags_for_resource(ResourceName=db["DBInstanceArn"])["TagList"]
    assert listed == tags, listed
    # No security group given: the default VPC security group of the subnet group's VPC.
    other = restore("pilotlight-drill-settings-2", "settings-copy", DBSubnetGroupName=net["subnet_group"], PubliclyAccessible=True)
    assert [g["VpcSecurityGroupId"] for g in other["VpcSecurityGroups"]] == [net["default_sg"]], other
    assert other["PubliclyAccessible"] is True and other["DBInstanceClass"] == "db.t3.micro", other
    assert other["DBParameterGroups"][0]["DBParameterGroupName"].startswith("default.postgres"), other
    # Neither: the default security group of the default VPC, no subnet group, an AZ of the region.
    bare = restore("pilotlight-drill-settings-3", "settings-copy")
    ec2 = EM.client("ec2", DST)
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}, {"Name": "group-name", "Values": ["default"]}])
    assert [g["VpcSecurityGroupId"] for g in bare["VpcSecurityGroups"]] == [groups["SecurityGroups"][0]["GroupId"]], bare
    assert bare["AvailabilityZone"].startswith(DST) and "DBSubnetGroup" not in bare, bare


@check
def the_snapshot_must_exist_in_the_region_and_be_available() -> None:
    copy = dr_copy("strict")
    message = expect_error("DBSnapshotNotFound", 404, restore, "pilotlight-drill-x1", "no-such-snapshot")
    assert "no-such-snapshot" in message, message
    # A snapshot is restored where it is: the source region's ARN is not found in the DR region.
    source_arn = f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:strict-snap"
    expect_error("DBSnapshotNotFound", 404, restore, "pilotlight-drill-x2", source_arn)
    # A copy still copying is refused, and nothing is made.
    EM.ok("PUT", "/snapshot-copies", {"hold": True})
    snap = EM.rds(SRC).describe_db_snapshots(DBSnapshotIdentifier="strict-snap")["DBSnapshots"][0]
    held = EM.rds(DST).copy_db_snapshot(SourceDBSnapshotIdentifier=snap["DBSnapshotArn"], TargetDBSnapshotIdentifier="strict-copying", SourceRegion=SRC)["DBSnapshot"]
    assert held["Status"] == "copying", held
    message = expect_error("InvalidDBSnapshotState", 400, restore, "pilotlight-drill-x3", "strict-copying")
    assert "strict-copying" in message and "available" in message, message
    expect_error("DBInstanceNotFound", 404, describe, "pilotlight-drill-x3")
    EM.ok("POST", "/snapshot-copies/release", {"region": DST, "id": "strict-copying"})
    assert restore("pilotlight-drill-x3", "strict-copying")["DBInstanceStatus"] == "creating"
    # An identifier in use.
    expect_error("DBInstanceAlreadyExists", 400, restore, "pilotlight-drill-x3", copy["DBSnapshotIdentifier"])
    # Groups that do not exist (moto's checks).
    expect_error("DBSubnetGroupNotFoundFault", 404, restore, "pilotlight-drill-x4", "strict-copy", DBSubnetGroupName="nope")
    expect_error("DBParameterGroupNotFound", 404, restore, "pilotlight-drill-x5", "strict-copy", DBParameterGroupName="nope")


@check
def an_instance_still_creating_is_deleted_only_without_a_final_snapshot() -> None:
    dr_copy("early")
    EM.ok("PUT", "/restores", {"hold": True})
    restore("pilotlight-drill-early", "early-copy")
    rds = EM.rds(DST)
    message = expect_error(
        "InvalidDBInstanceState", 400, rds.delete_db_instance,
        DBInstanceIdentifier="pilotlight-drill-early", FinalDBSnapshotIdentifier="pilotlight-drill-early-final",
    )
    assert message == "Instance pilotlight-drill-early is currently creating - a final snapshot cannot be taken.", message
    assert describe("pilotlight-drill-early")["DBInstanceStatus"] == "creating"
    gone = rds.delete_db_instance(DBInstanceIdentifier="pilotlight-drill-early", SkipFinalSnapshot=True, DeleteAutomatedBackups=True)["DBInstance"]
    assert gone["DBInstanceStatus"] == "deleting", gone
    expect_error("DBInstanceNotFound", 404, describe, "pilotlight-drill-early")
    assert EM.ok("GET", "/restores")["restores"] == []
    ids = [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots()["DBSnapshots"]]
    assert not [i for i in ids if "pilotlight-drill-early" in i], ids
    # Available, the drill's delete goes through as well.
    EM.ok("PUT", "/restores", {"hold": False, "seconds": 0})
    restore("pilotlight-drill-early-2", "early-copy")
    wait_available("pilotlight-drill-early-2", limit=2)
    rds.delete_db_instance(DBInstanceIdentifier="pilotlight-drill-early-2", SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    expect_error("DBInstanceNotFound", 404, describe, "pilotlight-drill-early-2")


# --------------------------------------------------------------------------------------------
# IAM (iam_enforcement.py)
# --------------------------------------------------------------------------------------------
def _function(name: str, statements: str) -> str:
    logical = "".join(part.capitalize() for part in name.split("-"))
    return f"""
  {logical}Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {{Service: lambda.amazonaws.com}}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: {name}
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
{statements}
  {logical}Function:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: {name}
      Role: !GetAtt {logical}Role.Arn
"""


RESTORE_STATEMENTS = f"""              - Sid: RestoreFromPilotlightCopies
                Effect: Allow
                Action: rds:RestoreDBInstanceFromDBSnapshot
                Resource: arn:aws:rds:{DST}:{ACCOUNT}:snapshot:*
                Condition:
                  StringEquals:
                    rds:snapshot-tag/pilotlight:managed-by: pilotlight
              - Sid: RestoreDrillInstances
                Effect: Allow
                Action: rds:RestoreDBInstanceFromDBSnapshot
                Resource:
                  - arn:aws:rds:{DST}:{ACCOUNT}:db:pilotlight-drill-*
                  - arn:aws:rds:{DST}:{ACCOUNT}:og:default:*
                  - arn:aws:rds:{DST}:{ACCOUNT}:pg:default.*
                  - arn:aws:rds:{DST}:{ACCOUNT}:subgrp:iam-subnets
"""

TEMPLATE = (
    """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:"""
    + _function(
        "drill",
        RESTORE_STATEMENTS + f"""              - Sid: TagDrillInstancesOnCreate
                Effect: Allow
                Action: rds:AddTagsToResource
                Resource: arn:aws:rds:{DST}:{ACCOUNT}:db:pilotlight-drill-*
                Condition:
                  ForAllValues:StringLike:
                    aws:TagKeys: ["pilotlight:*"]
              - Sid: DeleteDrillInstances
                Effect: Allow
                Action: rds:DeleteDBInstance
                Resource: arn:aws:rds:{DST}:{ACCOUNT}:db:*
                Condition:
                  StringLike:
                    rds:db-tag/pilotlight:drill: "*\"""",
    )
    + _function(
        "drill-null",
        RESTORE_STATEMENTS + f"""              - Sid: DeleteDrillInstances
                Effect: Allow
                Action: rds:DeleteDBInstance
                Resource: arn:aws:rds:{DST}:{ACCOUNT}:db:*
                Condition:
                  "Null":
                    rds:db-tag/pilotlight:drill: "false\"""",
    )
)


def role_clients() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "template.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(TEMPLATE)
        functions = EM.ok("POST", "/iam/roles", {"region": DST, "template": path, "parameters": {}})["functions"]
    return {
        name: boto3.client(
            "rds",
            region_name=DST,
            endpoint_url=EM.url,
            aws_access_key_id=creds["access_key_id"],
            aws_secret_access_key=creds["secret_access_key"],
            aws_session_token=creds["session_token"],
            config=Config(retries={"total_max_attempts": 1}),
        )
        for name, creds in functions.items()
    }


def last_checks(principal: str) -> list[tuple[str, str, bool]]:
    entry = [r for r in EM.requests() if r.get("principal") == principal][-1]
    return [(c["action"], c["resource"], c["allowed"]) for c in entry["iam"]]


@check
def iam_restore_acts_on_the_instance_snapshot_and_groups_of_the_reference() -> None:
    EM.ok("PUT", "/restores", {"seconds": 0})
    copy = dr_copy("iam")
    EM.rds(DST).add_tags_to_resource(ResourceName=copy["DBSnapshotArn"], Tags=[{"Key": "pilotlight:managed-by", "Value": "pilotlight"}])
    net = network("iam")
    rds = role_clients()["drill"]
    tags = [{"Key": "pilotlight:drill", "Value": "x"}]
    arn = lambda kind, name: f"arn:aws:rds:{DST}:{ACCOUNT}:{kind}:{name}"  # noqa: E731
    EM.clear_requests()
    db = restore("pilotlight-drill-iam", copy["DBSnapshotArn"], client=rds, DBSubnetGroupName=net["subnet_group"], Tags=tags)
    option_group = db["OptionGroupMemberships"][0]["OptionGroupName"]
    parameter_group = db["DBParameterGroups"][0]["DBParameterGroupName"]
    assert last_checks("drill") == [
        ("rds:RestoreDBInstanceFromDBSnapshot", arn("db", "pilotlight-drill-iam"), True),
        ("rds:RestoreDBInstanceFromDBSnapshot", copy["DBSnapshotArn"], True),
        ("rds:RestoreDBInstanceFromDBSnapshot", arn("og", option_group), True),
        ("rds:RestoreDBInstanceFromDBSnapshot", arn("pg", parameter_group), True),
        ("rds:RestoreDBInstanceFromDBSnapshot", arn("subgrp", net["subnet_group"]), True),
        ("rds:AddTagsToResource", arn("db", "pilotlight-drill-iam"), True),
    ], last_checks("drill")
    assert option_group.startswith("default:postgres-") and parameter_group.startswith("default.postgres"), (option_group, parameter_group)
    # Another identifier (db*): denied, nothing made.
    message = expect_error("AccessDenied", 403, restore, "orders-restored", "iam-copy", client=rds, DBSubnetGroupName=net["subnet_group"], Tags=tags)
    assert f"rds:RestoreDBInstanceFromDBSnapshot on resource: {arn('db', 'orders-restored')}" in message, message
    expect_error("DBInstanceNotFound", 404, describe, "orders-restored")
    # No subnet group named: the instance would use "default" (subgrp*), which the role does not grant.
    message = expect_error("AccessDenied", 403, restore, "pilotlight-drill-iam-2", "iam-copy", client=rds, Tags=tags)
    assert f"on resource: {arn('subgrp', 'default')}" in message, message
    # A parameter group the role does not grant (pg*).
    EM.rds(DST).create_db_parameter_group(DBParameterGroupName="custom-pg", DBParameterGroupFamily="postgres9.3", Description="x")
    message = expect_error(
        "AccessDenied", 403, restore, "pilotlight-drill-iam-3", "iam-copy", client=rds,
        DBSubnetGroupName=net["subnet_group"], DBParameterGroupName="custom-pg", Tags=tags,
    )
    assert f"on resource: {arn('pg', 'custom-pg')}" in message, message
    # Tags outside the AddTagsToResource condition (the dependent action): denied.
    message = expect_error(
        "AccessDenied", 403, restore, "pilotlight-drill-iam-4", "iam-copy", client=rds,
        DBSubnetGroupName=net["subnet_group"], Tags=[{"Key": "owner", "Value": "x"}],
    )
    assert f"rds:AddTagsToResource on resource: {arn('db', 'pilotlight-drill-iam-4')}" in message, message
    # A snapshot without the tag the role asks for (rds:snapshot-tag/*): denied on the snapshot.
    untagged = EM.rds(DST).copy_db_snapshot(
        SourceDBSnapshotIdentifier=f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:iam-snap", TargetDBSnapshotIdentifier="iam-untagged-copy", SourceRegion=SRC
    )["DBSnapshot"]
    message = expect_error(
        "AccessDenied", 403, restore, "pilotlight-drill-iam-5", "iam-untagged-copy", client=rds, DBSubnetGroupName=net["subnet_group"], Tags=tags,
    )
    assert f"rds:RestoreDBInstanceFromDBSnapshot on resource: {untagged['DBSnapshotArn']}" in message, message
    for ident in ("pilotlight-drill-iam-2", "pilotlight-drill-iam-3", "pilotlight-drill-iam-4", "pilotlight-drill-iam-5"):
        expect_error("DBInstanceNotFound", 404, describe, ident)


@check
def iam_delete_needs_the_drill_tag_on_the_instance() -> None:
    EM.ok("PUT", "/restores", {"seconds": 0})
    dr_copy("del")
    clients = role_clients()
    admin = EM.rds(DST)
    restore("pilotlight-drill-untagged", "del-copy")
    restore("pilotlight-drill-tagged", "del-copy", Tags=[{"Key": "pilotlight:drill", "Value": "2025-10-15"}])
    restore("pilotlight-drill-null", "del-copy", Tags=[{"Key": "pilotlight:drill", "Value": ""}])
    for ident in ("pilotlight-drill-untagged", "pilotlight-drill-tagged", "pilotlight-drill-null"):
        wait_available(ident, limit=2)
    for name in ("drill", "drill-null"):  # StringLike "*" / Null false
        rds = clients[name]
        message = expect_error(
            "AccessDenied", 403, rds.delete_db_instance,
            DBInstanceIdentifier="pilotlight-drill-untagged", SkipFinalSnapshot=True, DeleteAutomatedBackups=True,
        )
        assert f"rds:DeleteDBInstance on resource: arn:aws:rds:{DST}:{ACCOUNT}:db:pilotlight-drill-untagged" in message, (name, message)
        assert describe("pilotlight-drill-untagged")["DBInstanceStatus"] == "available", "a denied delete changed something"
    clients["drill"].delete_db_instance(DBInstanceIdentifier="pilotlight-drill-tagged", SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    assert last_checks("drill") == [("rds:DeleteDBInstance", f"arn:aws:rds:{DST}:{ACCOUNT}:db:pilotlight-drill-tagged", True)]
    # Null false holds for a tag with an empty value too (the key is present).
    clients["drill-null"].delete_db_instance(DBInstanceIdentifier="pilotlight-drill-null", SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    for ident in ("pilotlight-drill-tagged", "pilotlight-drill-null"):
        expect_error("DBInstanceNotFound", 404, describe, ident)
    admin.delete_db_instance(DBInstanceIdentifier="pilotlight-drill-untagged", SkipFinalSnapshot=True)


def main() -> int:
    global EM
    with Emulator(max_attempts=1) as EM:

        def fresh(fn: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                reset()  # every check starts with the default restore time, nothing held
                fn()

            return run

        return run_checks([(name, fresh(fn)) for name, fn in CHECKS], after_failure=reset)


if __name__ == "__main__":
    sys.exit(main())
