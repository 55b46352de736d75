# Google's own agents that act in this project: Cloud Storage publishes the inbox's events,
# Eventarc manages the triggers' transport, Pub/Sub pushes events and forwards failed ones to
# the dead-letter topic. A project's agents are made lazily, when a service is first used, and
# a grant to an agent that does not exist yet fails: each is made here first, then granted.
# An agent made on request does not get its own role automatically, so that is granted too
# (https://cloud.google.com/iam/docs/create-service-agents).

# Reading Cloud Storage's agent makes it if it does not exist (the data source's documentation).
data "google_storage_project_service_account" "gcs" {
  depends_on = [time_sleep.apis]
}

resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  service    = "pubsub.googleapis.com"
  depends_on = [time_sleep.apis]
}

resource "google_project_service_identity" "eventarc" {
  provider = google-beta

  service    = "eventarc.googleapis.com"
  depends_on = [time_sleep.apis]
}

locals {
  pubsub_agent = google_project_service_identity.pubsub.email
}

resource "google_project_iam_member" "pubsub_agent" {
  #checkov:skip=CKV_GCP_49:Google's own role for its Pub/Sub agent (which acts on service accounts to sign pushes), granted because an agent made on request does not get it; no user account holds it.

  project = local.project
  role    = "roles/pubsub.serviceAgent"
  member  = google_project_service_identity.pubsub.member
}

# Eventarc checks its agent's role when a trigger is created ("Permission denied while using
# the Eventarc Service Agent" on a project's first trigger otherwise).
resource "google_project_iam_member" "eventarc_agent" {
  #checkov:skip=CKV_GCP_49:Google's own role for its Eventarc agent, granted because an agent made on request does not get it; no user account holds it.

  project = local.project
  role    = "roles/eventarc.serviceAgent"
  member  = google_project_service_identity.eventarc.member
}

# IAM grants take effect after a delay. The triggers are created only once the grants they rely
# on have had a minute, as the provider's Cloud Functions examples wait for grants.
resource "time_sleep" "agent_grants" {
  create_duration = "60s"

  depends_on = [
    google_project_iam_member.pubsub_agent,
    google_project_iam_member.eventarc_agent,
    google_project_iam_member.dataflow_agent,
    google_pubsub_topic_iam_member.gcs_publishes_inbox_events,
    google_project_iam_member.trigger_event_receiver,
    google_service_account_iam_member.pubsub_signs_as_trigger,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}
