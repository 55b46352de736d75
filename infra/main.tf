# cloudscore on Google Cloud: buckets, dataset and tables, the three functions and their
# triggers, one service account per function with only the access it needs. The deployment
# guide is README.md beside this file.

module "config" {
  source = "./modules/config"

  settings             = var.settings
  score_file_timeout_s = var.score_file.timeout_s
}

locals {
  settings = module.config.values

  project = local.settings["CLOUDSCORE_PROJECT"]
  # CLOUDSCORE_REGION is both the functions' region and the dataset's location.
  region = local.settings["CLOUDSCORE_REGION"]

  # Function (as the code names it) => its Cloud Function and service account name.
  function_names = { for name in keys(module.config.functions) : name => "${var.name_prefix}-${replace(name, "_", "-")}" }

  sources_bucket = coalesce(var.sources_bucket, "${local.project}-cloudscore-sources")

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "apis" {
  for_each = local.apis

  service = each.value
  # Turning an API off on destroy would break whatever else in the project uses it.
  disable_on_destroy = false
}

data "google_project" "this" {
  depends_on = [google_project_service.apis]
}

# Google's own agents that act in this project: Cloud Storage publishes the storage events,
# Pub/Sub moves failed events to the dead-letter topic.
data "google_storage_project_service_account" "gcs" {
  depends_on = [google_project_service.apis]
}

locals {
  pubsub_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}
