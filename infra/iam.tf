# One service account per function, holding only what that function does; one for the
# pipeline's Dataflow workers; one per trigger, allowed only to call its function; one for the
# builds. Nothing is granted to the project's default accounts, and no member is given access
# to a whole project where a bucket, table, topic, account or repository can be named instead.

locals {
  # What each account may do, and on what: the one list of it. Terraform grants exactly these
  # roles, and the local cloud (local_emulator/iam) expands the same roles into their
  # permissions and refuses any other call an account makes, as Google Cloud would: a missing
  # grant fails a test, an unused one is reported (`cloudscore local permissions`).
  # Literal data only, so that both can read it.
  #   project           roles on the project: only those with no narrower place (creating
  #                     BigQuery jobs, launching or working Dataflow jobs)
  #   buckets           bucket, by the CLOUDSCORE_* setting that names it => role
  #   tables            table of the dataset => role
  #   service_accounts  account of this list => role on that account (acting as it)
  # A role is one of Google's predefined roles ("roles/…") or a key of custom_roles below.
  # score_file claims, reads and moves inbox files, reads models, loads its three tables, and
  # hands a file too large for it to the pipeline: it launches the Flex Template (Dataflow
  # Developer), reading its spec, as the workers' account (Service Account User on it);
  # predict_rows reads models and loads online_predictions; retrain_model registers versions,
  # moves aliases, keeps its lock and reports in the models bucket, reads predictions joined
  # with labels, reads and writes monitoring_runs (its history of checks) and writes
  # model_events; dataflow_worker runs the pipeline (its grants, each with the page it rests on,
  # are beside them below). None reads the dataset itself: the dataset's location, which
  # BigQuery's job calls take, is CLOUDSCORE_REGION. A table an account only writes rows into is
  # granted rowWriter, one it also reads rowReaderWriter (custom_roles): never a role that could
  # delete or alter the table.
  account_roles = {
    score_file = {
      project = ["roles/bigquery.jobUser", "roles/dataflow.developer"]
      buckets = {
        CLOUDSCORE_INBOX_BUCKET    = "roles/storage.objectUser"
        CLOUDSCORE_MODELS_BUCKET   = "roles/storage.objectViewer"
        CLOUDSCORE_PIPELINE_BUCKET = "roles/storage.objectViewer"
      }
      tables = {
        predictions   = "rowWriter"
        rejected_rows = "rowWriter"
        scoring_runs  = "rowWriter"
      }
      service_accounts = {
        dataflow_worker = "roles/iam.serviceAccountUser"
      }
    }
    predict_rows = {
      project = ["roles/bigquery.jobUser"]
      buckets = {
        CLOUDSCORE_MODELS_BUCKET = "roles/storage.objectViewer"
      }
      tables = {
        online_predictions = "rowWriter"
      }
    }
    retrain_model = {
      project = ["roles/bigquery.jobUser"]
      buckets = {
        CLOUDSCORE_MODELS_BUCKET = "roles/storage.objectUser"
      }
      tables = {
        predictions        = "roles/bigquery.dataViewer"
        online_predictions = "roles/bigquery.dataViewer"
        scoring_runs       = "roles/bigquery.dataViewer"
        labels             = "roles/bigquery.dataViewer"
        monitoring_runs    = "rowReaderWriter"
        model_events       = "rowWriter"
      }
    }
    # The pipeline's launcher VM and workers (cloudscore.pipeline's docstring lists its calls).
    dataflow_worker = {
      project = [
        # jobs.create (and jobs.get of its own jobs) for the load jobs and the read of
        # scoring_runs; BigQuery jobs have no narrower place than the project
        # (https://cloud.google.com/bigquery/docs/access-control#bigquery.jobUser).
        "roles/bigquery.jobUser",
        # What a Dataflow worker's account must hold to run a job's work items
        # (https://cloud.google.com/dataflow/docs/concepts/security-and-permissions,
        # https://cloud.google.com/dataflow/docs/guides/templates/run-flex-templates).
        # Google's role: it also carries storage.objects.get and .create on the project.
        "roles/dataflow.worker",
      ]
      buckets = {
        # objects.list (a glob), .get, .create and .delete: a file of incoming/ is copied to
        # processed/ or quarantine/ and deleted, as score_file does; Storage Object User is the
        # narrowest predefined role with delete
        # (https://cloud.google.com/storage/docs/access-control/iam-roles).
        CLOUDSCORE_INBOX_BUCKET = "roles/storage.objectUser"
        # objects.get of the model's version and alias.
        CLOUDSCORE_MODELS_BUCKET = "roles/storage.objectViewer"
        # The jobs' staging/ and temp/ files, which the launcher and workers write, read and
        # delete: the Flex Template guide asks for read and write on the staging location
        # (https://cloud.google.com/dataflow/docs/guides/templates/run-flex-templates);
        # Storage Object User gives that without Storage Object Admin's objects' IAM policies.
        CLOUDSCORE_PIPELINE_BUCKET = "roles/storage.objectUser"
      }
      # tables.updateData (load jobs append) on the three tables, tables.getData on scoring_runs
      # (the job reads its runs back). A bq:// source is read with Data Viewer on that table
      # (var.pipeline_source_tables).
      tables = {
        predictions   = "rowWriter"
        rejected_rows = "rowWriter"
        scoring_runs  = "rowReaderWriter"
      }
    }
  }

  # Project custom roles (https://cloud.google.com/iam/docs/creating-custom-roles), granted on
  # tables by account_roles under their key. No predefined role lets an account write rows
  # without also letting it delete or alter the table: the narrowest one holding
  # bigquery.tables.updateData is BigQuery Data Editor, with tables.delete, tables.update and
  # tables.create besides (https://cloud.google.com/iam/docs/roles-permissions/bigquery).
  # The functions and workers write only by load jobs appending to a table that exists, with
  # createDisposition CREATE_NEVER (shared.scoring.bigquery_sink): bigquery.tables.updateData on
  # the table and bigquery.jobs.create on the project. Google's load pages list tables.create and
  # tables.update as well, for loads that create or overwrite a table
  # (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-parquet, "Required
  # permissions"), which these never do. Reading rows, by a query or tabledata.list, takes
  # bigquery.tables.getData (https://cloud.google.com/bigquery/docs/managing-table-data,
  # "Browsing table data"). Literal data: the local cloud expands these roles from these very
  # lists (local_emulator/iam/roles.py), as it enforces account_roles.
  custom_roles = {
    rowWriter = {
      title       = "cloudscore row writer"
      description = "Appends rows to a table by load jobs; cannot read, alter or delete it."
      permissions = ["bigquery.tables.updateData"]
    }
    rowReaderWriter = {
      title       = "cloudscore row reader and writer"
      description = "Reads a table's rows and appends rows to it by load jobs; cannot alter or delete it."
      permissions = ["bigquery.tables.getData", "bigquery.tables.updateData"]
    }
  }

  # Grants of account_roles no call of the local cloud uses, and why they stay (the integration
  # suite fails on any other unused grant).
  account_roles_unused_locally = {
    "dataflow_worker.buckets.CLOUDSCORE_PIPELINE_BUCKET" = "staging and temp files of Dataflow's launcher and workers; the local Dataflow runs the pipeline on the DirectRunner, which stages nothing"
  }

  # The retrain function also reads its training source (training.source in cloudscore.toml):
  # read access on each table and bucket that source reads (var.training_source_reads).
  training_source_roles = {
    table  = "roles/bigquery.dataViewer"
    bucket = "roles/storage.objectViewer"
  }

  buckets = {
    CLOUDSCORE_INBOX_BUCKET    = google_storage_bucket.inbox.name
    CLOUDSCORE_MODELS_BUCKET   = google_storage_bucket.models.name
    CLOUDSCORE_PIPELINE_BUCKET = google_storage_bucket.pipeline.name
  }

  # Each account of account_roles, by name: the functions' and the workers'.
  accounts = merge(google_service_account.function, { dataflow_worker = google_service_account.dataflow_worker })

  # A role of account_roles as IAM names it: a custom role's key becomes its full name
  # (projects/PROJECT/roles/ROLE_ID); a predefined role stays as it is.
  custom_role_names = { for key, custom in google_project_iam_custom_role.account : key => custom.name }

  project_grants = merge([
    for account, access in local.account_roles : {
      for role in access.project : "${account}/${role}" => { account = account, role = lookup(local.custom_role_names, role, role) }
    }
  ]...)
  bucket_grants = merge([
    for account, access in local.account_roles : {
      for bucket, role in access.buckets : "${account}/${bucket}" => { account = account, bucket = bucket, role = lookup(local.custom_role_names, role, role) }
    }
  ]...)
  table_grants = merge([
    for account, access in local.account_roles : {
      for table, role in access.tables : "${account}/${table}" => { account = account, table = table, role = lookup(local.custom_role_names, role, role) }
    }
  ]...)
  service_account_grants = merge([
    for account, access in local.account_roles : {
      for other, role in lookup(access, "service_accounts", {}) : "${account}/${other}" => { account = account, other = other, role = lookup(local.custom_role_names, role, role) }
    }
  ]...)

  # The functions triggered by events, each through its own Eventarc trigger.
  event_functions = toset([for name, spec in module.config.functions : name if spec.signature == "cloudevent"])
}

resource "google_service_account" "function" {
  for_each = local.function_names

  account_id   = each.value
  display_name = "cloudscore ${each.key} function"
  description  = "Runs the ${each.key} function; holds only the access it needs."

  depends_on = [time_sleep.apis]
}

resource "google_service_account" "dataflow_worker" {
  account_id   = "${var.name_prefix}-dataflow-worker"
  display_name = "cloudscore pipeline workers"
  description  = "Runs the scoring pipeline's Dataflow jobs (launcher and workers); holds only the access they need."

  depends_on = [time_sleep.apis]
}

resource "google_service_account" "trigger" {
  for_each = local.event_functions

  account_id   = "${local.function_names[each.key]}-ev"
  display_name = "cloudscore ${each.key} trigger"
  description  = "Eventarc's identity when it delivers events to the ${each.key} function."

  depends_on = [time_sleep.apis]
}

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "cloudscore function builds"
  description  = "Cloud Build's identity when it builds the functions' images."

  depends_on = [time_sleep.apis]
}

# --- the accounts' own access -------------------------------------------------------------------

# Each custom role of local.custom_roles, in this project. Its id carries name_prefix so that two
# deployments in one project keep their own (ids take letters, digits, _ and . only). A destroyed
# custom role can be undeleted for 7 days
# (https://cloud.google.com/iam/docs/reference/rest/v1/projects.roles/delete), which an apply
# within them does; its id stays taken until 37 days after the deletion
# (https://registry.terraform.io/providers/hashicorp/google/latest/docs/resources/google_project_iam_custom_role):
# an apply in between needs another name_prefix.
resource "google_project_iam_custom_role" "account" {
  for_each = local.custom_roles

  project     = local.project
  role_id     = "${replace(var.name_prefix, "-", "_")}_${each.key}"
  title       = each.value.title
  description = each.value.description
  permissions = each.value.permissions

  depends_on = [time_sleep.apis]
}

resource "google_storage_bucket_iam_member" "account" {
  for_each = local.bucket_grants

  bucket = local.buckets[each.value.bucket]
  role   = each.value.role
  member = local.accounts[each.value.account].member
}

resource "google_bigquery_table_iam_member" "account" {
  for_each = local.table_grants

  dataset_id = google_bigquery_dataset.this.dataset_id
  table_id   = google_bigquery_table.tables[each.value.table].table_id
  role       = each.value.role
  member     = local.accounts[each.value.account].member
}

resource "google_project_iam_member" "account" {
  for_each = local.project_grants

  project = local.project
  role    = each.value.role
  member  = local.accounts[each.value.account].member
}

resource "google_service_account_iam_member" "account" {
  for_each = local.service_account_grants

  service_account_id = local.accounts[each.value.other].name
  role               = each.value.role
  member             = local.accounts[each.value.account].member
}

# The grants were made to the functions' accounts only before the pipeline's: same resources.
moved {
  from = google_storage_bucket_iam_member.function
  to   = google_storage_bucket_iam_member.account
}

moved {
  from = google_bigquery_table_iam_member.function
  to   = google_bigquery_table_iam_member.account
}

moved {
  from = google_project_iam_member.function
  to   = google_project_iam_member.account
}

# The workers pull the pipeline's image (Flex Template launcher and workers run the same one,
# https://cloud.google.com/dataflow/docs/guides/templates/configuring-flex-templates): read
# access to that repository only.
resource "google_artifact_registry_repository_iam_member" "workers_pull_pipeline" {
  location   = google_artifact_registry_repository.pipeline.location
  repository = google_artifact_registry_repository.pipeline.name
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.dataflow_worker.member
}

# The training source's tables and buckets, read by the retrain function. Each must exist when
# this is applied (a table the demo or a warehouse fills, not one Terraform makes).
resource "google_bigquery_table_iam_member" "retrain_reads_source" {
  for_each = toset(var.training_source_reads.tables)

  project    = split(".", each.value)[0]
  dataset_id = split(".", each.value)[1]
  table_id   = split(".", each.value)[2]
  role       = local.training_source_roles.table
  member     = google_service_account.function["retrain_model"].member
}

resource "google_storage_bucket_iam_member" "retrain_reads_source" {
  for_each = toset(var.training_source_reads.buckets)

  bucket = each.value
  role   = local.training_source_roles.bucket
  member = google_service_account.function["retrain_model"].member
}

# The BigQuery tables backfills read (bq:// sources): tables.get and tables.getData, which the
# pipeline reads a table with, are in BigQuery Data Viewer, granted on each table only
# (https://cloud.google.com/bigquery/docs/access-control#bigquery.dataViewer). Each must exist
# when this is applied.
resource "google_bigquery_table_iam_member" "workers_read_source" {
  for_each = toset(var.pipeline_source_tables)

  project    = split(".", each.value)[0]
  dataset_id = split(".", each.value)[1]
  table_id   = split(".", each.value)[2]
  role       = "roles/bigquery.dataViewer"
  member     = google_service_account.dataflow_worker.member
}

# --- who may call which function ---------------------------------------------------------------

resource "google_project_iam_member" "trigger_event_receiver" {
  for_each = local.event_functions

  # Required of every Eventarc trigger's account; it grants receiving events, nothing else.
  project = local.project
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.trigger[each.key].member
}

resource "google_cloud_run_v2_service_iam_member" "trigger_invokes" {
  for_each = {
    score_file    = google_cloudfunctions2_function.score_file
    retrain_model = google_cloudfunctions2_function.retrain_model
  }

  project  = local.project
  location = local.region
  name     = each.value.service_config[0].service
  role     = "roles/run.invoker"
  member   = google_service_account.trigger[each.key].member
}

# The prediction function answers only the members listed (never allUsers: see the variable).
resource "google_cloud_run_v2_service_iam_member" "predict_invokers" {
  for_each = toset(var.predict_invokers)

  project  = local.project
  location = local.region
  name     = google_cloudfunctions2_function.predict_rows.service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value
}

# Pub/Sub signs the pushes of Eventarc's subscriptions as the trigger's account (projects whose
# Pub/Sub agent predates April 2021 need this grant for it).
resource "google_service_account_iam_member" "pubsub_signs_as_trigger" {
  for_each = local.event_functions

  service_account_id = google_service_account.trigger[each.key].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_agent}"
}

# --- builds ------------------------------------------------------------------------------------
# The roles Google documents for a user-specified Cloud Build account building functions: Logs
# Writer, Artifact Registry Writer and Storage Object Admin
# (https://cloud.google.com/run/docs/configuring/services/build-service-account), each on the
# narrowest place it can be: the writer on this deployment's repository (build_config's
# docker_repository), the object role on the buckets the build reads sources from.

resource "google_project_iam_member" "build_log_writer" {
  project = local.project
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# The build reads the archive, from the sources bucket or from the copy Cloud Functions keeps
# in its own gcf-v2-sources-* bucket (created on first deploy, so it is named by pattern).
resource "google_project_iam_member" "build_reads_sources" {
  project = local.project
  role    = "roles/storage.objectAdmin"
  member  = google_service_account.build.member

  condition {
    title       = "function sources only"
    description = "The sources bucket of this deployment and Cloud Functions' source copies."
    expression  = "resource.name == \"projects/_/buckets/${google_storage_bucket.sources.name}\" || resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.sources.name}/\") || resource.name.startsWith(\"projects/_/buckets/gcf-v2-sources-\")"
  }
}

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# The builder's grants must have taken effect before a build starts: the provider's example of
# a function built by its own account (google_cloudfunctions2_function, "Basic Builder") waits
# 60 s after granting them.
resource "time_sleep" "build_grants" {
  create_duration = "60s"

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_project_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_pushes_images,
  ]
}
