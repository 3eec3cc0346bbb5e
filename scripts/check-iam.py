#!/usr/bin/env python3
"""Least privilege as a test: every AWS action each function calls is allowed by that function's
role in BOTH infra/sam/template.yaml and the Terraform module, and no role allows an action its
function never calls.

Usage: python scripts/check-iam.py --calls CALLS.jsonl [--terraform POLICIES.json]

* ``CALLS.jsonl``: what the functions called across the test suite, as the emulator records it when
  ``PILOTLIGHT_IAM_LOG`` is set (``emulator/iam_enforcement.py``): one line per request signed
  with a function role, ``{"function", "role", "checks": [{"action", "resource", "allowed", "why"}]}``.
  A call the emulator denied is a failure here too (a function that swallows AccessDenied, such as
  a discovery that skips what it cannot list, would otherwise pass its own test).
* ``POLICIES.json``: ``{"<function>": [policy document, ...]}`` of the Terraform module as applied
  to the emulator by ``scripts/check-infra.sh`` (read back with ``iam get-role-policy``). Without
  it the Terraform half is skipped with a message.
* SAM: the template's role policies with every optional statement present (non-empty alarm,
  health check, KMS key, Aurora global database and drill validation function parameters).

Actions are compared at the action level (``rds:DescribeDBInstances``, wildcards such as
``kms:ReEncrypt*`` matched as IAM does); resources and conditions are enforced while the tests run.
Permissions AWS uses on a function's behalf, which never appear as a request of the function, are
listed in ``IMPLIED`` with the document that requires them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "emulator"))
import iam_enforcement  # noqa: E402

FUNCTIONS = ("router", "failover", "snapshot-copy", "retention")

_LAMBDA_ROLE = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html"
_LAMBDA_DLQ = "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html"
_RDS_KMS = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.Keys.html"

# Action -> why a function's role needs it although the function never calls it itself.
_COMMON = {
    "logs:CreateLogStream": f"Lambda writes the function's logs with its execution role ({_LAMBDA_ROLE})",
    "logs:PutLogEvents": f"Lambda writes the function's logs with its execution role ({_LAMBDA_ROLE})",
    "sqs:SendMessage": f"Lambda sends failed asynchronous events to the dead-letter queue with the execution role ({_LAMBDA_DLQ})",
}
_KMS = {
    action: f"RDS uses the KMS key on the caller's behalf when CopyDBSnapshot/CopyDBClusterSnapshot re-encrypts with KmsKeyId ({_RDS_KMS})"
    for action in ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey")
}
# failover's DR drill restores encrypted snapshot copies, and its failback makes a cross-Region
# read replica of an encrypted DR writer with the old primary's key (KmsKeyId): RDS uses the keys on
# its behalf.
_KMS_RESTORE = {
    action: f"RDS uses the KMS key on the caller's behalf when RestoreDBInstanceFromDBSnapshot restores an encrypted snapshot (the DR drill) and when CreateDBInstanceReadReplica encrypts the failback's replica with KmsKeyId ({_RDS_KMS})"
    for action in ("kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey")
}
IMPLIED = {
    "router": dict(_COMMON),
    "failover": {**_COMMON, **_KMS_RESTORE},
    "snapshot-copy": {**_COMMON, **_KMS},
    "retention": dict(_COMMON),
}


def sam_policies() -> dict[str, list[dict]]:
    # The emulator's partition and account (the template's AWS::Partition and AWS::AccountId there).
    p, a = iam_enforcement.PARTITION, iam_enforcement.ACCOUNT
    arn = f"arn:{p}:rds:us-east-1:{a}:db:x"
    params = {
        "NamePrefix": "pilotlight",
        "PilotlightConfig": "{}",
        "PrimaryInstanceArns": arn,
        "ReplicaInstanceArns": arn.replace("us-east-1", "us-west-2"),
        "AuroraGlobalClusterArns": f"arn:{p}:rds::{a}:global-cluster:g",
        "AuroraClusterArns": f"arn:{p}:rds:us-east-1:{a}:cluster:c,arn:{p}:rds:us-west-2:{a}:cluster:c2",
        "HostedZoneIds": "Z1",
        "RecordNames": "db.example.internal",
        "AlarmArns": f"arn:{p}:cloudwatch:us-east-1:{a}:alarm:x",
        "HealthCheckIds": "hc",
        # A source snapshot's key (primary region) and a copy's key (DR region).
        "KmsKeyArns": f"arn:{p}:kms:us-east-1:{a}:key/source,arn:{p}:kms:us-west-2:{a}:key/k",
        "DrillValidationFunctionArn": f"arn:{p}:lambda:us-west-2:{a}:function:drill-check",
    }
    tpl = iam_enforcement.Template(os.path.join(ROOT, "infra/sam/template.yaml"), params, "us-west-2")
    return tpl.function_policies()


def allowed_patterns(policies: list[dict]) -> list[str]:
    out: list[str] = []
    for policy in policies:
        statements = policy.get("Statement", [])
        for stmt in statements if isinstance(statements, list) else [statements]:
            if stmt.get("Effect") != "Allow":
                continue
            actions = stmt.get("Action", [])
            for action in actions if isinstance(actions, list) else [actions]:
                if action not in out:
                    out.append(action)
    return out


def glob(pattern: str, value: str) -> bool:
    regex = "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"
    return re.match(regex, value, re.IGNORECASE) is not None


def compare(source: str, policies: dict[str, list[dict]], called: dict[str, set[str]]) -> list[str]:
    problems = []
    for function in FUNCTIONS:
        patterns = allowed_patterns(policies.get(function, []))
        if function not in policies:
            problems.append(f"{source}: no role for {function}")
            continue
        for action in sorted(called.get(function, set())):
            if not any(glob(p, action) for p in patterns):
                problems.append(f"{source}: {function} calls {action}, which its role does not allow")
        implied = IMPLIED[function]
        for pattern in patterns:
            used = any(glob(pattern, a) for a in called.get(function, set()))
            if not used and pattern not in implied:
                problems.append(
                    f"{source}: {function}'s role allows {pattern}, which the function never calls in the test suite (least privilege: remove it, or test the call)"
                )
        print(f"  {source:9} {function:13} allows {len(patterns):2} actions; called {len(called.get(function, set())):2}; implied {sorted(set(patterns) & set(implied))}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", required=True)
    parser.add_argument("--terraform")
    args = parser.parse_args()
    if not os.path.exists(args.calls):
        print(f"check-iam: FAIL: no call log at {args.calls} (run the cargo tests with PILOTLIGHT_IAM_LOG set: make test)")
        return 1
    called: dict[str, set[str]] = {}
    denied: list[str] = []
    requests = 0
    with open(args.calls, encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            requests += 1
            for check in entry["checks"]:
                called.setdefault(entry["function"], set()).add(check["action"])
                if not check["allowed"]:
                    denied.append(f"{entry['function']}: {check['action']} on {check['resource']} ({check['why']})")
    print(f"check-iam: {requests} requests of function roles in {args.calls}")
    for function in FUNCTIONS:
        print(f"  {function:13} calls {sorted(called.get(function, set()))}")
    problems = [f"denied while the tests ran: {d}" for d in sorted(set(denied))]
    problems += compare("SAM", sam_policies(), called)
    if args.terraform and os.path.exists(args.terraform):
        with open(args.terraform, encoding="utf-8") as f:
            problems += compare("Terraform", json.load(f), called)
    else:
        print(f"check-iam: SKIP Terraform: no policies at {args.terraform or '(not given)'} "
              "(scripts/check-infra.sh writes them after applying the example to the emulator; it needs terraform and its local plugin directory)")
    for function in FUNCTIONS:
        for action, why in IMPLIED[function].items():
            print(f"  implied {function:13} {action:22} {why}")
    if problems:
        for p in problems:
            print(f"check-iam: FAIL: {p}")
        return 1
    print("check-iam: OK: SAM and Terraform roles allow exactly what each function calls (plus the implied permissions above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
