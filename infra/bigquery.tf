# The dataset and every table the code writes; the schemas come from shared/tables.py through
# generated/cloudscore.json.
resource "google_bigquery_dataset" "this" {
  dataset_id                 = local.settings["CLOUDSCORE_DATASET"]
  location                   = local.region
  description                = "cloudscore: predictions, rejected rows, runs, monitoring and the registry's audit log."
  delete_contents_on_destroy = !var.protect_data

  #checkov:skip=CKV_GCP_81:Google-managed encryption at rest is the default; a customer-managed key is an organisation's choice, not something this module can make for it.

  depends_on = [time_sleep.apis]
}

resource "google_bigquery_table" "tables" {
  for_each = module.config.tables

  dataset_id          = google_bigquery_dataset.this.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = jsonencode(each.value.schema)
  deletion_protection = var.protect_data

  #checkov:skip=CKV_GCP_80:Google-managed encryption at rest is the default; a customer-managed key is an organisation's choice, not something this module can make for it.

  dynamic "time_partitioning" {
    for_each = each.value.partition_by_day == null ? [] : [each.value.partition_by_day]
    content {
      type  = "DAY"
      field = time_partitioning.value
    }
  }

  clustering = length(each.value.cluster_by) > 0 ? each.value.cluster_by : null
}
