variable "bucket_name" {
  description = "Globally unique name of the bucket."
  type        = string
}

variable "force_destroy" {
  description = "Let terraform delete the bucket while it still holds objects."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the objects; null uses the AWS-managed S3 key."
  type        = string
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced object version is kept."
  type        = number
  default     = 90
}

variable "access_log_bucket" {
  description = "Bucket receiving the server access logs; null disables access logging."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags merged into every resource's tags."
  type        = map(string)
  default     = {}
}
