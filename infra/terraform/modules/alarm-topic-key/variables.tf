variable "description" {
  description = "The key's description."
  type        = string
}

variable "alias_name" {
  description = "The key's alias, without the alias/ prefix."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,250}$", var.alias_name)) && !startswith(var.alias_name, "aws/")
    error_message = "alias_name must be 1-250 of [a-zA-Z0-9/_-], without the alias/ prefix, and must not start with aws/."
  }
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
  default     = {}
}
