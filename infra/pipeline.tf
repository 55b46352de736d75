# The scoring pipeline on Dataflow: the batch function hands a file too large for its attempts
# to it, and `cloudscore backfill` runs it by hand. It is a Flex Template
# (https://cloud.google.com/dataflow/docs/guides/templates/configuring-flex-templates): an image
# in this repository, built by `cloudscore deploy pipeline` with Cloud Build from
# pipeline/Dockerfile, and a spec file under templates/ in the pipeline bucket naming the image
# and the parameters' checks (pipeline/metadata.json). Its jobs run as
# google_service_account.dataflow_worker (iam.tf), which the batch function may act as.

locals {
  pipeline_image = "${local.region}-docker.pkg.dev/${local.project}/${google_artifact_registry_repository.pipeline.repository_id}/cloudscore-pipeline"

  # What the batch function is told of the pipeline (shared/config.py's CLOUDSCORE_PIPELINE_*).
  pipeline_environment = {
    CLOUDSCORE_PIPELINE_BUCKET          = google_storage_bucket.pipeline.name
    CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT = google_service_account.dataflow_worker.email
  }
}

# The template's spec (templates/), the jobs' staging files (staging/: the launcher's packages)
# and temporary files (temp/). Staging and temp files serve one job each: deleted after
# pipeline_files_retention_days.
resource "google_storage_bucket" "pipeline" {
  name                        = coalesce(var.pipeline_bucket, "${local.project}-cloudscore-pipeline")
  location                    = local.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only what a deploy or a job writes again.
  force_destroy = true

  #checkov:skip=CKV_GCP_78:The spec is written again by each deploy and the rest serves one job; nothing here needs earlier versions.
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs; usage logs would need a second bucket for no use here.

  lifecycle_rule {
    condition {
      age            = var.pipeline_files_retention_days
      matches_prefix = ["staging/", "temp/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_artifact_registry_repository" "pipeline" {
  repository_id          = "${var.name_prefix}-pipeline"
  location               = local.region
  format                 = "DOCKER"
  description            = "Images of the cloudscore scoring pipeline's Flex Template, built by Cloud Build."
  cleanup_policy_dry_run = false

  #checkov:skip=CKV_GCP_84:Images hold the pipeline's code and its dependencies, no data; Google-managed encryption is enough.

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s" # 30 days
    }
  }

  depends_on = [time_sleep.apis]
}

# Dataflow's service agent creates each job's workers and reads the template; in a fresh
# project it is made here (the first job would otherwise find it missing) and given its role,
# which an agent made on request does not get (https://cloud.google.com/iam/docs/create-service-agents,
# https://cloud.google.com/dataflow/docs/concepts/security-and-permissions).
resource "google_project_service_identity" "dataflow" {
  provider = google-beta

  service    = "dataflow.googleapis.com"
  depends_on = [time_sleep.apis]
}

resource "google_project_iam_member" "dataflow_agent" {
  #checkov:skip=CKV_GCP_49:Google's own role for its Dataflow agent, granted because an agent made on request does not get it; no user account holds it.

  project = local.project
  role    = "roles/dataflow.serviceAgent"
  member  = google_project_service_identity.dataflow.member
}
