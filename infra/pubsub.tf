# The retrain topic the scheduler publishes to; the retrain function's trigger subscribes.
resource "google_pubsub_topic" "retrain" {
  name = local.settings["CLOUDSCORE_RETRAIN_TOPIC"]

  #checkov:skip=CKV_GCP_83:Ticks carry no data; Google-managed encryption is enough.

  depends_on = [time_sleep.apis]
}

# The inbox's finalize notifications, filtered to incoming/ (storage.tf): the batch function's
# trigger. Its own writes to the inbox (claims, progress, processed/, quarantine/) are outside
# the prefix, so they never reach it.
resource "google_pubsub_topic" "inbox_events" {
  name = "${var.name_prefix}-inbox-events"

  #checkov:skip=CKV_GCP_83:Holds object metadata (names, sizes, generations), not file contents; Google-managed encryption is enough.

  depends_on = [time_sleep.apis]
}

# Cloud Storage's service agent publishes the notifications: pubsub.topics.publish on this topic
# (https://cloud.google.com/storage/docs/reporting-changes#prereqs), and on nothing else.
resource "google_pubsub_topic_iam_member" "gcs_publishes_inbox_events" {
  topic  = google_pubsub_topic.inbox_events.id
  role   = "roles/pubsub.publisher"
  member = data.google_storage_project_service_account.gcs.member
}

# Events of either trigger that keep failing end here instead of being dropped after 24 hours;
# the subscription keeps them for a week to look at or replay.
resource "google_pubsub_topic" "dead_letter" {
  name = "${var.name_prefix}-dead-letter"

  #checkov:skip=CKV_GCP_83:Holds event envelopes (object names, ticks), not file contents; Google-managed encryption is enough.

  depends_on = [time_sleep.apis]
}

resource "google_pubsub_subscription" "dead_letter" {
  name                       = "${var.name_prefix}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "604800s"
  ack_deadline_seconds       = 60

  expiration_policy {
    ttl = "" # never expires, however long nothing fails
  }
}

# Pub/Sub's service agent forwards failed events: it publishes to the dead-letter topic (and
# acknowledges on the source subscription: see dead_letter.tf).
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:${local.pubsub_agent}"
}

resource "google_cloud_scheduler_job" "retrain" {
  name        = "${var.name_prefix}-retrain"
  description = "The scheduled retrain check: publishes to the retrain topic."
  region      = local.region
  schedule    = local.settings["CLOUDSCORE_RETRAIN_SCHEDULE"]
  time_zone   = "Etc/UTC" # the schedule is read as UTC, as the local scheduler reads it

  pubsub_target {
    topic_name = google_pubsub_topic.retrain.id
    data       = base64encode(jsonencode({ trigger = "schedule" }))
  }

  depends_on = [time_sleep.apis]
}
