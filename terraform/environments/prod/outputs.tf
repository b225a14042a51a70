output "cluster_name" {
  description = "EKS cluster of the environment (`aws eks update-kubeconfig --name ...`)."
  value       = module.platform.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API server URL."
  value       = module.platform.cluster_endpoint
}

output "registry_host" {
  description = "Image registry host (--image-registry of helm.deploy); null when the environment has none."
  value       = module.platform.registry_host
}

output "database_endpoint" {
  description = "host:port of the PostgreSQL database."
  value       = module.platform.database_endpoint
}

output "database_secret_arn" {
  description = "Secrets Manager secret holding the database master password."
  value       = module.platform.database_secret_arn
}

output "artifact_bucket" {
  description = "S3 bucket for release artifacts and backups."
  value       = module.platform.artifact_bucket
}
