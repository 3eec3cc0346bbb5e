output "health_check_ids" {
  description = "Health check ids by database (databases[].health_check_id)."
  value       = { for k, h in aws_route53_health_check.primary : k => h.id }
}

output "alarm_names" {
  description = "Alarm names by database (databases[].alarms[].name, region us-east-1)."
  value       = { for k, a in aws_cloudwatch_metric_alarm.primary_unhealthy : k => a.alarm_name }
}

output "alarm_arns" {
  description = "Alarm ARNs by database (alarm_arns of the pilotlight module)."
  value       = { for k, a in aws_cloudwatch_metric_alarm.primary_unhealthy : k => a.arn }
}

output "alarm_topic_arn" {
  description = "The alarms' topic in us-east-1 (health_alarm_topic_arn of the pilotlight module)."
  value       = aws_sns_topic.alarms.arn
}
