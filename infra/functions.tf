# The three functions, built by Cloud Build from one archive (`cloudscore deploy package`). Each
# gets exactly the CLOUDSCORE_* variables it reads (module.config, from shared/config.py).

resource "google_cloudfunctions2_function" "score_file" {
  name        = local.function_names["score_file"]
  location    = local.region
  description = "Scores each file finalized under gs://${google_storage_bucket.inbox.name}/incoming/ into BigQuery."

  build_config {
    runtime           = var.runtime
    entry_point       = module.config.functions["score_file"].entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory = var.score_file.memory
    available_cpu    = var.score_file.cpu
    timeout_seconds  = var.score_file.timeout_s
    # One file at a time: an instance's memory is sized for one file's chunks.
    max_instance_request_concurrency = 1
    min_instance_count               = var.score_file.min_instances
    max_instance_count               = var.score_file.max_instances
    environment_variables            = merge(module.config.library_environment, module.config.environment["score_file"], local.pipeline_environment)
    service_account_email            = google_service_account.function["score_file"].email
    # Only Eventarc calls it.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
  }

  event_trigger {
    trigger_region = local.region
    # The inbox's notifications of files under incoming/ (storage.tf), not a direct storage
    # trigger: those cannot filter by prefix, and the function's own writes would trigger it.
    event_type   = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic = google_pubsub_topic.inbox_events.id
    # The function raises on what a retry can fix (and to carry on past its time budget);
    # without retries those events would be lost.
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger["score_file"].email
  }

  depends_on = [
    google_project_iam_member.trigger_event_receiver,
    time_sleep.agent_grants,
    time_sleep.build_grants,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
  ]
}

locals {
  # functions-framework runs the function on gunicorn with WORKERS processes (default 1) of
  # THREADS threads (default 4 per core it sees). One Python process computes on one core at a
  # time (the GIL): the HTTP function gets a process per whole vCPU, and threads for the
  # requests Cloud Run may send it at once (concurrency) spread over them. THREADS = 1 is
  # gunicorn's sync worker, one request at a time, which is what concurrency 1 asks for.
  predict_rows_workers = max(1, floor(try(tonumber(var.predict_rows.cpu), 1)))
  predict_rows_gunicorn = {
    WORKERS = tostring(local.predict_rows_workers)
    THREADS = tostring(max(1, ceil(var.predict_rows.concurrency / local.predict_rows_workers)))
  }
}

resource "google_cloudfunctions2_function" "predict_rows" {
  name        = local.function_names["predict_rows"]
  location    = local.region
  description = "Answers POST / with predictions (shared/serving/openapi.json); callers must be in predict_invokers."

  #checkov:skip=CKV_GCP_124:The prediction API serves callers outside Google Cloud; every request is authenticated by IAM (run.invoker for predict_invokers only, never allUsers), so ingress is not what keeps it private.

  build_config {
    runtime           = var.runtime
    entry_point       = module.config.functions["predict_rows"].entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.predict_rows.memory
    available_cpu                    = var.predict_rows.cpu
    timeout_seconds                  = var.predict_rows.timeout_s
    max_instance_request_concurrency = var.predict_rows.concurrency
    min_instance_count               = var.predict_rows.min_instances
    max_instance_count               = var.predict_rows.max_instances
    environment_variables            = merge(module.config.library_environment, module.config.environment["predict_rows"], local.predict_rows_gunicorn)
    service_account_email            = google_service_account.function["predict_rows"].email
    # Reachable from anywhere, answered only for callers holding run.invoker (iam.tf): the
    # function itself has no unauthenticated access.
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
  }

  depends_on = [
    time_sleep.build_grants,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
  ]
}

resource "google_cloudfunctions2_function" "retrain_model" {
  name        = local.function_names["retrain_model"]
  location    = local.region
  description = "The scheduled retrain check, triggered by the retrain topic."

  build_config {
    runtime           = var.runtime
    entry_point       = module.config.functions["retrain_model"].entry_point
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.retrain_model.memory
    available_cpu                    = var.retrain_model.cpu
    timeout_seconds                  = var.retrain_model.timeout_s
    max_instance_request_concurrency = 1
    min_instance_count               = var.retrain_model.min_instances
    max_instance_count               = var.retrain_model.max_instances
    environment_variables            = merge(module.config.library_environment, module.config.environment["retrain_model"])
    service_account_email            = google_service_account.function["retrain_model"].email
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
  }

  event_trigger {
    trigger_region        = local.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.retrain.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger["retrain_model"].email
  }

  depends_on = [
    google_project_iam_member.trigger_event_receiver,
    time_sleep.agent_grants,
    time_sleep.build_grants,
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
  ]
}

# The images Cloud Build makes of the functions, in a repository of this deployment (so the
# build account writes here only), pruned to the recent ones.
resource "google_artifact_registry_repository" "functions" {
  repository_id          = "${var.name_prefix}-functions"
  location               = local.region
  format                 = "DOCKER"
  description            = "Images of the cloudscore functions, built by Cloud Build."
  cleanup_policy_dry_run = false

  #checkov:skip=CKV_GCP_84:Images hold the functions' code and its dependencies, no data; Google-managed encryption is enough.

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
