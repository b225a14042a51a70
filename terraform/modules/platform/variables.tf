variable "environment" {
  description = "Name of the environment (dev, staging, prod): every resource is named ironcage-<environment>."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the environment's VPC."
  type        = string
}

variable "azs" {
  description = "Availability zones used by the environment."
  type        = list(string)
}

variable "public_subnets" {
  description = "Public subnet CIDRs, one per zone."
  type        = list(string)
}

variable "private_subnets" {
  description = "Private subnet CIDRs, one per zone."
  type        = list(string)
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones instead of one per zone."
  type        = bool
  default     = true
}

variable "kubernetes_version" {
  description = "Kubernetes version of the EKS control plane."
  type        = string
  default     = "1.31"
}

variable "node_instance_types" {
  description = "Instance types of the node group."
  type        = list(string)
  default     = ["t3.medium"]
}

variable "node_min_size" {
  description = "Fewest nodes."
  type        = number
  default     = 1
}

variable "node_max_size" {
  description = "Most nodes."
  type        = number
  default     = 3
}

variable "node_desired_size" {
  description = "Nodes at creation."
  type        = number
  default     = 2
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
  default     = "db.t4g.micro"
}

variable "db_multi_az" {
  description = "Keep a PostgreSQL standby in a second zone."
  type        = bool
  default     = false
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database until this is turned off."
  type        = bool
  default     = true
}

variable "create_registry" {
  description = "Create the ECR repositories in this environment's account."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags merged into every resource's tags, beside Project, Environment and ManagedBy."
  type        = map(string)
  default     = {}
}
