locals {
  # timeout in seconds. No function has reserved concurrency: the runs of failover for one database
  # are serialised by a per-database lease in the ledger, and the runs for different databases go
  # in parallel.
  functions = {
    router = {
      description = "pilotlight router: turns alarms, events, schedules and commands into worker invocations"
      timeout     = 900
    }
    failover = {
      description = "pilotlight failover: verify, promote the replica, repoint DNS, notify"
      timeout     = 900
    }
    "snapshot-copy" = {
      description = "pilotlight snapshot-copy: keep a recent snapshot and a copy in every DR region"
      timeout     = 900
    }
    retention = {
      description = "pilotlight retention: delete pilotlight's expired snapshots"
      timeout     = 900
    }
  }

  ledger_table_name = "${var.name_prefix}-ledger"

  # The region this module deploys to, read from an ARN (works with every provider version).
  region = split(":", aws_sns_topic.notifications.arn)[3]
}

# ------------------------------------------------------------------------------------------------
# Topics
# ------------------------------------------------------------------------------------------------
resource "aws_sns_topic" "notifications" {
  name         = "${var.name_prefix}-notifications"
  display_name = "pilotlight"
  # Only the functions publish here (IAM principals): the AWS managed key is enough.
  kms_master_key_id = "alias/aws/sns"
  tags              = var.tags
}

# CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key (its key policy
# cannot grant cloudwatch.amazonaws.com), so the alarm topic has its own key.
module "alarm_topic_key" {
  source = "../alarm-topic-key"

  description = "pilotlight alarm topic (CloudWatch alarms publish to it)"
  alias_name  = "${var.name_prefix}-alarms"
  tags        = var.tags
}

# The key and its alias were resources of this module before: keep them.
moved {
  from = aws_kms_key.alarm_topic
  to   = module.alarm_topic_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.alarm_topic
  to   = module.alarm_topic_key.aws_kms_alias.this
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  display_name      = "pilotlight alarms"
  kms_master_key_id = module.alarm_topic_key.key_arn
  tags              = var.tags
}

resource "aws_sns_topic_subscription" "operator_notifications" {
  for_each = toset(var.operator_emails)

  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_sns_topic_subscription" "operator_alarms" {
  for_each = toset(var.operator_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# ------------------------------------------------------------------------------------------------
# Failed asynchronous invocations (after Lambda's retries), one queue per function
# ------------------------------------------------------------------------------------------------
resource "aws_sqs_queue" "dlq" {
  for_each = local.functions

  name                      = "${var.name_prefix}-${each.key}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

# ------------------------------------------------------------------------------------------------
# Operations ledger: failover's runs and steps, and the per-database lease that serialises the runs
# for one database (runs for different databases go in parallel). Only failover uses it.
# ------------------------------------------------------------------------------------------------
resource "aws_dynamodb_table" "ledger" {
  # checkov:skip=CKV_AWS_119: Encrypted with the AWS managed key aws/dynamodb; only the failover role reads and writes it, as the notification topic uses alias/aws/sns

  name         = local.ledger_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  # Continuous backups: restorable to any second of the recovery period (35 days by default),
  # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/PointInTimeRecovery_Howitworks.html
  point_in_time_recovery {
    enabled = true
  }

  # Without kms_key_arn: "If enabled (true), server-side encryption type is set to KMS and an AWS
  # managed key is used" (alias/aws/dynamodb),
  # https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_SSESpecification.html
  server_side_encryption {
    enabled = true
  }

  # The audit trail: DeleteTable is refused while this is on (terraform destroy included),
  # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/WorkingWithTables.Basics.html#WorkingWithTables.Basics.DeletionProtection
  deletion_protection_enabled = var.ledger_deletion_protection

  tags = var.tags

  lifecycle {
    # The functions find the table through the configuration.
    precondition {
      condition     = try(jsondecode(var.pilotlight_config).ledger.table_name, null) == local.ledger_table_name
      error_message = "pilotlight_config must name the ledger this module creates: \"ledger\": {\"table_name\": \"<name_prefix>-ledger\"}."
    }
  }
}

# ------------------------------------------------------------------------------------------------
# Functions
# ------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "function" {
  for_each = local.functions
  # checkov:skip=CKV_AWS_158: Logs hold no secrets; CloudWatch Logs encrypts them at rest with its own keys

  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_lambda_function" "function" {
  for_each = local.functions
  # checkov:skip=CKV_AWS_115: No reservation: failover's runs for one database are serialised by a lease in the ledger, runs for different databases and the other functions must not be throttled
  # checkov:skip=CKV_AWS_116: Failed async invocations go to an on-failure destination (SQS), which records the error too
  # checkov:skip=CKV_AWS_117: No VPC: the functions call only AWS APIs
  # checkov:skip=CKV_AWS_173: The environment holds the configuration, no secrets; Lambda encrypts it at rest
  # checkov:skip=CKV_AWS_272: No code signing: the same pipeline builds and deploys the artifacts
  # checkov:skip=CKV_AWS_50: No X-Ray: JSON logs and EMF metrics carry the timeline; tracing would need xray:* on *

  function_name    = "${var.name_prefix}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  filename         = "${var.artifacts_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.artifacts_dir}/${each.key}/bootstrap.zip")
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  memory_size      = 128
  timeout          = each.value.timeout

  environment {
    variables = {
      PILOTLIGHT_CONFIG = var.pilotlight_config
    }
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  tags = var.tags
}

resource "aws_lambda_function_event_invoke_config" "function" {
  for_each = local.functions

  function_name          = aws_lambda_function.function[each.key].function_name
  maximum_retry_attempts = 2

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dlq[each.key].arn
    }
  }

  # Lambda checks that the role may send to the destination.
  depends_on = [aws_iam_role_policy.function]
}

# ------------------------------------------------------------------------------------------------
# Triggers, all to the router
# ------------------------------------------------------------------------------------------------
# The health check alarm's topic lives in us-east-1 (module health-check): a cross-region subscription.
resource "aws_lambda_permission" "health_alarm" {
  count = var.subscribe_health_alarm_topic ? 1 : 0

  statement_id   = "sns-health-alarm"
  function_name  = aws_lambda_function.function["router"].function_name
  action         = "lambda:InvokeFunction"
  principal      = "sns.amazonaws.com"
  source_arn     = var.health_alarm_topic_arn
  source_account = local.account
}

resource "aws_sns_topic_subscription" "health_alarm" {
  count    = var.subscribe_health_alarm_topic ? 1 : 0
  provider = aws.us_east_1

  topic_arn = var.health_alarm_topic_arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.function["router"].arn

  depends_on = [aws_lambda_permission.health_alarm]
}

locals {
  all_rules = {
    # Only the configured alarms: a CloudWatch Alarm State Change event carries the alarm's ARN in
    # `resources` (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html),
    # and the pattern matches when that array and the pattern's intersect
    # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html).
    # Without alarms there is no rule (below): a pattern without `resources` would match every alarm.
    "alarm-state-change" = {
      description = "The configured CloudWatch alarms of this region going to ALARM, to the router"
      event_pattern = jsonencode({
        source        = ["aws.cloudwatch"]
        "detail-type" = ["CloudWatch Alarm State Change"]
        resources     = var.alarm_arns
        detail        = { state = { value = ["ALARM"] } }
      })
      schedule_expression = null
      input               = null
    }
    "snapshot-copy-schedule" = {
      description         = "Scheduled snapshot copy, through the router"
      event_pattern       = null
      schedule_expression = var.snapshot_copy_schedule
      input               = jsonencode({ command = "snapshot-copy", invoke = "async" })
    }
    "retention-schedule" = {
      description         = "Scheduled snapshot retention, through the router"
      event_pattern       = null
      schedule_expression = var.retention_schedule
      input               = jsonencode({ command = "retention", invoke = "async" })
    }
    "reconcile-schedule" = {
      description         = "Scheduled reconcile of the operations ledger, through the router"
      event_pattern       = null
      schedule_expression = var.reconcile_schedule
      input               = jsonencode({ command = "reconcile", invoke = "async" })
    }
    # The monthly DR drill, off by default (drill_schedule_enabled = false: state DISABLED): "A
    # disabled rule won't match any events, and won't self-trigger if it has a schedule expression"
    # (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html). Same rule
    # as the SAM template's DrillScheduleRule.
    "drill-schedule" = {
      description         = "Scheduled DR drill (restore the newest snapshot copy, check it, delete it), through the router"
      event_pattern       = null
      schedule_expression = var.drill_schedule
      input               = jsonencode({ command = "drill", invoke = "async" })
      state               = var.drill_schedule_enabled ? "ENABLED" : "DISABLED"
    }
    # Only the RDS events that can start work
    # (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Events.Messages.html,
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.Messages.html):
    # DB snapshot RDS-EVENT-0042 (manual snapshot created), RDS-EVENT-0060 (finished a cross-region
    # copy), RDS-EVENT-0197 (finished a same-region copy); DB cluster snapshot RDS-EVENT-0075 (manual
    # cluster snapshot created). Never a deletion (RDS-EVENT-0041: retention's own deletes) nor any
    # other event about the snapshot. Same pattern as the SAM template's SnapshotEventRule.
    "snapshot-events" = {
      description = "RDS events about pilotlight's snapshots in this region (created, copies finishing), to the router"
      event_pattern = jsonencode({
        source        = ["aws.rds"]
        "detail-type" = ["RDS DB Snapshot Event", "RDS DB Cluster Snapshot Event"]
        detail = {
          EventID = ["RDS-EVENT-0042", "RDS-EVENT-0060", "RDS-EVENT-0197", "RDS-EVENT-0075"]
          # The router ignores every other snapshot: do not invoke it for them.
          SourceIdentifier = [{ prefix = "pilotlight-" }]
        }
      })
      schedule_expression = null
      input               = null
    }
  }

  # The alarm rule (with its target and permission) exists only when alarms are configured; the
  # number of alarm ARNs is known at plan time even when the ARNs are not.
  rules = { for k, v in local.all_rules : k => v if k != "alarm-state-change" || length(var.alarm_arns) > 0 }
}

resource "aws_cloudwatch_event_rule" "router" {
  for_each = local.rules

  name                = "${var.name_prefix}-${each.key}"
  description         = each.value.description
  event_pattern       = each.value.event_pattern
  schedule_expression = each.value.schedule_expression
  # Every rule but the drill schedule is always on.
  state = lookup(each.value, "state", "ENABLED")
  tags  = var.tags
}

resource "aws_cloudwatch_event_target" "router" {
  for_each = local.rules

  rule      = aws_cloudwatch_event_rule.router[each.key].name
  target_id = "router"
  arn       = aws_lambda_function.function["router"].arn
  input     = each.value.input
}

resource "aws_lambda_permission" "events" {
  for_each = local.rules

  statement_id  = "events-${each.key}"
  function_name = aws_lambda_function.function["router"].function_name
  action        = "lambda:InvokeFunction"
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.router[each.key].arn
}

# ------------------------------------------------------------------------------------------------
# Alarms on the functions' own errors, to the operators
# ------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "errors" {
  for_each = local.functions

  alarm_name          = "${var.name_prefix}-${each.key}-errors"
  alarm_description   = "pilotlight ${each.key} failed (see its logs and the ${each.key} DLQ)"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.function[each.key].function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}

# ------------------------------------------------------------------------------------------------
# Dashboard: EMF metrics in namespace Pilotlight, and the functions' errors
# ------------------------------------------------------------------------------------------------
locals {
  search_widgets = [
    { title = "Failover RTO (seconds)", stat = "Maximum", period = 300, series = { rto = ["{Pilotlight,Database} MetricName=\"FailoverRTOSeconds\"", ""] } },
    { title = "Failovers", stat = "Sum", period = 3600, series = { failovers = ["{Pilotlight,Database} MetricName=\"FailoverCount\"", ""] } },
    { title = "RPO exposure (seconds)", stat = "Maximum", period = 300, series = { rpo = ["{Pilotlight,Database,Region} MetricName=\"RPOExposureSeconds\"", ""] } },
    {
      title  = "Snapshot copies in flight and queued", stat = "Maximum", period = 300,
      series = { inflight = ["{Pilotlight,Region} MetricName=\"CopiesInFlight\"", "in flight"], queued = ["{Pilotlight,Region} MetricName=\"CopiesQueued\"", "queued"] }
    },
    { title = "Snapshots deleted by retention", stat = "Sum", period = 86400, series = { deleted = ["{Pilotlight,Region} MetricName=\"SnapshotsDeleted\"", ""] } },
  ]

  dashboard_body = jsonencode({
    widgets = concat(
      [for i, w in local.search_widgets : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title  = w.title
          region = local.region
          view   = "timeSeries"
          stat   = w.stat
          period = w.period
          metrics = [for id, s in w.series : [{
            expression = "SEARCH('${s[0]}', '${w.stat}', ${w.period})"
            id         = id
            label      = s[1]
          }]]
        }
      }],
      [
        {
          type   = "metric"
          x      = 12
          y      = 12
          width  = 12
          height = 6
          properties = {
            title   = "Function errors"
            region  = local.region
            view    = "timeSeries"
            stat    = "Sum"
            period  = 60
            metrics = [for name in keys(local.functions) : ["AWS/Lambda", "Errors", "FunctionName", aws_lambda_function.function[name].function_name]]
          }
        },
      ],
      [
        {
          type   = "alarm"
          x      = 0
          y      = 18
          width  = 24
          height = 3
          properties = {
            title  = "pilotlight alarms"
            alarms = [for a in aws_cloudwatch_metric_alarm.errors : a.arn]
          }
        },
      ],
    )
  })
}

resource "aws_cloudwatch_dashboard" "main" {
  dashboard_name = var.name_prefix
  dashboard_body = local.dashboard_body
}
