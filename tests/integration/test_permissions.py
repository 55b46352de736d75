"""The local cloud refuses what Google Cloud would refuse each function's service account: a call
its grants in infra/ do not allow is answered 403 with the API's own error body, so the client
library raises `Forbidden` naming the permission and the resource, exactly as in the cloud."""

from __future__ import annotations

import io
import uuid

import pandas as pd
import pytest
from google.api_core import exceptions

from local_emulator.settings import StackSettings
from shared import clients
from shared.scoring.bigquery_sink import BigQuerySink, job_id
from shared.tables import ONLINE_PREDICTIONS

pytestmark = pytest.mark.stack


def storage_as(settings: StackSettings, function: str):  # type: ignore[no-untyped-def]
    return clients.storage_client(settings.project, settings.endpoints(function))


def bigquery_as(settings: StackSettings, function: str):  # type: ignore[no-untyped-def]
    return clients.bigquery_client(settings.project, settings.endpoints(function))


def test_a_write_no_grant_allows_is_forbidden_naming_the_account_permission_and_object(
    local_stack: StackSettings,
) -> None:
    name = f"incoming/{uuid.uuid4().hex[:8]}.csv"
    inbox = storage_as(local_stack, "predict_rows").bucket(local_stack.inbox_bucket)

    with pytest.raises(exceptions.Forbidden) as refused:
        inbox.blob(name).upload_from_string(b"a\n1\n")

    message = refused.value.message
    assert "cloudscore-predict-rows@cloudscore-local.iam.gserviceaccount.com" in message
    assert "storage.objects.create" in message
    assert f"gs://{local_stack.inbox_bucket}/{name}" in message
    # Nothing was written: the owner finds no such object.
    owner = clients.storage_client(local_stack.project, local_stack.endpoints())
    assert owner.bucket(local_stack.inbox_bucket).get_blob(name) is None


def test_a_read_of_a_bucket_no_grant_names_is_forbidden(local_stack: StackSettings) -> None:
    inbox = storage_as(local_stack, "retrain_model").bucket(local_stack.inbox_bucket)

    with pytest.raises(exceptions.Forbidden, match=r"storage\.objects\.list"):
        list(inbox.list_blobs(max_results=1))


def test_a_table_grant_does_not_reach_the_dataset(local_stack: StackSettings) -> None:
    with pytest.raises(exceptions.Forbidden) as refused:
        bigquery_as(local_stack, "score_file").get_dataset(
            f"{local_stack.project}.{local_stack.dataset}"
        )

    (error,) = refused.value.errors
    assert error["reason"] == "accessDenied"
    assert error["message"] == (
        f"Access Denied: Dataset {local_stack.project}:{local_stack.dataset}: Permission "
        f"bigquery.datasets.get denied on dataset {local_stack.project}:{local_stack.dataset} "
        "(or it may not exist)."
    )


def test_a_query_needs_read_on_every_table_it_reads(local_stack: StackSettings) -> None:
    bq = bigquery_as(local_stack, "retrain_model")
    dataset = f"{local_stack.project}.{local_stack.dataset}"
    allowed = (
        f"SELECT COUNT(*) AS n FROM `{dataset}.predictions` p "
        f"JOIN `{dataset}.labels` l USING (record_id)"
    )
    assert next(iter(bq.query(allowed).result()))["n"] >= 0

    joined = (
        f"SELECT COUNT(*) FROM `{dataset}.predictions` "
        f"JOIN `{dataset}.rejected_rows` USING (run_id)"
    )
    with pytest.raises(exceptions.Forbidden) as refused:
        bq.query(joined).result()

    table = f"{local_stack.project}:{local_stack.dataset}.rejected_rows"
    assert f"Permission bigquery.tables.getData denied on table {table}" in refused.value.message


def test_a_job_is_read_by_the_account_that_made_it_and_not_by_another(
    local_stack: StackSettings,
) -> None:
    row = {
        "request_id": "r", "instance_index": 0, "record_id": "x", "model_name": "m",
        "model_version": "v", "label": "0", "score": 0.5, "inputs": "{}", "shadow": False,
        "predicted_at": pd.Timestamp.now(tz="UTC"),
    }  # fmt: skip
    frame = pd.DataFrame([{c.name: row.get(c.name) for c in ONLINE_PREDICTIONS.columns}])
    sink = BigQuerySink(
        bigquery_as(local_stack, "predict_rows"), local_stack.dataset, location=local_stack.region
    )
    load = job_id("permissions-test", uuid.uuid4().hex)
    assert sink.load_once(ONLINE_PREDICTIONS, frame, load) is True

    assert sink.is_done(load)  # its creator reads it with bigquery.jobs.create alone
    other = bigquery_as(local_stack, "score_file")
    with pytest.raises(exceptions.Forbidden, match=r"bigquery\.jobs\.get"):
        other.get_job(load, location=local_stack.region)
    with pytest.raises(exceptions.NotFound):  # no such job: 404, whoever asks
        other.get_job(f"{load}-nope", location=local_stack.region)


def test_a_function_writes_rows_into_its_table_and_can_neither_read_alter_nor_delete_it(
    local_stack: StackSettings,
) -> None:
    from google.cloud import bigquery

    table_id = f"{local_stack.project}.{local_stack.dataset}.predictions"
    bq = bigquery_as(local_stack, "score_file")
    name = f"{local_stack.project}:{local_stack.dataset}.predictions"
    owner = clients.bigquery_client(local_stack.project, local_stack.endpoints())
    before = owner.get_table(table_id)

    with pytest.raises(exceptions.Forbidden) as refused:
        bq.delete_table(table_id)
    assert f"Permission bigquery.tables.delete denied on table {name}" in refused.value.message

    altered = bigquery.Table(table_id, schema=[*before.schema, bigquery.SchemaField("x", "STRING")])
    with pytest.raises(exceptions.Forbidden, match=r"bigquery\.tables\.update denied"):
        bq.update_table(altered, ["schema"])
    with pytest.raises(exceptions.Forbidden, match=r"bigquery\.tables\.getData denied"):
        bq.query(f"SELECT COUNT(*) FROM `{table_id}`").result()
    # A load that may create its table is checked for tables.create on the dataset, which a
    # grant on a table never gives: the functions' loads say CREATE_NEVER.
    config = bigquery.LoadJobConfig(source_format="CSV", write_disposition="WRITE_APPEND")
    with pytest.raises(exceptions.Forbidden, match=r"bigquery\.tables\.create denied"):
        bq.load_table_from_file(
            io.BytesIO(b"r\n"), table_id, job_config=config, location=local_stack.region
        ).result()

    after = owner.get_table(table_id)
    assert [f.name for f in after.schema] == [f.name for f in before.schema]


def test_people_using_the_cli_act_as_the_projects_owner(local_stack: StackSettings) -> None:
    owner = clients.bigquery_client(local_stack.project, local_stack.endpoints())

    dataset = owner.get_dataset(f"{local_stack.project}.{local_stack.dataset}")

    assert dataset.dataset_id == local_stack.dataset


def test_permissions_shows_each_functions_use_refusals_and_grants(
    local_stack: StackSettings, champion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from cloudscore.cli import main

    # Something refused, so that it shows.
    with pytest.raises(exceptions.Forbidden):
        bigquery_as(local_stack, "predict_rows").get_table(
            f"{local_stack.project}.{local_stack.dataset}.predictions"
        )

    assert main(["local", "permissions", "--state-dir", str(local_stack.state_dir)]) == 0

    out = capsys.readouterr().out
    sections = {s.split()[0]: s for s in out.split("\n\n") if s.strip()}
    assert set(sections) == {"score_file", "predict_rows", "retrain_model", "dataflow_worker"}
    predict = sections["predict_rows"]
    assert "cloudscore-predict-rows@" in predict
    assert "storage.objects.get" in predict.split("refused:")[0]  # it read its model
    refused = predict.split("refused:")[1].split("grants")[0]
    assert "bigquery.tables.get" in refused and "tables/predictions" in refused
    assert (
        f"roles/storage.objectViewer on projects/{local_stack.project}/buckets/"
        f"{local_stack.models_bucket}: used storage.objects.get"
    ) in predict


def test_a_delete_whose_generation_precondition_fails_is_refused_412(
    local_stack: StackSettings,
) -> None:
    # Cloud Storage deletes only the generation named by ifGenerationMatch; the function relies
    # on it to leave a newer upload of the same name alone (fake-gcs-server ignores it).
    name = f"incoming/{uuid.uuid4().hex[:8]}.csv"
    owner = clients.storage_client(local_stack.project, local_stack.endpoints())
    blob = owner.bucket(local_stack.inbox_bucket).blob(name)
    blob.upload_from_string(b"a\n1\n")
    first = int(blob.generation)
    blob.upload_from_string(b"a\n2\n")
    second = int(blob.generation)
    inbox = storage_as(local_stack, "score_file").bucket(local_stack.inbox_bucket)

    with pytest.raises(exceptions.PreconditionFailed):
        inbox.delete_blob(name, if_generation_match=first)

    kept = owner.bucket(local_stack.inbox_bucket).get_blob(name)
    assert kept is not None and int(kept.generation) == second
    inbox.delete_blob(name, if_generation_match=second)
    assert owner.bucket(local_stack.inbox_bucket).get_blob(name) is None
