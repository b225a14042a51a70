output "vpc_id" {
  description = "ID of the VPC."
  value       = try(aws_vpc.this.id, null)
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC."
  value       = try(aws_vpc.this.cidr_block, null)
}

output "public_subnet_ids" {
  description = "IDs of the public subnets, in zone order."
  value       = try(aws_subnet.public[*].id, null)
}

output "private_subnet_ids" {
  description = "IDs of the private subnets, in zone order."
  value       = try(aws_subnet.private[*].id, null)
}

output "nat_public_ips" {
  description = "Public IPs of the NAT gateways (what outbound traffic comes from)."
  value       = try(aws_eip.nat[*].public_ip, null)
}

output "flow_log_group" {
  description = "CloudWatch Logs group holding the VPC flow logs."
  value       = try(aws_cloudwatch_log_group.flow_log.name, null)
}
