# One role per function, each allowed only what that function calls.

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition

  primary_and_replica_arns = concat(var.primary_instance_arns, var.replica_instance_arns)
  hosted_zone_arns         = [for id in var.hosted_zone_ids : "arn:${local.partition}:route53:::hostedzone/${trimprefix(id, "/hostedzone/")}"]
  health_check_arns        = [for id in var.health_check_ids : "arn:${local.partition}:route53:::healthcheck/${id}"]

  # Every region of this account: snapshot-copy works in the primary and the DR regions.
  rds_db_arns               = "arn:${local.partition}:rds:*:${local.account}:db:*"
  rds_cluster_arns          = "arn:${local.partition}:rds:*:${local.account}:cluster:*"
  rds_snapshot_arns         = "arn:${local.partition}:rds:*:${local.account}:snapshot:*"
  rds_cluster_snapshot_arns = "arn:${local.partition}:rds:*:${local.account}:cluster-snapshot:*"
  own_snapshot_arns         = "arn:${local.partition}:rds:*:${local.account}:snapshot:${var.managed_snapshot_prefix}*"
  own_cluster_snapshot_arns = "arn:${local.partition}:rds:*:${local.account}:cluster-snapshot:${var.managed_snapshot_prefix}*"

  # Aurora global databases: both lists come from the same databases[] entries, and the Aurora
  # statements need both. Aurora's unplanned-failover snapshots are automated snapshots named
  # rds:unplanned-global-failover-<...>, in the old primary's region.
  has_aurora                       = length(var.aurora_global_cluster_arns) > 0 && length(var.aurora_cluster_arns) > 0
  unplanned_failover_snapshot_arns = "arn:${local.partition}:rds:*:${local.account}:cluster-snapshot:rds:unplanned-global-failover-*"

  # The DR drill's throwaway instances (pilotlight-drill-<...>, tagged pilotlight:drill), and the
  # option, parameter and subnet groups a restore uses (only used, never changed).
  drill_db_arns       = "arn:${local.partition}:rds:*:${local.account}:db:pilotlight-drill-*"
  rds_og_arns         = "arn:${local.partition}:rds:*:${local.account}:og:*"
  rds_pg_arns         = "arn:${local.partition}:rds:*:${local.account}:pg:*"
  rds_subnet_grp_arns = "arn:${local.partition}:rds:*:${local.account}:subgrp:*"

  # The failback's new instances, <primary id>-fb-<yyyymmddhhmm> (a long primary id cut and hashed:
  # only the -fb-<stamp> suffix is certain), in any region of the account: one ARN for every database.
  failback_db_arns = "arn:${local.partition}:rds:*:${local.account}:db:*-fb-*"

  policies = {
    router          = data.aws_iam_policy_document.router.json
    failover        = data.aws_iam_policy_document.failover.json
    "snapshot-copy" = data.aws_iam_policy_document.snapshot_copy.json
    retention       = data.aws_iam_policy_document.retention.json
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name_prefix        = "${var.name_prefix}-${each.key}-"
  description        = "pilotlight ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = each.key
  role   = aws_iam_role.function[each.key].id
  policy = local.policies[each.key]
}

# What every function needs: its own log group and its own failed-invocation queue.
data "aws_iam_policy_document" "common" {
  for_each = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "SendFailedInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq[each.key].arn]
  }
}

data "aws_iam_policy_document" "router" {
  source_policy_documents = [data.aws_iam_policy_document.common["router"].json]

  statement {
    sid       = "InvokeWorkers"
    actions   = ["lambda:InvokeFunction"]
    resources = [for name in ["failover", "snapshot-copy", "retention"] : aws_lambda_function.function[name].arn]
  }

  # The snapshot-copy job's gate in the ledger table (one item, conditional writes): RDS snapshot
  # events coalesce into one run in flight and one queued.
  statement {
    sid       = "EnterSnapshotCopyGate"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.ledger.arn]
  }
}

data "aws_iam_policy_document" "failover" {
  source_policy_documents = [data.aws_iam_policy_document.common["failover"].json]

  # The per-database ARN lists are the bulk of this policy, and IAM limits all the inline policies
  # of a role together to 10,240 characters (whitespace not counted;
  # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html): the statements on
  # the protected instances are grouped by resource, each list named as few times as possible
  # (scripts/check-infra.sh checks the size for 10 databases).
  statement {
    sid       = "TagConfiguredReplicasWithPilotlightKeys"
    actions   = ["rds:AddTagsToResource"]
    resources = local.primary_and_replica_arns
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["pilotlight:*"]
    }
  }

  # The configured primaries: read them, and fence the old primary after a failover
  # (databases[].fencing): stop it, or move it to a security group without ingress and reboot it
  # (open sessions). Never DeleteDBInstance (the only instances failover may delete are its own
  # drill instances, below).
  statement {
    sid       = "ReadAndFenceConfiguredPrimaries"
    actions   = ["rds:DescribeDBInstances", "rds:StopDBInstance", "rds:ModifyDBInstance", "rds:RebootDBInstance"]
    resources = var.primary_instance_arns
  }

  # The configured replicas: read and promote them (the failover); the failback's source
  # (CreateDBInstanceReadReplica: the source is authorised as well, in its own region, as the
  # request "can run in the source AWS Region that contains the source DB instance", PreSignedUrl of
  # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstanceReadReplica.html;
  # no request tag condition: the source-Region authorisation is not documented to see the
  # request's tags, and the new instance must still be allowed by FailbackCreateReplica) and the
  # failback's fence of the DR writer (the configured replica, promoted by the failover): move it to
  # the fence's security groups (ModifyDBInstance VpcSecurityGroupIds) and reboot it to end open
  # sessions. IAM cannot narrow ModifyDBInstance to the security groups (no condition key names the
  # modified settings). No StopDBInstance here: only a primary is stopped.
  statement {
    sid = "ReadPromoteFenceAndReplicateConfiguredReplicas"
    actions = [
      "rds:DescribeDBInstances",
      "rds:PromoteReadReplica",
      "rds:ModifyDBInstance",
      "rds:RebootDBInstance",
      "rds:CreateDBInstanceReadReplica",
    ]
    resources = var.replica_instance_arns
  }

  # The failback (command "failback"), after a failover: in the primary's region, a new cross-Region
  # read replica of the configured replica (the DR writer since the failover), tagged
  # pilotlight:failback and pilotlight:managed-by; then the DR writer fenced
  # (ReadPromoteFenceAndReplicateConfiguredReplicas), the new instance promoted and the configured
  # records repointed (RepointConfiguredCnameRecords, below: it limits the record names, types and
  # actions, not the values, so the new instance's endpoint is allowed). The old primary is only
  # tagged (pilotlight:replaced-by; TagConfiguredReplicasWithPilotlightKeys) and read, as the DR
  # writer is (its fence tags). The new instance is db:*-fb-* (local.failback_db_arns): one ARN
  # whatever the number of databases; what tells pilotlight's instances apart is the tags: the
  # create must carry both pilotlight tags, and the promote asks for pilotlight:failback.
  # CreateDBInstanceReadReplica's resource types are cluster* (a Multi-AZ DB cluster source only:
  # not used), db*, og*, pg* and subgrp*, with the dependent action rds:AddTagsToResource (Service
  # Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html).
  # db* is the new instance here (the source: the configured replicas, above). The groups are only
  # used, never changed: any group of the account, as for the drill (the old primary's, or the
  # region's defaults).
  statement {
    sid       = "FailbackCreateReplica"
    actions   = ["rds:CreateDBInstanceReadReplica"]
    resources = [local.failback_db_arns, local.rds_og_arns, local.rds_pg_arns, local.rds_subnet_grp_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/pilotlight:failback"
      values   = ["*"]
    }
  }

  # Tags on create: "If tags are specified in the create action, RDS performs additional
  # authorization on the rds:AddTagsToResource action"
  # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html).
  statement {
    sid       = "FailbackTagNewInstance"
    actions   = ["rds:AddTagsToResource"]
    resources = [local.failback_db_arns]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["pilotlight:*"]
    }
  }

  # Read it until it is available and replicating (and whether an earlier run made it:
  # DBInstanceNotFound must stay an answer, so no tag condition here: an instance that does not
  # exist has no tags, and the condition would turn the answer into AccessDenied).
  statement {
    sid       = "FailbackDescribeNewInstance"
    actions   = ["rds:DescribeDBInstances"]
    resources = [local.failback_db_arns]
  }

  # Promote only an instance a failback made: named *-fb-* AND tagged pilotlight:failback
  # (rds:db-tag/${TagKey}, a condition key of the db resource type).
  statement {
    sid       = "FailbackPromoteNewPrimary"
    actions   = ["rds:PromoteReadReplica"]
    resources = [local.failback_db_arns]
    condition {
      test     = "StringLike"
      variable = "rds:db-tag/pilotlight:failback"
      values   = ["*"]
    }
  }

  # Aurora global databases (databases[] of kind aurora_global): read the global database and its
  # clusters; switch over or fail over to the secondary (resource types cluster* and
  # global-cluster*, both required); fence the old primary cluster (ModifyDBCluster
  # VpcSecurityGroupIds, fencing security_group); keep Aurora's unplanned-failover snapshot of the
  # old primary (DescribeDBClusterSnapshots of that cluster, acting on the cluster) as a copy, in
  # its region, tagged on creation.
  dynamic "statement" {
    for_each = local.has_aurora ? [1] : []
    content {
      sid       = "DescribeProtectedGlobalClusters"
      actions   = ["rds:DescribeGlobalClusters"]
      resources = var.aurora_global_cluster_arns
    }
  }

  dynamic "statement" {
    for_each = local.has_aurora ? [1] : []
    content {
      sid       = "DescribeProtectedClustersAndTheirSnapshots"
      actions   = ["rds:DescribeDBClusters", "rds:DescribeDBClusterSnapshots"]
      resources = var.aurora_cluster_arns
    }
  }

  dynamic "statement" {
    for_each = local.has_aurora ? [1] : []
    content {
      sid       = "SwitchOverOrFailOverConfiguredGlobalClusters"
      actions   = ["rds:SwitchoverGlobalCluster", "rds:FailoverGlobalCluster"]
      resources = concat(var.aurora_global_cluster_arns, var.aurora_cluster_arns)
    }
  }

  dynamic "statement" {
    for_each = local.has_aurora ? [1] : []
    content {
      sid       = "FenceConfiguredClusters"
      actions   = ["rds:ModifyDBCluster"]
      resources = var.aurora_cluster_arns
    }
  }

  # The source (Aurora's automated snapshot rds:unplanned-global-failover-...) and the copy
  # (pilotlight-<db>-unplanned-...), in the old primary's region.
  dynamic "statement" {
    for_each = local.has_aurora ? [1] : []
    content {
      sid       = "CopyUnplannedFailoverSnapshots"
      actions   = ["rds:CopyDBClusterSnapshot"]
      resources = [local.unplanned_failover_snapshot_arns, local.own_cluster_snapshot_arns]
    }
  }

  dynamic "statement" {
    for_each = local.has_aurora ? [1] : []
    content {
      sid       = "TagUnplannedFailoverSnapshotCopies"
      actions   = ["rds:AddTagsToResource"]
      resources = [local.own_cluster_snapshot_arns]
    }
  }

  # The DR drill (command "drill"): in each database's DR region, list the manual snapshots, restore
  # the newest pilotlight copy into a new instance pilotlight-drill-<...> tagged pilotlight:drill,
  # read it until it is available, optionally invoke the validation function, then delete it.
  # RestoreDBInstanceFromDBSnapshot's resource types are db*, og*, pg* and subgrp* (all required:
  # the option, parameter and subnet groups the new instance uses, named in the request or the
  # defaults) and snapshot (the source), with the dependent action rds:AddTagsToResource (Service
  # Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonrds.html).
  # The groups are only used, never changed: any group of the account, because the drill may name
  # the configured subnet group (drill.subnet_groups) or fall back on the defaults. The request must
  # carry the pilotlight tags: every drill instance is born deletable below, and the role cannot
  # restore anything else.
  statement {
    sid       = "RestoreDrillInstancesFromPilotlightSnapshots"
    actions   = ["rds:RestoreDBInstanceFromDBSnapshot"]
    resources = [local.drill_db_arns, local.own_snapshot_arns, local.rds_og_arns, local.rds_pg_arns, local.rds_subnet_grp_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
    condition {
      test     = "StringLike"
      variable = "aws:RequestTag/pilotlight:drill"
      values   = ["*"]
    }
  }

  # Tags on create: "If tags are specified in the create action, RDS performs additional
  # authorization on the rds:AddTagsToResource action"
  # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/security_iam_id-based-policy-examples-grant-permissions-tags-on-create.html).
  statement {
    sid       = "TagDrillInstancesWithPilotlightKeys"
    actions   = ["rds:AddTagsToResource"]
    resources = [local.drill_db_arns]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "aws:TagKeys"
      values   = ["pilotlight:*"]
    }
  }

  statement {
    sid       = "DescribeDrillInstances"
    actions   = ["rds:DescribeDBInstances"]
    resources = [local.drill_db_arns]
  }

  # A list without an identifier (SnapshotType manual), as snapshot-copy's and retention's
  # ReadDatabasesAndSnapshots grant it: the action's resource types db and snapshot (both
  # optional); read-only, no ListTagsForResource (the list carries each TagList).
  statement {
    sid       = "ListSnapshotsForDrills"
    actions   = ["rds:DescribeDBSnapshots"]
    resources = [local.rds_db_arns, local.rds_snapshot_arns]
  }

  # Only drill instances: named pilotlight-drill-* AND tagged pilotlight:drill (the tag condition key
  # of the db resource type, rds:db-tag/${TagKey}, list_amazonrds.html). SkipFinalSnapshot and
  # DeleteAutomatedBackups: no rds:CreateDBSnapshot.
  statement {
    sid       = "DeleteOnlyDrillInstances"
    actions   = ["rds:DeleteDBInstance"]
    resources = [local.drill_db_arns]
    condition {
      test     = "StringLike"
      variable = "rds:db-tag/pilotlight:drill"
      values   = ["*"]
    }
  }

  # Belt and braces, as retention's NeverDeleteOtherSnapshots: even a policy attached to this role
  # later cannot make it delete an instance that is not a drill instance (an explicit deny wins,
  # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
  statement {
    sid           = "NeverDeleteInstancesNotNamedAsDrills"
    effect        = "Deny"
    actions       = ["rds:DeleteDBInstance"]
    not_resources = [local.drill_db_arns]
  }

  statement {
    sid       = "NeverDeleteInstancesNotTaggedAsDrills"
    effect    = "Deny"
    actions   = ["rds:DeleteDBInstance"]
    resources = ["*"]
    condition {
      test     = "StringNotLike"
      variable = "rds:db-tag/pilotlight:drill"
      values   = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.drill_validation_function_arn == null ? [] : [1]
    content {
      sid       = "InvokeDrillValidationFunction"
      actions   = ["lambda:InvokeFunction"]
      resources = [var.drill_validation_function_arn]
    }
  }

  # Encrypted snapshots: RDS uses the copy's KMS key on the caller's behalf when it restores it
  # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.Keys.html), the
  # keys of snapshots.kms_keys (the same statements as snapshot-copy's, less kms:Encrypt and
  # kms:ReEncrypt*: a restore keeps the snapshot's key). The failback's replica of an encrypted DR
  # writer uses them too: its KmsKeyId is the old primary's key in the primary's region (a database
  # key, listed in kms_key_arns), which RDS uses on the caller's behalf ("Authorizing use of a
  # customer managed key": kms:CreateGrant, kms:DescribeKey, same page).
  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "RestoreWithSnapshotKeysThroughRds"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = var.kms_key_arns
      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["rds.*.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "GrantSnapshotKeysToRdsForDrills"
      actions   = ["kms:CreateGrant"]
      resources = var.kms_key_arns
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DescribeSnapshotKeysForDrills"
      actions   = ["kms:DescribeKey"]
      resources = var.kms_key_arns
    }
  }

  statement {
    sid       = "RepointConfiguredCnameRecords"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = local.hosted_zone_arns
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
      values   = var.record_names
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsRecordTypes"
      values   = ["CNAME"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "route53:ChangeResourceRecordSetsActions"
      values   = ["CREATE", "DELETE", "UPSERT"]
    }
  }

  statement {
    sid       = "ReadConfiguredZones"
    actions   = ["route53:ListResourceRecordSets"]
    resources = local.hosted_zone_arns
  }

  statement {
    sid       = "WaitForDnsChanges"
    actions   = ["route53:GetChange"]
    resources = ["arn:${local.partition}:route53:::change/*"]
  }

  # The operations ledger: runs, steps and the per-database lease (conditional writes). The table
  # only: it has no index (table* is the resource type of these actions,
  # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html).
  statement {
    sid       = "UseOperationsLedger"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
    resources = [aws_dynamodb_table.ledger.arn]
  }

  dynamic "statement" {
    for_each = length(var.health_check_ids) > 0 ? [1] : []
    content {
      sid       = "ReadConfiguredHealthChecks"
      actions   = ["route53:GetHealthCheckStatus"]
      resources = local.health_check_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.alarm_arns) > 0 ? [1] : []
    content {
      # Read-only, and scoped to "*" because failover also reads composite alarms: "To use this
      # operation and return information about composite alarms, you must be signed on with the
      # cloudwatch:DescribeAlarms permission that is scoped to *" (API_DescribeAlarms).
      sid       = "ReadConfiguredAlarms"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = ["*"]
    }
  }

  # cloudwatch:GetMetricStatistics supports no resource-level permission (read-only: ReplicaLag).
  statement {
    sid       = "ReadReplicaLag"
    actions   = ["cloudwatch:GetMetricStatistics"]
    resources = ["*"]
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }
}

data "aws_iam_policy_document" "snapshot_copy" {
  source_policy_documents = [data.aws_iam_policy_document.common["snapshot-copy"].json]

  # The snapshot lists carry each snapshot's TagList: no rds:ListTagsForResource.
  statement {
    sid = "ReadDatabasesAndSnapshots"
    actions = [
      "rds:DescribeDBInstances",
      "rds:DescribeDBClusters",
      "rds:DescribeDBSnapshots",
      "rds:DescribeDBClusterSnapshots",
    ]
    resources = [local.rds_db_arns, local.rds_cluster_arns, local.rds_snapshot_arns, local.rds_cluster_snapshot_arns]
  }

  statement {
    sid       = "SnapshotOnlyWithThePilotlightTag"
    actions   = ["rds:CreateDBSnapshot", "rds:CreateDBClusterSnapshot"]
    resources = [local.rds_db_arns, local.rds_cluster_arns, local.own_snapshot_arns, local.own_cluster_snapshot_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
  }

  # The source (pilotlight's snapshot in the database's region) and the copy, same name.
  statement {
    sid       = "CopyOnlyWithThePilotlightTag"
    actions   = ["rds:CopyDBSnapshot", "rds:CopyDBClusterSnapshot"]
    resources = [local.own_snapshot_arns, local.own_cluster_snapshot_arns]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
  }

  statement {
    sid       = "TagOwnSnapshots"
    actions   = ["rds:AddTagsToResource"]
    resources = [local.own_snapshot_arns, local.own_cluster_snapshot_arns]
  }

  # The manual snapshot quotas (ManualSnapshots, ManualClusterSnapshots), read before creating or
  # copying. rds:DescribeAccountAttributes supports no resource-level permission (Service
  # Authorization Reference, list_amazonrds.html); read-only.
  statement {
    sid       = "ReadSnapshotQuotas"
    actions   = ["rds:DescribeAccountAttributes"]
    resources = ["*"]
  }

  # Cross-region automated backups replication of the protected primaries
  # (databases[].automated_backups_replication), started in the DR region: resource types db* (the
  # source) and auto-backup* (the replicated backup it creates); DescribeDBInstanceAutomatedBackups
  # lists them (Service Authorization Reference, list_amazonrds.html).
  statement {
    sid       = "ReplicateAutomatedBackups"
    actions   = ["rds:StartDBInstanceAutomatedBackupsReplication"]
    resources = ["arn:${data.aws_partition.current.partition}:rds:*:${data.aws_caller_identity.current.account_id}:auto-backup:*"]
  }

  statement {
    sid       = "ReplicateProtectedPrimariesBackups"
    actions   = ["rds:StartDBInstanceAutomatedBackupsReplication"]
    resources = var.primary_instance_arns
  }

  statement {
    sid       = "ReadReplicatedAutomatedBackups"
    actions   = ["rds:DescribeDBInstanceAutomatedBackups"]
    resources = ["arn:${data.aws_partition.current.partition}:rds:*:${data.aws_caller_identity.current.account_id}:auto-backup:*"]
  }

  # Leave the job gate the router entered (or pass once more for queued events).
  statement {
    sid       = "LeaveSnapshotCopyGate"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.ledger.arn]
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "UseSnapshotKeysThroughRds"
      actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
      resources = var.kms_key_arns
      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["rds.*.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "GrantSnapshotKeysToRds"
      actions   = ["kms:CreateGrant"]
      resources = var.kms_key_arns
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DescribeSnapshotKeys"
      actions   = ["kms:DescribeKey"]
      resources = var.kms_key_arns
    }
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }
}

data "aws_iam_policy_document" "retention" {
  source_policy_documents = [data.aws_iam_policy_document.common["retention"].json]

  # Discovery (snapshots.discover) lists the tagged instances and clusters; the snapshot lists
  # carry each snapshot's TagList: no rds:ListTagsForResource.
  statement {
    sid = "ReadDatabasesAndSnapshots"
    actions = [
      "rds:DescribeDBInstances",
      "rds:DescribeDBClusters",
      "rds:DescribeDBSnapshots",
      "rds:DescribeDBClusterSnapshots",
    ]
    resources = [local.rds_db_arns, local.rds_cluster_arns, local.rds_snapshot_arns, local.rds_cluster_snapshot_arns]
  }

  statement {
    sid       = "DeleteOnlyPilotlightSnapshots"
    actions   = ["rds:DeleteDBSnapshot"]
    resources = [local.own_snapshot_arns]
    condition {
      test     = "StringEquals"
      variable = "rds:snapshot-tag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
  }

  statement {
    sid       = "DeleteOnlyPilotlightClusterSnapshots"
    actions   = ["rds:DeleteDBClusterSnapshot"]
    resources = [local.own_cluster_snapshot_arns]
    condition {
      test     = "StringEquals"
      variable = "rds:cluster-snapshot-tag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
  }

  # Belt and braces: even a policy attached to this role later cannot make it delete a snapshot
  # that is not tagged as pilotlight's.
  statement {
    sid       = "NeverDeleteOtherSnapshots"
    effect    = "Deny"
    actions   = ["rds:DeleteDBSnapshot"]
    resources = ["*"]
    condition {
      test     = "StringNotEquals"
      variable = "rds:snapshot-tag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
  }

  statement {
    sid       = "NeverDeleteOtherClusterSnapshots"
    effect    = "Deny"
    actions   = ["rds:DeleteDBClusterSnapshot"]
    resources = ["*"]
    condition {
      test     = "StringNotEquals"
      variable = "rds:cluster-snapshot-tag/pilotlight:managed-by"
      values   = ["pilotlight"]
    }
  }

  statement {
    sid       = "Notify"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }
}
