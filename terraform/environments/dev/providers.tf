provider "aws" {
  region = var.region

  # The same tags the platform module sets on its resources, for anything else.
  default_tags {
    tags = merge(var.tags, {
      Project     = "ironcage"
      Environment = var.environment
      ManagedBy   = "terraform"
    })
  }
}
