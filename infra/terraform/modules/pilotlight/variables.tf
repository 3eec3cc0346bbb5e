variable "name_prefix" {
  description = "Prefix of every name (functions, queues, topics, alarms, dashboard)."
  type        = string
  default     = "pilotlight"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name_prefix))
    error_message = "name_prefix must be 1-31 of [a-z0-9-], starting with a letter."
  }
}

variable "pilotlight_config" {
  description = <<-EOT
    pilotlight's JSON configuration (PILOTLIGHT_CONFIG, validated by the functions at start-up).
    notifications.topic_arn must be the notification topic this module creates
    (arn:PARTITION:sns:REGION:ACCOUNT:<name_prefix>-notifications), functions must name
    <name_prefix>-failover, -snapshot-copy and -retention, and ledger.table_name must be the
    ledger this module creates, <name_prefix>-ledger (checked at plan time).
  EOT
  type        = string

  validation {
    condition     = can(jsondecode(var.pilotlight_config))
    error_message = "pilotlight_config must be a JSON document."
  }
}

variable "artifacts_dir" {
  description = "Directory holding the cargo-lambda artifacts, <function>/bootstrap.zip (the workspace's target/lambda)."
  type        = string
}

variable "architecture" {
  description = "Architecture the artifacts were built for: arm64 (cargo lambda build --arm64) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "primary_instance_arns" {
  description = "ARNs of the protected primary DB instances (arn:PARTITION:rds:REGION:ACCOUNT:db:ID), read by failover."
  type        = list(string)

  validation {
    condition     = length(var.primary_instance_arns) > 0
    error_message = "At least one primary instance ARN is required."
  }
}

variable "replica_instance_arns" {
  description = "ARNs of the cross-region read replicas failover may tag and promote."
  type        = list(string)

  validation {
    condition     = length(var.replica_instance_arns) > 0
    error_message = "At least one replica instance ARN is required."
  }
}

variable "aurora_global_cluster_arns" {
  description = "ARNs of the protected Aurora global databases (databases[] of kind aurora_global), which have no region: arn:PARTITION:rds::ACCOUNT:global-cluster:GLOBAL_CLUSTER_ID. failover reads them, switches them over and fails them over. Empty (with aurora_cluster_arns) for none: no Aurora statement."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.aurora_global_cluster_arns : can(regex("^arn:aws[a-z-]*:rds::[0-9]{12}:global-cluster:[^:]+$", a))])
    error_message = "aurora_global_cluster_arns must be global cluster ARNs, without a region: arn:PARTITION:rds::ACCOUNT:global-cluster:ID."
  }
}

variable "aurora_cluster_arns" {
  description = "ARNs of the primary and secondary clusters of those global databases (arn:PARTITION:rds:REGION:ACCOUNT:cluster:CLUSTER_ID), which failover reads, switches over or fails over to, fences (security groups) and whose unplanned-failover snapshots it copies. Empty for none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.aurora_cluster_arns : can(regex("^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:cluster:[^:]+$", a))])
    error_message = "aurora_cluster_arns must be DB cluster ARNs: arn:PARTITION:rds:REGION:ACCOUNT:cluster:ID."
  }
}

variable "hosted_zone_ids" {
  description = "Route 53 hosted zone ids (Z...) holding the records failover repoints."
  type        = list(string)

  validation {
    condition     = length(var.hosted_zone_ids) > 0
    error_message = "At least one hosted zone id is required."
  }
}

variable "record_names" {
  description = "Record names failover may change, normalized for Route 53's IAM condition key: lowercase, no trailing dot."
  type        = list(string)

  validation {
    condition     = length(var.record_names) > 0 && alltrue([for n in var.record_names : n == lower(n) && !endswith(n, ".")])
    error_message = "record_names must be lowercase with no trailing dot (orders-db.example.internal)."
  }
}

variable "alarm_arns" {
  description = "ARNs of the CloudWatch alarms in the configuration (failover re-reads them; the alarm-state-change rule matches only these, and exists only when there are some)."
  type        = list(string)
  default     = []
}

variable "health_check_ids" {
  description = "Route 53 health check ids in the configuration (failover re-reads their status)."
  type        = list(string)
  default     = []
}

variable "subscribe_health_alarm_topic" {
  description = "Subscribe the router to health_alarm_topic_arn (known at plan time, unlike the ARN)."
  type        = bool
  default     = false
}

variable "health_alarm_topic_arn" {
  description = "The health-check module's alarm topic (us-east-1), subscribed to the router through the aws.us_east_1 provider."
  type        = string
  default     = ""
}

variable "kms_key_arns" {
  description = "Key ARNs (not aliases) of the KMS keys of encrypted source snapshots (RDS decrypts with them) and of the keys re-encrypting the copies in the DR regions (snapshots.kms_keys): a cross-region copy of an encrypted snapshot needs both."
  type        = list(string)
  default     = []
}

variable "managed_snapshot_prefix" {
  description = "Identifier prefix of the snapshots pilotlight creates and copies (pilotlight-<db>-<time>, and failover's copies of Aurora's unplanned-failover snapshots, pilotlight-<db>-unplanned-<time>): creating, copying, tagging and deleting are limited to snapshot:<prefix>*. Empty: any identifier."
  type        = string
  default     = "pilotlight-"

  validation {
    condition     = can(regex("^[A-Za-z0-9-]*$", var.managed_snapshot_prefix))
    error_message = "managed_snapshot_prefix may hold only letters, digits and hyphens."
  }
}

variable "snapshot_copy_schedule" {
  description = "EventBridge schedule expression that sends {\"command\":\"snapshot-copy\",\"invoke\":\"async\"} to the router."
  type        = string
  default     = "rate(1 hour)"
}

variable "retention_schedule" {
  description = "EventBridge schedule expression that sends {\"command\":\"retention\",\"invoke\":\"async\"} to the router."
  type        = string
  default     = "cron(30 4 * * ? *)"
}

variable "reconcile_schedule" {
  description = "EventBridge schedule expression that sends {\"command\":\"reconcile\",\"invoke\":\"async\"} to the router."
  type        = string
  default     = "rate(1 minute)"
}

variable "drill_schedule" {
  description = "EventBridge schedule expression that sends {\"command\":\"drill\",\"invoke\":\"async\"} to the router (default: 06:00 UTC on the first day of every month). Runs only while drill_schedule_enabled is true."
  type        = string
  default     = "cron(0 6 1 * ? *)"
}

variable "drill_schedule_enabled" {
  description = "Run the DR drill on drill_schedule. A drill restores an instance from the newest pilotlight snapshot copy of each database in its DR region (billed while it runs), so the rule exists but is disabled until this is true."
  type        = bool
  default     = false
}

variable "drill_validation_function_arn" {
  description = "ARN of the Lambda function that checks a drill's restored instance (drill.validation_function of pilotlight_config); failover may invoke only this function. null: no validation function, no statement."
  type        = string
  default     = null

  validation {
    condition     = var.drill_validation_function_arn == null ? true : can(regex("^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9$_-]+)?$", var.drill_validation_function_arn))
    error_message = "drill_validation_function_arn must be a Lambda function ARN (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME), or null."
  }
}

variable "ledger_deletion_protection" {
  description = "Deletion protection of the operations ledger <name_prefix>-ledger (the audit trail): while true, terraform destroy cannot delete the table. Set false and apply before removing a deployment."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups (the audit trail of every failover)."
  type        = number
  default     = 365
}

variable "operator_emails" {
  description = "Addresses subscribed to the notification and alarm topics (each must confirm the e-mail AWS sends)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
