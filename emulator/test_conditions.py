#!/usr/bin/env python3
"""Checks of the conditions of real AWS that pilotlight's emulator reproduces (``aws_conditions.py``:
RDS promotion and reboot over time, Route 53 health checkers, regional outages) through boto3, against
launcher processes this script starts on port 0 (through ``harness.py``) and stops at the end.

Usage: python emulator/test_conditions.py [-k SUBSTRING]

Prints one line per check and, last, ``N passed, M failed``; exits non-zero if any check failed.
Regions: us-east-1 is the source (primary), us-west-2 the destination (replica). Credentials are
dummies.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from typing import Any, Callable

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree
from harness import Emulator, run_checks  # noqa: E402 - emulator/harness.py, next to this file

SRC, DST = "us-east-1", "us-west-2"
NOT_AVAILABLE = "DB Instance is not in available state."
NOT_A_REPLICA = "DB Instance is not a read replica."
CHECKER_REGIONS = [
    "us-east-1", "us-west-1", "us-west-2", "eu-west-1",
    "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1",
]
SUCCESS = "Success: HTTP Status Code 200, OK"
FAILURE_PREFIX = "Failure: Connection timed out."
PHASES = ["modifying", "rebooting", "available"]


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


EM: Emulator  # the main launcher (default options)


def make_replica_pair(name: str) -> tuple[str, str]:
    """A primary in SRC and its cross-region read replica in DST: (primary ARN, replica id)."""
    primary = EM.create_db_instance(SRC, f"{name}-primary")
    replica = f"{name}-replica"
    EM.rds(DST).create_db_instance_read_replica(
        DBInstanceIdentifier=replica, SourceDBInstanceIdentifier=primary["DBInstanceArn"]
    )
    return primary["DBInstanceArn"], replica


def describe(region: str, ident: str) -> dict[str, Any]:
    return EM.rds(region).describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]


def wait_available(region: str, ident: str, limit: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while True:
        db = describe(region, ident)
        if db["DBInstanceStatus"] == "available":
            return db
        assert time.monotonic() < deadline, f"{ident} still {db['DBInstanceStatus']} after {limit}s"
        time.sleep(0.05)


def raw_request(em: Emulator, region: str, service: str, body: str, timeout: float = 10) -> tuple[bytes, float]:
    """Send one request signed (by its scope only) for region/service on a bare socket: everything
    the server sends back before it closes the connection, and how long that took."""
    host, port = em.url.removeprefix("http://").split(":")
    data = body.encode()
    head = (
        "POST / HTTP/1.1\r\nHost: {host}\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=testing/20250101/{region}/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {n}\r\n\r\n"
    ).format(host=host, region=region, service=service, n=len(data))
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode() + data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return received, time.monotonic() - started


def short_client(em: Emulator, service: str, region: str, read_timeout: float) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=em.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(read_timeout=read_timeout, connect_timeout=2, retries={"total_max_attempts": 1, "mode": "standard"}),
    )


# --------------------------------------------------------------------------------------------
# 1. RDS promotion over time
# --------------------------------------------------------------------------------------------
@check
def default_promotion_time_is_two_seconds() -> None:
    state = EM.promotions()
    assert state == {"seconds": 2.0, "hold": False, "promotions": []}, state


@check
def promotion_goes_modifying_rebooting_available_over_the_set_time() -> None:
    seconds = 1.2
    EM.set_promotions(seconds=seconds)
    primary_arn, replica = make_replica_pair("timed")
    before = describe(DST, replica)
    assert before["DBInstanceStatus"] == "available" and before["ReadReplicaSourceDBInstanceIdentifier"] == primary_arn, before
    answer = EM.rds(DST).promote_read_replica(DBInstanceIdentifier=replica)["DBInstance"]
    # RDS answers at once, still modifying and still naming its source.
    assert answer["DBInstanceStatus"] == "modifying", answer["DBInstanceStatus"]
    assert answer["ReadReplicaSourceDBInstanceIdentifier"] == primary_arn, answer
    assert answer["Endpoint"] == before["Endpoint"], (answer["Endpoint"], before["Endpoint"])
    flight = EM.promotions()["promotions"]
    assert [(p["region"], p["id"]) for p in flight] == [(DST, replica)], flight
    started, available_at = flight[0]["started_at"], flight[0]["available_at"]
    assert abs(available_at - started - seconds) < 1e-6, flight

    def phase(t: float) -> int:
        return 0 if t < started + seconds / 2 else 1 if t < started + seconds else 2

    seen = []
    deadline = time.time() + seconds + 5
    while True:
        t0 = time.time()
        db = describe(DST, replica)
        t1 = time.time()
        status = db["DBInstanceStatus"]
        assert status in PHASES, status
        # the status the server reported at some moment between t0 and t1
        assert phase(t0) <= PHASES.index(status) <= phase(t1), (status, t0 - started, t1 - started)
        assert db["Endpoint"] == before["Endpoint"], db["Endpoint"]
        if status != "available":
            assert db.get("ReadReplicaSourceDBInstanceIdentifier") == primary_arn, db
        else:
            assert not db.get("ReadReplicaSourceDBInstanceIdentifier"), db
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "available":
            break
        assert t1 < deadline, f"still {status}"
        time.sleep(0.05)
    assert seen == PHASES, seen
    # Detached from its primary, in the primary's region.
    primary = describe(SRC, "timed-primary")
    assert not primary.get("ReadReplicaDBInstanceIdentifiers"), primary.get("ReadReplicaDBInstanceIdentifiers")
    assert EM.promotions()["promotions"] == []
    msg = expect_error("InvalidDBInstanceState", EM.rds(DST).promote_read_replica, DBInstanceIdentifier=replica)
    assert msg == NOT_A_REPLICA, msg


@check
def held_promotion_stays_modifying_until_released() -> None:
    EM.set_promotions(seconds=0.2, hold=True)
    try:
        primary_arn, replica = make_replica_pair("held")
        EM.rds(DST).promote_read_replica(DBInstanceIdentifier=replica)
        flight = EM.promotions()["promotions"]
        assert len(flight) == 1 and flight[0]["available_at"] is None and flight[0]["status"] == "modifying", flight
        time.sleep(0.4)  # longer than the promotion time: a hold ignores it
        db = describe(DST, replica)
        assert db["DBInstanceStatus"] == "modifying", db["DBInstanceStatus"]
        assert db["ReadReplicaSourceDBInstanceIdentifier"] == primary_arn, db
        assert EM.release_promotions(region=SRC) == []  # another region: nothing
        assert EM.release_promotions(region=DST, ident=replica) == [{"region": DST, "id": replica}]
        db = describe(DST, replica)
        assert db["DBInstanceStatus"] == "available" and not db.get("ReadReplicaSourceDBInstanceIdentifier"), db
        assert not describe(SRC, "held-primary").get("ReadReplicaDBInstanceIdentifiers")
    finally:
        EM.set_promotions(seconds=2, hold=False)
    state = EM.promotions()
    assert state["hold"] is False and state["seconds"] == 2.0, state


@check
def second_promote_while_promoting_is_refused() -> None:
    EM.set_promotions(seconds=0.6)
    try:
        primary_arn, replica = make_replica_pair("twice")
        EM.rds(DST).promote_read_replica(DBInstanceIdentifier=replica)
        msg = expect_error("InvalidDBInstanceState", EM.rds(DST).promote_read_replica, DBInstanceIdentifier=replica)
        assert msg == NOT_AVAILABLE, msg
        try:
            EM.rds(DST).promote_read_replica(DBInstanceIdentifier=replica)
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        else:
            raise AssertionError("second promote accepted")
        # Still a promotion in flight: the refusal changed nothing.
        assert describe(DST, replica)["ReadReplicaSourceDBInstanceIdentifier"] == primary_arn
        wait_available(DST, replica)
        msg = expect_error("InvalidDBInstanceState", EM.rds(DST).promote_read_replica, DBInstanceIdentifier=replica)
        assert msg == NOT_A_REPLICA, msg
    finally:
        EM.set_promotions(seconds=2)


@check
def backing_up_refuses_promote_until_released() -> None:
    EM.set_promotions(seconds=0.2)
    try:
        primary_arn, replica = make_replica_pair("backup")
        answer = EM.hold_instance_status(DST, replica, "backing-up")
        assert answer == {"region": DST, "id": replica, "status": "backing-up", "held": True}, answer
        assert describe(DST, replica)["DBInstanceStatus"] == "backing-up"
        msg = expect_error("InvalidDBInstanceState", EM.rds(DST).promote_read_replica, DBInstanceIdentifier=replica)
        assert msg == NOT_AVAILABLE, msg
        assert EM.promotions()["promotions"] == []
        db = describe(DST, replica)
        assert db["DBInstanceStatus"] == "backing-up" and db["ReadReplicaSourceDBInstanceIdentifier"] == primary_arn, db
        # Another held status, then released with {"status": null}.
        assert EM.hold_instance_status(DST, replica, "storage-optimization")["status"] == "storage-optimization"
        assert EM.instance_status(DST, replica)["held"] is True
        answer = EM.ok("PUT", f"/instances/{DST}/{replica}/status", {"status": None})
        assert answer == {"region": DST, "id": replica, "status": "available", "held": False}, answer
        answer = EM.rds(DST).promote_read_replica(DBInstanceIdentifier=replica)["DBInstance"]
        assert answer["DBInstanceStatus"] == "modifying", answer["DBInstanceStatus"]
        # A hold set during the promotion masks it; released, the instance shows where it is.
        EM.hold_instance_status(DST, replica, "backing-up")
        time.sleep(0.3)
        db = describe(DST, replica)
        assert db["DBInstanceStatus"] == "backing-up", db["DBInstanceStatus"]
        assert EM.release_instance_status(DST, replica) == {"region": DST, "id": replica, "status": "available", "held": False}
        db = describe(DST, replica)
        assert db["DBInstanceStatus"] == "available" and not db.get("ReadReplicaSourceDBInstanceIdentifier"), db
    finally:
        EM.set_promotions(seconds=2)


@check
def instance_status_control_validates() -> None:
    EM.create_db_instance(SRC, "plain-db")
    for body in ({}, {"status": "available"}, {"status": "Backing Up"}, {"status": 3}):
        status, answer = EM.control("PUT", f"/instances/{SRC}/plain-db/status", body)
        assert status == 400 and "status" in answer["error"], (body, status, answer)
    status, answer = EM.control("PUT", f"/instances/{SRC}/nope/status", {"status": "backing-up"})
    assert status == 404 and "nope" in answer["error"], (status, answer)
    status, answer = EM.control("PUT", f"/instances/{DST}/plain-db/status", {"status": "backing-up"})
    assert status == 404, (status, answer)  # it is in SRC
    status, answer = EM.control("PUT", "/promotions", {"seconds": -1})
    assert status == 400, (status, answer)
    status, answer = EM.control("PUT", "/promotions", {"hold": "yes"})
    assert status == 400, (status, answer)
    status, answer = EM.control("PUT", "/promotions", {})
    assert status == 400, (status, answer)


@check
def promote_of_a_non_replica_or_an_unknown_id_is_refused() -> None:
    msg = expect_error("InvalidDBInstanceState", EM.rds(SRC).promote_read_replica, DBInstanceIdentifier="plain-db")
    assert msg == NOT_A_REPLICA, msg
    try:
        EM.rds(SRC).promote_read_replica(DBInstanceIdentifier="no-such-db")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "DBInstanceNotFound", e.response["Error"]
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response["ResponseMetadata"]
    else:
        raise AssertionError("promote of an unknown id accepted")


@check
def launcher_option_sets_the_promotion_time() -> None:
    em = Emulator("--promotion-seconds", "0")
    try:
        assert em.promotions()["seconds"] == 0.0
        em.create_db_instance(SRC, "zero-primary")
        em.rds(SRC).create_db_instance_read_replica(DBInstanceIdentifier="zero-replica", SourceDBInstanceIdentifier="zero-primary")
        answer = em.rds(SRC).promote_read_replica(DBInstanceIdentifier="zero-replica")["DBInstance"]
        assert answer["DBInstanceStatus"] == "modifying", answer  # the answer is always the start
        db = em.rds(SRC).describe_db_instances(DBInstanceIdentifier="zero-replica")["DBInstances"][0]
        assert db["DBInstanceStatus"] == "available" and not db.get("ReadReplicaSourceDBInstanceIdentifier"), db
    finally:
        em.stop()


# --------------------------------------------------------------------------------------------
# 1a. RDS reboot over time
# --------------------------------------------------------------------------------------------
NOT_REBOOTABLE = "Instance cannot currently reboot due to an in-progress management operation."


def set_reboots(**settings: Any) -> dict[str, Any]:
    return EM.ok("PUT", "/reboots", settings)


def release_reboots(**where: str) -> list[dict[str, str]]:
    return EM.ok("POST", "/reboots/release", where)["released"]


@check
def default_reboot_time_is_one_second() -> None:
    state = EM.ok("GET", "/reboots")
    assert state == {"seconds": 1.0, "hold": False, "reboots": []}, state


@check
def reboot_goes_rebooting_then_available_over_the_set_time() -> None:
    seconds = 0.8
    assert set_reboots(seconds=seconds)["seconds"] == seconds
    try:
        before = EM.create_db_instance(SRC, "reboot-db")
        started = time.time()
        answer = EM.rds(SRC).reboot_db_instance(DBInstanceIdentifier="reboot-db")["DBInstance"]
        assert answer["DBInstanceStatus"] == "rebooting", answer["DBInstanceStatus"]
        flight = EM.ok("GET", "/reboots")["reboots"]
        assert [(r["region"], r["id"], r["status"]) for r in flight] == [(SRC, "reboot-db", "rebooting")], flight
        assert abs(flight[0]["available_at"] - flight[0]["started_at"] - seconds) < 1e-6, flight
        # A reboot of an instance already rebooting is refused and changes nothing.
        try:
            EM.rds(SRC).reboot_db_instance(DBInstanceIdentifier="reboot-db")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "InvalidDBInstanceState", e.response["Error"]
            assert e.response["Error"]["Message"] == NOT_REBOOTABLE, e.response["Error"]
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response["ResponseMetadata"]
        else:
            raise AssertionError("reboot of a rebooting instance accepted")
        assert EM.ok("GET", "/reboots")["reboots"][0]["available_at"] == flight[0]["available_at"]
        seen = []
        while True:
            t0 = time.time()
            db = describe(SRC, "reboot-db")
            t1 = time.time()
            status = db["DBInstanceStatus"]
            assert db["Endpoint"] == before["Endpoint"], db["Endpoint"]
            if status == "rebooting":
                assert t0 < flight[0]["available_at"], (status, t0 - started)
            else:
                assert status == "available" and t1 >= flight[0]["available_at"], (status, t1 - started)
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == "available":
                break
            assert t1 < started + seconds + 5, f"still {status}"
            time.sleep(0.05)
        assert seen == ["rebooting", "available"], seen
        assert EM.ok("GET", "/reboots")["reboots"] == []
        # Available again: it can be rebooted again.
        EM.rds(SRC).reboot_db_instance(DBInstanceIdentifier="reboot-db")
        assert release_reboots() == [{"region": SRC, "id": "reboot-db"}]
        assert describe(SRC, "reboot-db")["DBInstanceStatus"] == "available"
    finally:
        set_reboots(seconds=1, hold=False)
    try:
        EM.rds(SRC).reboot_db_instance(DBInstanceIdentifier="no-such-db")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "DBInstanceNotFound", e.response["Error"]
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response["ResponseMetadata"]
    else:
        raise AssertionError("reboot of an unknown id accepted")


@check
def reboot_of_an_instance_that_is_not_available_is_refused() -> None:
    EM.create_db_instance(SRC, "busy-db")
    # A held status (a backup in progress).
    EM.hold_instance_status(SRC, "busy-db", "backing-up")
    msg = expect_error("InvalidDBInstanceState", EM.rds(SRC).reboot_db_instance, DBInstanceIdentifier="busy-db")
    assert msg == NOT_REBOOTABLE, msg
    assert EM.ok("GET", "/reboots")["reboots"] == []
    assert describe(SRC, "busy-db")["DBInstanceStatus"] == "backing-up"
    EM.release_instance_status(SRC, "busy-db")
    # A stopped instance.
    EM.rds(SRC).stop_db_instance(DBInstanceIdentifier="busy-db")
    assert describe(SRC, "busy-db")["DBInstanceStatus"] == "stopped"
    expect_error("InvalidDBInstanceState", EM.rds(SRC).reboot_db_instance, DBInstanceIdentifier="busy-db")
    assert describe(SRC, "busy-db")["DBInstanceStatus"] == "stopped"
    # A promotion in flight wins: the reboot is refused, the promotion goes on.
    EM.set_promotions(seconds=0.4)
    try:
        primary_arn, replica = make_replica_pair("promoting")
        EM.rds(DST).promote_read_replica(DBInstanceIdentifier=replica)
        expect_error("InvalidDBInstanceState", EM.rds(DST).reboot_db_instance, DBInstanceIdentifier=replica)
        assert EM.ok("GET", "/reboots")["reboots"] == []
        assert describe(DST, replica)["DBInstanceStatus"] in ("modifying", "rebooting")
        db = wait_available(DST, replica)
        assert not db.get("ReadReplicaSourceDBInstanceIdentifier"), db
        # and a reboot in flight refuses a promotion
        set_reboots(hold=True)
        _, other = make_replica_pair("rebooting")
        EM.rds(DST).reboot_db_instance(DBInstanceIdentifier=other)
        msg = expect_error("InvalidDBInstanceState", EM.rds(DST).promote_read_replica, DBInstanceIdentifier=other)
        assert msg == NOT_AVAILABLE, msg
        assert release_reboots(id=other) == [{"region": DST, "id": other}]
        db = describe(DST, other)
        assert db["DBInstanceStatus"] == "available" and db["ReadReplicaSourceDBInstanceIdentifier"], db
        del primary_arn
    finally:
        EM.set_promotions(seconds=2)
        set_reboots(seconds=1, hold=False)


@check
def held_reboot_stays_rebooting_until_released_and_a_held_status_masks_it() -> None:
    state = set_reboots(seconds=0.1, hold=True)
    assert (state["seconds"], state["hold"]) == (0.1, True), state
    try:
        EM.create_db_instance(SRC, "held-reboot-db")
        EM.rds(SRC).reboot_db_instance(DBInstanceIdentifier="held-reboot-db")
        flight = EM.ok("GET", "/reboots")["reboots"]
        assert len(flight) == 1 and flight[0]["available_at"] is None and flight[0]["status"] == "rebooting", flight
        time.sleep(0.3)  # longer than the reboot time: a hold ignores it
        assert describe(SRC, "held-reboot-db")["DBInstanceStatus"] == "rebooting"
        # A held status masks the reboot; released, the reboot shows again.
        EM.hold_instance_status(SRC, "held-reboot-db", "backing-up")
        assert describe(SRC, "held-reboot-db")["DBInstanceStatus"] == "backing-up"
        assert EM.ok("GET", "/reboots")["reboots"][0]["status"] == "backing-up"
        answer = EM.release_instance_status(SRC, "held-reboot-db")
        assert answer == {"region": SRC, "id": "held-reboot-db", "status": "rebooting", "held": False}, answer
        assert release_reboots(region=DST) == []  # another region: nothing
        assert release_reboots(region=SRC, id="other-db") == []
        assert release_reboots(region=SRC, id="held-reboot-db") == [{"region": SRC, "id": "held-reboot-db"}]
        assert describe(SRC, "held-reboot-db")["DBInstanceStatus"] == "available"
        assert EM.ok("GET", "/reboots")["reboots"] == []
        # A hold set on the instance while its reboot completes: the hold stays, then available.
        set_reboots(seconds=0.2, hold=False)
        EM.rds(SRC).reboot_db_instance(DBInstanceIdentifier="held-reboot-db")
        EM.hold_instance_status(SRC, "held-reboot-db", "storage-optimization")
        time.sleep(0.4)
        assert describe(SRC, "held-reboot-db")["DBInstanceStatus"] == "storage-optimization"
        assert EM.ok("GET", "/reboots")["reboots"] == []
        assert EM.release_instance_status(SRC, "held-reboot-db")["status"] == "available"
    finally:
        set_reboots(seconds=1, hold=False)
    state = EM.ok("GET", "/reboots")
    assert state == {"seconds": 1.0, "hold": False, "reboots": []}, state


@check
def reboot_control_validates() -> None:
    for body in ({}, {"seconds": -1}, {"seconds": "1"}, {"seconds": True}, {"hold": "yes"}):
        status, answer = EM.control("PUT", "/reboots", body)
        assert status == 400 and ("seconds" in answer["error"] or "hold" in answer["error"]), (body, status, answer)
    status, answer = EM.control("POST", "/reboots/release", {"region": 3})
    assert status == 400, (status, answer)
    assert EM.ok("GET", "/reboots") == {"seconds": 1.0, "hold": False, "reboots": []}


@check
def launcher_option_sets_the_reboot_time() -> None:
    em = Emulator("--reboot-seconds", "0")
    try:
        assert em.ok("GET", "/reboots")["seconds"] == 0.0
        em.create_db_instance(SRC, "zero-reboot")
        answer = em.rds(SRC).reboot_db_instance(DBInstanceIdentifier="zero-reboot")["DBInstance"]
        assert answer["DBInstanceStatus"] == "rebooting", answer  # the answer is always the start
        db = em.rds(SRC).describe_db_instances(DBInstanceIdentifier="zero-reboot")["DBInstances"][0]
        assert db["DBInstanceStatus"] == "available", db
    finally:
        em.stop()


# --------------------------------------------------------------------------------------------
# 2. Route 53 health checkers
# --------------------------------------------------------------------------------------------
HC: dict[str, str] = {}


@check
def replicas_report_read_replication_status_and_a_test_can_set_it() -> None:
    primary_arn, replica = make_replica_pair("statusinfos")
    infos = describe(DST, replica)["StatusInfos"]
    assert infos == [{"StatusType": "read replication", "Normal": True, "Status": "replicating"}], infos
    assert describe(SRC, "statusinfos-primary").get("StatusInfos", []) == []
    EM.set_replication(DST, replica, "error", "source unreachable")
    info = describe(DST, replica)["StatusInfos"][0]
    assert (info["Status"], info["Normal"], info["Message"]) == ("error", False, "source unreachable"), info
    EM.set_replication(DST, replica, None)
    assert describe(DST, replica)["StatusInfos"][0]["Status"] == "replicating"
    # StopDBInstance of a primary that still has its replica is refused, as RDS does
    expect_error("InvalidDBInstanceState", EM.rds(SRC).stop_db_instance, DBInstanceIdentifier="statusinfos-primary")
    del primary_arn


@check
def metric_statistics_are_stamped_with_the_start_of_their_minute() -> None:
    import datetime as dt

    cw = EM.client("cloudwatch", DST)
    now = dt.datetime.now(dt.timezone.utc).replace(second=30, microsecond=250000)
    dims = [{"Name": "DBInstanceIdentifier", "Value": "aligned"}]
    cw.put_metric_data(Namespace="AWS/RDS", MetricData=[
        {"MetricName": "ReplicaLag", "Dimensions": dims, "Value": v, "Timestamp": now - dt.timedelta(seconds=s)}
        for v, s in ((4.0, 0), (9.0, 20), (2.0, 60))
    ])
    out = cw.get_metric_statistics(
        Namespace="AWS/RDS", MetricName="ReplicaLag", Dimensions=dims, Period=60, Statistics=["Maximum"],
        StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1),
    )["Datapoints"]
    got = sorted((p["Timestamp"].astimezone(dt.timezone.utc), p["Maximum"]) for p in out)
    minute = now.replace(second=0, microsecond=0)
    assert got == [(minute - dt.timedelta(minutes=1), 2.0), (minute, 9.0)], got


def health_check_id() -> str:
    if "id" not in HC:
        HC["id"] = EM.client("route53", SRC).create_health_check(
            CallerReference="conditions",
            HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "db.example.com", "Port": 443, "ResourcePath": "/"},
        )["HealthCheck"]["Id"]
    return HC["id"]


def statuses() -> list[dict[str, Any]]:
    return EM.client("route53", SRC).get_health_check_status(HealthCheckId=health_check_id())["HealthCheckObservations"]


@check
def health_check_has_eight_checkers_by_default() -> None:
    obs = statuses()
    assert [o["Region"] for o in obs] == CHECKER_REGIONS, [o["Region"] for o in obs]
    assert all(o["StatusReport"]["Status"] == SUCCESS for o in obs), obs
    assert all(o["StatusReport"]["CheckedTime"] for o in obs), obs
    addresses = [o["IPAddress"] for o in obs]
    assert len(set(addresses)) == 8 and all(a.count(".") == 3 for a in addresses), addresses
    answer = EM.ok("GET", f"/health-checks/{health_check_id()}")
    assert answer == {"id": health_check_id(), "checkers": 8, "healthy_checkers": 8, "status": "Success"}, answer


@check
def health_check_three_of_eight_healthy() -> None:
    answer = EM.set_health_check(health_check_id(), healthy_checkers=3)
    # Route 53: more than 18% of checkers healthy is healthy.
    assert answer == {"id": health_check_id(), "checkers": 8, "healthy_checkers": 3, "status": "Success"}, answer
    obs = statuses()
    reports = [o["StatusReport"]["Status"] for o in obs]
    assert reports[:3] == [SUCCESS] * 3, reports
    assert all(r.startswith(FAILURE_PREFIX) for r in reports[3:]) and len(reports) == 8, reports
    assert [o["Region"] for o in obs[:3]] == CHECKER_REGIONS[:3]
    assert [o["StatusReport"]["Status"] for o in statuses()] == reports  # deterministic
    assert EM.set_health_check(health_check_id(), healthy_checkers=1)["status"] == "Failure"  # 12.5%


@check
def health_check_sixteen_checkers_and_status_shorthand() -> None:
    answer = EM.set_health_check(health_check_id(), healthy_checkers=5, checkers=16)
    assert answer["checkers"] == 16 and answer["status"] == "Success", answer
    obs = statuses()
    assert [o["Region"] for o in obs] == CHECKER_REGIONS * 2, [o["Region"] for o in obs]
    assert len({o["IPAddress"] for o in obs}) == 16
    assert [o["StatusReport"]["Status"] == SUCCESS for o in obs] == [True] * 5 + [False] * 11
    # The existing shorthand: every checker.
    assert EM.set_health_check(health_check_id(), status="Failure")["healthy_checkers"] == 0
    assert all(o["StatusReport"]["Status"].startswith(FAILURE_PREFIX) for o in statuses())
    assert len(statuses()) == 8
    assert EM.set_health_check(health_check_id(), status="Success") == {
        "id": health_check_id(), "checkers": 8, "healthy_checkers": 8, "status": "Success",
    }
    assert all(o["StatusReport"]["Status"] == SUCCESS for o in statuses())


@check
def health_check_control_validates() -> None:
    path = f"/health-checks/{health_check_id()}"
    bad = [
        ({"healthy_checkers": 9}, "healthy_checkers"),
        ({"healthy_checkers": -1}, "healthy_checkers"),
        ({"healthy_checkers": "3"}, "healthy_checkers"),
        ({"healthy_checkers": True}, "healthy_checkers"),
        ({"healthy_checkers": 3, "checkers": 0}, "checkers"),
        ({"healthy_checkers": 3, "checkers": 17}, "checkers"),
        ({"healthy_checkers": 3, "checkers": 2}, "healthy_checkers"),
        ({"status": "Healthy"}, "status"),
        ({"status": "Success", "healthy_checkers": 3}, "either"),
        ({}, "either"),
    ]
    for body, word in bad:
        status, answer = EM.control("PUT", path, body)
        assert status == 400 and word in answer["error"], (body, status, answer)
    assert [o["StatusReport"]["Status"] for o in statuses()] == [SUCCESS] * 8  # unchanged
    assert EM.set_health_check(health_check_id(), healthy_checkers=0, checkers=1)["status"] == "Failure"
    assert EM.set_health_check(health_check_id(), healthy_checkers=16, checkers=16)["status"] == "Success"
    EM.set_health_check(health_check_id(), status="Success")
    expect_error("NoSuchHealthCheck", EM.client("route53", SRC).get_health_check_status, HealthCheckId="no-such-check")


# --------------------------------------------------------------------------------------------
# 3. Outages
# --------------------------------------------------------------------------------------------
@check
def outage_refused_closes_the_connection_without_an_answer() -> None:
    EM.create_db_instance(DST, "elsewhere-db")
    outage = EM.add_outage(SRC, "refused", service="rds")
    assert outage == {"id": outage["id"], "region": SRC, "service": "rds", "actions": None, "mode": "refused", "seconds": None, "hanging": 0}, outage
    try:
        EM.clear_requests()
        try:
            EM.rds(SRC).describe_db_instances()
        except ConnectionClosedError:
            pass
        else:
            raise AssertionError("a refused request got an answer")
        # Not one byte of HTTP: the connection is simply closed.
        received, _ = raw_request(EM, SRC, "rds", "Action=DescribeDBInstances&Version=2014-10-31")
        assert received == b"", received[:200]
        # Another region, another service of the region, and the control API still work.
        assert "elsewhere-db" in [d["DBInstanceIdentifier"] for d in EM.rds(DST).describe_db_instances()["DBInstances"]]
        EM.client("sns", SRC).list_topics()
        assert [o["id"] for o in EM.outages()] == [outage["id"]]
        log = [(r["service"], r["region"], r["action"], r["status"], r.get("outage")) for r in EM.requests()]
        assert log == [
            ("rds", SRC, "DescribeDBInstances", 0, "refused"),
            ("rds", SRC, "DescribeDBInstances", 0, "refused"),
            ("rds", DST, "DescribeDBInstances", 200, None),
            ("sns", SRC, "ListTopics", 200, None),
        ], log
    finally:
        assert EM.clear_outages() == {"cleared": 1, "released": 0}
    EM.rds(SRC).describe_db_instances()
    assert EM.outages() == []


@check
def outage_timeout_hangs_then_closes_without_an_answer() -> None:
    EM.add_outage(DST, "timeout", seconds=1)
    try:
        EM.clear_requests()
        # The SDK gives up first (its read timeout), as pilotlight's 20 s attempt timeout would.
        started = time.monotonic()
        try:
            short_client(EM, "rds", DST, read_timeout=0.3).describe_db_instances()
        except ReadTimeoutError:
            pass
        else:
            raise AssertionError("a request into a timed-out region got an answer")
        assert time.monotonic() - started < 1.0
        # Meanwhile the other region answers.
        EM.rds(SRC).describe_db_instances()
        # A client that waits: nothing, then the connection closes once `seconds` have passed.
        received, took = raw_request(EM, DST, "rds", "Action=DescribeDBInstances&Version=2014-10-31")
        assert received == b"" and 0.9 <= took < 5, (received[:200], took)
        assert all(r.get("outage") == "timeout" and r["status"] == 0 for r in EM.requests() if r["region"] == DST and r["service"] == "rds")
    finally:
        EM.clear_outages()


@check
def clearing_outages_releases_hanging_requests_at_once() -> None:
    EM.add_outage(DST, "timeout", service="rds", seconds=30)
    out: dict[str, Any] = {}

    def hang() -> None:
        out["received"], out["took"] = raw_request(EM, DST, "rds", "Action=DescribeDBInstances&Version=2014-10-31", timeout=40)

    thread = threading.Thread(target=hang, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while EM.outages()[0]["hanging"] != 1:
        assert time.monotonic() < deadline, EM.outages()
        time.sleep(0.05)
    assert EM.clear_outages() == {"cleared": 1, "released": 1}
    thread.join(5)
    assert not thread.is_alive(), "the hanging request was not released"
    assert out["received"] == b"" and out["took"] < 10, out
    EM.rds(DST).describe_db_instances()


@check
def route53_control_plane_down_while_reads_work() -> None:
    r53 = EM.client("route53", SRC)
    zone = r53.create_hosted_zone(Name="conditions.example.com", CallerReference="conditions")["HostedZone"]["Id"]

    def change(value: str) -> dict[str, Any]:
        return r53.change_resource_record_sets(
            HostedZoneId=zone,
            ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
                "Name": "db.conditions.example.com", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": value}],
            }}]},
        )["ChangeInfo"]

    change_id = change("old.example.com")["Id"]
    EM.add_outage(SRC, "5xx", service="route53", actions=["ChangeResourceRecordSets", "GetChange"])
    try:
        EM.clear_requests()
        msg = expect_error("ServiceUnavailable", change, "new.example.com")
        assert msg == "The request has failed due to a temporary failure of the server.", msg
        expect_error("ServiceUnavailable", r53.get_change, Id=change_id)
        records = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        cname = [r for r in records if r["Type"] == "CNAME"]
        assert cname[0]["ResourceRecords"] == [{"Value": "old.example.com"}], cname  # the change did not happen
        statuses()  # GetHealthCheckStatus: not in the outage
        EM.rds(SRC).describe_db_instances()  # same region, another service
        log = [(r["action"], r["status"], r.get("outage")) for r in EM.requests()]
        assert log == [
            ("ChangeResourceRecordSets", 503, "5xx"),
            ("GetChange", 503, "5xx"),
            ("ListResourceRecordSets", 200, None),
            ("GetHealthCheckStatus", 200, None),
            ("DescribeDBInstances", 200, None),
        ], log
    finally:
        EM.clear_outages()
    change("new.example.com")
    r53.get_change(Id=change_id)


@check
def outage_of_a_whole_region_and_5xx_of_a_json_service() -> None:
    EM.add_outage(SRC, "5xx")
    try:
        expect_error("ServiceUnavailable", EM.rds(SRC).describe_db_instances)
        expect_error("ServiceUnavailable", EM.client("route53", SRC).list_hosted_zones)  # signed for us-east-1
        try:
            EM.client("lambda", SRC).list_functions()
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e.response
        else:
            raise AssertionError("lambda answered during a regional outage")
        EM.rds(DST).describe_db_instances()
    finally:
        EM.clear_outages()


@check
def outage_control_validates() -> None:
    bad = [
        ({"mode": "5xx"}, "region"),
        ({"region": SRC, "mode": "down"}, "mode"),
        ({"region": SRC}, "mode"),
        ({"region": SRC, "mode": "refused", "seconds": 5}, "seconds"),
        ({"region": SRC, "mode": "timeout", "seconds": 0}, "seconds"),
        ({"region": SRC, "mode": "timeout", "seconds": "1"}, "seconds"),
        ({"region": SRC, "mode": "5xx", "actions": []}, "actions"),
        ({"region": SRC, "mode": "5xx", "actions": "GetChange"}, "actions"),
        ({"region": SRC, "mode": "5xx", "service": ""}, "service"),
    ]
    for body, word in bad:
        status, answer = EM.control("PUT", "/outages", body)
        assert status == 400 and word in answer["error"], (body, status, answer)
    assert EM.outages() == []
    first = EM.add_outage(DST, "timeout")
    assert first["seconds"] == 60, first  # longer than the SDK's 20 s attempt timeout
    second = EM.add_outage(DST, "refused", service="sns")
    assert [o["id"] for o in EM.outages()] == [first["id"], second["id"]]
    assert EM.clear_outages() == {"cleared": 2, "released": 0}
    assert EM.outages() == []


# --------------------------------------------------------------------------------------------
def main() -> int:
    global EM
    EM = Emulator()

    def undo() -> None:  # a failed check must not leave its conditions behind for the next ones
        EM.clear_outages()
        EM.set_promotions(seconds=2, hold=False)
        EM.release_promotions()
        EM.ok("PUT", "/reboots", {"seconds": 1, "hold": False})
        EM.ok("POST", "/reboots/release", {})

    try:
        return run_checks(CHECKS, after_failure=undo)
    finally:
        EM.stop()


if __name__ == "__main__":
    sys.exit(main())
