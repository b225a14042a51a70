variable "namespace" {
  description = "Repository name prefix: images are pushed as <registry>/<namespace>/<image>."
  type        = string
  default     = "ironcage"
}

variable "repositories" {
  description = "Image names to create a repository for (the images release.toml declares)."
  type        = list(string)
  default     = ["agent-runtime", "control-panel-api", "control-panel-web", "marketing-site"]
}

variable "image_tag_mutability" {
  description = "MUTABLE lets the moving tags (latest, X.Y, X) follow each release; deployments pin digests."
  type        = string
  default     = "MUTABLE"

  validation {
    condition     = contains(["MUTABLE", "IMMUTABLE"], var.image_tag_mutability)
    error_message = "image_tag_mutability must be MUTABLE or IMMUTABLE."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the repositories; null uses the AWS-managed ECR key."
  type        = string
  default     = null
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images are deleted."
  type        = number
  default     = 14
}

variable "tags" {
  description = "Tags merged into every resource's tags."
  type        = map(string)
  default     = {}
}
