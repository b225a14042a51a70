variable "name" {
  description = "Name of the EKS cluster (and prefix of its IAM roles)."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane (the charts are validated against 1.31)."
  type        = string
  default     = "1.31"
}

variable "subnet_ids" {
  description = "Private subnets the control plane's interfaces and the nodes live in."
  type        = list(string)
}

variable "endpoint_public_access" {
  description = "Expose the API server endpoint on the internet (restricted to public_access_cidrs)."
  type        = bool
  default     = false
}

variable "public_access_cidrs" {
  description = "CIDR blocks allowed to reach a public API server endpoint."
  type        = list(string)
  default     = []
}

variable "enabled_log_types" {
  description = "Control plane log types sent to CloudWatch Logs."
  type        = list(string)
  default     = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
}

variable "node_instance_types" {
  description = "EC2 instance types of the managed node group."
  type        = list(string)
  default     = ["t3.medium"]
}

variable "node_min_size" {
  description = "Fewest nodes in the managed node group."
  type        = number
  default     = 1
}

variable "node_max_size" {
  description = "Most nodes in the managed node group."
  type        = number
  default     = 3
}

variable "node_desired_size" {
  description = "Nodes the group starts with (the cluster autoscaler moves it afterwards)."
  type        = number
  default     = 2
}

variable "node_disk_size" {
  description = "Root volume size of each node, in GiB."
  type        = number
  default     = 50
}

variable "tags" {
  description = "Tags merged into every resource's tags."
  type        = map(string)
  default     = {}
}
