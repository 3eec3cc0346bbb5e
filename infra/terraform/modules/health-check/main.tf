# Route 53 publishes HealthCheckStatus only in us-east-1: give this module a us-east-1 provider.
data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

resource "aws_route53_health_check" "primary" {
  for_each = var.databases

  type              = each.value.type
  fqdn              = each.value.endpoint
  port              = each.value.port
  resource_path     = each.value.type == "TCP" ? null : each.value.resource_path
  request_interval  = each.value.request_interval
  failure_threshold = each.value.failure_threshold
  tags              = merge(var.tags, { Name = "${var.name_prefix}-${each.key}-primary" })

  lifecycle {
    precondition {
      # The data source's id is the region name in every provider version.
      condition     = data.aws_region.current.id == "us-east-1"
      error_message = "The health-check module must use a us-east-1 provider: Route 53 health check metrics exist only there."
    }
  }
}

# CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key, so the topic has
# its own key whose policy lets CloudWatch use it.
data "aws_iam_policy_document" "alarm_topic_key" {
  # checkov:skip=CKV_AWS_109: A key policy's Resource "*" is this key alone; the account root administers it
  # checkov:skip=CKV_AWS_111: A key policy's Resource "*" is this key alone; CloudWatch may only encrypt for the topic
  # checkov:skip=CKV_AWS_356: A key policy's Resource "*" is this key alone, not every resource
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alarm_topic" {
  description         = "pilotlight health check alarm topic (CloudWatch alarms publish to it)"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.alarm_topic_key.json
  tags                = var.tags
}

resource "aws_kms_alias" "alarm_topic" {
  name          = "alias/${var.name_prefix}-health-alarms"
  target_key_id = aws_kms_key.alarm_topic.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-health-alarms"
  display_name      = "pilotlight health alarms"
  kms_master_key_id = aws_kms_key.alarm_topic.arn
  tags              = var.tags
}

resource "aws_cloudwatch_metric_alarm" "primary_unhealthy" {
  for_each = var.databases

  alarm_name          = "${var.name_prefix}-${each.key}-primary-unhealthy"
  alarm_description   = "The Route 53 health check on ${each.key}'s primary (${each.value.endpoint}:${each.value.port}) fails; pilotlight evaluates a failover."
  namespace           = "AWS/Route53"
  metric_name         = "HealthCheckStatus"
  dimensions          = { HealthCheckId = aws_route53_health_check.primary[each.key].id }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  tags                = var.tags
}
