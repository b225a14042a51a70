variable "name" {
  description = "Name prefix of every resource (e.g. ironcage-dev)."
  type        = string
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0))
    error_message = "cidr must be a valid IPv4 CIDR block, e.g. 10.0.0.0/16."
  }
}

variable "azs" {
  description = "Availability zones the subnets are spread over, one public and one private subnet each."
  type        = list(string)
}

variable "public_subnets" {
  description = "CIDR blocks of the public subnets (load balancers, NAT gateways), one per zone."
  type        = list(string)
}

variable "private_subnets" {
  description = "CIDR blocks of the private subnets (nodes, database), one per zone."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for every zone (cheaper) instead of one per zone (survives a zone outage)."
  type        = bool
  default     = true
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "flow_log_kms_key_id" {
  description = "KMS key ARN encrypting the flow log group; null uses the service-managed key."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags merged into every resource's tags."
  type        = map(string)
  default     = {}
}
