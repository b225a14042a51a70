# Everything terraform.tfvars sets. region configures the provider; the rest go to
# modules/platform, whose README documents them and their defaults.

variable "environment" {
  description = "Name of the environment: part of every resource name."
  type        = string
}

variable "region" {
  description = "AWS region the environment lives in."
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
}

variable "node_instance_types" {
  description = "Instance types of the node group."
  type        = list(string)
}

variable "node_min_size" {
  description = "Fewest nodes."
  type        = number
}

variable "node_max_size" {
  description = "Most nodes."
  type        = number
}

variable "node_desired_size" {
  description = "Nodes at creation."
  type        = number
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
}

variable "db_multi_az" {
  description = "Keep a PostgreSQL standby in a second zone."
  type        = bool
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database until this is turned off."
  type        = bool
}

variable "create_registry" {
  description = "Create the ECR repositories in this environment's account."
  type        = bool
}

variable "tags" {
  description = "Tags merged into every resource's tags."
  type        = map(string)
}
