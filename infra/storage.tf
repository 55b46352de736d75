# The inbox: files to score land under incoming/, and the batch function moves them to
# processed/ or quarantine/ when done.
resource "google_storage_bucket" "inbox" {
  name                        = local.settings["CLOUDSCORE_INBOX_BUCKET"]
  location                    = local.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.protect_data

  #checkov:skip=CKV_GCP_78:Files are immutable inputs (an overwrite is a new generation, scored as a new file); the scored copy is kept under processed/ for processed_retention_days.
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs; usage logs would need a second bucket for no use here.

  lifecycle_rule {
    condition {
      age            = var.processed_retention_days
      matches_prefix = ["processed/"]
    }
    action {
      type = "Delete"
    }
  }

  # The pipeline's split plans (cloudscore.pipeline.plans): a relaunch over the same file
  # generation and model version must cut the file where the first launch did, so that its
  # splits load under the same job ids, which BigQuery then refuses to run twice. That holds
  # only while BigQuery still knows those jobs: job information is kept six months after a
  # job's creation (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/get), so a
  # plan serves for six months (184 days at most) after the last load of its file, begun a few
  # days at most after the plan was written: 190 days covers that, counted, as a rule's age is,
  # from the plan object's creation (https://cloud.google.com/storage/docs/lifecycle).
  lifecycle_rule {
    condition {
      age            = 190
      matches_prefix = [module.config.plans_prefix]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis]
}

# A notification of each object finalized under incoming/, and only there
# (https://cloud.google.com/storage/docs/pubsub-notifications). Eventarc's direct Cloud Storage
# triggers cannot filter by object name (only Cloud Audit Logs triggers take path patterns:
# https://cloud.google.com/eventarc/docs/path-patterns), so they deliver every object the batch
# function writes to the inbox back to it, where each takes an instance and a delivery attempt.
# A notification filtered to the prefix, delivered by an Eventarc Pub/Sub trigger, sends the
# function user files only, with the same retries and dead-lettering.
resource "google_storage_notification" "incoming" {
  bucket             = google_storage_bucket.inbox.name
  topic              = google_pubsub_topic.inbox_events.id
  payload_format     = "JSON_API_V1"
  event_types        = ["OBJECT_FINALIZE"]
  object_name_prefix = module.config.incoming_prefix

  depends_on = [google_pubsub_topic_iam_member.gcs_publishes_inbox_events]
}

# The model registry: versions are immutable and aliases move with generation preconditions;
# object versioning keeps every overwritten alias and any deleted artifact recoverable.
resource "google_storage_bucket" "models" {
  name                        = local.settings["CLOUDSCORE_MODELS_BUCKET"]
  location                    = local.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.protect_data

  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs; usage logs would need a second bucket for no use here.

  versioning {
    enabled = true
  }

  depends_on = [time_sleep.apis]
}

# The functions' source archives, one object per distinct content.
resource "google_storage_bucket" "sources" {
  name                        = local.sources_bucket
  location                    = local.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only build inputs: every archive can be built again from the repository.
  force_destroy = true

  #checkov:skip=CKV_GCP_78:Archives are named by their sha256 and never overwritten, so there is nothing for versioning to keep.
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs; usage logs would need a second bucket for no use here.

  lifecycle_rule {
    # Old archives are no longer deployed once a newer one is.
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis]
}

resource "google_storage_bucket_object" "source" {
  # Named by content: a new archive is a new object, which redeploys the functions; the same
  # archive is the same name, so nothing changes.
  name   = "cloudscore-functions-${filesha256(var.source_archive)}.zip"
  bucket = google_storage_bucket.sources.name
  source = var.source_archive
}
