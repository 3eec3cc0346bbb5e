"""IAM enforcement for pilotlight's emulator: every request signed with a function's credentials is
authorised against that function's role *as written in our own templates*, the way AWS's policy
evaluation logic decides it, before moto sees it.

moto 5.2 can enforce IAM (``INITIAL_NO_AUTH_ACTION_COUNT``), but it evaluates every statement
against the resource ``*`` and conditions only against a few request keys
(``moto/iam/access_control.py``: "TODO add support for the Resource and Condition parts of IAM
policies"), so a least-privilege role (resource ARNs, tag conditions) is refused everything. This
module evaluates the parts pilotlight's roles use instead:

* **Action**: ``service:Action`` with ``*``/``?`` wildcards, case-insensitive.
* **Resource / NotResource**: the ARNs the request acts on, derived from its parameters per action
  (table ``_RESOURCES`` below, after the *Resource types* column of the Service Authorization
  Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html
  and the pages for Route 53, CloudWatch, SNS, Lambda, KMS and DynamoDB). Every resource must be allowed
  (an action with two required resource types, such as ``CopyDBSnapshot``'s source and target
  snapshots, needs both). A list call without an identifier acts on ``arn:...:db:*`` and the like.
  A global cluster's ARN has no region (``arn:<partition>:rds::<account>:global-cluster:<id>``):
  ``DescribeGlobalClusters`` acts on it, ``FailoverGlobalCluster``, ``SwitchoverGlobalCluster`` and
  ``RemoveFromGlobalCluster`` on it and on the cluster they name (resource types ``cluster*`` and
  ``global-cluster*``).
  Cross-Region automated backups replication (its rows of the same reference):
  ``StartDBInstanceAutomatedBackupsReplication`` acts on the source instance
  (``SourceDBInstanceArn``, resource type ``db*``, with ``rds:db-tag/*``) and on the replicated backup
  it makes in the region called (``auto-backup*``:
  ``arn:<partition>:rds:<region>:<account>:auto-backup:ab-<the source's DbiResourceId without db->``,
  ``...:auto-backup:*`` for a source the emulator does not hold), plus ``rds:AddTagsToResource`` on that
  backup when the request has ``Tags`` (the row's dependent action);
  ``StopDBInstanceAutomatedBackupsReplication`` acts on the source instance only (``db*``);
  ``DescribeDBInstanceAutomatedBackups`` (resource types ``auto-backup`` and ``db``, both optional) on
  ``DBInstanceAutomatedBackupsArn`` if given, else on the instance ``DBInstanceIdentifier`` names in the
  region called, else on ``...:auto-backup:*``.
  ``RestoreDBInstanceFromDBSnapshot`` (resource types ``db*``, ``og*``, ``pg*``, ``subgrp*``,
  ``snapshot``) acts on the new instance, the snapshot named (with ``rds:snapshot-tag/*``), the option
  group and DB parameter group given or else those the restore gives the instance (the engine's
  defaults, ``restore_patches.planned_groups``), and the DB subnet group given or else ``default``
  (AWS authorises a required type on what the instance will use: its CreateDBInstance example grants
  ``og:default*``, ``pg:default*``, ``subgrp:default`` for a request naming none of them,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-create-and-modify-examples.html),
  plus ``rds:AddTagsToResource`` on the new instance when the request has ``Tags``.
  An action with no resource-level permission acts on ``*``: only a statement whose Resource is
  ``*`` (or a pattern matching the literal ``*``) allows it, as IAM requires.
* **Condition**: the operators ``String(Not)Equals(IgnoreCase)``, ``String(Not)Like``,
  ``ArnLike``/``ArnEquals`` (and ``Not``), ``Bool``, ``Null``, with ``...IfExists`` and the
  ``ForAllValues:``/``ForAnyValue:`` set qualifiers, over the keys this module can compute:
  ``aws:RequestTag/*`` and ``aws:TagKeys`` (the request's ``Tags``), ``rds:snapshot-tag/*``,
  ``rds:cluster-snapshot-tag/*``, ``rds:db-tag/*``, ``rds:cluster-tag/*`` (the tags moto holds on
  the resource), and ``route53:ChangeResourceRecordSets{NormalizedRecordNames,RecordTypes,Actions}``
  (the change batch). A key missing from the request is handled as IAM documents it: "If the key
  that you specify in a policy condition is not present in the request context, the values do not
  match and the condition is false. If the policy condition requires that the key is not matched,
  such as StringNotLike or ArnNotLike, and the right key is not present, the condition is true"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html);
  ``ForAllValues`` over no values is true, ``ForAnyValue`` false.
* **Tag on create**: a create or copy request that carries ``Tags`` is also authorised for
  ``rds:AddTagsToResource`` on the new resource, with the same request tags ("If tags are specified
  in the create action, RDS performs additional authorization on the rds:AddTagsToResource
  action", https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html).
* Explicit ``Deny`` wins over any ``Allow``; no ``Allow`` is an implicit deny
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
  A denied request answers HTTP 403 ``AccessDenied`` (query APIs, Route 53) or
  ``AccessDeniedException`` (JSON and REST-JSON APIs) with AWS's message shape, and nothing changes.

Any other condition key fails closed (an ``Allow`` with it does not apply, a ``Deny`` does). Not
evaluated (listed in the README): the keys of calls RDS makes to KMS on the function's behalf
(``kms:ViaService``, ``kms:GrantIsForAWSResource``; the emulator does not model them, and a
function's own request never carries them), resource-based policies,
permission boundaries, SCPs, session policies, and request signatures (the access key identifies the
principal). Calls made by AWS on the function's behalf (Lambda writing its logs and sending failed
events to the dead-letter queue, RDS using the KMS keys) are not requests here: the IAM check in
``scripts/check-iam.py`` lists them as *implied* permissions with the AWS document that requires them.

Principals: ``POST /_pilotlight/iam/roles`` registers the roles of a template for one deployment
and answers one set of temporary credentials (``ASIA...`` access key, secret, session token) per
function. Requests signed with any other access key (the tests' own ``test`` key, an operator's)
are not restricted. Every request of a registered principal is recorded in the request log
(``principal``, ``iam``: ``[{"action", "resource", "allowed"}]``) and, when the environment
variable ``PILOTLIGHT_IAM_LOG`` names a file, appended to it as one JSON line, so the IAM check can
collect what each function calls across the whole test suite.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import threading
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, unquote

import yaml

ACCOUNT = "123456789012"
PARTITION = "aws"

_LOCK = threading.Lock()
# access key id -> {"function", "secret_access_key", "session_token", "policies", "role"}
_PRINCIPALS: dict[str, dict[str, Any]] = {}

# The four functions and their roles in infra/sam/template.yaml.
FUNCTIONS = ("router", "failover", "snapshot-copy", "retention")

# SigV4 signing name -> IAM service prefix.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses", "execute-api": "execute-api"}


# --------------------------------------------------------------------------------------------
# Templates: SAM (CloudFormation intrinsics) -> one policy list per function
# --------------------------------------------------------------------------------------------
class _Tag:
    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag_constructor(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _Tag(tag_suffix, value)


_CfnLoader.add_multi_constructor("!", _tag_constructor)

_NO_VALUE = object()


class Template:
    """A CloudFormation/SAM template with the intrinsics pilotlight's templates use resolved:
    ``Ref`` (parameters, pseudo parameters, resources), ``Fn::GetAtt X.Arn``, ``Fn::Sub``,
    ``Fn::Join``, ``Fn::Split``, ``Fn::If``, ``Fn::Equals``, ``Fn::Not``, ``Condition``."""

    # resource type -> (name property, ARN format with {name}, Ref returns the ARN?)
    _NAMES = {
        "AWS::SNS::Topic": ("TopicName", "arn:{p}:sns:{r}:{a}:{name}", True),
        "AWS::SQS::Queue": ("QueueName", "arn:{p}:sqs:{r}:{a}:{name}", False),
        "AWS::Logs::LogGroup": ("LogGroupName", "arn:{p}:logs:{r}:{a}:log-group:{name}:*", False),
        "AWS::Serverless::Function": ("FunctionName", "arn:{p}:lambda:{r}:{a}:function:{name}", False),
        "AWS::Lambda::Function": ("FunctionName", "arn:{p}:lambda:{r}:{a}:function:{name}", False),
        "AWS::KMS::Key": (None, "arn:{p}:kms:{r}:{a}:key/{logical}", False),
        "AWS::DynamoDB::Table": ("TableName", "arn:{p}:dynamodb:{r}:{a}:table/{name}", False),
        "AWS::IAM::Role": (None, "arn:{p}:iam::{a}:role/{logical}", False),
    }

    def __init__(self, path: str, parameters: dict[str, Any], region: str) -> None:
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
        self.region = region
        self.params: dict[str, Any] = {}
        for name, spec in (self.doc.get("Parameters") or {}).items():
            if name in parameters:
                value = parameters[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                raise ValueError(f"template parameter {name} has no value and no default")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",") if value else [""]
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, list) and not value:
                value = [""]
            self.params[name] = value
        self.params.update(
            {"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION, "AWS::URLSuffix": "amazonaws.com"}
        )
        self.conditions = {
            name: self.resolve(cond) for name, cond in (self.doc.get("Conditions") or {}).items()
        }

    def resource_name(self, logical: str, attribute: str) -> str:
        resource = self.doc["Resources"][logical]
        kind = resource["Type"]
        if kind not in self._NAMES:
            raise ValueError(f"cannot resolve {logical}.{attribute} of type {kind}")
        prop, fmt, _ = self._NAMES[kind]
        name = self.resolve(resource.get("Properties", {}).get(prop)) if prop else logical
        if attribute == "Ref" and kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{name}"
        if attribute == "Ref" and not self._NAMES[kind][2]:
            return str(name)
        return fmt.format(p=PARTITION, r=self.region, a=ACCOUNT, name=name, logical=logical)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.params:
            return self.params[name]
        if name in self.doc.get("Resources", {}):
            return self.resource_name(name, "Ref")
        raise ValueError(f"Ref to unknown {name}")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, _Tag):
            node = {("Ref" if node.name == "Ref" else ("Condition" if node.name == "Condition" else f"Fn::{node.name}")): node.value}
        if isinstance(node, list):
            out = [self.resolve(v) for v in node]
            return [v for v in out if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Condition" and isinstance(value, str) and hasattr(self, "conditions"):
                return self.conditions[value]
            if key == "Fn::GetAtt":
                logical, attribute = value.split(".", 1) if isinstance(value, str) else value
                return self.resource_name(logical, attribute)
            if key == "Fn::Sub":
                text, extra = (value, {}) if isinstance(value, str) else (value[0], self.resolve(value[1]))

                def sub(m: re.Match[str]) -> str:
                    var = m.group(1)
                    if var in extra:
                        return str(extra[var])
                    if "." in var:
                        logical, attribute = var.split(".", 1)
                        return self.resource_name(logical, attribute)
                    return str(self.ref(var))

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if key == "Fn::Join":
                sep, items = value[0], self.resolve(value[1])
                return sep.join(str(i) for i in items)
            if key == "Fn::Split":
                sep, text = value[0], self.resolve(value[1])
                return text.split(sep)
            if key == "Fn::If":
                name, yes, no = value
                return self.resolve(yes) if self.conditions[name] else self.resolve(no)
            if key == "Fn::Equals":
                a, b = (self.resolve(v) for v in value)
                return a == b
            if key == "Fn::Not":
                return not self.resolve(value[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in value)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in value)
        return {k: self.resolve(v) for k, v in node.items()}

    def function_policies(self) -> dict[str, list[dict[str, Any]]]:
        """{function key: [policy document, ...]} for every function whose ``Role`` is a role of
        this template; the key is the ``FunctionName`` without ``<NamePrefix>-``."""
        resources = self.doc["Resources"]
        prefix = f"{self.params.get('NamePrefix', '')}-"
        out: dict[str, list[dict[str, Any]]] = {}
        for logical, resource in resources.items():
            if resource.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                continue
            props = resource.get("Properties", {})
            role = props.get("Role")
            if not (isinstance(role, _Tag) and role.name == "GetAtt"):
                continue
            role_logical = role.value.split(".", 1)[0] if isinstance(role.value, str) else role.value[0]
            name = str(self.resolve(props.get("FunctionName")))
            key = name[len(prefix):] if name.startswith(prefix) else name
            role_props = resources[role_logical].get("Properties", {})
            policies = [self.resolve(p["PolicyDocument"]) for p in role_props.get("Policies", [])]
            out[key] = policies
        return out


def sam_parameters(config: dict[str, Any], account: str = ACCOUNT) -> dict[str, Any]:
    """The SAM parameters (``infra/sam/template.yaml``) a person deploying pilotlight with this
    pilotlight configuration passes, derived as ``infra/README.md`` tells them to:
    ``NamePrefix`` from ``notifications.topic_arn`` (``<NamePrefix>-notifications``), the instance
    ARNs of the RDS entries of ``databases`` (``kind`` absent or ``rds_replica``), the global
    cluster ARNs (``arn:<partition>:rds::<account>:global-cluster:<id>``, no region) and the
    primary and secondary cluster ARNs of the Aurora entries (``kind`` ``aurora_global``), the
    zones, normalized record names, alarm ARNs and health checks of every entry,
    ``KmsKeyArns`` from ``snapshots.kms_keys``, and ``DrillValidationFunctionArn`` from
    ``drill.validation_function`` (empty without one: no statement)."""
    topic = config["notifications"]["topic_arn"].rsplit(":", 1)[-1]
    prefix = topic[: -len("-notifications")] if topic.endswith("-notifications") else topic
    dbs = config.get("databases", [])
    rds, aurora = [], []
    for db in dbs:
        kind = db.get("kind") or "rds_replica"
        if kind == "rds_replica":
            rds.append(db)
        elif kind == "aurora_global":
            aurora.append(db)
        else:
            raise ValueError(f"databases[].kind `{kind}` is not a kind of database (rds_replica, aurora_global)")

    def arn(ref: dict[str, str]) -> str:
        return f"arn:{PARTITION}:rds:{ref['region']}:{account}:db:{ref['instance_id']}"

    def cluster_arn(ref: dict[str, str]) -> str:
        return f"arn:{PARTITION}:rds:{ref['region']}:{account}:cluster:{ref['cluster_id']}"

    def add(items: list[str], item: str) -> None:
        if item not in items:
            items.append(item)

    zones, names, alarms, checks = [], [], [], []
    for db in dbs:
        for record in db.get("records") or []:
            add(zones, record["hosted_zone_id"].removeprefix("/hostedzone/"))
            add(names, record["name"].lower().rstrip("."))
        for alarm in db.get("alarms") or []:
            alarms.append(f"arn:{PARTITION}:cloudwatch:{alarm['region']}:{account}:alarm:{alarm['name']}")
        if db.get("health_check_id"):
            checks.append(db["health_check_id"])
    global_clusters: list[str] = []
    clusters: list[str] = []
    for db in aurora:
        add(global_clusters, f"arn:{PARTITION}:rds::{account}:global-cluster:{db['global_cluster_id']}")
        add(clusters, cluster_arn(db["primary"]))
        add(clusters, cluster_arn(db["secondary"]))
    keys = list(((config.get("snapshots") or {}).get("kms_keys") or {}).values())
    validation_function = (config.get("drill") or {}).get("validation_function") or ""
    return {
        "NamePrefix": prefix,
        "PilotlightConfig": json.dumps(config),
        "PrimaryInstanceArns": ",".join(arn(db["primary"]) for db in rds),
        "ReplicaInstanceArns": ",".join(arn(db["replica"]) for db in rds),
        "AuroraGlobalClusterArns": ",".join(global_clusters),
        "AuroraClusterArns": ",".join(clusters),
        "HostedZoneIds": ",".join(zones),
        "RecordNames": ",".join(names),
        "AlarmArns": ",".join(alarms),
        "HealthCheckIds": ",".join(checks),
        "KmsKeyArns": ",".join(keys),
        "DrillValidationFunctionArn": validation_function,
    }


def register(function: str, policies: list[dict[str, Any]], role: str) -> dict[str, str]:
    """Temporary credentials for a principal with these identity policies."""
    alphabet = string.ascii_uppercase + string.digits
    key = "ASIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    creds = {
        "access_key_id": key,
        "secret_access_key": secrets.token_urlsafe(30),
        "session_token": secrets.token_urlsafe(48),
    }
    with _LOCK:
        _PRINCIPALS[key] = {**creds, "function": function, "policies": policies, "role": role}
    return creds


def register_template(template: str, parameters: dict[str, Any], region: str) -> dict[str, Any]:
    tpl = Template(template, parameters, region)
    out = {}
    for function, policies in tpl.function_policies().items():
        creds = register(function, policies, f"{os.path.basename(template)}:{function}")
        out[function] = {**creds, "policies": policies}
    return out


def principal(access_key: str) -> dict[str, Any] | None:
    with _LOCK:
        return _PRINCIPALS.get(access_key)


# --------------------------------------------------------------------------------------------
# Requests: IAM action, resources and condition context
# --------------------------------------------------------------------------------------------
def _params(request: Any, body: bytes) -> dict[str, str]:
    out = {k: v[0] for k, v in request.args.lists()} if hasattr(request.args, "lists") else {}
    ctype = request.headers.get("Content-Type", "")
    if body and "x-www-form-urlencoded" in ctype:
        out.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
    elif body and "json" in ctype:
        try:
            data = json.loads(body)
            if isinstance(data, dict):
                out.update({k: v for k, v in data.items() if isinstance(v, (str, int, float, bool))})
                out["__json__"] = data  # type: ignore[assignment]
        except ValueError:
            pass
    return out


def _tags(params: dict[str, str]) -> dict[str, str]:
    """RDS/SNS query ``Tags.Tag.N.Key`` / ``Tags.member.N.Key`` pairs."""
    keys: dict[str, str] = {}
    values: dict[str, str] = {}
    for k, v in params.items():
        m = re.match(r"^Tags\.(?:Tag|member)\.(\d+)\.(Key|Value)$", k)
        if m:
            (keys if m.group(2) == "Key" else values)[m.group(1)] = v
    return {keys[i]: values.get(i, "") for i in keys}


def _rds_arn(region: str, kind: str, ident: str | None) -> str:
    if ident and ident.startswith("arn:"):
        return ident
    return f"arn:{PARTITION}:rds:{region}:{ACCOUNT}:{kind}:{ident or '*'}"


def _global_cluster_arn(ident: str | None) -> str:
    """A global cluster's ARN: no region (``arn:<partition>:rds::<account>:global-cluster:<id>``)."""
    if ident and ident.startswith("arn:"):
        return ident
    return f"arn:{PARTITION}:rds::{ACCOUNT}:global-cluster:{ident or '*'}"


def _auto_backup_arn(region: str, source_arn: str) -> str:
    """The replicated backup ``StartDBInstanceAutomatedBackupsReplication`` makes in ``region``:
    ``auto-backup:ab-<S>`` for a source whose ``DbiResourceId`` is ``db-<S>``
    (``automated_backups_patches.backup_arn``), or ``auto-backup:*`` when the source is unknown."""
    m = re.match(r"^arn:[^:]+:rds:([^:]+):(\d{12}):db:(.+)$", source_arn or "")
    if m:
        try:
            from moto.rds.models import rds_backends

            db = rds_backends[m.group(2)][m.group(1)].databases.get(m.group(3))
            dbi = getattr(db, "dbi_resource_id", None)
            if dbi:
                return f"arn:{PARTITION}:rds:{region}:{ACCOUNT}:auto-backup:ab-{dbi.removeprefix('db-')}"
        except Exception:  # noqa: BLE001 - a region moto does not know: no such source
            pass
    return _rds_arn(region, "auto-backup", None)


def _rds_tags(region: str, kind: str, ident: str) -> dict[str, str] | None:
    """Tags moto holds on an RDS resource (ident may be an ARN in another region)."""
    try:
        from moto.rds.models import rds_backends

        if ident.startswith("arn:"):
            parts = ident.split(":")
            region, ident = parts[3], parts[-1]
        backend = rds_backends[ACCOUNT][region]
        store = {
            "snapshot": backend.database_snapshots,
            "cluster-snapshot": backend.cluster_snapshots,
            "db": backend.databases,
            "cluster": backend.clusters,
        }[kind]
        obj = store.get(ident)
        if obj is None:
            return None
        return {t["Key"]: t["Value"] for t in (getattr(obj, "tags", None) or [])}
    except Exception:  # noqa: BLE001 - unknown resource: no tag keys in the context
        return None


def _restore_groups(region: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The option group and DB parameter group a ``RestoreDBInstanceFromDBSnapshot`` request gives
    the new instance (``restore_patches.planned_groups``), or None (unknown snapshot)."""
    try:
        import restore_patches  # next to this file, loaded by the launcher

        return restore_patches.planned_groups(region, params, ACCOUNT)
    except ImportError:  # not next to the launcher's modules: nothing to add
        return None


def _route53_changes(body: bytes) -> dict[str, list[str]]:
    names, types, actions = [], [], []
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return {}
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        text = (el.text or "").strip()
        if tag == "Action":
            actions.append(text)
        elif tag == "Name":
            names.append(text.lower().rstrip("."))
        elif tag == "Type":
            types.append(text)
    return {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
        "route53:ChangeResourceRecordSetsRecordTypes": types,
        "route53:ChangeResourceRecordSetsActions": actions,
    }


class Authorisation:
    """One authorisation a request needs: an IAM action on a resource, with its context."""

    def __init__(self, action: str, resource: str, context: dict[str, list[str]]) -> None:
        self.action = action
        self.resource = resource
        self.context = context


def authorisations(service: str, region: str, action: str, request: Any, body: bytes) -> list[Authorisation]:
    """What AWS authorises for this request (at least one entry)."""
    prefix = _IAM_PREFIX.get(service, service)
    p = _params(request, body)
    ctx: dict[str, list[str]] = {}
    tags = _tags(p)
    if tags:
        ctx["aws:TagKeys"] = list(tags)
        for k, v in tags.items():
            ctx[f"aws:RequestTag/{k}"] = [v]
    out: list[Authorisation] = []

    def need(iam: str, resource: str, extra: dict[str, list[str]] | None = None) -> None:
        out.append(Authorisation(iam, resource, {**ctx, **(extra or {})}))

    def resource_tags(kind: str, ident: str, key_prefix: str) -> dict[str, list[str]]:
        have = _rds_tags(region, kind, ident) or {}
        return {f"{key_prefix}/{k}": [v] for k, v in have.items()}

    if prefix == "rds":
        iam = f"rds:{action}"
        if action == "DescribeDBInstances":
            need(iam, _rds_arn(region, "db", p.get("DBInstanceIdentifier")))
        elif action == "DescribeDBClusters":
            need(iam, _rds_arn(region, "cluster", p.get("DBClusterIdentifier")))
        elif action == "DescribeGlobalClusters":
            need(iam, _global_cluster_arn(p.get("GlobalClusterIdentifier")))
        elif action in ("FailoverGlobalCluster", "SwitchoverGlobalCluster", "RemoveFromGlobalCluster"):
            # Resource types cluster* and global-cluster*: the cluster named (the target, or the
            # cluster to detach; an ARN, or an identifier in the request's region) and the global cluster.
            cluster = p.get("TargetDbClusterIdentifier") or p.get("DbClusterIdentifier", "")
            need(iam, _rds_arn(region, "cluster", cluster), resource_tags("cluster", cluster, "rds:cluster-tag"))
            need(iam, _global_cluster_arn(p.get("GlobalClusterIdentifier", "")))
        elif action == "ModifyDBCluster":
            cluster = p.get("DBClusterIdentifier", "")
            need(iam, _rds_arn(region, "cluster", cluster), resource_tags("cluster", cluster, "rds:cluster-tag"))
        elif action == "DescribeDBSnapshots":
            if p.get("DBSnapshotIdentifier"):
                need(iam, _rds_arn(region, "snapshot", p["DBSnapshotIdentifier"]))
            else:
                need(iam, _rds_arn(region, "db", p.get("DBInstanceIdentifier")) if p.get("DBInstanceIdentifier") else _rds_arn(region, "snapshot", None))
        elif action == "DescribeDBClusterSnapshots":
            if p.get("DBClusterSnapshotIdentifier"):
                need(iam, _rds_arn(region, "cluster-snapshot", p["DBClusterSnapshotIdentifier"]))
            else:
                need(iam, _rds_arn(region, "cluster", p.get("DBClusterIdentifier")) if p.get("DBClusterIdentifier") else _rds_arn(region, "cluster-snapshot", None))
        elif action in ("AddTagsToResource", "ListTagsForResource", "RemoveTagsFromResource"):
            need(iam, p.get("ResourceName", "*"))
        elif action in ("PromoteReadReplica", "RebootDBInstance", "ModifyDBInstance", "DeleteDBInstance", "StopDBInstance"):
            ident = p.get("DBInstanceIdentifier", "")
            need(iam, _rds_arn(region, "db", ident), resource_tags("db", ident, "rds:db-tag"))
        elif action == "CreateDBSnapshot":
            db, snap = p.get("DBInstanceIdentifier", ""), p.get("DBSnapshotIdentifier", "")
            need(iam, _rds_arn(region, "db", db), resource_tags("db", db, "rds:db-tag"))
            need(iam, _rds_arn(region, "snapshot", snap))
            if tags:
                need("rds:AddTagsToResource", _rds_arn(region, "snapshot", snap))
        elif action == "CreateDBClusterSnapshot":
            cl, snap = p.get("DBClusterIdentifier", ""), p.get("DBClusterSnapshotIdentifier", "")
            need(iam, _rds_arn(region, "cluster", cl), resource_tags("cluster", cl, "rds:cluster-tag"))
            need(iam, _rds_arn(region, "cluster-snapshot", snap))
            if tags:
                need("rds:AddTagsToResource", _rds_arn(region, "cluster-snapshot", snap))
        elif action == "CopyDBSnapshot":
            src, dst = p.get("SourceDBSnapshotIdentifier", ""), p.get("TargetDBSnapshotIdentifier", "")
            need(iam, _rds_arn(region, "snapshot", src), resource_tags("snapshot", src, "rds:snapshot-tag"))
            need(iam, _rds_arn(region, "snapshot", dst))
            if tags:
                need("rds:AddTagsToResource", _rds_arn(region, "snapshot", dst))
        elif action == "CopyDBClusterSnapshot":
            src, dst = p.get("SourceDBClusterSnapshotIdentifier", ""), p.get("TargetDBClusterSnapshotIdentifier", "")
            need(iam, _rds_arn(region, "cluster-snapshot", src), resource_tags("cluster-snapshot", src, "rds:cluster-snapshot-tag"))
            need(iam, _rds_arn(region, "cluster-snapshot", dst))
            if tags:
                need("rds:AddTagsToResource", _rds_arn(region, "cluster-snapshot", dst))
        elif action == "RestoreDBInstanceFromDBSnapshot":
            # The reference's row: resource types db*, og*, pg*, subgrp* (required), cluster-snapshot,
            # snapshot; condition keys rds:BackupTarget, aws:RequestTag/${TagKey}, aws:TagKeys,
            # rds:req-tag/${TagKey}; dependent actions iam:PassRole, rds:AddTagsToResource,
            # rds:CreateTenantDatabase. A required type is authorised on what the new instance will
            # use even when the request does not name it: AWS's own example of CreateDBInstance (the
            # same four required types) grants "og:default*", "pg:default*" and "subgrp:default" for
            # an instance whose request names none of them
            # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-create-and-modify-examples.html).
            # So: the new instance (db), the snapshot restored from (identifier or ARN, with its
            # rds:snapshot-tag/* tags), the option group and DB parameter group given or the ones the
            # restore gives the instance (restore_patches.planned_groups: the engine's defaults), the
            # DB subnet group given or "default"; rds:AddTagsToResource on the new instance when the
            # request has Tags. Left out: og/pg when the snapshot is unknown (the request then fails
            # with DBSnapshotNotFound), iam:PassRole (no role is passed: Domain/monitoring are not
            # modelled) and rds:CreateTenantDatabase (multi-tenant Oracle only).
            db = p.get("DBInstanceIdentifier", "")
            need(iam, _rds_arn(region, "db", db))
            if p.get("DBSnapshotIdentifier"):
                snap = p["DBSnapshotIdentifier"]
                need(iam, _rds_arn(region, "snapshot", snap), resource_tags("snapshot", snap, "rds:snapshot-tag"))
            elif p.get("DBClusterSnapshotIdentifier"):
                snap = p["DBClusterSnapshotIdentifier"]
                need(iam, _rds_arn(region, "cluster-snapshot", snap), resource_tags("cluster-snapshot", snap, "rds:cluster-snapshot-tag"))
            groups = _restore_groups(region, p)
            if groups is not None:
                need(iam, _rds_arn(region, "og", groups["option_group"]))
                need(iam, _rds_arn(region, "pg", groups["parameter_group"]))
            need(iam, _rds_arn(region, "subgrp", p.get("DBSubnetGroupName") or "default"))
            if tags:
                need("rds:AddTagsToResource", _rds_arn(region, "db", db))
        elif action == "CreateDBInstanceReadReplica":
            # The reference's row (list_amazonrds.html): resource types cluster* (a Multi-AZ DB
            # cluster source, SourceDBClusterIdentifier), db*, og*, pg*, subgrp*; condition keys
            # aws:RequestTag/${TagKey}, aws:TagKeys, rds:req-tag/${TagKey}, rds:PubliclyAccessible,
            # and on db rds:db-tag/${TagKey}; dependent actions iam:PassRole, rds:AddTagsToResource.
            # db* is both instances: the new one (DBInstanceIdentifier, in the region called) and
            # the source (SourceDBInstanceIdentifier: an identifier in the region called, or the
            # ARN of an instance in another region for a cross-Region replica, with its
            # rds:db-tag/* tags). A cross-Region replica is authorised on the source too: the
            # request "can run in the source AWS Region that contains the source DB instance"
            # (PreSignedUrl, API_CreateDBInstanceReadReplica.html). The option group and DB
            # parameter group are those given, else those the replica gets: the source's own for a
            # replica in the source's region, the engine's defaults for a cross-Region replica ("if
            # you don't specify a value for DBParameterGroupName, then Amazon RDS uses the
            # DBParameterGroup of the source DB instance for a same Region read replica, or the
            # default DBParameterGroup for the specified DB engine for a cross-Region read replica",
            # API reference; a cross-Region replica also gets the default option group,
            # USER_ReadRepl.XRgn.html); not known without the source (the request then fails with
            # DBInstanceNotFound). The DB subnet group given or "default", as for a restore (AWS's
            # CreateDBInstance example grants subgrp:default for a request naming none);
            # rds:AddTagsToResource on the new instance when the request has Tags. Left out:
            # iam:PassRole (no monitoring role or domain is passed).
            db = p.get("DBInstanceIdentifier", "")
            need(iam, _rds_arn(region, "db", db))
            src = p.get("SourceDBInstanceIdentifier", "")
            source: Any = None
            source_region = region
            if src:
                need(iam, _rds_arn(region, "db", src), resource_tags("db", src, "rds:db-tag"))
                m = re.match(r"^arn:[^:]+:rds:([^:]+):(\d{12}):db:(.+)$", src)
                source_region, source_id = (m.group(1), m.group(3)) if m else (region, src)
                try:
                    from moto.rds.models import rds_backends

                    source = rds_backends[ACCOUNT][source_region].databases.get(source_id)
                except Exception:  # noqa: BLE001 - a region moto does not know: no such source
                    source = None
            elif p.get("SourceDBClusterIdentifier"):
                cluster = p["SourceDBClusterIdentifier"]
                need(iam, _rds_arn(region, "cluster", cluster), resource_tags("cluster", cluster, "rds:cluster-tag"))
            option_group = p.get("OptionGroupName")
            parameter_group = p.get("DBParameterGroupName")
            if source is not None and not (option_group and parameter_group):
                try:
                    import restore_patches  # next to this file, loaded by the launcher

                    engine, version = source.engine, source.engine_version
                    if source_region == region:
                        option_group = option_group or source.option_group_name
                        parameter_group = parameter_group or source.db_parameter_groups()[0].name
                    else:
                        option_group = option_group or restore_patches._default_option_group(engine, version)
                        parameter_group = parameter_group or restore_patches._default_parameter_group(engine, version)
                except ImportError:  # not next to the launcher's modules: the named groups only
                    pass
            if option_group:
                need(iam, _rds_arn(region, "og", option_group))
            if parameter_group:
                need(iam, _rds_arn(region, "pg", parameter_group))
            need(iam, _rds_arn(region, "subgrp", p.get("DBSubnetGroupName") or "default"))
            if tags:
                need("rds:AddTagsToResource", _rds_arn(region, "db", db))
        elif action == "DeleteDBSnapshot":
            snap = p.get("DBSnapshotIdentifier", "")
            need(iam, _rds_arn(region, "snapshot", snap), resource_tags("snapshot", snap, "rds:snapshot-tag"))
        elif action == "DeleteDBClusterSnapshot":
            snap = p.get("DBClusterSnapshotIdentifier", "")
            need(iam, _rds_arn(region, "cluster-snapshot", snap), resource_tags("cluster-snapshot", snap, "rds:cluster-snapshot-tag"))
        elif action == "StartDBInstanceAutomatedBackupsReplication":
            # Resource types auto-backup* (dependent action rds:AddTagsToResource) and db*.
            src = p.get("SourceDBInstanceArn", "")
            need(iam, _rds_arn(region, "db", src), resource_tags("db", src, "rds:db-tag"))
            backup = _auto_backup_arn(region, src)
            need(iam, backup)
            if tags:
                need("rds:AddTagsToResource", backup)
        elif action == "StopDBInstanceAutomatedBackupsReplication":
            src = p.get("SourceDBInstanceArn", "")
            need(iam, _rds_arn(region, "db", src), resource_tags("db", src, "rds:db-tag"))
        elif action == "DescribeDBInstanceAutomatedBackups":
            # Resource types auto-backup and db, both optional (a list call).
            if p.get("DBInstanceAutomatedBackupsArn"):
                need(iam, p["DBInstanceAutomatedBackupsArn"])
            elif p.get("DBInstanceIdentifier"):
                need(iam, _rds_arn(region, "db", p["DBInstanceIdentifier"]))
            else:
                need(iam, _rds_arn(region, "auto-backup", None))
        elif action == "DescribeAccountAttributes":
            # No resource types in the Service Authorization Reference (list_amazonrds.html,
            # access level List): only a statement with Resource "*" allows it.
            need(iam, "*")
        else:
            need(iam, "*")
    elif prefix == "route53":
        m = re.match(r"^/2013-04-01/(hostedzone|change|healthcheck)/([^/]+)", request.path)
        resource = f"arn:{PARTITION}:route53:::{m.group(1)}/{m.group(2)}" if m else "*"
        extra = _route53_changes(body) if action == "ChangeResourceRecordSets" else None
        need(f"route53:{action}", resource, extra)
    elif prefix == "cloudwatch":
        if action == "DescribeAlarms":
            names = [v for k, v in p.items() if re.match(r"^AlarmNames\.member\.\d+$", k)]
            for name in names or ["*"]:
                need("cloudwatch:DescribeAlarms", f"arn:{PARTITION}:cloudwatch:{region}:{ACCOUNT}:alarm:{name}")
            if "CompositeAlarm" in [v for k, v in p.items() if re.match(r"^AlarmTypes\.member\.\d+$", k)]:
                # "To use this operation and return information about composite alarms, you must be
                # signed on with the cloudwatch:DescribeAlarms permission that is scoped to *"
                # (API_DescribeAlarms). AWS then leaves composite alarms out; here it is denied,
                # so that a test cannot pass on alarms AWS would not return.
                need("cloudwatch:DescribeAlarms", "*")
        else:
            need(f"cloudwatch:{action}", "*")
    elif prefix == "sns":
        need(f"sns:{action}", p.get("TopicArn") or p.get("TargetArn") or "*")
    elif prefix == "lambda":
        m = re.match(r"^/[^/]+/functions/([^/]+)/invocations$", request.path)
        if m:
            name = unquote(m.group(1))
            arn = name if name.startswith("arn:") else f"arn:{PARTITION}:lambda:{region}:{ACCOUNT}:function:{name}"
            need("lambda:InvokeFunction", arn)
        else:
            need(f"lambda:{action}", "*")
    elif prefix == "kms":
        key = p.get("KeyId", "*")
        need(f"kms:{action}", key if key.startswith("arn:") or key == "*" else f"arn:{PARTITION}:kms:{region}:{ACCOUNT}:key/{key}")
    elif prefix == "dynamodb":
        # JSON 1.0 (X-Amz-Target DynamoDB_20120810.<Action>): the table is the body's TableName (a
        # name or, since 2024, the table's ARN); a Query or Scan of an index acts on the index
        # (resource types table* and index,
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
        # Batch operations name their tables in RequestItems; a transaction is authorised per item
        # as the underlying GetItem/PutItem/UpdateItem/DeleteItem, ConditionCheck as
        # ConditionCheckItem (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
        data = p.get("__json__")
        data = data if isinstance(data, dict) else {}

        def table_arn(name: Any, index: Any = None) -> str:
            if not isinstance(name, str) or not name:
                return "*"
            arn = name if name.startswith("arn:") else f"arn:{PARTITION}:dynamodb:{region}:{ACCOUNT}:table/{name}"
            return f"{arn}/index/{index}" if isinstance(index, str) and index else arn

        if action in ("TransactGetItems", "TransactWriteItems"):
            kinds = {"Get": "GetItem", "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
            items = [i for i in data.get("TransactItems") or [] if isinstance(i, dict)]
            for item in items:
                for kind, op in item.items():
                    if isinstance(op, dict):
                        need(f"dynamodb:{kinds.get(kind, kind)}", table_arn(op.get("TableName")))
            if not out:
                need(f"dynamodb:{action}", "*")
        elif action in ("BatchGetItem", "BatchWriteItem") and isinstance(data.get("RequestItems"), dict):
            for name in data["RequestItems"] or {"": None}:
                need(f"dynamodb:{action}", table_arn(name))
        else:
            need(f"dynamodb:{action}", table_arn(data.get("TableName"), data.get("IndexName")))
    else:
        need(f"{prefix}:{action}", "*")
    return out


# --------------------------------------------------------------------------------------------
# Policy evaluation
# --------------------------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    regex = "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + "$"
    return re.match(regex, value, re.IGNORECASE if ignore_case else 0) is not None


# Condition keys this module computes (base name, before any "/tag-key").
EVALUATED_KEYS = (
    "aws:RequestTag", "aws:TagKeys", "rds:snapshot-tag", "rds:cluster-snapshot-tag", "rds:db-tag",
    "rds:cluster-tag", "route53:ChangeResourceRecordSetsNormalizedRecordNames",
    "route53:ChangeResourceRecordSetsRecordTypes", "route53:ChangeResourceRecordSetsActions",
)


# Keys of calls AWS makes on the function's behalf (RDS calling KMS), never in a request here.
ON_BEHALF_KEYS = ("kms:ViaService", "kms:GrantIsForAWSResource")


def _condition_holds(operator: str, key: str, expected: list[Any], ctx: dict[str, list[str]], effect: str) -> bool:
    # Condition key names are case-insensitive in IAM; tag keys after "/" are matched as written.
    base, _, rest = key.partition("/")
    known = {k.lower(): k for k in EVALUATED_KEYS + ON_BEHALF_KEYS}
    if base.lower() not in known:
        # A key this emulator cannot compute: fail closed (an Allow does not apply, a Deny does),
        # so a misspelt or unsupported key cannot pass here and fail in AWS.
        return effect == "Deny"
    key = known[base.lower()] + (f"/{rest}" if rest else "")
    if key in ON_BEHALF_KEYS:
        # Only in calls RDS makes to KMS for the function, never in a function's own request.
        return effect == "Allow"
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    values = ctx.get(key)
    expected = [str(e) for e in expected]
    if operator == "Null":
        want_absent = expected[0].lower() == "true"
        return (values is None) == want_absent
    if values is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return "Not" in operator
    negated = "Not" in operator
    base = operator.replace("Not", "")

    def one(value: str) -> bool:
        if base in ("StringEquals", "ArnEquals"):
            hit = value in expected
        elif base == "StringEqualsIgnoreCase":
            hit = value.lower() in (e.lower() for e in expected)
        elif base in ("StringLike", "ArnLike"):
            hit = any(_glob(e, value) for e in expected)
        elif base == "Bool":
            hit = value.lower() in (e.lower() for e in expected)
        else:
            raise ValueError(f"condition operator {operator} is not supported by the emulator")
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in values)
    return any(one(v) for v in values)


def _statement_applies(stmt: dict[str, Any], auth: Authorisation) -> bool:
    if "Action" in stmt:
        if not any(_glob(a, auth.action, ignore_case=True) for a in _as_list(stmt["Action"])):
            return False
    elif "NotAction" in stmt:
        if any(_glob(a, auth.action, ignore_case=True) for a in _as_list(stmt["NotAction"])):
            return False
    if "Resource" in stmt:
        if not any(_glob(r, auth.resource) for r in _as_list(stmt["Resource"])):
            return False
    elif "NotResource" in stmt:
        if any(_glob(r, auth.resource) for r in _as_list(stmt["NotResource"])):
            return False
    effect = stmt.get("Effect", "Allow")
    for operator, keys in (stmt.get("Condition") or {}).items():
        for key, expected in keys.items():
            if not _condition_holds(operator, key, _as_list(expected), auth.context, effect):
                return False
    return True


def decide(policies: list[dict[str, Any]], auth: Authorisation) -> tuple[bool, str]:
    """(allowed, the statement that decided or why nothing did)."""
    allowed_by = None
    for policy in policies:
        for stmt in _as_list(policy.get("Statement", [])):
            if not _statement_applies(stmt, auth):
                continue
            if stmt.get("Effect") == "Deny":
                return False, f"explicit deny in statement {stmt.get('Sid', '?')}"
            allowed_by = allowed_by or stmt.get("Sid", "?")
    if allowed_by:
        return True, f"allowed by statement {allowed_by}"
    return False, "no identity-based policy allows the action"


def authorise(entry: dict[str, Any], access_key: str, service: str, region: str, action: str, request: Any, body: bytes) -> str | None:
    """None when the request may proceed; else AWS's AccessDenied message. Records the decision in
    ``entry`` (the request log) and in ``PILOTLIGHT_IAM_LOG``."""
    who = principal(access_key)
    if who is None:
        return None
    checks = authorisations(service, region, action, request, body)
    results = []
    denied = None
    for auth in checks:
        ok, why = decide(who["policies"], auth)
        results.append({"action": auth.action, "resource": auth.resource, "allowed": ok, "why": why})
        if not ok and denied is None:
            kind = "an explicit deny" if why.startswith("explicit") else "no identity-based policy allows"
            denied = (
                f"User: arn:{PARTITION}:sts::{ACCOUNT}:assumed-role/{who['function']}/pilotlight is not authorized "
                f"to perform: {auth.action} on resource: {auth.resource} because {kind} the {auth.action} action"
            )
    entry["principal"] = who["function"]
    entry["iam"] = results
    path = os.environ.get("PILOTLIGHT_IAM_LOG")
    if path:
        line = json.dumps({"function": who["function"], "role": who["role"], "checks": results}) + "\n"
        with _LOCK, open(path, "a", encoding="utf-8") as f:
            f.write(line)
    return denied


def access_key_of(request: Any) -> str:
    m = re.search(r"Credential=([^/]+)/", request.headers.get("Authorization", ""))
    return m.group(1) if m else ""
