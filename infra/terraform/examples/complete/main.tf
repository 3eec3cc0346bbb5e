# A complete deployment: the health check in us-east-1 and pilotlight in the DR region, for the
# database of events/config.example.json and, when aurora_global_database is set, an Aurora global
# database too. With local_endpoint set, every call goes to a local emulator with dummy credentials
# (scripts/check-infra.sh applies it against moto).

locals {
  local_mode    = var.local_endpoint != ""
  endpoint      = local.local_mode ? var.local_endpoint : null
  artifacts_dir = var.artifacts_dir != "" ? var.artifacts_dir : "${path.root}/../../../../target/lambda"
  name_prefix   = "pilotlight"
  account       = data.aws_caller_identity.current.account_id
  partition     = data.aws_partition.current.partition
  aurora        = var.aurora_global_database == null ? [] : [var.aurora_global_database]
  # The configuration's optional DR drill section, with a validation function: restores go to the
  # DR region's default subnet group and security group (no drill.subnet_groups, security_groups).
  drill = var.drill_validation_function_arn == null ? {} : {
    drill = { instance_class = "db.t3.micro", validation_function = var.drill_validation_function_arn }
  }
}

provider "aws" {
  region = var.dr_region

  access_key                  = local.local_mode ? "test" : null
  secret_key                  = local.local_mode ? "test" : null
  skip_credentials_validation = local.local_mode
  skip_requesting_account_id  = local.local_mode
  skip_metadata_api_check     = local.local_mode
  s3_use_path_style           = local.local_mode

  endpoints {
    cloudwatch     = local.endpoint
    cloudwatchlogs = local.endpoint
    dynamodb       = local.endpoint
    eventbridge    = local.endpoint
    iam            = local.endpoint
    kms            = local.endpoint
    lambda         = local.endpoint
    rds            = local.endpoint
    route53        = local.endpoint
    s3             = local.endpoint
    sns            = local.endpoint
    sqs            = local.endpoint
    sts            = local.endpoint
  }
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  access_key                  = local.local_mode ? "test" : null
  secret_key                  = local.local_mode ? "test" : null
  skip_credentials_validation = local.local_mode
  skip_requesting_account_id  = local.local_mode
  skip_metadata_api_check     = local.local_mode
  s3_use_path_style           = local.local_mode

  endpoints {
    cloudwatch     = local.endpoint
    cloudwatchlogs = local.endpoint
    dynamodb       = local.endpoint
    eventbridge    = local.endpoint
    iam            = local.endpoint
    kms            = local.endpoint
    lambda         = local.endpoint
    rds            = local.endpoint
    route53        = local.endpoint
    s3             = local.endpoint
    sns            = local.endpoint
    sqs            = local.endpoint
    sts            = local.endpoint
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

module "health_check" {
  source = "../../modules/health-check"
  providers = {
    aws = aws.us_east_1
  }

  name_prefix = local.name_prefix
  databases = merge(
    { orders = { endpoint = var.primary_endpoint, port = 5432 } },
    { for a in local.aurora : a.name => { endpoint = a.primary_endpoint, port = a.port } },
  )
}

module "pilotlight" {
  source = "../../modules/pilotlight"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name_prefix   = local.name_prefix
  artifacts_dir = local.artifacts_dir
  architecture  = var.architecture

  # The configuration the functions read; the names and ARNs below must agree with it.
  pilotlight_config = jsonencode(merge({
    databases = concat(
      [{
        name    = "orders"
        primary = { region = var.primary_region, instance_id = var.primary_instance_id }
        replica = { region = var.dr_region, instance_id = var.replica_instance_id }
        records = [{ hosted_zone_id = var.hosted_zone_id, name = var.record_name, type = "CNAME", ttl = 60 }]
        alarms  = [{ name = module.health_check.alarm_names["orders"], region = "us-east-1" }]

        health_check_id    = module.health_check.health_check_ids["orders"]
        rpo_budget_seconds = 300
      }],
      # Applications on the global writer endpoint need no records: Aurora moves it.
      [for a in local.aurora : {
        name              = a.name
        kind              = "aurora_global"
        global_cluster_id = a.global_cluster_id
        primary           = { region = var.primary_region, cluster_id = a.primary_cluster_id }
        secondary         = { region = var.dr_region, cluster_id = a.secondary_cluster_id }
        alarms            = [{ name = module.health_check.alarm_names[a.name], region = "us-east-1" }]

        health_check_id    = module.health_check.health_check_ids[a.name]
        rpo_budget_seconds = a.rpo_budget_seconds
        fencing            = { mode = "none" }
      }],
    )
    notifications = { topic_arn = "arn:${local.partition}:sns:${var.dr_region}:${local.account}:${local.name_prefix}-notifications" }
    functions = {
      failover      = "${local.name_prefix}-failover"
      snapshot_copy = "${local.name_prefix}-snapshot-copy"
      retention     = "${local.name_prefix}-retention"
    }
    failover  = { deadline_seconds = 600, lag_lookback_seconds = 600, poll_interval_ms = 2000, max_poll_interval_ms = 30000 }
    snapshots = { dr_regions = [var.dr_region], kms_keys = var.snapshot_kms_keys }
    ledger    = { table_name = "${local.name_prefix}-ledger" }
  }, local.drill))

  primary_instance_arns = ["arn:${local.partition}:rds:${var.primary_region}:${local.account}:db:${var.primary_instance_id}"]
  replica_instance_arns = ["arn:${local.partition}:rds:${var.dr_region}:${local.account}:db:${var.replica_instance_id}"]
  hosted_zone_ids       = [var.hosted_zone_id]
  record_names          = [var.record_name]
  alarm_arns            = values(module.health_check.alarm_arns)
  health_check_ids      = values(module.health_check.health_check_ids)
  # RDS uses both keys of a cross-region copy of an encrypted snapshot on snapshot-copy's behalf:
  # the source snapshot's key (primary region) to decrypt, the DR region's key to re-encrypt.
  kms_key_arns = distinct(concat(values(var.snapshot_kms_keys), var.source_kms_key_arns))

  # Global clusters have no region in their ARN.
  aurora_global_cluster_arns = [for a in local.aurora : "arn:${local.partition}:rds::${local.account}:global-cluster:${a.global_cluster_id}"]
  aurora_cluster_arns = flatten([for a in local.aurora : [
    "arn:${local.partition}:rds:${var.primary_region}:${local.account}:cluster:${a.primary_cluster_id}",
    "arn:${local.partition}:rds:${var.dr_region}:${local.account}:cluster:${a.secondary_cluster_id}",
  ]])

  drill_validation_function_arn = var.drill_validation_function_arn

  subscribe_health_alarm_topic = true
  health_alarm_topic_arn       = module.health_check.alarm_topic_arn

  operator_emails = var.operator_emails
}
