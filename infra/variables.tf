variable "settings" {
  description = "CLOUDSCORE_* settings by name (README, Configuration): CLOUDSCORE_PROJECT, CLOUDSCORE_INBOX_BUCKET, CLOUDSCORE_MODELS_BUCKET, CLOUDSCORE_DATASET and CLOUDSCORE_MODEL_NAME are required; the others default as in the code. `cloudscore deploy` passes those of its environment."
  type        = map(string)
}

variable "source_archive" {
  description = "Path of the functions' source archive built by `cloudscore deploy package`."
  type        = string
}

variable "runtime" {
  description = "Cloud Functions runtime; the Python the archive's requirements were pinned with (`cloudscore deploy` passes it)."
  type        = string
  default     = "python311"

  validation {
    condition     = can(regex("^python3[0-9]+$", var.runtime))
    error_message = "runtime must be a Python runtime such as python311."
  }
}

variable "name_prefix" {
  description = "Prefix of the functions, service accounts, topics and repository this creates."
  type        = string
  default     = "cloudscore"

  validation {
    # Service account ids are 6-30 characters; the longest suffix here is 17 (-retrain-model-ev).
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-13 of a-z 0-9 -, starting with a letter."
  }
}

variable "sources_bucket" {
  description = "Bucket of the functions' source archives; default <project>-cloudscore-sources."
  type        = string
  default     = null
}

variable "score_file" {
  description = "Size of the batch function. Event functions time out at 540 s at most."
  type = object({
    memory        = optional(string, "2Gi")
    cpu           = optional(string, "1")
    timeout_s     = optional(number, 540)
    min_instances = optional(number, 0)
    max_instances = optional(number, 10)
  })
  default = {}

  validation {
    condition     = var.score_file.timeout_s >= 1 && var.score_file.timeout_s <= 540
    error_message = "score_file.timeout_s must be 1-540: event functions time out at 540 s at most."
  }

  validation {
    condition     = var.score_file.min_instances >= 0 && var.score_file.max_instances >= max(1, var.score_file.min_instances)
    error_message = "score_file: need 0 <= min_instances <= max_instances and max_instances >= 1."
  }
}

variable "predict_rows" {
  description = "Size of the HTTP function; concurrency is the requests one instance serves at once."
  type = object({
    memory        = optional(string, "1Gi")
    cpu           = optional(string, "1")
    timeout_s     = optional(number, 60)
    min_instances = optional(number, 0)
    max_instances = optional(number, 20)
    concurrency   = optional(number, 1)
  })
  default = {}

  validation {
    condition     = var.predict_rows.timeout_s >= 1 && var.predict_rows.timeout_s <= 3600
    error_message = "predict_rows.timeout_s must be 1-3600."
  }

  validation {
    condition     = var.predict_rows.min_instances >= 0 && var.predict_rows.max_instances >= max(1, var.predict_rows.min_instances)
    error_message = "predict_rows: need 0 <= min_instances <= max_instances and max_instances >= 1."
  }
}

variable "retrain_model" {
  description = "Size of the retrain function. Event functions time out at 540 s at most."
  type = object({
    memory        = optional(string, "4Gi")
    cpu           = optional(string, "2")
    timeout_s     = optional(number, 540)
    min_instances = optional(number, 0)
    max_instances = optional(number, 1)
  })
  default = {}

  validation {
    condition     = var.retrain_model.timeout_s >= 1 && var.retrain_model.timeout_s <= 540
    error_message = "retrain_model.timeout_s must be 1-540: event functions time out at 540 s at most."
  }

  validation {
    condition     = var.retrain_model.min_instances >= 0 && var.retrain_model.max_instances >= max(1, var.retrain_model.min_instances)
    error_message = "retrain_model: need 0 <= min_instances <= max_instances and max_instances >= 1."
  }
}

variable "predict_invokers" {
  description = "Members allowed to call the HTTP function, e.g. [\"serviceAccount:app@p.iam.gserviceaccount.com\", \"group:ml@example.com\"]. Nobody else can."
  type        = list(string)
  default     = []

  validation {
    condition     = !anytrue([for member in var.predict_invokers : contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "predict_invokers must name accounts or groups: the prediction function is never public (no allUsers, no allAuthenticatedUsers)."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries of one event before it goes to the dead-letter topic (5-100). A file scored over several time budgets uses one per budget."
  type        = number
  default     = 10

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be 5-100 (Pub/Sub's limits)."
  }
}

variable "event_retry_delay_s" {
  description = "Seconds between deliveries of an event its function did not accept: exponential backoff from min up to max (Pub/Sub's retry policy on the triggers' subscriptions; 10 and 600 are Eventarc's own)."
  type = object({
    min = optional(number, 10)
    max = optional(number, 600)
  })
  default = {}

  validation {
    condition     = var.event_retry_delay_s.min >= 0 && var.event_retry_delay_s.min <= var.event_retry_delay_s.max && var.event_retry_delay_s.max <= 600
    error_message = "event_retry_delay_s: need 0 <= min <= max <= 600 (Pub/Sub's limits)."
  }
}

variable "processed_retention_days" {
  description = "Days a scored file is kept under processed/ in the inbox before it is deleted."
  type        = number
  default     = 30
}

variable "protect_data" {
  description = "Refuse to delete the tables, and the buckets while they hold objects. Set false (and apply) before a destroy that should remove the data too."
  type        = bool
  default     = true
}

variable "alert_emails" {
  description = "Email addresses the alert policies notify (monitoring.tf). Empty: the policies still open incidents, seen in the console's Monitoring > Alerting, but notify nobody."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", address))])
    error_message = "alert_emails must be email addresses such as ml-oncall@example.com."
  }
}

variable "training_source_reads" {
  description = "What the retrain function's training source (training.source in cloudscore.toml) reads: tables as project.dataset.table and bucket names. The retrain account is granted read on each; each must exist before apply. `cloudscore deploy` derives them from the project file."
  type = object({
    tables  = optional(list(string), [])
    buckets = optional(list(string), [])
  })
  default = {}

  validation {
    condition     = alltrue([for table in var.training_source_reads.tables : can(regex("^[^.]+\\.[^.]+\\.[^.]+$", table))])
    error_message = "training_source_reads.tables must be project.dataset.table names."
  }
}

variable "pipeline_bucket" {
  description = "Bucket of the pipeline's Flex Template, staging and temp files; default <project>-cloudscore-pipeline."
  type        = string
  default     = null
}

variable "pipeline_files_retention_days" {
  description = "Days the pipeline's staging and temp files are kept (each serves one job)."
  type        = number
  default     = 7

  validation {
    condition     = var.pipeline_files_retention_days >= 1
    error_message = "pipeline_files_retention_days must be at least 1."
  }
}

variable "pipeline_source_tables" {
  description = "BigQuery tables (project.dataset.table) that backfills read (`cloudscore backfill bq://…`): the pipeline workers' account is granted read on each; each must exist before apply."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for table in var.pipeline_source_tables : can(regex("^[^.]+\\.[^.]+\\.[^.]+$", table))])
    error_message = "pipeline_source_tables must be project.dataset.table names."
  }
}
