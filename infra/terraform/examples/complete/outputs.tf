output "function_names" {
  description = "Function names by function."
  value       = module.pilotlight.function_names
}

output "function_arns" {
  description = "Function ARNs by function."
  value       = module.pilotlight.function_arns
}

output "notification_topic_arn" {
  description = "Subscribe the on-call address here (and to alarm_topic_arn)."
  value       = module.pilotlight.notification_topic_arn
}

output "alarm_topic_arn" {
  description = "The functions' error alarms."
  value       = module.pilotlight.alarm_topic_arn
}

output "dlq_urls" {
  description = "Failed-invocation queues by function."
  value       = module.pilotlight.dlq_urls
}

output "health_check_ids" {
  description = "Route 53 health checks by database."
  value       = module.health_check.health_check_ids
}

output "health_alarm_topic_arn" {
  description = "The health check alarms' topic (us-east-1)."
  value       = module.health_check.alarm_topic_arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = module.pilotlight.dashboard_name
}

output "ledger_table_name" {
  description = "The operations ledger."
  value       = module.pilotlight.ledger_table_name
}

output "ledger_table_arn" {
  description = "ARN of the operations ledger."
  value       = module.pilotlight.ledger_table_arn
}

output "role_arns" {
  description = "Execution role ARNs by function."
  value       = module.pilotlight.role_arns
}
