# Remote state in S3, locked with an S3 lock file. The bucket is created once, by hand or
# by a bootstrap stack, with versioning and encryption on; credentials come from the
# environment (OIDC in CI), never from this file.
terraform {
  backend "s3" {
    bucket       = "ironcage-terraform-state"
    key          = "environments/dev/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
