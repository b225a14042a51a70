variable "identifier" {
  description = "Name of the database instance and prefix of its companions."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL version."
  type        = string
  default     = "16.4"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "allocated_storage" {
  description = "Initial storage, in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling, in GiB."
  type        = number
  default     = 100
}

variable "db_name" {
  description = "Name of the database created in the instance."
  type        = string
  default     = "ironcage"
}

variable "username" {
  description = "Master user name; its password is generated and kept in Secrets Manager by RDS."
  type        = string
  default     = "ironcage"
}

variable "vpc_id" {
  description = "VPC of the database's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the database subnet group (two zones at least)."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups (e.g. the cluster's) allowed to connect on the PostgreSQL port."
  type        = list(string)
  default     = []
}

variable "multi_az" {
  description = "Keep a standby in a second zone."
  type        = bool
  default     = false
}

variable "backup_retention_period" {
  description = "Days automated backups are kept."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off."
  type        = bool
  default     = true
}

variable "kms_key_id" {
  description = "KMS key ARN encrypting storage and Performance Insights; null uses the AWS-managed key."
  type        = string
  default     = null
}

variable "monitoring_interval" {
  description = "Seconds between Enhanced Monitoring samples (0 disables it)."
  type        = number
  default     = 60
}

variable "tags" {
  description = "Tags merged into every resource's tags."
  type        = map(string)
  default     = {}
}
