# The local environment records what is deployed: the release version, and one record per
# image that is replaced whenever its digest changes. terraform_data needs no provider
# download, so plan and apply run for real anywhere.

resource "terraform_data" "release" {
  input = {
    environment = var.environment
    version     = var.release_version
  }
}

resource "terraform_data" "image" {
  for_each = var.image_digests

  input = {
    image   = each.key
    digest  = each.value
    version = var.release_version
  }
  triggers_replace = [each.value]
}
