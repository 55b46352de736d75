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
  description = "Function => the service account it runs as."
  value       = { for name, account in google_service_account.function : name => account.email }
}
