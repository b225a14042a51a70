# State stays beside this file (terraform.tfstate, git-ignored).
terraform {
  backend "local" {
    path = "terraform.tfstate"
  }
}
