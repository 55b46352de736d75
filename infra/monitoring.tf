# Alerts on what needs a person: events that kept failing (the dead-letter backlog), functions
# answering 5xx, scoring runs that ended `failed`, monitoring checks that ended `failed`. Each
# policy notifies the alert_emails; with none, its incidents show in the console only.

locals {
  # A gen2 function runs as the Cloud Run service of the same name (the provider's Cloud
  # Functions examples grant run.invoker on the service named by the function's name), which is
  # how Cloud Run's metrics and the functions' logs name it. Known before the functions exist,
  # so the metrics below need not wait for the builds.
  function_services = local.function_names

  alert_channels = [for channel in google_monitoring_notification_channel.email : channel.name]
}

resource "google_monitoring_notification_channel" "email" {
  for_each = toset(var.alert_emails)

  display_name = "cloudscore alerts (${each.value})"
  type         = "email"
  labels = {
    email_address = each.value
  }

  depends_on = [time_sleep.apis]
}

# --- events that kept failing ------------------------------------------------------------------
# Pub/Sub's own metric of the subscription: its undelivered messages are the events forwarded
# after max_delivery_attempts, kept a week.

resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  display_name = "cloudscore: events in the dead-letter subscription"
  combiner     = "OR"

  conditions {
    display_name = "Undelivered messages in ${google_pubsub_subscription.dead_letter.name}"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period   = "300s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Events that failed every delivery attempt are in `${google_pubsub_subscription.dead_letter.id}`. Read them with `gcloud pubsub subscriptions pull ${google_pubsub_subscription.dead_letter.name} --limit=10` (without `--auto-ack` they stay); the functions' logs say why each attempt failed. The incident closes once the subscription is empty."
  }

  notification_channels = local.alert_channels
}

# --- functions answering 5xx -------------------------------------------------------------------
# Cloud Run's request count by response class. An event function answers 5xx when a delivery
# should be retried; the batch function also does so, by design, each time a file outlives its
# time budget and carries on in the next delivery.

resource "google_monitoring_alert_policy" "function_5xx" {
  display_name = "cloudscore: a function answered 5xx"
  combiner     = "OR"

  conditions {
    display_name = "5xx responses of a cloudscore function"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = one_of(${join(", ", [for name in values(local.function_services) : "\"${name}\""])}) AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A cloudscore function answered 5xx. For `${local.function_services["predict_rows"]}` a caller got the error; for the event functions the event is delivered again (and dead-lettered after max_delivery_attempts). The function's logs at severity ERROR say why."
  }

  notification_channels = local.alert_channels
}

# --- failed scoring runs and failed checks, from the functions' structured logs ------------------
# Each finished scoring run logs `run_status` (scoring_runs.status); each check that could not
# finish logs `check_decision` = "failed" (monitoring_runs.decision).

resource "google_logging_metric" "failed_scoring_runs" {
  name        = "${var.name_prefix}-failed-scoring-runs"
  description = "Scoring runs of ${local.function_services["score_file"]} that ended failed (scoring_runs.status)."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.function_services["score_file"]}\" AND jsonPayload.run_status=\"failed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "cloudscore failed scoring runs"
  }

  depends_on = [time_sleep.apis]
}

resource "google_logging_metric" "failed_checks" {
  name        = "${var.name_prefix}-failed-checks"
  description = "Monitoring checks of ${local.function_services["retrain_model"]} that could not finish (monitoring_runs.decision = failed)."
  filter      = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.function_services["retrain_model"]}\" AND jsonPayload.check_decision=\"failed\""

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "cloudscore failed monitoring checks"
  }

  depends_on = [time_sleep.apis]
}

# Monitoring knows a new log-based metric only some minutes after it is made: an alert policy on
# it is refused until then ("If a metric was created recently, it could take up to 10 minutes to
# become available"). The wait runs while the functions build.
resource "time_sleep" "log_metrics" {
  create_duration = "10m"

  depends_on = [
    google_logging_metric.failed_scoring_runs,
    google_logging_metric.failed_checks,
  ]
}

resource "google_monitoring_alert_policy" "failed_scoring_run" {
  display_name = "cloudscore: a scoring run failed"
  combiner     = "OR"

  conditions {
    display_name = "Scoring runs that ended failed"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.failed_scoring_runs.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A file was not scored in full: its run in `scoring_runs` has status `failed` and a reason, and the file waits under `quarantine/` in the inbox. `SELECT source_uri, reason FROM scoring_runs WHERE status = 'failed' ORDER BY ended_at DESC`."
  }

  notification_channels = local.alert_channels

  depends_on = [time_sleep.log_metrics]
}

resource "google_monitoring_alert_policy" "failed_check" {
  display_name = "cloudscore: a monitoring check failed"
  combiner     = "OR"

  conditions {
    display_name = "Monitoring checks that ended failed"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"logging.googleapis.com/user/${google_logging_metric.failed_checks.name}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A scheduled check of the champion could not finish; the champion is unchanged. Its row in `monitoring_runs` has decision `failed` and the reason (for instance an unreadable training source)."
  }

  notification_channels = local.alert_channels

  depends_on = [time_sleep.log_metrics]
}
