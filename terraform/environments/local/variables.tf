variable "environment" {
  description = "Name of the environment recorded with the release."
  type        = string
  default     = "local"
}

variable "release_version" {
  description = "The released version this environment runs (a version site: `invoke version.bump` rewrites it)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]+)?$", var.release_version))
    error_message = "release_version must be a semantic version such as 1.2.0 or 1.2.0-rc.1."
  }
}

variable "image_digests" {
  description = "Image name -> sha256 digest of the released image (dist/<version>/images.json)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for digest in values(var.image_digests) : can(regex("^sha256:[0-9a-f]{64}$", digest))])
    error_message = "Every image digest must look like sha256:<64 hex digits>."
  }
}
