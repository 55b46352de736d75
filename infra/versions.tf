terraform {
  # 1.9: variable validations that refer to other values (modules/config).
  required_version = ">= 1.9"

  # Exact versions: .terraform.lock.hcl holds their official checksums, and the arguments used
  # here are checked against these versions' schemas (tools/provider-schemas.json).
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "6.50.0"
    }
    # Only for google_project_service_identity (agents.tf), which 6.50 has in beta alone.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "6.50.0"
    }
    # time_sleep, where the google provider's own guides wait for Google Cloud to settle.
    time = {
      source  = "hashicorp/time"
      version = "0.13.1"
    }
  }
}

provider "google" {
  project = local.project
  region  = local.region
}

provider "google-beta" {
  project = local.project
  region  = local.region
}
