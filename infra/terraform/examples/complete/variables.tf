variable "dr_region" {
  description = "Region of the functions: the replicas' region."
  type        = string
  default     = "us-west-2"
}

variable "primary_region" {
  description = "Region of the protected primary."
  type        = string
  default     = "us-east-1"
}

variable "artifacts_dir" {
  description = "cargo-lambda output directory (<function>/bootstrap.zip); empty: the workspace's target/lambda."
  type        = string
  default     = ""
}

variable "architecture" {
  description = "arm64 (cargo lambda build --arm64) or x86_64 (--x86-64)."
  type        = string
  default     = "arm64"
}

variable "primary_instance_id" {
  description = "DBInstanceIdentifier of the primary."
  type        = string
  default     = "orders-primary"
}

variable "primary_endpoint" {
  description = "Host name the Route 53 health check probes (reachable from the internet)."
  type        = string
  default     = "orders-primary.example.com"
}

variable "replica_instance_id" {
  description = "DBInstanceIdentifier of the cross-region read replica."
  type        = string
  default     = "orders-replica"
}

variable "hosted_zone_id" {
  description = "Hosted zone of the record that must point at the writer."
  type        = string
  default     = "Z0123456789ABCDEFGHIJ"
}

variable "record_name" {
  description = "The record (lowercase, no trailing dot)."
  type        = string
  default     = "orders-db.example.internal"
}

variable "aurora_global_database" {
  description = <<-EOT
    An Aurora global database to protect as well (a databases[] entry of kind aurora_global), or
    null for none: its name in the configuration, the global cluster's GlobalClusterIdentifier, its
    primary cluster (in primary_region) and secondary cluster (in dr_region), and the host name the
    Route 53 health check probes (the primary cluster's endpoint, reachable from the internet).
  EOT
  type = object({
    name                 = string
    global_cluster_id    = string
    primary_cluster_id   = string
    secondary_cluster_id = string
    primary_endpoint     = string
    port                 = optional(number, 3306)
    rpo_budget_seconds   = optional(number, 60)
  })
  default = null
}

variable "snapshot_kms_keys" {
  description = "KMS key ARN re-encrypting copies of encrypted snapshots, by DR region (snapshots.kms_keys). The source snapshots' keys go in source_kms_key_arns."
  type        = map(string)
  default     = {}
}

variable "source_kms_key_arns" {
  description = <<-EOT
    Key ARNs (not aliases) of the KMS keys that encrypt the source snapshots in primary_region (the
    databases' storage keys): RDS decrypts with them on snapshot-copy's behalf when it copies an
    encrypted snapshot to a DR region, so they go into the module's kms_key_arns with the values of
    snapshot_kms_keys. Empty for unencrypted databases.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for k in var.source_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[^/]+$", k))])
    error_message = "source_kms_key_arns must be KMS key ARNs (arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID), not aliases."
  }
}

variable "drill_validation_function_arn" {
  description = "Lambda function that checks a DR drill's restored instance (the configuration's drill.validation_function; failover may invoke only it), or null for none. The drill schedule stays off (the module's drill_schedule_enabled)."
  type        = string
  default     = null
}

variable "operator_emails" {
  description = "On-call addresses for the notification and alarm topics."
  type        = list(string)
  default     = []
}

variable "local_endpoint" {
  description = "URL of a local AWS emulator (moto) for every service, e.g. http://127.0.0.1:5000; empty: real AWS."
  type        = string
  default     = ""
}
