variable "name_prefix" {
  description = "Prefix of every name."
  type        = string
  default     = "pilotlight"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name_prefix))
    error_message = "name_prefix must be 1-31 of [a-z0-9-], starting with a letter."
  }
}

variable "databases" {
  description = <<-EOT
    Protected primaries by the database's name in the pilotlight configuration. endpoint is the host
    name (or IP address) the Route 53 health checkers probe: it must be reachable from the internet.
  EOT
  type = map(object({
    endpoint          = string
    port              = optional(number, 5432)
    type              = optional(string, "TCP")
    resource_path     = optional(string, "/")
    request_interval  = optional(number, 30)
    failure_threshold = optional(number, 3)
  }))

  validation {
    condition     = alltrue([for d in values(var.databases) : contains(["TCP", "HTTP", "HTTPS"], d.type)])
    error_message = "type must be TCP, HTTP or HTTPS."
  }
}

variable "alarm_evaluation_periods" {
  description = "Minutes a health check must report unhealthy before its alarm fires."
  type        = number
  default     = 2
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
