#!/usr/bin/env python3
"""Checks of pilotlight's emulator (``pilotlight_emulator.py`` + ``snapshot_patches.py``) through
boto3, against launcher processes this script starts on port 0 (through ``harness.py``) and stops
at the end.

Usage: python emulator/test_emulator.py [-k SUBSTRING]

Prints one line per check and, last, ``N passed, M failed``; exits non-zero if any check failed.
Regions: us-east-1 is the source, us-west-2 the destination. Credentials are dummies.
"""

from __future__ import annotations

import sys
import time
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from botocore.exceptions import ClientError

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
from harness import Emulator  # noqa: E402 - emulator/harness.py, next to this file

SRC, DST = "us-east-1", "us-west-2"
TAG = "pilotlight-emulator:create-time"
ACCOUNT = "123456789012"


RESULTS = {"passed": 0, "failed": 0}
CHECKS: list[tuple[str, Callable[[], None]]] = []


def check(fn: Callable[[], None]) -> Callable[[], None]:
    CHECKS.append((fn.__name__, fn))
    return fn


def expect_error(code: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {e.response['Error'].get('Message')}"
        return e.response["Error"].get("Message", "")
    raise AssertionError(f"expected {code}, the call succeeded")


def utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


def rfc3339(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_instance(em: Emulator, region: str, ident: str, **extra: Any) -> dict[str, Any]:
    return em.create_db_instance(region, ident, MasterUsername="pilot", **extra)


def make_cluster(em: Emulator, region: str, ident: str) -> dict[str, Any]:
    return em.rds(region).create_db_cluster(
        DBClusterIdentifier=ident,
        Engine="aurora-postgresql",
        MasterUsername="pilot",
        MasterUserPassword="not-a-secret-1",
    )["DBCluster"]


def all_pages(call: Callable[..., Any], key: str, **kwargs: Any) -> list[list[dict[str, Any]]]:
    pages, marker = [], None
    while True:
        resp = call(**kwargs, **({"Marker": marker} if marker else {}))
        pages.append(resp[key])
        marker = resp.get("Marker")
        if not marker:
            return pages
        assert len(pages) < 50, "pagination does not end"


EM: Emulator  # the main launcher (default snapshot limit)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
HISTORY: list[tuple[str, datetime]] = []  # (id, create time) of the 250 manual snapshots of src-db


# --------------------------------------------------------------------------------------------
# Existing behaviour
# --------------------------------------------------------------------------------------------
@check
def existing_control_api_and_request_log_still_work() -> None:
    assert EM.ok("GET", "/faults") == []
    EM.ok("DELETE", "/requests")
    EM.ok("POST", "/faults", {"action": "DescribeDBSnapshots", "count": 1, "error": "throttling", "service": "rds"})
    expect_error("Throttling", EM.rds(SRC).describe_db_snapshots)
    EM.rds(SRC).describe_db_snapshots()
    log = EM.ok("GET", "/requests")
    actions = [(r["service"], r["region"], r["action"], r["status"]) for r in log]
    assert actions == [("rds", SRC, "DescribeDBSnapshots", 400), ("rds", SRC, "DescribeDBSnapshots", 200)], actions
    assert EM.control("GET", "/no-such-thing")[0] == 404


@check
def existing_promote_read_replica_patch_still_works() -> None:
    make_instance(EM, SRC, "promo-primary")
    EM.rds(SRC).create_db_instance_read_replica(
        DBInstanceIdentifier="promo-replica", SourceDBInstanceIdentifier="promo-primary"
    )
    EM.rds(SRC).promote_read_replica(DBInstanceIdentifier="promo-replica")
    # A promotion takes time (aws_conditions.py, checked in test_conditions.py): complete it now.
    assert EM.release_promotions(SRC, "promo-replica") == [{"region": SRC, "id": "promo-replica"}]
    replica = EM.rds(SRC).describe_db_instances(DBInstanceIdentifier="promo-replica")["DBInstances"][0]
    assert not replica.get("ReadReplicaSourceDBInstanceIdentifier"), replica
    expect_error("InvalidDBInstanceState", EM.rds(SRC).promote_read_replica, DBInstanceIdentifier="promo-primary")


# --------------------------------------------------------------------------------------------
# 5. Automated snapshots (first, while src-db has only its automated snapshot)
# --------------------------------------------------------------------------------------------
@check
def create_db_instance_makes_an_automated_snapshot() -> None:
    make_instance(EM, SRC, "src-db", Tags=[{"Key": "app", "Value": "pilotlight"}])
    snaps = EM.rds(SRC).describe_db_snapshots(DBInstanceIdentifier="src-db")["DBSnapshots"]
    assert [s["SnapshotType"] for s in snaps] == ["automated"], snaps
    assert snaps[0]["DBSnapshotIdentifier"].startswith("rds:src-db-"), snaps
    assert snaps[0]["Status"] == "available" and snaps[0]["PercentProgress"] == 100, snaps
    auto = EM.rds(SRC).describe_db_snapshots(SnapshotType="automated", DBInstanceIdentifier="src-db")["DBSnapshots"]
    assert len(auto) == 1
    assert EM.rds(SRC).describe_db_snapshots(SnapshotType="manual", DBInstanceIdentifier="src-db")["DBSnapshots"] == []


@check
def deleting_an_automated_snapshot_is_refused() -> None:
    auto = EM.rds(SRC).describe_db_snapshots(SnapshotType="automated", DBInstanceIdentifier="src-db")["DBSnapshots"][0]
    msg = expect_error("InvalidDBSnapshotState", EM.rds(SRC).delete_db_snapshot, DBSnapshotIdentifier=auto["DBSnapshotIdentifier"])
    assert msg == "Only manual snapshots may be deleted.", msg
    assert EM.rds(SRC).describe_db_snapshots(DBSnapshotIdentifier=auto["DBSnapshotIdentifier"])["DBSnapshots"]


@check
def control_api_makes_an_automated_snapshot_with_a_chosen_time() -> None:
    when = NOW - timedelta(days=3)
    answer = EM.ok(
        "POST", "/snapshots/automated",
        {"region": SRC, "instance_id": "src-db", "id": "rds:src-db-old", "time": rfc3339(when)},
    )
    assert answer["kind"] == "db-snapshot" and answer["id"] == "rds:src-db-old", answer
    assert answer["snapshot_create_time"] == rfc3339(when), answer
    snap = EM.rds(SRC).describe_db_snapshots(DBSnapshotIdentifier="rds:src-db-old", SnapshotType="automated")["DBSnapshots"][0]
    assert snap["SnapshotType"] == "automated" and utc(snap["SnapshotCreateTime"]) == when, snap
    status, answer = EM.control("POST", "/snapshots/automated", {"region": SRC, "instance_id": "nope", "id": "rds:nope-1"})
    assert status == 404, (status, answer)
    status, answer = EM.control("POST", "/snapshots/automated", {"region": SRC, "id": "x"})
    assert status == 400, (status, answer)


@check
def automated_cluster_snapshot_exists_and_cannot_be_deleted() -> None:
    make_cluster(EM, SRC, "src-cluster")
    snaps = EM.rds(SRC).describe_db_cluster_snapshots(DBClusterIdentifier="src-cluster", SnapshotType="automated")["DBClusterSnapshots"]
    assert len(snaps) == 1 and snaps[0]["SnapshotType"] == "automated", snaps
    msg = expect_error(
        "InvalidDBClusterSnapshotStateFault",
        EM.rds(SRC).delete_db_cluster_snapshot,
        DBClusterSnapshotIdentifier=snaps[0]["DBClusterSnapshotIdentifier"],
    )
    assert msg == "Only manual snapshots may be deleted.", msg
    answer = EM.ok("POST", "/snapshots/automated", {"region": SRC, "cluster_id": "src-cluster", "id": "rds:src-cluster-old"})
    assert answer["kind"] == "cluster-snapshot", answer


# --------------------------------------------------------------------------------------------
# 3. Creation time (and the 400-day history used by the pagination checks)
# --------------------------------------------------------------------------------------------
@check
def create_time_tag_builds_a_400_day_history() -> None:
    rds = EM.rds(SRC)
    for i in range(250):
        when = NOW - timedelta(days=400) + timedelta(hours=int(i * 400 * 24 / 250))
        ident = f"hist-{i:03d}"
        resp = rds.create_db_snapshot(
            DBInstanceIdentifier="src-db",
            DBSnapshotIdentifier=ident,
            Tags=[{"Key": TAG, "Value": rfc3339(when)}, {"Key": "n", "Value": str(i)}],
        )["DBSnapshot"]
        assert utc(resp["SnapshotCreateTime"]) == when, (resp["SnapshotCreateTime"], when)
        HISTORY.append((ident, when))
    snap = rds.describe_db_snapshots(DBSnapshotIdentifier="hist-000")["DBSnapshots"][0]
    assert utc(snap["SnapshotCreateTime"]) == NOW - timedelta(days=400), snap
    assert utc(snap["OriginalSnapshotCreateTime"]) == NOW - timedelta(days=400), snap
    tags = rds.list_tags_for_resource(ResourceName=snap["DBSnapshotArn"])["TagList"]
    assert {"Key": TAG, "Value": rfc3339(NOW - timedelta(days=400))} in tags, tags


@check
def create_time_tag_on_cluster_snapshot() -> None:
    when = NOW - timedelta(days=123, hours=5)
    resp = EM.rds(SRC).create_db_cluster_snapshot(
        DBClusterIdentifier="src-cluster",
        DBClusterSnapshotIdentifier="cs-dated",
        Tags=[{"Key": TAG, "Value": rfc3339(when)}],
    )["DBClusterSnapshot"]
    assert utc(resp["SnapshotCreateTime"]) == when, resp
    snap = EM.rds(SRC).describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="cs-dated")["DBClusterSnapshots"][0]
    assert utc(snap["SnapshotCreateTime"]) == when, snap
    assert {"Key": TAG, "Value": rfc3339(when)} in snap["TagList"], snap


@check
def create_time_tag_accepts_offsets_and_fractions_and_refuses_garbage() -> None:
    rds = EM.rds(SRC)
    resp = rds.create_db_snapshot(
        DBInstanceIdentifier="src-db", DBSnapshotIdentifier="dated-offset",
        Tags=[{"Key": TAG, "Value": "2025-10-15T05:00:00.250+02:00"}],
    )["DBSnapshot"]
    assert utc(resp["SnapshotCreateTime"]) == datetime(2025, 10, 15, 3, 0, 0, 250000, tzinfo=timezone.utc), resp
    rds.delete_db_snapshot(DBSnapshotIdentifier="dated-offset")
    for bad in ("yesterday", "2025-10-15T03:00:00"):
        expect_error(
            "InvalidParameterValue", rds.create_db_snapshot,
            DBInstanceIdentifier="src-db", DBSnapshotIdentifier="dated-bad", Tags=[{"Key": TAG, "Value": bad}],
        )
        expect_error("DBSnapshotNotFound", rds.describe_db_snapshots, DBSnapshotIdentifier="dated-bad")


@check
def control_api_sets_create_time_of_existing_snapshots() -> None:
    rds = EM.rds(SRC)
    rds.create_db_snapshot(DBInstanceIdentifier="src-db", DBSnapshotIdentifier="redated")
    when = datetime(2024, 2, 29, 12, 30, tzinfo=timezone.utc)
    answer = EM.ok("PUT", "/snapshots/create-time", {"region": SRC, "id": "redated", "time": "2024-02-29T12:30:00Z"})
    assert answer == {
        "region": SRC, "id": "redated", "kind": "db-snapshot",
        "arn": f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:redated", "snapshot_create_time": "2024-02-29T12:30:00Z",
    }, answer
    snap = rds.describe_db_snapshots(DBSnapshotIdentifier="redated")["DBSnapshots"][0]
    assert utc(snap["SnapshotCreateTime"]) == when and utc(snap["OriginalSnapshotCreateTime"]) == when, snap
    rds.delete_db_snapshot(DBSnapshotIdentifier="redated")
    answer = EM.ok("PUT", "/snapshots/create-time", {"region": SRC, "id": "cs-dated", "time": "2023-01-01T00:00:00Z"})
    assert answer["kind"] == "cluster-snapshot", answer
    snap = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="cs-dated")["DBClusterSnapshots"][0]
    assert utc(snap["SnapshotCreateTime"]) == datetime(2023, 1, 1, tzinfo=timezone.utc), snap
    assert EM.control("PUT", "/snapshots/create-time", {"region": DST, "id": "cs-dated", "time": "2023-01-01T00:00:00Z"})[0] == 404
    assert EM.control("PUT", "/snapshots/create-time", {"region": SRC, "id": "cs-dated", "time": "soon"})[0] == 400


# --------------------------------------------------------------------------------------------
# 1. Pagination
# --------------------------------------------------------------------------------------------
@check
def describe_db_snapshots_paginates_250_manual_snapshots_in_3_pages() -> None:
    rds = EM.rds(SRC)
    pages = all_pages(rds.describe_db_snapshots, "DBSnapshots", DBInstanceIdentifier="src-db", SnapshotType="manual", MaxRecords=100)
    assert [len(p) for p in pages] == [100, 100, 50], [len(p) for p in pages]
    got = [(s["DBSnapshotIdentifier"], utc(s["SnapshotCreateTime"])) for p in pages for s in p]
    assert got == HISTORY, "pages are not the history in creation order"
    # Same again: the order is stable.
    again = all_pages(rds.describe_db_snapshots, "DBSnapshots", DBInstanceIdentifier="src-db", SnapshotType="manual", MaxRecords=100)
    assert [s["DBSnapshotIdentifier"] for p in again for s in p] == [i for i, _ in HISTORY]
    # boto3's own paginator follows the markers too.
    paginator = rds.get_paginator("describe_db_snapshots")
    sizes = [len(p["DBSnapshots"]) for p in paginator.paginate(SnapshotType="manual", DBInstanceIdentifier="src-db", PaginationConfig={"PageSize": 100})]
    assert sizes == [100, 100, 50], sizes


@check
def describe_db_snapshots_default_page_is_100_and_includes_automated() -> None:
    rds = EM.rds(SRC)
    first = rds.describe_db_snapshots(DBInstanceIdentifier="src-db")
    assert len(first["DBSnapshots"]) == 100 and first.get("Marker"), len(first["DBSnapshots"])
    pages = all_pages(rds.describe_db_snapshots, "DBSnapshots", DBInstanceIdentifier="src-db")
    types = [s["SnapshotType"] for p in pages for s in p]
    assert [len(p) for p in pages] == [100, 100, 52] and types.count("automated") == 2, ([len(p) for p in pages], types.count("automated"))
    last = rds.describe_db_snapshots(SnapshotType="automated", DBInstanceIdentifier="src-db")
    assert "Marker" not in last, last.get("Marker")


@check
def max_records_outside_20_to_100_is_invalid() -> None:
    rds = EM.rds(SRC)
    for bad in (0, 19, 101, 1000):
        msg = expect_error("InvalidParameterValue", rds.describe_db_snapshots, MaxRecords=bad)
        assert msg == f"Invalid value {bad} for MaxRecords. Must be between 20 and 100", msg
        expect_error("InvalidParameterValue", rds.describe_db_cluster_snapshots, MaxRecords=bad)
        expect_error("InvalidParameterValue", rds.describe_db_clusters, MaxRecords=bad)
    assert len(rds.describe_db_snapshots(MaxRecords=20)["DBSnapshots"]) == 20
    expect_error("InvalidParameterValue", rds.describe_db_snapshots, Marker="not-a-marker")


@check
def pagination_survives_deletes_between_pages() -> None:
    rds = EM.rds(SRC)
    for i in range(60):
        rds.create_db_snapshot(DBInstanceIdentifier="src-db", DBSnapshotIdentifier=f"churn-{i:02d}", Tags=[{"Key": "churn", "Value": "1"}])
    kwargs = {"Filters": [{"Name": "db-snapshot-id", "Values": [f"churn-{i:02d}" for i in range(60)]}], "MaxRecords": 20}
    first = rds.describe_db_snapshots(**kwargs)
    ids = [s["DBSnapshotIdentifier"] for s in first["DBSnapshots"]]
    assert ids == [f"churn-{i:02d}" for i in range(20)], ids
    # Delete the last one returned and the next two: the next page starts at churn-22.
    for gone in ("churn-19", "churn-20", "churn-21"):
        rds.delete_db_snapshot(DBSnapshotIdentifier=gone)
    second = rds.describe_db_snapshots(**kwargs, Marker=first["Marker"])
    ids = [s["DBSnapshotIdentifier"] for s in second["DBSnapshots"]]
    assert ids == [f"churn-{i:02d}" for i in range(22, 42)], ids
    third = rds.describe_db_snapshots(**kwargs, Marker=second["Marker"])
    assert [s["DBSnapshotIdentifier"] for s in third["DBSnapshots"]] == [f"churn-{i:02d}" for i in range(42, 60)]
    assert "Marker" not in third
    for i in range(60):
        if i not in (19, 20, 21):
            rds.delete_db_snapshot(DBSnapshotIdentifier=f"churn-{i:02d}")


@check
def describe_db_cluster_snapshots_paginates() -> None:
    rds = EM.rds(SRC)
    for i in range(45):
        rds.create_db_cluster_snapshot(DBClusterIdentifier="src-cluster", DBClusterSnapshotIdentifier=f"cs-{i:02d}")
    pages = all_pages(rds.describe_db_cluster_snapshots, "DBClusterSnapshots", DBClusterIdentifier="src-cluster", SnapshotType="manual", MaxRecords=20)
    assert [len(p) for p in pages] == [20, 20, 6], [len(p) for p in pages]
    ids = [s["DBClusterSnapshotIdentifier"] for p in pages for s in p]
    assert ids == ["cs-dated"] + [f"cs-{i:02d}" for i in range(45)], ids
    paginator = rds.get_paginator("describe_db_cluster_snapshots")
    total = sum(len(p["DBClusterSnapshots"]) for p in paginator.paginate(DBClusterIdentifier="src-cluster", PaginationConfig={"PageSize": 20}))
    assert total == 48, total  # 46 manual + 2 automated


@check
def describe_db_clusters_paginates() -> None:
    rds = EM.rds(DST)
    for i in range(21):
        make_cluster(EM, DST, f"page-cluster-{i:02d}")
    pages = all_pages(rds.describe_db_clusters, "DBClusters", MaxRecords=20)
    assert [len(p) for p in pages] == [20, 1], [len(p) for p in pages]
    ids = [c["DBClusterIdentifier"] for p in pages for c in p]
    assert ids == [f"page-cluster-{i:02d}" for i in range(21)], ids
    assert len(rds.describe_db_clusters()["DBClusters"]) == 21
    for i in range(21):
        rds.delete_db_cluster(DBClusterIdentifier=f"page-cluster-{i:02d}", SkipFinalSnapshot=True)


@check
def describe_db_instances_paginates_already_in_moto() -> None:
    rds = EM.rds(DST)
    for i in range(21):
        make_instance(EM, DST, f"page-db-{i:02d}")
    pages = all_pages(rds.describe_db_instances, "DBInstances", MaxRecords=20)
    assert [len(p) for p in pages] == [20, 1], [len(p) for p in pages]
    assert sorted(d["DBInstanceIdentifier"] for p in pages for d in p) == [f"page-db-{i:02d}" for i in range(21)]
    for i in range(21):
        rds.delete_db_instance(DBInstanceIdentifier=f"page-db-{i:02d}", SkipFinalSnapshot=True)


# --------------------------------------------------------------------------------------------
# 6. Cross-region copies
# --------------------------------------------------------------------------------------------
def _dst_key() -> dict[str, Any]:
    return EM.client("kms", DST).create_key(Description="pilotlight dr")["KeyMetadata"]


@check
def cross_region_copy_db_snapshot_with_kms_key_and_copy_tags() -> None:
    src, dst = EM.rds(SRC), EM.rds(DST)
    key = _dst_key()
    source = src.create_db_snapshot(
        DBInstanceIdentifier="src-db", DBSnapshotIdentifier="xr-1",
        Tags=[{"Key": "pilotlight:retention", "Value": "keep"}, {"Key": TAG, "Value": "2025-10-15T03:00:00Z"}],
    )["DBSnapshot"]
    copy = dst.copy_db_snapshot(
        SourceDBSnapshotIdentifier=source["DBSnapshotArn"], TargetDBSnapshotIdentifier="xr-1-copy",
        KmsKeyId=key["KeyId"], CopyTags=True, SourceRegion=SRC,
    )["DBSnapshot"]
    assert copy["DBSnapshotArn"] == f"arn:aws:rds:{DST}:{ACCOUNT}:snapshot:xr-1-copy", copy
    assert copy["Encrypted"] is True and copy["KmsKeyId"] == key["Arn"], copy
    assert copy["SourceRegion"] == SRC and copy["SourceDBSnapshotIdentifier"] == source["DBSnapshotArn"], copy
    assert copy["SnapshotType"] == "manual" and copy["DBInstanceIdentifier"] == "src-db", copy
    assert copy["Status"] == "available" and copy["PercentProgress"] == 100, copy
    tags = dst.list_tags_for_resource(ResourceName=copy["DBSnapshotArn"])["TagList"]
    assert sorted(tags, key=lambda t: t["Key"]) == sorted(source["TagList"], key=lambda t: t["Key"]), tags
    # The copied tag carries the creation time; the original time stays the source's.
    assert utc(copy["SnapshotCreateTime"]) == datetime(2025, 10, 15, 3, tzinfo=timezone.utc), copy
    assert utc(copy["OriginalSnapshotCreateTime"]) == utc(source["OriginalSnapshotCreateTime"]), copy
    listed = dst.describe_db_snapshots(SnapshotType="manual", DBInstanceIdentifier="src-db")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in listed] == ["xr-1-copy"], listed
    assert dst.describe_db_snapshots(SnapshotType="automated", DBInstanceIdentifier="src-db")["DBSnapshots"] == []


@check
def copy_with_explicit_create_time_tag_keeps_original_time() -> None:
    dst = EM.rds(DST)
    source = EM.rds(SRC).describe_db_snapshots(DBSnapshotIdentifier="hist-010")["DBSnapshots"][0]
    copy = dst.copy_db_snapshot(
        SourceDBSnapshotIdentifier=source["DBSnapshotArn"], TargetDBSnapshotIdentifier="hist-010-copy",
        KmsKeyId=_dst_key()["Arn"], SourceRegion=SRC, Tags=[{"Key": TAG, "Value": "2025-01-02T03:04:05Z"}],
    )["DBSnapshot"]
    assert utc(copy["SnapshotCreateTime"]) == datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc), copy
    assert utc(copy["OriginalSnapshotCreateTime"]) == utc(source["SnapshotCreateTime"]), copy
    assert dst.list_tags_for_resource(ResourceName=copy["DBSnapshotArn"])["TagList"] == [{"Key": TAG, "Value": "2025-01-02T03:04:05Z"}]
    dst.delete_db_snapshot(DBSnapshotIdentifier="hist-010-copy")


@check
def cross_region_copy_errors() -> None:
    dst = EM.rds(DST)
    src_key = EM.client("kms", SRC).create_key()["KeyMetadata"]
    arn = f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:hist-001"
    expect_error(
        "KMSKeyNotAccessibleFault", dst.copy_db_snapshot,
        SourceDBSnapshotIdentifier=arn, TargetDBSnapshotIdentifier="bad-key", KmsKeyId=src_key["Arn"], SourceRegion=SRC,
    )
    expect_error(
        "DBSnapshotNotFound", dst.copy_db_snapshot,
        SourceDBSnapshotIdentifier=f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:no-such", TargetDBSnapshotIdentifier="nothing",
        KmsKeyId=_dst_key()["KeyId"], SourceRegion=SRC,
    )
    expect_error(
        "DBSnapshotAlreadyExists", dst.copy_db_snapshot,
        SourceDBSnapshotIdentifier=f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:xr-1", TargetDBSnapshotIdentifier="xr-1-copy",
        KmsKeyId=_dst_key()["KeyId"], SourceRegion=SRC,
    )


@check
def delete_db_snapshot_works() -> None:
    dst = EM.rds(DST)
    deleted = dst.delete_db_snapshot(DBSnapshotIdentifier="xr-1-copy")["DBSnapshot"]
    assert deleted["DBSnapshotIdentifier"] == "xr-1-copy", deleted
    expect_error("DBSnapshotNotFound", dst.describe_db_snapshots, DBSnapshotIdentifier="xr-1-copy")
    expect_error("DBSnapshotNotFound", dst.delete_db_snapshot, DBSnapshotIdentifier="xr-1-copy")
    assert EM.rds(SRC).describe_db_snapshots(DBSnapshotIdentifier="xr-1")["DBSnapshots"]


@check
def cross_region_copy_db_cluster_snapshot_with_kms_key_and_copy_tags() -> None:
    src, dst = EM.rds(SRC), EM.rds(DST)
    key = _dst_key()
    source = src.create_db_cluster_snapshot(
        DBClusterIdentifier="src-cluster", DBClusterSnapshotIdentifier="xr-c1",
        Tags=[{"Key": "pilotlight:retention", "Value": "keep"}],
    )["DBClusterSnapshot"]
    copy = dst.copy_db_cluster_snapshot(
        SourceDBClusterSnapshotIdentifier=source["DBClusterSnapshotArn"], TargetDBClusterSnapshotIdentifier="xr-c1-copy",
        KmsKeyId=key["Arn"], CopyTags=True, SourceRegion=SRC,
    )["DBClusterSnapshot"]
    assert copy["DBClusterSnapshotArn"] == f"arn:aws:rds:{DST}:{ACCOUNT}:cluster-snapshot:xr-c1-copy", copy
    assert copy["StorageEncrypted"] is True and copy["KmsKeyId"] == key["Arn"], copy
    assert copy["SourceDBClusterSnapshotArn"] == source["DBClusterSnapshotArn"], copy
    assert copy["Status"] == "available" and copy["PercentProgress"] == 100, copy
    tags = dst.list_tags_for_resource(ResourceName=copy["DBClusterSnapshotArn"])["TagList"]
    assert tags == [{"Key": "pilotlight:retention", "Value": "keep"}], tags
    listed = dst.describe_db_cluster_snapshots(SnapshotType="manual", DBClusterIdentifier="src-cluster")["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotIdentifier"] for s in listed] == ["xr-c1-copy"], listed
    dst.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="xr-c1-copy")
    expect_error("DBClusterSnapshotNotFoundFault", dst.describe_db_cluster_snapshots, DBClusterSnapshotIdentifier="xr-c1-copy")


# --------------------------------------------------------------------------------------------
# 2. Copies in flight
# --------------------------------------------------------------------------------------------
def _copy(ident: str, target: str) -> dict[str, Any]:
    return EM.rds(DST).copy_db_snapshot(
        SourceDBSnapshotIdentifier=f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:{ident}", TargetDBSnapshotIdentifier=target,
        KmsKeyId=_dst_key()["KeyId"], CopyTags=True, SourceRegion=SRC,
    )["DBSnapshot"]


@check
def held_copy_is_copying_until_released() -> None:
    dst = EM.rds(DST)
    state = EM.ok("PUT", "/snapshot-copies", {"hold": True})
    assert state == {"hold": True, "seconds": None, "delete": "refuse", "held": []}, state
    copy = _copy("hist-100", "held-1")
    assert copy["Status"] == "copying" and copy["PercentProgress"] < 100, copy
    snap = dst.describe_db_snapshots(DBSnapshotIdentifier="held-1")["DBSnapshots"][0]
    assert snap["Status"] == "copying" and snap["PercentProgress"] < 100, snap
    listed = {s["DBSnapshotIdentifier"]: s["Status"] for s in dst.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert listed["held-1"] == "copying", listed
    held = EM.ok("GET", "/snapshot-copies")["held"]
    assert held == [{"region": DST, "id": "held-1", "kind": "db-snapshot", "release_at": None}], held
    msg = expect_error("InvalidDBSnapshotState", dst.delete_db_snapshot, DBSnapshotIdentifier="held-1")
    assert "available" in msg, msg
    # Releasing another region releases nothing.
    assert EM.ok("POST", "/snapshot-copies/release", {"region": SRC}) == {"released": []}
    assert dst.describe_db_snapshots(DBSnapshotIdentifier="held-1")["DBSnapshots"][0]["Status"] == "copying"
    released = EM.ok("POST", "/snapshot-copies/release", {"region": DST})
    assert released == {"released": [{"region": DST, "id": "held-1", "kind": "db-snapshot"}]}, released
    snap = dst.describe_db_snapshots(DBSnapshotIdentifier="held-1")["DBSnapshots"][0]
    assert snap["Status"] == "available" and snap["PercentProgress"] == 100, snap
    dst.delete_db_snapshot(DBSnapshotIdentifier="held-1")


@check
def held_cluster_copy_and_release_by_id() -> None:
    dst = EM.rds(DST)
    src_arn = f"arn:aws:rds:{SRC}:{ACCOUNT}:cluster-snapshot:cs-00"
    for target in ("held-c1", "held-c2"):
        copy = dst.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=src_arn, TargetDBClusterSnapshotIdentifier=target,
            KmsKeyId=_dst_key()["KeyId"], SourceRegion=SRC,
        )["DBClusterSnapshot"]
        assert copy["Status"] == "copying" and copy["PercentProgress"] < 100, copy
    msg = expect_error("InvalidDBClusterSnapshotStateFault", dst.delete_db_cluster_snapshot, DBClusterSnapshotIdentifier="held-c1")
    assert "available" in msg, msg
    released = EM.ok("POST", "/snapshot-copies/release", {"id": "held-c1"})["released"]
    assert released == [{"region": DST, "id": "held-c1", "kind": "cluster-snapshot"}], released
    statuses = {
        s["DBClusterSnapshotIdentifier"]: (s["Status"], s["PercentProgress"])
        for s in dst.describe_db_cluster_snapshots(DBClusterIdentifier="src-cluster")["DBClusterSnapshots"]
    }
    assert statuses["held-c1"] == ("available", 100) and statuses["held-c2"][0] == "copying", statuses
    assert len(EM.ok("POST", "/snapshot-copies/release", {})["released"]) == 1
    for target in ("held-c1", "held-c2"):
        dst.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=target)


@check
def timed_hold_releases_by_itself() -> None:
    dst = EM.rds(DST)
    EM.ok("PUT", "/snapshot-copies", {"hold": True, "seconds": 1})
    assert _copy("hist-101", "timed-1")["Status"] == "copying"
    assert EM.ok("GET", "/snapshot-copies")["held"][0]["release_at"] is not None
    time.sleep(1.3)
    snap = dst.describe_db_snapshots(DBSnapshotIdentifier="timed-1")["DBSnapshots"][0]
    assert snap["Status"] == "available" and snap["PercentProgress"] == 100, snap
    assert EM.ok("GET", "/snapshot-copies")["held"] == []
    dst.delete_db_snapshot(DBSnapshotIdentifier="timed-1")


@check
def delete_cancel_mode_ends_a_copy_in_flight() -> None:
    dst = EM.rds(DST)
    EM.ok("PUT", "/snapshot-copies", {"hold": True, "delete": "cancel"})
    assert _copy("hist-102", "cancel-1")["Status"] == "copying"
    dst.delete_db_snapshot(DBSnapshotIdentifier="cancel-1")
    expect_error("DBSnapshotNotFound", dst.describe_db_snapshots, DBSnapshotIdentifier="cancel-1")
    assert EM.ok("GET", "/snapshot-copies")["held"] == []


@check
def hold_false_stops_holding_new_copies_only() -> None:
    dst = EM.rds(DST)
    EM.ok("PUT", "/snapshot-copies", {"hold": True})
    assert _copy("hist-103", "still-held")["Status"] == "copying"
    state = EM.ok("PUT", "/snapshot-copies", {"hold": False})
    assert state["hold"] is False and [h["id"] for h in state["held"]] == ["still-held"], state
    assert _copy("hist-104", "not-held")["Status"] == "available"
    assert dst.describe_db_snapshots(DBSnapshotIdentifier="still-held")["DBSnapshots"][0]["Status"] == "copying"
    EM.ok("POST", "/snapshot-copies/release")
    assert dst.describe_db_snapshots(DBSnapshotIdentifier="still-held")["DBSnapshots"][0]["Status"] == "available"
    for ident in ("still-held", "not-held"):
        dst.delete_db_snapshot(DBSnapshotIdentifier=ident)
    assert EM.control("PUT", "/snapshot-copies", {"hold": "yes"})[0] == 400
    assert EM.control("PUT", "/snapshot-copies", {"hold": True, "seconds": -1})[0] == 400
    assert EM.control("PUT", "/snapshot-copies", {"hold": True, "delete": "maybe"})[0] == 400
    EM.ok("PUT", "/snapshot-copies", {"hold": False})


@check
def held_copies_show_up_in_paginated_lists() -> None:
    dst = EM.rds(DST)
    EM.ok("PUT", "/snapshot-copies", {"hold": True})
    for i in range(25):
        _copy(f"hist-{200 + i}", f"bulk-{i:02d}")
    EM.ok("PUT", "/snapshot-copies", {"hold": False})
    pages = all_pages(dst.describe_db_snapshots, "DBSnapshots", SnapshotType="manual", DBInstanceIdentifier="src-db", MaxRecords=20)
    statuses = [s["Status"] for p in pages for s in p]
    assert [len(p) for p in pages] == [20, 5] and set(statuses) == {"copying"}, ([len(p) for p in pages], statuses)
    assert len(EM.ok("POST", "/snapshot-copies/release", {"region": DST})["released"]) == 25
    for i in range(25):
        dst.delete_db_snapshot(DBSnapshotIdentifier=f"bulk-{i:02d}")


# --------------------------------------------------------------------------------------------
# 7. Request log of the new actions
# --------------------------------------------------------------------------------------------
@check
def request_log_names_snapshot_actions() -> None:
    EM.ok("DELETE", "/requests")
    _copy("hist-105", "logged-1")
    EM.rds(DST).delete_db_snapshot(DBSnapshotIdentifier="logged-1")
    expect_error("DBSnapshotNotFound", EM.rds(DST).delete_db_snapshot, DBSnapshotIdentifier="logged-1")
    log = [(r["service"], r["region"], r["action"], r["status"]) for r in EM.ok("GET", "/requests")]
    assert ("rds", DST, "CopyDBSnapshot", 200) in log, log
    assert ("rds", DST, "DeleteDBSnapshot", 200) in log and ("rds", DST, "DeleteDBSnapshot", 404) in log, log


# --------------------------------------------------------------------------------------------
# 4. Snapshot quota
# --------------------------------------------------------------------------------------------
@check
def snapshot_limit_option_sets_the_manual_snapshot_quota() -> None:
    em = Emulator("--snapshot-limit", "3")
    try:
        rds = em.rds(SRC)
        make_instance(em, SRC, "q-db")  # its automated snapshot does not count
        for i in range(3):
            rds.create_db_snapshot(DBInstanceIdentifier="q-db", DBSnapshotIdentifier=f"q-{i}")
        msg = expect_error("SnapshotQuotaExceeded", rds.create_db_snapshot, DBInstanceIdentifier="q-db", DBSnapshotIdentifier="q-3")
        assert "maximum number of snapshots" in msg, msg
        expect_error("SnapshotQuotaExceeded", rds.copy_db_snapshot, SourceDBSnapshotIdentifier="q-0", TargetDBSnapshotIdentifier="q-copy")
        # Automated snapshots never hit the quota: another instance still gets one.
        make_instance(em, SRC, "q-db-2")
        assert rds.describe_db_snapshots(DBInstanceIdentifier="q-db-2", SnapshotType="automated")["DBSnapshots"]
        status, _ = em.control("POST", "/snapshots/automated", {"region": SRC, "instance_id": "q-db", "id": "rds:q-db-extra"})
        assert status == 200
        # The quota is per region.
        make_instance(em, DST, "q-db-west")
        for i in range(3):
            em.rds(DST).create_db_snapshot(DBInstanceIdentifier="q-db-west", DBSnapshotIdentifier=f"w-{i}")
        # Cross-region copy into a full region is refused.
        expect_error(
            "SnapshotQuotaExceeded", em.rds(DST).copy_db_snapshot,
            SourceDBSnapshotIdentifier=f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:q-0", TargetDBSnapshotIdentifier="w-copy",
            SourceRegion=SRC,
        )
        # Deleting one frees a slot.
        rds.delete_db_snapshot(DBSnapshotIdentifier="q-0")
        rds.create_db_snapshot(DBInstanceIdentifier="q-db", DBSnapshotIdentifier="q-3")
        # Cluster snapshots have their own count.
        make_cluster(em, SRC, "q-cluster")
        for i in range(3):
            rds.create_db_cluster_snapshot(DBClusterIdentifier="q-cluster", DBClusterSnapshotIdentifier=f"qc-{i}")
        expect_error("SnapshotQuotaExceeded", rds.create_db_cluster_snapshot, DBClusterIdentifier="q-cluster", DBClusterSnapshotIdentifier="qc-3")
        expect_error("SnapshotQuotaExceeded", rds.copy_db_cluster_snapshot, SourceDBClusterSnapshotIdentifier="qc-0", TargetDBClusterSnapshotIdentifier="qc-copy")
        make_cluster(em, SRC, "q-cluster-2")  # its automated snapshot is not refused
        # The usual errors still come before the quota.
        expect_error("DBSnapshotAlreadyExists", rds.create_db_snapshot, DBInstanceIdentifier="q-db", DBSnapshotIdentifier="q-1")
        expect_error("DBInstanceNotFound", rds.create_db_snapshot, DBInstanceIdentifier="nope", DBSnapshotIdentifier="q-9")
    finally:
        em.stop()


def manual_quotas(em: Emulator, region: str) -> dict[str, tuple[int, int]]:
    """DescribeAccountAttributes of one region: {AccountQuotaName: (Used, Max)}."""
    quotas = em.rds(region).describe_account_attributes()["AccountQuotas"]
    return {q["AccountQuotaName"]: (q["Used"], q["Max"]) for q in quotas}


@check
def describe_account_attributes_reports_the_manual_snapshot_quotas_per_region() -> None:
    em = Emulator("--snapshot-limit", "5")
    try:
        rds, west = em.rds(SRC), em.rds(DST)
        make_instance(em, SRC, "aa-db")  # its automated snapshot does not count
        make_cluster(em, SRC, "aa-cluster")  # nor does the cluster's
        assert manual_quotas(em, SRC) == {"ManualSnapshots": (0, 5), "ManualClusterSnapshots": (0, 5)}
        for i in range(3):
            rds.create_db_snapshot(DBInstanceIdentifier="aa-db", DBSnapshotIdentifier=f"aa-{i}")
        for i in range(2):
            rds.create_db_cluster_snapshot(DBClusterIdentifier="aa-cluster", DBClusterSnapshotIdentifier=f"aac-{i}")
        rds.copy_db_cluster_snapshot(SourceDBClusterSnapshotIdentifier="aac-0", TargetDBClusterSnapshotIdentifier="aac-copy")
        em.ok("POST", "/snapshots/automated", {"region": SRC, "instance_id": "aa-db", "id": "rds:aa-db-extra"})
        assert manual_quotas(em, SRC) == {"ManualSnapshots": (3, 5), "ManualClusterSnapshots": (3, 5)}
        # A copy in flight (copying) already takes its slot; a cross-region copy counts in its
        # destination region only: the quota is per region.
        em.ok("PUT", "/snapshot-copies", {"hold": True})
        west.copy_db_snapshot(
            SourceDBSnapshotIdentifier=f"arn:aws:rds:{SRC}:{ACCOUNT}:snapshot:aa-0", TargetDBSnapshotIdentifier="aa-0",
            SourceRegion=SRC,
        )
        rds.copy_db_snapshot(SourceDBSnapshotIdentifier="aa-1", TargetDBSnapshotIdentifier="aa-1-copy")
        assert west.describe_db_snapshots(DBSnapshotIdentifier="aa-0")["DBSnapshots"][0]["Status"] == "copying"
        assert manual_quotas(em, DST) == {"ManualSnapshots": (1, 5), "ManualClusterSnapshots": (0, 5)}
        assert manual_quotas(em, SRC) == {"ManualSnapshots": (4, 5), "ManualClusterSnapshots": (3, 5)}
        em.ok("PUT", "/snapshot-copies", {"hold": False})
        em.ok("POST", "/snapshot-copies/release", {})
        # Used == Max: the next manual snapshot is refused, as the quota says.
        rds.create_db_snapshot(DBInstanceIdentifier="aa-db", DBSnapshotIdentifier="aa-4")
        assert manual_quotas(em, SRC)["ManualSnapshots"] == (5, 5)
        expect_error("SnapshotQuotaExceeded", rds.create_db_snapshot, DBInstanceIdentifier="aa-db", DBSnapshotIdentifier="aa-5")
        # Deletes free the slots.
        rds.delete_db_snapshot(DBSnapshotIdentifier="aa-2")
        rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier="aac-1")
        assert manual_quotas(em, SRC) == {"ManualSnapshots": (4, 5), "ManualClusterSnapshots": (2, 5)}
        # The request log names the action.
        assert ("rds", SRC, "DescribeAccountAttributes", 200) in [
            (r["service"], r["region"], r["action"], r["status"]) for r in em.requests()
        ]
    finally:
        em.stop()
    # The main launcher: moto's default limit (1000) and its 250+ manual snapshots in SRC.
    manual = sum(len(p) for p in all_pages(EM.rds(SRC).describe_db_snapshots, "DBSnapshots", SnapshotType="manual"))
    assert manual_quotas(EM, SRC)["ManualSnapshots"] == (manual, 1000), (manual_quotas(EM, SRC), manual)


@check
def snapshot_limit_zero_and_default() -> None:
    em = Emulator("--snapshot-limit", "0")
    try:
        make_instance(em, SRC, "z-db")
        expect_error("SnapshotQuotaExceeded", em.rds(SRC).create_db_snapshot, DBInstanceIdentifier="z-db", DBSnapshotIdentifier="z-0")
    finally:
        em.stop()
    # The main launcher has moto's default (1000): it already holds 250+ manual snapshots in SRC.
    assert len([s for p in all_pages(EM.rds(SRC).describe_db_snapshots, "DBSnapshots", SnapshotType="manual") for s in p]) > 250


# --------------------------------------------------------------------------------------------
# 8. Bulk snapshots (control API, for benchmarks)
# --------------------------------------------------------------------------------------------
@check
def bulk_snapshots_are_real_manual_snapshots_with_times_and_tags() -> None:
    em = Emulator("--snapshot-limit", "300")
    try:
        rds = em.rds(SRC)
        make_instance(em, SRC, "bulk-db")
        newest = NOW - timedelta(hours=1)
        body = {
            "region": SRC, "instance_id": "bulk-db", "count": 250, "prefix": "pl-", "newest": rfc3339(newest),
            "step_seconds": 7200, "tags": {"pilotlight:managed-by": "pilotlight", "pilotlight:source-db": "bulk-db"},
        }
        assert em.ok("POST", "/snapshots/bulk", body) == {"created": 250, "region": SRC, "newest": "pl-00000", "oldest": "pl-00249"}
        pages = all_pages(rds.describe_db_snapshots, "DBSnapshots", SnapshotType="manual", DBInstanceIdentifier="bulk-db")
        assert [len(p) for p in pages] == [100, 100, 50], [len(p) for p in pages]
        snaps = {s["DBSnapshotIdentifier"]: s for p in pages for s in p}
        assert utc(snaps["pl-00000"]["SnapshotCreateTime"]) == newest, snaps["pl-00000"]
        assert utc(snaps["pl-00249"]["SnapshotCreateTime"]) == newest - timedelta(hours=2 * 249), snaps["pl-00249"]
        assert utc(snaps["pl-00010"]["OriginalSnapshotCreateTime"]) == newest - timedelta(hours=20)
        assert all(s["Status"] == "available" and s["SnapshotType"] == "manual" for s in snaps.values())
        tags = {t["Key"]: t["Value"] for t in snaps["pl-00007"]["TagList"]}
        assert tags == body["tags"], tags
        arn = snaps["pl-00007"]["DBSnapshotArn"]
        rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "only", "Value": "this-one"}])
        assert {t["Key"] for t in rds.list_tags_for_resource(ResourceName=snaps["pl-00008"]["DBSnapshotArn"])["TagList"]} == set(body["tags"])
        rds.delete_db_snapshot(DBSnapshotIdentifier="pl-00249")
        # The quota is checked for the whole batch: nothing is made when it would be exceeded.
        status, answer = em.control("POST", "/snapshots/bulk", {**body, "prefix": "more-", "count": 52})
        assert status == 400 and "SnapshotQuotaExceeded" in answer["error"], (status, answer)
        assert em.ok("POST", "/snapshots/bulk", {**body, "prefix": "more-", "count": 51})["created"] == 51
        expect_error("SnapshotQuotaExceeded", rds.create_db_snapshot, DBInstanceIdentifier="bulk-db", DBSnapshotIdentifier="one-more")
        assert em.ok("POST", "/snapshots/bulk", {**body, "prefix": "over-", "count": 2, "quota": "bypass"})["created"] == 2
        status, answer = em.control("POST", "/snapshots/bulk", {**body, "count": 1})
        assert status == 400 and "DBSnapshotAlreadyExists" in answer["error"], (status, answer)
        assert em.control("POST", "/snapshots/bulk", {**body, "instance_id": "nope"})[0] == 404
        assert em.control("POST", "/snapshots/bulk", {**body, "count": -1})[0] == 400
        assert em.control("POST", "/snapshots/bulk", {**body, "newest": "yesterday"})[0] == 400
        total = sum(len(p) for p in all_pages(rds.describe_db_snapshots, "DBSnapshots", SnapshotType="manual"))
        assert total == 249 + 51 + 2, total
    finally:
        em.stop()


# --------------------------------------------------------------------------------------------
def main() -> int:
    global EM
    only = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
    EM = Emulator()
    try:
        for name, fn in CHECKS:
            if only and only not in name:
                continue
            started = time.monotonic()
            try:
                fn()
            except Exception:  # noqa: BLE001 - every failure is reported, then the next check runs
                RESULTS["failed"] += 1
                print(f"FAIL {name}", flush=True)
                traceback.print_exc(file=sys.stdout)
            else:
                RESULTS["passed"] += 1
                print(f"ok   {name} ({time.monotonic() - started:.1f}s)", flush=True)
    finally:
        EM.stop()
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed", flush=True)
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
