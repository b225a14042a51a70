output "cluster_name" {
  description = "EKS cluster of the environment (`aws eks update-kubeconfig --name ...`)."
  value       = module.cluster.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API server URL."
  value       = module.cluster.cluster_endpoint
}

output "registry_host" {
  description = "Image registry host (--image-registry of helm.deploy); null when the environment has none."
  value       = try(module.registry[0].registry_host, null)
}

output "database_endpoint" {
  description = "host:port of the PostgreSQL database."
  value       = module.database.endpoint
}

output "database_secret_arn" {
  description = "Secrets Manager secret holding the database master password."
  value       = module.database.master_user_secret_arn
}

output "artifact_bucket" {
  description = "S3 bucket for release artifacts and backups."
  value       = module.storage.bucket_id
}
