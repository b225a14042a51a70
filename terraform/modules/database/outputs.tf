output "endpoint" {
  description = "host:port of the database."
  value       = try(aws_db_instance.this.endpoint, null)
}

output "address" {
  description = "Host name of the database."
  value       = try(aws_db_instance.this.address, null)
}

output "port" {
  description = "Port of the database."
  value       = try(aws_db_instance.this.port, null)
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret holding the generated master password."
  value       = try(aws_db_instance.this.master_user_secret[0].secret_arn, null)
}

output "security_group_id" {
  description = "Security group guarding the database."
  value       = try(aws_security_group.this.id, null)
}
