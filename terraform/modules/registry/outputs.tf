output "repository_urls" {
  description = "Image name -> repository URL to push to."
  value       = try({ for name, repo in aws_ecr_repository.this : name => repo.repository_url }, null)
}

output "repository_arns" {
  description = "Image name -> repository ARN."
  value       = try({ for name, repo in aws_ecr_repository.this : name => repo.arn }, null)
}

output "registry_host" {
  description = "Registry host (<account>.dkr.ecr.<region>.amazonaws.com), the toolkit's image registry."
  value       = try(split("/", values(aws_ecr_repository.this)[0].repository_url)[0], null)
}
