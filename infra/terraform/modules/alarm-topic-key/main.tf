# A customer-managed KMS key for an SNS topic that CloudWatch alarms publish to. CloudWatch alarms
# cannot publish to a topic encrypted with the AWS managed key (its key policy cannot grant
# cloudwatch.amazonaws.com), so such a topic needs its own key whose policy lets CloudWatch use it.
# Internal to the health-check and pilotlight modules; it uses its caller's default aws provider.
data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_iam_policy_document" "this" {
  # checkov:skip=CKV_AWS_109: A key policy's Resource "*" is this key alone; the account root administers it
  # checkov:skip=CKV_AWS_111: A key policy's Resource "*" is this key alone; CloudWatch may only encrypt for the topic
  # checkov:skip=CKV_AWS_356: A key policy's Resource "*" is this key alone, not every resource
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "this" {
  description         = var.description
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.this.json
  tags                = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.alias_name}"
  target_key_id = aws_kms_key.this.key_id
}
