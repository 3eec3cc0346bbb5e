#!/usr/bin/env python3
"""Checks of the emulator's Aurora global databases (``global_cluster_patches.py``:
``FailoverGlobalCluster``, ``SwitchoverGlobalCluster``, one store of global clusters for every region)
through boto3, against a launcher process this script starts on port 0 (through ``harness.py``) and
stops at the end.

Usage: python emulator/test_global_clusters.py [-k SUBSTRING]

Prints one line per check and, last, ``N passed, M failed``; exits non-zero if any check failed.
Regions: us-east-1 holds the primary cluster, us-west-2 the secondary. Credentials are dummies.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any, Callable

from botocore.exceptions import ClientError

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
from harness import Emulator, run_checks  # noqa: E402 - emulator/harness.py, next to this file

SRC, DST, THIRD = "us-east-1", "us-west-2", "eu-west-1"
ACCOUNT = "123456789012"
VERSION = "8.0.mysql_aurora.3.08.0"
PREFIX = "rds:unplanned-global-failover-"

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


def make_cluster(region: str, ident: str, instances: int = 1, **params: Any) -> dict[str, Any]:
    rds = EM.rds(region)
    if "GlobalClusterIdentifier" not in params:
        params.update(MasterUsername="pilotlight", MasterUserPassword="not-a-secret-1")
    cluster = rds.create_db_cluster(DBClusterIdentifier=ident, Engine="aurora-mysql", EngineVersion=VERSION, **params)["DBCluster"]
    for i in range(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{ident}-{i + 1}", DBClusterIdentifier=ident, Engine="aurora-mysql", DBInstanceClass="db.r6g.large"
        )
    return cluster


def make_global(name: str) -> tuple[str, str, str]:
    """A primary cluster in SRC, a global cluster made from it, a secondary in DST: (id, primary
    ARN, secondary ARN)."""
    primary = make_cluster(SRC, f"{name}-primary")
    EM.rds(SRC).create_global_cluster(GlobalClusterIdentifier=name, SourceDBClusterIdentifier=primary["DBClusterArn"])
    secondary = make_cluster(DST, f"{name}-secondary", GlobalClusterIdentifier=name)
    return name, primary["DBClusterArn"], secondary["DBClusterArn"]


def describe(region: str, ident: str) -> dict[str, Any]:
    return EM.rds(region).describe_global_clusters(GlobalClusterIdentifier=ident)["GlobalClusters"][0]


def roles(gc: dict[str, Any]) -> dict[str, bool]:
    return {m["DBClusterArn"]: m["IsWriter"] for m in gc["GlobalClusterMembers"]}


def wait_available(ident: str, limit: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        gc = describe(DST, ident)
        if gc["Status"] == "available":
            return gc
        assert time.monotonic() < deadline, f"{ident} still {gc['Status']} after {limit}s"
        time.sleep(0.05)


def unplanned_snapshots(region: str, cluster_id: str) -> list[dict[str, Any]]:
    snapshots = EM.rds(region).describe_db_cluster_snapshots(DBClusterIdentifier=cluster_id)["DBClusterSnapshots"]
    return [s for s in snapshots if s["DBClusterSnapshotIdentifier"].startswith(PREFIX)]


# --------------------------------------------------------------------------------------------
# One store of global clusters
# --------------------------------------------------------------------------------------------
@check
def global_cluster_answers_the_same_from_every_region() -> None:
    ident, primary, secondary = make_global("same")
    seen = [describe(region, ident) for region in (SRC, DST, THIRD)]
    assert seen[0] == seen[1] == seen[2], seen
    gc = seen[0]
    assert gc["GlobalClusterArn"] == f"arn:aws:rds::{ACCOUNT}:global-cluster:{ident}", gc
    assert gc["Status"] == "available" and "FailoverState" not in gc, gc
    assert roles(gc) == {primary: True, secondary: False}, gc
    writer = next(m for m in gc["GlobalClusterMembers"] if m["IsWriter"])
    assert writer["Readers"] == [secondary], writer
    assert all(m["SynchronizationStatus"] == "connected" for m in gc["GlobalClusterMembers"]), gc
    for region, cluster in ((SRC, "same-primary"), (DST, "same-secondary")):
        found = EM.rds(region).describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
        assert found["GlobalClusterIdentifier"] == ident, found
    expect_error("GlobalClusterNotFoundFault", 404, EM.rds(DST).describe_global_clusters, GlobalClusterIdentifier="no-such-global")
    listed = {g["GlobalClusterIdentifier"] for g in EM.rds(DST).describe_global_clusters()["GlobalClusters"]}
    assert ident in listed, listed


@check
def global_cluster_from_a_source_in_another_region() -> None:
    source = make_cluster(DST, "west-source")
    gc = EM.rds(DST).create_global_cluster(GlobalClusterIdentifier="west", SourceDBClusterIdentifier=source["DBClusterArn"])["GlobalCluster"]
    assert roles(gc) == {source["DBClusterArn"]: True}, gc
    assert describe(SRC, "west") == describe(DST, "west")
    expect_error(
        "GlobalClusterAlreadyExistsFault", 400, EM.rds(SRC).create_global_cluster,
        GlobalClusterIdentifier="west", Engine="aurora-mysql",
    )


@check
def remove_from_global_cluster_in_the_secondarys_region() -> None:
    ident, primary, secondary = make_global("detach")
    EM.rds(DST).remove_from_global_cluster(GlobalClusterIdentifier=ident, DbClusterIdentifier=secondary)
    assert roles(describe(SRC, ident)) == {primary: True}
    found = EM.rds(DST).describe_db_clusters(DBClusterIdentifier="detach-secondary")["DBClusters"][0]
    assert "GlobalClusterIdentifier" not in found, found
    expect_error(
        "InvalidDBClusterStateFault", 400, EM.rds(DST).remove_from_global_cluster,
        GlobalClusterIdentifier=ident, DbClusterIdentifier=secondary,
    )
    expect_error(
        "GlobalClusterNotFoundFault", 404, EM.rds(DST).remove_from_global_cluster,
        GlobalClusterIdentifier="no-such-global", DbClusterIdentifier=secondary,
    )


# --------------------------------------------------------------------------------------------
# Switchover and failover
# --------------------------------------------------------------------------------------------
@check
def default_time_is_the_promotion_time() -> None:
    assert EM.global_failovers() == {"seconds": 2.0, "hold": False, "operations": []}
    with Emulator("--promotion-seconds", "0.5") as other:
        assert other.global_failovers()["seconds"] == 0.5


@check
def switchover_swaps_roles_after_the_set_time_and_not_before() -> None:
    seconds = 1.2
    EM.set_global_failovers(seconds=seconds)
    ident, primary, secondary = make_global("planned")
    # AWS's CLI example makes the switchover in the primary's region, with the target's ARN.
    answer = EM.rds(SRC).switchover_global_cluster(GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary)["GlobalCluster"]
    assert answer["Status"] == "switching-over", answer
    state = {"Status": "switching-over", "FromDbClusterArn": primary, "ToDbClusterArn": secondary, "IsDataLossAllowed": False}
    assert answer["FailoverState"] == state, answer
    assert roles(answer) == {primary: True, secondary: False}, answer
    flight = EM.global_failovers()["operations"]
    assert [(o["id"], o["kind"], o["from"], o["to"]) for o in flight] == [(ident, "switchover", primary, secondary)], flight
    started = flight[0]["started_at"]
    assert abs(flight[0]["available_at"] - started - seconds) < 1e-6, flight
    seen = []
    while True:
        t0 = time.time()
        gc = describe(DST if len(seen) % 2 else SRC, ident)  # both regions, in turn
        t1 = time.time()
        # The server answered at some moment between t0 and t1, and completes it at its time.
        if gc["Status"] == "available":
            assert t1 >= started + seconds, ("available too early", t1 - started)
            assert "FailoverState" not in gc and roles(gc) == {primary: False, secondary: True}, gc
            break
        assert t0 < started + seconds, ("still in progress after the set time", t0 - started)
        assert gc["Status"] == "switching-over" and gc["FailoverState"] == state, gc
        assert roles(gc) == {primary: True, secondary: False}, gc
        seen.append(gc["Status"])
        time.sleep(0.05)
    assert seen, "never saw the switchover in progress"
    assert EM.global_failovers()["operations"] == []
    writer = next(m for m in gc["GlobalClusterMembers"] if m["IsWriter"])
    assert writer["Readers"] == [primary], writer
    old = next(m for m in gc["GlobalClusterMembers"] if not m["IsWriter"])
    assert old["GlobalWriteForwardingStatus"] == "disabled", old
    assert unplanned_snapshots(SRC, "planned-primary") == [], "a switchover loses no data: no snapshot"
    # Back again, the target named by identifier in the caller's region (FailoverGlobalCluster
    # without AllowDataLoss is a switchover).
    EM.set_global_failovers(seconds=0)
    answer = EM.rds(SRC).failover_global_cluster(GlobalClusterIdentifier=ident, TargetDbClusterIdentifier="planned-primary")["GlobalCluster"]
    assert answer["FailoverState"]["Status"] == "switching-over" and answer["FailoverState"]["IsDataLossAllowed"] is False, answer
    assert roles(wait_available(ident)) == {primary: True, secondary: False}
    assert unplanned_snapshots(SRC, "planned-primary") == []


@check
def failover_with_data_loss_from_the_secondarys_region_leaves_the_unplanned_snapshot() -> None:
    EM.set_global_failovers(hold=True)
    ident, primary, secondary = make_global("unplanned")
    # AWS's CLI example makes the failover in the target's region: the primary's may be down.
    EM.add_outage(SRC, "refused", service="rds")
    try:
        answer = EM.rds(DST).failover_global_cluster(
            GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary, AllowDataLoss=True
        )["GlobalCluster"]
        state = {"Status": "failing-over", "FromDbClusterArn": primary, "ToDbClusterArn": secondary, "IsDataLossAllowed": True}
        assert answer["Status"] == "failing-over" and answer["FailoverState"] == state, answer
        time.sleep(0.3)  # held: time does not complete it
        gc = describe(DST, ident)
        assert gc["Status"] == "failing-over" and gc["FailoverState"] == state and roles(gc)[primary] is True, gc
        assert EM.release_global_failovers("someone-elses") == []
        assert EM.release_global_failovers(ident) == [{"id": ident}]
        gc = describe(DST, ident)
        assert gc["Status"] == "available" and "FailoverState" not in gc, gc
        # The old primary rejoined as a secondary.
        assert roles(gc) == {primary: False, secondary: True}, gc
    finally:
        EM.clear_outages()
        EM.set_global_failovers(seconds=2, hold=False)
    snapshots = unplanned_snapshots(SRC, "unplanned-primary")
    assert len(snapshots) == 1, snapshots
    snap = snapshots[0]
    assert re.fullmatch(rf"{re.escape(PREFIX)}unplanned-primary-\d{{4}}-\d\d-\d\d-\d\d-\d\d", snap["DBClusterSnapshotIdentifier"]), snap
    assert snap["SnapshotType"] == "automated" and snap["Status"] == "available", snap
    assert snap["DBClusterSnapshotArn"] == f"arn:aws:rds:{SRC}:{ACCOUNT}:cluster-snapshot:{snap['DBClusterSnapshotIdentifier']}", snap
    assert unplanned_snapshots(DST, "unplanned-secondary") == []
    for region, cluster in ((SRC, "unplanned-primary"), (DST, "unplanned-secondary")):
        found = EM.rds(region).describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]
        assert found["GlobalClusterIdentifier"] == ident and found["Status"] == "available", found


@check
def allow_data_loss_with_switchover_is_refused() -> None:
    ident, primary, secondary = make_global("both")
    for switchover in (True, False):
        msg = expect_error(
            "InvalidParameterCombination", 400, EM.rds(DST).failover_global_cluster,
            GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary, AllowDataLoss=True, Switchover=switchover,
        )
        assert "AllowDataLoss" in msg and "Switchover" in msg, msg
    gc = describe(DST, ident)
    assert gc["Status"] == "available" and roles(gc) == {primary: True, secondary: False}, gc
    assert EM.global_failovers()["operations"] == []


@check
def unknown_global_cluster_is_404() -> None:
    _, _, secondary = make_global("known")
    expect_error("GlobalClusterNotFoundFault", 404, EM.rds(DST).switchover_global_cluster,
                 GlobalClusterIdentifier="no-such-global", TargetDbClusterIdentifier=secondary)
    expect_error("GlobalClusterNotFoundFault", 404, EM.rds(DST).failover_global_cluster,
                 GlobalClusterIdentifier="no-such-global", TargetDbClusterIdentifier=secondary, AllowDataLoss=True)


@check
def target_must_be_a_member_other_than_the_writer_with_an_instance() -> None:
    ident, primary, secondary = make_global("member")
    stranger = make_cluster(DST, "stranger")["DBClusterArn"]
    headless = make_cluster(THIRD, "member-headless", instances=0, GlobalClusterIdentifier=ident)["DBClusterArn"]
    cases = [
        (stranger, "InvalidDBClusterStateFault", 400, "is not a member of global cluster member"),
        (primary, "InvalidDBClusterStateFault", 400, "is already the primary (writer) cluster"),
        (headless, "InvalidDBClusterStateFault", 400, "has no DB instances"),
        (f"arn:aws:rds:{DST}:{ACCOUNT}:cluster:no-such-cluster", "DBClusterNotFoundFault", 404, "no-such-cluster"),
        ("member-secondary", "DBClusterNotFoundFault", 404, "member-secondary"),  # an identifier: the caller's region
    ]
    for target, code, status, words in cases:
        for call, extra in ((EM.rds(SRC).switchover_global_cluster, {}), (EM.rds(SRC).failover_global_cluster, {"AllowDataLoss": True})):
            msg = expect_error(code, status, call, GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=target, **extra)
            assert words in msg, (target, msg)
    gc = describe(SRC, ident)
    assert gc["Status"] == "available" and roles(gc) == {primary: True, secondary: False, headless: False}, gc


@check
def differing_engine_versions_refuse_switchover_and_failover() -> None:
    ident, primary, secondary = make_global("versions")
    # A minor upgrade of a global database upgrades the secondaries first: until the primary
    # follows, the versions differ.
    EM.rds(DST).modify_db_cluster(DBClusterIdentifier="versions-secondary", EngineVersion="8.0.mysql_aurora.3.09.0", ApplyImmediately=True)
    for call, extra in ((EM.rds(SRC).switchover_global_cluster, {}), (EM.rds(DST).failover_global_cluster, {"AllowDataLoss": True})):
        msg = expect_error("InvalidParameterValue", 400, call, GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary, **extra)
        assert "must use the same engine version as the current primary cluster" in msg, msg
    assert describe(DST, ident)["Status"] == "available"
    assert EM.global_failovers()["operations"] == []


@check
def switchover_needs_every_member_available_failover_only_the_target() -> None:
    ident, primary, secondary = make_global("health")
    EM.set_global_failovers(seconds=0)
    try:
        assert EM.set_cluster_status(SRC, "health-primary", "modifying") == {"region": SRC, "id": "health-primary", "status": "modifying", "held": True}
        msg = expect_error("InvalidDBClusterStateFault", 400, EM.rds(SRC).switchover_global_cluster,
                           GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary)
        assert primary in msg and "not in available state (modifying)" in msg, msg
        EM.set_cluster_status(DST, "health-secondary", "modifying")
        expect_error("InvalidDBClusterStateFault", 400, EM.rds(DST).failover_global_cluster,
                     GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary, AllowDataLoss=True)
        assert EM.set_cluster_status(DST, "health-secondary", None)["status"] == "available"
        # A failover is for an impaired primary: only the target must be available.
        EM.rds(DST).failover_global_cluster(GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary, AllowDataLoss=True)
        assert roles(wait_available(ident)) == {primary: False, secondary: True}
    finally:
        EM.set_global_failovers(seconds=2)
        EM.ok("DELETE", f"/clusters/{SRC}/health-primary/status")
    bad = [({}, "status"), ({"status": "available"}, "status"), ({"status": "Bad Status"}, "status")]
    for body, word in bad:
        status, answer = EM.control("PUT", f"/clusters/{SRC}/health-primary/status", body)
        assert status == 400 and word in answer["error"], (body, status, answer)
    assert EM.control("GET", f"/clusters/{SRC}/no-such-cluster/status")[0] == 404


@check
def second_call_while_in_progress_is_refused() -> None:
    EM.set_global_failovers(hold=True)
    try:
        ident, primary, secondary = make_global("busy")
        EM.rds(SRC).switchover_global_cluster(GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary)
        calls = [
            (EM.rds(SRC).switchover_global_cluster, {}),
            (EM.rds(DST).failover_global_cluster, {"AllowDataLoss": True}),
            (EM.rds(DST).failover_global_cluster, {}),
        ]
        for call, extra in calls:
            msg = expect_error("InvalidGlobalClusterStateFault", 400, call, GlobalClusterIdentifier=ident, TargetDbClusterIdentifier=secondary, **extra)
            assert "switching-over" in msg, msg
        expect_error("InvalidGlobalClusterStateFault", 400, EM.rds(DST).remove_from_global_cluster,
                     GlobalClusterIdentifier=ident, DbClusterIdentifier=secondary)
        assert len(EM.global_failovers()["operations"]) == 1
        assert EM.release_global_failovers() == [{"id": ident}]
        assert roles(describe(SRC, ident)) == {primary: False, secondary: True}
    finally:
        EM.set_global_failovers(seconds=2, hold=False)
        EM.release_global_failovers()


@check
def global_failover_control_validates() -> None:
    bad = [({}, "seconds"), ({"seconds": -1}, "seconds"), ({"seconds": "1"}, "seconds"), ({"hold": "yes"}, "hold")]
    for body, word in bad:
        status, answer = EM.control("PUT", "/global-failovers", body)
        assert status == 400 and word in answer["error"], (body, status, answer)
    status, answer = EM.control("POST", "/global-failovers/release", {"id": 3})
    assert status == 400 and "id" in answer["error"], answer
    assert EM.global_failovers() == {"seconds": 2.0, "hold": False, "operations": []}


# --------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------
@check
def iam_authorises_global_cluster_actions_on_their_arns() -> None:
    import iam_enforcement as ie
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    def auths(action: str, region: str, **params: str) -> list[Any]:
        body = "&".join([f"Action={action}", "Version=2014-10-31", *(f"{k}={v}" for k, v in params.items())])
        request = Request(EnvironBuilder(method="POST", path="/", data=body, content_type="application/x-www-form-urlencoded").get_environ())
        return ie.authorisations("rds", region, action, request, body.encode())

    glob = f"arn:aws:rds::{ACCOUNT}:global-cluster:orders-global"
    target = f"arn:aws:rds:{DST}:{ACCOUNT}:cluster:orders-west"
    for action in ("FailoverGlobalCluster", "SwitchoverGlobalCluster"):
        got = auths(action, DST, GlobalClusterIdentifier="orders-global", TargetDbClusterIdentifier=target, AllowDataLoss="true")
        assert [(a.action, a.resource) for a in got] == [(f"rds:{action}", target), (f"rds:{action}", glob)], [(a.action, a.resource) for a in got]
        scoped = [{"Statement": [{"Effect": "Allow", "Action": f"rds:{action}", "Resource": [glob, target]}]}]
        assert all(ie.decide(scoped, a)[0] for a in got)
        only_global = [{"Statement": [{"Effect": "Allow", "Action": f"rds:{action}", "Resource": glob}]}]
        assert not ie.decide(only_global, got[0])[0], "the cluster is a required resource too"
    # An identifier is a cluster of the request's region.
    got = auths("SwitchoverGlobalCluster", SRC, GlobalClusterIdentifier="orders-global", TargetDbClusterIdentifier="orders-east")
    assert got[0].resource == f"arn:aws:rds:{SRC}:{ACCOUNT}:cluster:orders-east", got[0].resource
    got = auths("RemoveFromGlobalCluster", DST, GlobalClusterIdentifier="orders-global", DbClusterIdentifier=target)
    assert [a.resource for a in got] == [target, glob], [a.resource for a in got]
    assert [a.resource for a in auths("DescribeGlobalClusters", DST, GlobalClusterIdentifier="orders-global")] == [glob]
    assert [a.resource for a in auths("DescribeGlobalClusters", DST)] == [f"arn:aws:rds::{ACCOUNT}:global-cluster:*"]
    assert [a.resource for a in auths("ModifyDBCluster", SRC, DBClusterIdentifier="orders-east")] == [f"arn:aws:rds:{SRC}:{ACCOUNT}:cluster:orders-east"]


# --------------------------------------------------------------------------------------------
def main() -> int:
    global EM
    EM = Emulator()

    def undo() -> None:  # a failed check must not leave its conditions behind for the next ones
        EM.clear_outages()
        EM.set_global_failovers(seconds=2, hold=False)
        EM.release_global_failovers()

    try:
        return run_checks(CHECKS, after_failure=undo)
    finally:
        EM.stop()


if __name__ == "__main__":
    sys.exit(main())
