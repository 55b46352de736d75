# The settings of a deployment, checked against the code and turned into each function's
# environment. No provider: this module runs offline (`terraform plan` in the tests), so what it
# decides is tested, not only parsed.

terraform {
  required_version = ">= 1.9"
}

locals {
  # Written from the code by `cloudscore deploy generate`: the functions and the CLOUDSCORE_*
  # names each reads (shared.config.variables_of), the settings' defaults, and every BigQuery
  # table (shared.tables). A test fails when it no longer matches the code.
  code = jsondecode(file("${path.module}/../../generated/cloudscore.json"))

  defaults = { for name, setting in local.code.settings : name => setting.default if setting.default != null }
  required = sort([for name, setting in local.code.settings : name if setting.default == null])
  values   = merge(local.defaults, var.settings)

  # Exactly the names each function reads: a setting of one function is never set on another.
  environment = {
    for function, spec in local.code.functions :
    function => { for name in spec.environment : name => local.values[name] }
  }

  # What the client libraries read, the same on every function (shared.clients).
  library_environment = local.code.library_environment
}
