terraform {
  # 1.9: variable validations that refer to other values (modules/config).
  required_version = ">= 1.9"

  required_providers {
    google = {
      source = "hashicorp/google"
      # The arguments used here were checked against the 6.50 schema.
      version = "~> 6.50"
    }
  }
}

provider "google" {
  project = local.project
  region  = local.region
}
