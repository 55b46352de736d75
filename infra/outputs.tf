output "predict_url" {
  description = "URL of the HTTP prediction function (callers need run.invoker: predict_invokers)."
  value       = google_cloudfunctions2_function.predict_rows.url
}

output "inbox_bucket" {
  description = "Drop files to score under gs://<inbox_bucket>/incoming/."
  value       = google_storage_bucket.inbox.name
}

output "models_bucket" {
  description = "The model registry's bucket."
  value       = google_storage_bucket.models.name
}

output "dataset" {
  description = "The BigQuery dataset of every table."
  value       = "${local.project}.${google_bigquery_dataset.this.dataset_id}"
}

output "dead_letter_subscription" {
  description = "Pull subscription holding events that kept failing, for a week."
  value       = google_pubsub_subscription.dead_letter.id
}

output "functions" {
  description = "Function => its Cloud Function name."
  value       = local.function_names
}

output "service_accounts" {
  description = "Function (and dataflow_worker, the pipeline's workers) => the service account it runs as."
  value       = { for name, account in local.accounts : name => account.email }
}

output "pipeline_bucket" {
  description = "The pipeline's bucket: its Flex Template under templates/, jobs' staging/ and temp/."
  value       = google_storage_bucket.pipeline.name
}

output "pipeline_template" {
  description = "The pipeline's Flex Template spec (published by `cloudscore deploy pipeline`)."
  value       = "gs://${google_storage_bucket.pipeline.name}/templates/cloudscore-pipeline.json"
}

output "pipeline_image" {
  description = "Where `cloudscore deploy pipeline` pushes the pipeline's image (tagged by its content)."
  value       = local.pipeline_image
}
