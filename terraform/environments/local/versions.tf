terraform {
  required_version = ">= 1.5.0"

  # Only the built-in provider: this environment plans and applies with nothing to
  # download, on any machine with terraform.
  required_providers {
    terraform = {
      source = "terraform.io/builtin/terraform"
    }
  }
}
