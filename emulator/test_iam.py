#!/usr/bin/env python3
"""Checks of the emulator's IAM enforcement (``iam_enforcement.py``) through boto3: the roles of
``infra/sam/template.yaml`` registered for a deployment, then calls signed with each function's
credentials allowed or denied as AWS would decide, and a denied call changes nothing.

Usage: python emulator/test_iam.py [-k SUBSTRING]

Prints one line per check and, last, ``N passed, M failed``; exits non-zero if any check failed.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
from harness import Emulator, run_checks  # noqa: E402 - emulator/harness.py, next to this file

SRC, DST = "us-east-1", "us-west-2"
ACCOUNT = "123456789012"
CHECKS: list[tuple[str, Callable[[], None]]] = []
EM: Emulator


def check(fn: Callable[[], None]) -> Callable[[], None]:
    CHECKS.append((fn.__name__, fn))
    return fn


def denied(code: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error'].get('Message')}"
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"expected {code}, the call succeeded")


CONFIG = {
    "databases": [
        {
            "name": "orders",
            "primary": {"region": SRC, "instance_id": "orders-primary"},
            "replica": {"region": DST, "instance_id": "orders-replica"},
            "records": [{"hosted_zone_id": "ZONE", "name": "db.orders.example.internal", "type": "CNAME", "ttl": 60}],
            "alarms": [{"name": "orders-primary-unhealthy", "region": SRC}],
            "health_check_id": "hc-1",
            "rpo_budget_seconds": 60,
        }
    ],
    "notifications": {"topic_arn": f"arn:aws:sns:{DST}:{ACCOUNT}:orders-notifications"},
    "functions": {"failover": "orders-failover"},
}


def role_client(function: str, service: str, region: str, config: dict[str, Any] | None = None) -> Any:
    answer = EM.ok("POST", "/iam/roles", {"region": DST, "config": config or CONFIG})
    creds = answer["functions"][function]
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=EM.url,
        aws_access_key_id=creds["access_key_id"],
        aws_secret_access_key=creds["secret_access_key"],
        aws_session_token=creds["session_token"],
        config=Config(retries={"total_max_attempts": 1}),
    )


def setup_once() -> dict[str, Any]:
    rds_src, rds_dst = EM.rds(SRC), EM.rds(DST)
    primary = EM.create_db_instance(SRC, "orders-primary")
    EM.create_db_instance(SRC, "someone-elses-db")
    rds_dst.create_db_instance_read_replica(DBInstanceIdentifier="orders-replica", SourceDBInstanceIdentifier=primary["DBInstanceArn"])
    r53 = EM.client("route53", SRC)
    zone = r53.create_hosted_zone(Name="orders.example.internal", CallerReference="z")["HostedZone"]["Id"].split("/")[-1]
    EM.client("sns", DST).create_topic(Name="orders-notifications")
    EM.client("sns", DST).create_topic(Name="another-topic")
    config = {**CONFIG, "databases": [{**CONFIG["databases"][0], "records": [{**CONFIG["databases"][0]["records"][0], "hosted_zone_id": zone}]}]}
    return {"zone": zone, "config": config}


STATE: dict[str, Any] = {}


@check
def roles_come_from_the_sam_template_with_the_configuration_as_parameters() -> None:
    answer = EM.ok("POST", "/iam/roles", {"region": DST, "config": CONFIG})
    assert sorted(answer["functions"]) == ["failover", "retention", "router", "snapshot-copy"], answer
    failover = answer["functions"]["failover"]
    assert failover["access_key_id"].startswith("ASIA")
    sids = [s["Sid"] for p in failover["policies"] for s in p["Statement"]]
    assert "ReadPromoteFenceAndReplicateConfiguredReplicas" in sids and "ReadConfiguredAlarms" in sids, sids
    promote = next(s for p in failover["policies"] for s in p["Statement"] if s["Sid"] == "ReadPromoteFenceAndReplicateConfiguredReplicas")
    assert promote["Resource"] == [f"arn:aws:rds:{DST}:{ACCOUNT}:db:orders-replica"] and "rds:PromoteReadReplica" in promote["Action"], promote
    # without alarms in the configuration, the conditional statement is absent (Fn::If / AWS::NoValue)
    bare = {**CONFIG, "databases": [{**CONFIG["databases"][0], "alarms": []}]}
    answer = EM.ok("POST", "/iam/roles", {"region": DST, "config": bare})
    sids = [s["Sid"] for p in answer["functions"]["failover"]["policies"] for s in p["Statement"]]
    assert "ReadConfiguredAlarms" not in sids, sids
    status, error = EM.control("POST", "/iam/roles", {"config": CONFIG})
    assert status == 400 and "region" in error["error"], error


@check
def failover_reads_the_configured_instances_and_nothing_else() -> None:
    rds = role_client("failover", "rds", SRC, STATE["config"])
    got = rds.describe_db_instances(DBInstanceIdentifier="orders-primary")["DBInstances"]
    assert got[0]["DBInstanceIdentifier"] == "orders-primary"
    message = denied("AccessDenied", rds.describe_db_instances, DBInstanceIdentifier="someone-elses-db")
    assert "rds:DescribeDBInstances" in message and "someone-elses-db" in message, message
    denied("AccessDenied", rds.describe_db_instances)  # the whole region: db:*
    log = [r for r in EM.requests() if r.get("principal") == "failover"]
    assert log and log[-1]["iam"][0]["allowed"] is False and log[-1]["status"] == 403, log[-1]


@check
def failover_may_not_promote_an_instance_outside_the_configuration() -> None:
    rds = role_client("failover", "rds", SRC, STATE["config"])
    EM.rds(SRC).create_db_instance_read_replica(DBInstanceIdentifier="stray-replica", SourceDBInstanceIdentifier="orders-primary")
    denied("AccessDenied", rds.promote_read_replica, DBInstanceIdentifier="stray-replica")
    got = EM.rds(SRC).describe_db_instances(DBInstanceIdentifier="stray-replica")["DBInstances"][0]
    assert got.get("ReadReplicaSourceDBInstanceIdentifier"), "a denied promote changed nothing"


@check
def failover_tags_only_with_pilotlight_keys() -> None:
    rds = role_client("failover", "rds", DST, STATE["config"])
    arn = f"arn:aws:rds:{DST}:{ACCOUNT}:db:orders-replica"
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "pilotlight:alarm-at", "Value": "x"}])
    denied("AccessDenied", rds.add_tags_to_resource, ResourceName=arn, Tags=[{"Key": "owner", "Value": "x"}])


@check
def failover_changes_only_the_configured_cname_record() -> None:
    r53 = role_client("failover", "route53", SRC, STATE["config"])

    def change(name: str, kind: str = "CNAME") -> Any:
        return r53.change_resource_record_sets(
            HostedZoneId=STATE["zone"],
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": kind, "TTL": 60, "ResourceRecords": [{"Value": "x.example" if kind == "CNAME" else "10.0.0.1"}]}}]},
        )

    assert change("db.orders.example.internal.")["ChangeInfo"]["Status"] in ("PENDING", "INSYNC")
    denied("AccessDenied", change, "www.orders.example.internal")
    denied("AccessDenied", change, "db.orders.example.internal", "A")
    names = [r["Name"] for r in EM.client("route53", SRC).list_resource_record_sets(HostedZoneId=STATE["zone"])["ResourceRecordSets"]]
    assert "www.orders.example.internal." not in names, names


def failback_config() -> dict[str, Any]:
    """STATE's configuration plus a database ``ledger`` whose replica was promoted (a failover):
    the DR writer ``ledger-replica`` in DST, the old primary ``ledger-primary`` in SRC."""
    if "failback" not in STATE:
        primary = EM.create_db_instance(SRC, "ledger-primary")
        EM.rds(DST).create_db_instance_read_replica(DBInstanceIdentifier="ledger-replica", SourceDBInstanceIdentifier=primary["DBInstanceArn"])
        EM.rds(DST).promote_read_replica(DBInstanceIdentifier="ledger-replica")
        EM.create_db_instance(DST, "stray-writer")
        ledger = {
            "name": "ledger",
            "primary": {"region": SRC, "instance_id": "ledger-primary"},
            "replica": {"region": DST, "instance_id": "ledger-replica"},
            "records": [],
            "rpo_budget_seconds": 60,
        }
        STATE["failback"] = {**STATE["config"], "databases": [*STATE["config"]["databases"], ledger]}
    return STATE["failback"]


def last_checks(principal: str) -> list[tuple[str, str, bool]]:
    entry = [r for r in EM.requests() if r.get("principal") == principal][-1]
    return [(c["action"], c["resource"], c["allowed"]) for c in entry["iam"]]


FAILBACK_TAGS = [{"Key": "pilotlight:failback", "Value": "op-1"}, {"Key": "pilotlight:managed-by", "Value": "pilotlight"}]


@check
def failback_creates_only_tagged_fb_replicas_from_the_configured_replica() -> None:
    config = failback_config()
    rds = role_client("failover", "rds", SRC, config)
    writer = f"arn:aws:rds:{DST}:{ACCOUNT}:db:ledger-replica"
    arn = lambda kind, name: f"arn:aws:rds:{SRC}:{ACCOUNT}:{kind}:{name}"  # noqa: E731
    new = "ledger-primary-fb-202601010000"
    made = rds.create_db_instance_read_replica(DBInstanceIdentifier=new, SourceDBInstanceIdentifier=writer, PubliclyAccessible=False, Tags=FAILBACK_TAGS)["DBInstance"]
    assert made["DBInstanceArn"] == arn("db", new), made
    checks = last_checks("failover")
    # The new instance, the source (in its own region), the groups it gets (a cross-region
    # replica: the engine's defaults; no subnet group named: "default"), then the tags on create.
    assert [(a, r) for a, r, _ in checks[:2]] == [("rds:CreateDBInstanceReadReplica", arn("db", new)), ("rds:CreateDBInstanceReadReplica", writer)], checks
    kinds = [r.split(":")[5] for _, r, _ in checks[2:5]]
    assert kinds == ["og", "pg", "subgrp"] and checks[2][1].startswith(arn("og", "default:postgres-")) and checks[3][1].startswith(arn("pg", "default.postgres")), checks
    assert checks[4][1] == arn("subgrp", "default") and checks[5] == ("rds:AddTagsToResource", arn("db", new), True), checks
    assert all(ok for _, _, ok in checks), checks
    # Named groups are authorised as named.
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier=f"{new}-2", SourceDBInstanceIdentifier=writer, OptionGroupName=checks[2][1].split(":", 6)[6],
        DBParameterGroupName=checks[3][1].split(":", 6)[6], Tags=FAILBACK_TAGS,
    )
    assert [r for _, r, _ in last_checks("failover")[2:4]] == [checks[2][1], checks[3][1]]
    # The new instance is db:*-fb-* (a long primary id is cut and hashed, only the -fb-<stamp>
    # suffix is certain): another database's name, or a cut and hashed one, is allowed too.
    for fb in ("orders-primary-fb-202612051200", "a-very-long-primary-identifier-cut-3f2a9c-fb-202612051200"):
        rds.create_db_instance_read_replica(DBInstanceIdentifier=fb, SourceDBInstanceIdentifier=writer, Tags=FAILBACK_TAGS)
        assert last_checks("failover")[0] == ("rds:CreateDBInstanceReadReplica", arn("db", fb), True)
    # An identifier without -fb-: refused on the new instance, whatever the tags.
    for other in ("ledger-copy", "ledger-primary-fb", "ledger-primary-fb202601010000", "ledger-primary-202601010000"):
        message = denied("AccessDenied", rds.create_db_instance_read_replica, DBInstanceIdentifier=other, SourceDBInstanceIdentifier=writer, Tags=FAILBACK_TAGS)
        assert f"rds:CreateDBInstanceReadReplica on resource: {arn('db', other)}" in message, message
    # Without the failback's tags (the statement's request tag conditions: both, pilotlight:managed-by
    # = pilotlight), or with other tag keys.
    denied("AccessDenied", rds.create_db_instance_read_replica, DBInstanceIdentifier=f"{new}-3", SourceDBInstanceIdentifier=writer)
    for tags in (FAILBACK_TAGS[:1], FAILBACK_TAGS[1:], [FAILBACK_TAGS[0], {"Key": "pilotlight:managed-by", "Value": "someone"}]):
        message = denied("AccessDenied", rds.create_db_instance_read_replica, DBInstanceIdentifier=f"{new}-3", SourceDBInstanceIdentifier=writer, Tags=tags)
        assert f"rds:CreateDBInstanceReadReplica on resource: {arn('db', f'{new}-3')}" in message, message
    denied("AccessDenied", rds.create_db_instance_read_replica, DBInstanceIdentifier=f"{new}-4", SourceDBInstanceIdentifier=writer, Tags=[*FAILBACK_TAGS, {"Key": "owner", "Value": "x"}])
    assert last_checks("failover")[-1] == ("rds:AddTagsToResource", arn("db", f"{new}-4"), False)
    # A source that is not a configured replica.
    stray = f"arn:aws:rds:{DST}:{ACCOUNT}:db:stray-writer"
    message = denied("AccessDenied", rds.create_db_instance_read_replica, DBInstanceIdentifier=f"{new}-5", SourceDBInstanceIdentifier=stray, Tags=FAILBACK_TAGS)
    assert f"on resource: {stray}" in message, message
    ids = [d["DBInstanceIdentifier"] for d in EM.rds(SRC).describe_db_instances()["DBInstances"]]
    assert new in ids and f"{new}-2" in ids and "orders-primary-fb-202612051200" in ids, ids
    refused = ("ledger-copy", "ledger-primary-fb", "ledger-primary-fb202601010000", "ledger-primary-202601010000", f"{new}-3", f"{new}-4", f"{new}-5")
    assert not [i for i in ids if i in refused], ids


@check
def failback_reads_and_promotes_only_its_own_new_instance_and_fences_the_dr_writer() -> None:
    config = failback_config()
    rds = role_client("failover", "rds", SRC, config)
    writer = f"arn:aws:rds:{DST}:{ACCOUNT}:db:ledger-replica"
    new = "ledger-primary-fb-202601020000"
    rds.create_db_instance_read_replica(DBInstanceIdentifier=new, SourceDBInstanceIdentifier=writer, Tags=FAILBACK_TAGS)
    assert rds.describe_db_instances(DBInstanceIdentifier=new)["DBInstances"][0]["DBInstanceIdentifier"] == new
    # Not made yet: DBInstanceNotFound, not AccessDenied (no tag condition on the describe).
    try:
        rds.describe_db_instances(DBInstanceIdentifier="ledger-primary-fb-209901010000")
        raise AssertionError("found an instance never made")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "DBInstanceNotFound", e.response["Error"]
    # An instance of the right name without the pilotlight:failback tag (rds:db-tag condition).
    EM.rds(SRC).create_db_instance_read_replica(DBInstanceIdentifier="ledger-primary-fb-untagged", SourceDBInstanceIdentifier=writer)
    message = denied("AccessDenied", rds.promote_read_replica, DBInstanceIdentifier="ledger-primary-fb-untagged")
    assert "rds:PromoteReadReplica" in message, message
    # Tagged pilotlight:failback but not named *-fb-*: refused too (name AND tag).
    EM.rds(SRC).create_db_instance_read_replica(DBInstanceIdentifier="ledger-tagged-copy", SourceDBInstanceIdentifier=writer, Tags=FAILBACK_TAGS)
    denied("AccessDenied", rds.promote_read_replica, DBInstanceIdentifier="ledger-tagged-copy")
    rds.promote_read_replica(DBInstanceIdentifier=new)
    assert last_checks("failover") == [("rds:PromoteReadReplica", f"arn:aws:rds:{SRC}:{ACCOUNT}:db:{new}", True)]
    # The fence of the DR writer: its security groups, a reboot, its fence tags.
    dr = role_client("failover", "rds", DST, config)
    dr.modify_db_instance(DBInstanceIdentifier="ledger-replica", VpcSecurityGroupIds=["sg-fence"], ApplyImmediately=True)
    dr.reboot_db_instance(DBInstanceIdentifier="ledger-replica")
    dr.add_tags_to_resource(ResourceName=writer, Tags=[{"Key": "pilotlight:groups-before-fence", "Value": "sg-1"}, {"Key": "pilotlight:fenced-at", "Value": "t"}])
    denied("AccessDenied", dr.modify_db_instance, DBInstanceIdentifier="stray-writer", VpcSecurityGroupIds=["sg-fence"], ApplyImmediately=True)
    denied("AccessDenied", dr.reboot_db_instance, DBInstanceIdentifier="stray-writer")
    # The old primary: tagged as replaced (pilotlight:* keys), never stopped by the failback's statements.
    rds.add_tags_to_resource(ResourceName=f"arn:aws:rds:{SRC}:{ACCOUNT}:db:ledger-primary", Tags=[{"Key": "pilotlight:replaced-by", "Value": new}])
    denied("AccessDenied", dr.stop_db_instance, DBInstanceIdentifier="ledger-replica")


@check
def notifications_go_only_to_the_deployment_topic() -> None:
    sns = role_client("failover", "sns", DST, STATE["config"])
    sns.publish(TopicArn=f"arn:aws:sns:{DST}:{ACCOUNT}:orders-notifications", Message="ok")
    denied("AuthorizationError", sns.publish, TopicArn=f"arn:aws:sns:{DST}:{ACCOUNT}:another-topic", Message="no")


@check
def snapshot_copy_creates_only_tagged_pilotlight_snapshots_and_needs_the_tagging_permission() -> None:
    rds = role_client("snapshot-copy", "rds", SRC, STATE["config"])
    tags = [{"Key": "pilotlight:managed-by", "Value": "pilotlight"}]
    rds.create_db_snapshot(DBInstanceIdentifier="orders-primary", DBSnapshotIdentifier="pilotlight-orders-1", Tags=tags)
    denied("AccessDenied", rds.create_db_snapshot, DBInstanceIdentifier="orders-primary", DBSnapshotIdentifier="pilotlight-orders-2")
    denied("AccessDenied", rds.create_db_snapshot, DBInstanceIdentifier="orders-primary", DBSnapshotIdentifier="other-name", Tags=tags)
    entry = [r for r in EM.requests() if r.get("principal") == "snapshot-copy" and r["action"] == "CreateDBSnapshot"][0]
    assert [c["action"] for c in entry["iam"]] == ["rds:CreateDBSnapshot", "rds:CreateDBSnapshot", "rds:AddTagsToResource"], entry
    ids = [s["DBSnapshotIdentifier"] for s in EM.rds(SRC).describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]]
    assert "pilotlight-orders-1" in ids and "pilotlight-orders-2" not in ids and "other-name" not in ids, ids


@check
def snapshot_copy_reads_the_snapshot_quotas_on_resource_star_and_retention_may_not() -> None:
    # rds:DescribeAccountAttributes has no resource type (Service Authorization Reference): it acts
    # on "*", which only snapshot-copy's ReadSnapshotQuotas statement allows.
    rds = role_client("snapshot-copy", "rds", DST, STATE["config"])
    names = [q["AccountQuotaName"] for q in rds.describe_account_attributes()["AccountQuotas"]]
    assert names == ["ManualSnapshots", "ManualClusterSnapshots"], names
    entry = [r for r in EM.requests() if r.get("principal") == "snapshot-copy" and r["action"] == "DescribeAccountAttributes"][-1]
    assert [(c["action"], c["resource"], c["allowed"]) for c in entry["iam"]] == [("rds:DescribeAccountAttributes", "*", True)], entry
    message = denied("AccessDenied", role_client("retention", "rds", DST, STATE["config"]).describe_account_attributes)
    assert "rds:DescribeAccountAttributes" in message, message


@check
def retention_deletes_only_snapshots_tagged_as_pilotlights() -> None:
    rds = role_client("retention", "rds", SRC, STATE["config"])
    admin = EM.rds(SRC)
    admin.create_db_snapshot(DBInstanceIdentifier="orders-primary", DBSnapshotIdentifier="pilotlight-untagged")
    admin.create_db_snapshot(DBInstanceIdentifier="orders-primary", DBSnapshotIdentifier="pilotlight-tagged", Tags=[{"Key": "pilotlight:managed-by", "Value": "pilotlight"}])
    message = denied("AccessDenied", rds.delete_db_snapshot, DBSnapshotIdentifier="pilotlight-untagged")
    assert "explicit deny" in message, message
    rds.delete_db_snapshot(DBSnapshotIdentifier="pilotlight-tagged")
    ids = [s["DBSnapshotIdentifier"] for s in admin.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]]
    assert "pilotlight-untagged" in ids and "pilotlight-tagged" not in ids, ids
    # discovery: retention lists instances and clusters (the issue this enforcement found)
    rds.describe_db_instances()
    rds.describe_db_clusters()


@check
def router_invokes_only_the_deployment_workers() -> None:
    lam = role_client("router", "lambda", DST, STATE["config"])
    denied("AccessDeniedException", lam.invoke, FunctionName="someone-elses-function", Payload=b"{}")
    entry = [r for r in EM.requests() if r.get("principal") == "router"][-1]
    assert entry["iam"][0]["action"] == "lambda:InvokeFunction", entry
    assert entry["iam"][0]["resource"] == f"arn:aws:lambda:{DST}:{ACCOUNT}:function:someone-elses-function", entry


@check
def composite_alarms_need_describe_alarms_on_every_alarm() -> None:
    # The AWS SDK for Rust sends DescribeAlarms with the query protocol (boto3 uses CBOR, which the
    # emulator does not parse for IAM): the request is built here as the Rust SDK sends it.
    import iam_enforcement as ie
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    body = "Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1=orders-primary-unhealthy&AlarmTypes.member.1=MetricAlarm&AlarmTypes.member.2=CompositeAlarm"
    request = Request(EnvironBuilder(method="POST", path="/", data=body, content_type="application/x-www-form-urlencoded").get_environ())
    auths = ie.authorisations("monitoring", SRC, "DescribeAlarms", request, body.encode())
    assert [a.resource for a in auths] == [f"arn:aws:cloudwatch:{SRC}:{ACCOUNT}:alarm:orders-primary-unhealthy", "*"], [a.resource for a in auths]
    scoped = [{"Statement": [{"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": auths[0].resource}]}]
    assert ie.decide(scoped, auths[0])[0] and not ie.decide(scoped, auths[1])[0]
    creds = EM.ok("POST", "/iam/roles", {"region": DST, "config": STATE["config"]})["functions"]["failover"]
    assert all(ie.decide(creds["policies"], a)[0] for a in auths), "the failover role reads composite alarms"


@check
def unknown_condition_keys_fail_closed_and_key_names_ignore_case() -> None:
    import iam_enforcement as ie

    auth = ie.Authorisation("rds:DescribeDBInstances", "*", {"aws:TagKeys": ["pilotlight:x"]})
    allow_unknown = [{"Statement": [{"Effect": "Allow", "Action": "rds:*", "Resource": "*", "Condition": {"StringEquals": {"aws:NoSuchKey": "x"}}}]}]
    assert ie.decide(allow_unknown, auth)[0] is False
    deny_unknown = [{"Statement": [{"Effect": "Allow", "Action": "rds:*", "Resource": "*"}, {"Effect": "Deny", "Action": "rds:*", "Resource": "*", "Condition": {"StringEquals": {"aws:NoSuchKey": "x"}}}]}]
    assert ie.decide(deny_unknown, auth)[0] is False
    case = [{"Statement": [{"Effect": "Allow", "Action": "RDS:describedbinstances", "Resource": "*", "Condition": {"ForAllValues:StringLike": {"AWS:tagkeys": "pilotlight:*"}}}]}]
    assert ie.decide(case, auth)[0] is True


@check
def other_credentials_are_not_restricted() -> None:
    EM.rds(SRC).describe_db_instances(DBInstanceIdentifier="someone-elses-db")
    entry = EM.requests()[-1]
    assert "principal" not in entry, entry


def main() -> int:
    global EM
    EM = Emulator("--promotion-seconds", "0")
    try:
        STATE.update(setup_once())
        return run_checks(CHECKS)
    finally:
        EM.stop()


if __name__ == "__main__":
    sys.exit(main())
