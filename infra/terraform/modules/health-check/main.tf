# Route 53 publishes HealthCheckStatus only in us-east-1: give this module a us-east-1 provider.
data "aws_region" "current" {}

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
module "alarm_topic_key" {
  source = "../alarm-topic-key"

  description = "pilotlight health check alarm topic (CloudWatch alarms publish to it)"
  alias_name  = "${var.name_prefix}-health-alarms"
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
  name              = "${var.name_prefix}-health-alarms"
  display_name      = "pilotlight health alarms"
  kms_master_key_id = module.alarm_topic_key.key_arn
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
