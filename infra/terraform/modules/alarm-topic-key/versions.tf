# Internal module, called only by ../pilotlight and ../health-check: Terraform's version is theirs
# to constrain; the provider is declared so the module validates on its own.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.32, < 7.0"
    }
  }
}
