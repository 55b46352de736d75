# Dead-lettering and the retry policy of both triggers. Eventarc delivers through a Pub/Sub subscription it creates
# and names itself, so Terraform cannot declare that subscription; once a trigger exists, this
# attaches the dead-letter topic to its subscription (and lets Pub/Sub's agent acknowledge
# there, which forwarding requires). It runs again whenever the trigger is replaced.
resource "terraform_data" "dead_letter" {
  for_each = {
    score_file    = google_cloudfunctions2_function.score_file.event_trigger[0].trigger
    retrain_model = google_cloudfunctions2_function.retrain_model.event_trigger[0].trigger
  }

  triggers_replace = [each.value, google_pubsub_topic.dead_letter.id, var.max_delivery_attempts, var.event_retry_delay_s]

  provisioner "local-exec" {
    command = "bash ${path.module}/scripts/eventarc-dead-letter.sh"
    environment = {
      TRIGGER               = each.value
      DEAD_LETTER_TOPIC     = google_pubsub_topic.dead_letter.id
      MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      MIN_RETRY_DELAY_S     = tostring(var.event_retry_delay_s.min)
      MAX_RETRY_DELAY_S     = tostring(var.event_retry_delay_s.max)
      PUBSUB_AGENT          = local.pubsub_agent
    }
  }

  depends_on = [google_pubsub_topic_iam_member.dead_letter_publisher]
}
