output "release_version" {
  description = "The released version the environment records."
  value       = terraform_data.release.output.version
}

output "image_digests" {
  description = "Image name -> digest of the released images."
  value       = { for name, image in terraform_data.image : name => image.output.digest }
}

output "release_id" {
  description = "ID of the release record (changes only when the record is replaced)."
  value       = terraform_data.release.id
}
