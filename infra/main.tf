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

  # The APIs this deployment calls, each for what needs it (README, "First apply"). Service
  # Usage itself (which enables the others) is turned on by hand before the first apply.
  apis = toset([
    "artifactregistry.googleapis.com",     # the functions' image repository
    "bigquery.googleapis.com",             # the dataset and its tables
    "cloudbuild.googleapis.com",           # Cloud Functions builds each function's image
    "cloudfunctions.googleapis.com",       # the three functions
    "cloudresourcemanager.googleapis.com", # project IAM grants, the audit configuration
    "cloudscheduler.googleapis.com",       # the retrain schedule
    "compute.googleapis.com",              # the Dataflow jobs' worker VMs
    "dataflow.googleapis.com",             # the scoring pipeline's jobs
    "eventarc.googleapis.com",             # the functions' triggers
    "iam.googleapis.com",                  # the service accounts and their grants
    "logging.googleapis.com",              # log-based metrics; the builds' and functions' logs
    "monitoring.googleapis.com",           # alert policies and notification channels
    "pubsub.googleapis.com",               # the retrain and dead-letter topics
    "run.googleapis.com",                  # gen2 functions run as Cloud Run services
    "storage.googleapis.com",              # the buckets
  ])
}

resource "google_project_service" "apis" {
  for_each = local.apis

  service = each.value
  # Turning an API off on destroy would break whatever else in the project uses it.
  disable_on_destroy = false
}

# Enabling an API is eventually consistent: the first calls right after it can still be refused
# as if it were off. The provider's guide to google_project_service waits with time_sleep; every
# resource here depends on this wait, not on the enablement alone.
resource "time_sleep" "apis" {
  create_duration = "60s"

  depends_on = [google_project_service.apis]
}
