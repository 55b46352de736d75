# Who wrote a model: Cloud Storage records object writes only in its Data Access audit logs,
# which are off by default (https://cloud.google.com/storage/docs/audit-logging). DATA_WRITE is
# every object created, overwritten or deleted, so each registered version and each alias move
# in the models bucket names the account that made it. DATA_READ and ADMIN_READ are left off:
# every instance reads the registry's aliases again and again, and those entries would be most
# of the volume (and of the cost: README, "Expected cost") without telling who changed anything.
#
# Audit configuration is per service and project, not per bucket: this also records writes to
# the inbox and to any other bucket of the project. It is authoritative for Cloud Storage's
# entry in the project's audit configuration, replacing one set elsewhere.
resource "google_project_iam_audit_config" "storage" {
  project = local.project
  service = "storage.googleapis.com"

  audit_log_config {
    log_type = "DATA_WRITE"
  }

  depends_on = [time_sleep.apis]
}
