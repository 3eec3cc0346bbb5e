output "function_names" {
  description = "Function names by function (router, failover, snapshot-copy, retention)."
  value       = { for k, f in aws_lambda_function.function : k => f.function_name }
}

output "function_arns" {
  description = "Function ARNs by function."
  value       = { for k, f in aws_lambda_function.function : k => f.arn }
}

output "router_function_name" {
  description = "The function people and triggers invoke."
  value       = aws_lambda_function.function["router"].function_name
}

output "role_arns" {
  description = "Execution role ARNs by function."
  value       = { for k, r in aws_iam_role.function : k => r.arn }
}

output "notification_topic_arn" {
  description = "pilotlight's decisions, refusals, failures and results (notifications.topic_arn)."
  value       = aws_sns_topic.notifications.arn
}

output "alarm_topic_arn" {
  description = "The functions' error alarms."
  value       = aws_sns_topic.alarms.arn
}

output "dlq_urls" {
  description = "Failed-invocation queue URLs by function."
  value       = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "ledger_table_name" {
  description = "The operations ledger (ledger.table_name of the configuration)."
  value       = aws_dynamodb_table.ledger.name
}

output "ledger_table_arn" {
  description = "ARN of the operations ledger."
  value       = aws_dynamodb_table.ledger.arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.main.dashboard_name
}
