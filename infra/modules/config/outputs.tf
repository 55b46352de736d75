output "values" {
  description = "Every CLOUDSCORE_* setting: the given ones over the code's defaults."
  value       = local.values
}

output "environment" {
  description = "Function name => the exact CLOUDSCORE_* variables it reads, with their values."
  value       = local.environment
}

output "functions" {
  description = "Function name => entry point and signature type (http or cloudevent)."
  value       = { for name, spec in local.code.functions : name => { entry_point = spec.entry_point, signature = spec.signature } }
}

output "tables" {
  description = "Table name => description, schema (BigQuery JSON), day-partitioning column, clustering columns."
  value       = local.code.tables
}

output "incoming_prefix" {
  description = "The prefix of the inbox under which files to score land (shared.events.INCOMING_PREFIX)."
  value       = local.code.incoming_prefix
}

output "plans_prefix" {
  description = "The prefix of the inbox under which the pipeline records each file's split plan (cloudscore.pipeline.plans.PLANS_PREFIX)."
  value       = local.code.plans_prefix
}

output "library_environment" {
  description = "Variables the client libraries read, set on every function (shared.clients.CLIENT_LIBRARY_ENVIRONMENT)."
  value       = local.library_environment
}
