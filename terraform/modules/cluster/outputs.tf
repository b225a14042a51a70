output "cluster_name" {
  description = "Name of the EKS cluster (`aws eks update-kubeconfig --name ...`)."
  value       = try(aws_eks_cluster.this.name, null)
}

output "cluster_endpoint" {
  description = "URL of the Kubernetes API server."
  value       = try(aws_eks_cluster.this.endpoint, null)
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the API server."
  value       = try(aws_eks_cluster.this.certificate_authority[0].data, null)
}

output "oidc_issuer_url" {
  description = "OIDC issuer of the cluster, for IAM roles of service accounts."
  value       = try(aws_eks_cluster.this.identity[0].oidc[0].issuer, null)
}

output "cluster_security_group_id" {
  description = "Security group EKS created for the control plane and nodes."
  value       = try(aws_eks_cluster.this.vpc_config[0].cluster_security_group_id, null)
}

output "node_role_arn" {
  description = "IAM role of the nodes."
  value       = try(aws_iam_role.node.arn, null)
}
