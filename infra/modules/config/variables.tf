variable "settings" {
  description = "CLOUDSCORE_* settings by name, as shared/config.py reads them; unset ones take the code's defaults."
  type        = map(string)

  validation {
    condition     = alltrue([for name in keys(var.settings) : contains(keys(local.code.settings), name)])
    error_message = "Unknown settings: ${join(", ", [for name in keys(var.settings) : name if !contains(keys(local.code.settings), name)])}. Known: ${join(", ", sort(keys(local.code.settings)))}."
  }

  validation {
    condition     = alltrue([for name in local.required : trimspace(lookup(var.settings, name, "")) != ""])
    error_message = "Required settings are missing: ${join(", ", [for name in local.required : name if trimspace(lookup(var.settings, name, "")) == ""])}."
  }

  validation {
    # The code also accepts the multi-regions US and EU (a dataset location); functions and the
    # buckets that trigger them need a region.
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", lookup(var.settings, "CLOUDSCORE_REGION", local.defaults["CLOUDSCORE_REGION"])))
    error_message = "CLOUDSCORE_REGION must be a region such as us-central1 to deploy, not ${lookup(var.settings, "CLOUDSCORE_REGION", local.defaults["CLOUDSCORE_REGION"])}: functions run in one region."
  }

  # The values' forms are checked by the code (`cloudscore deploy` reads them with
  # shared.config, and each function again at start), not here: Terraform's regular expressions
  # are RE2, which refuses some of the code's patterns (a repeat count above 1000).
}

variable "score_file_timeout_s" {
  description = "Timeout of the batch function, in seconds."
  type        = number

  validation {
    # The batch function saves its progress and lets a retry carry on after its time budget;
    # a budget the platform's timeout cuts short loses the chunk under way and retries forever.
    condition     = tonumber(local.values["CLOUDSCORE_BATCH_TIME_BUDGET_S"]) < var.score_file_timeout_s
    error_message = "CLOUDSCORE_BATCH_TIME_BUDGET_S (${local.values["CLOUDSCORE_BATCH_TIME_BUDGET_S"]} s) must stay below the batch function's timeout (${var.score_file_timeout_s} s), with room to save its progress."
  }
}
