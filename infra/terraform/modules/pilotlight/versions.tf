terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.32 or later: aws_lambda_function.logging_config.
      version = ">= 5.32, < 7.0"
      # The alarm topic of the health-check module lives in us-east-1: the router's subscription to
      # it must be created there.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
