"""Start bqemulator with the changes it needs to work offline, and like BigQuery, with the real
client.

1. At start it downloads DuckDB's `spatial` extension, which fails without internet: loading it
   is skipped (GEOGRAPHY is then unsupported, and cloudscore uses none).
2. `google-cloud-bigquery` sends loads under 5 MiB as multipart with the media part typed `*/*`,
   which bqemulator rejects with 400: that type is accepted as well.
3. For loads sent with the data (multipart or resumable upload), bqemulator ignores the job id
   the client chose and makes up its own. BigQuery keeps the client's id and answers 409
   "Already Exists" to a second job with the same id, which is what makes a retried load add no
   duplicate rows; that behaviour is restored.

Run as `python -m local_emulator.bigquery_launcher start --rest-port ...` (bqemulator's own CLI).
"""

from __future__ import annotations

import contextvars
from typing import Any

_JOB_ID_KEY = "__cloudscore_job_id"


def apply_offline_patches() -> None:
    from bqemulator.api.routes import upload
    from bqemulator.storage.engine import DuckDBEngine

    DuckDBEngine._load_spatial = lambda self: None  # type: ignore[method-assign]

    permitted = upload._is_permitted_media_type
    upload._is_permitted_media_type = lambda media_ct: (
        media_ct.startswith("*/*") or permitted(media_ct)
    )
    _keep_client_job_ids(upload)


def _keep_client_job_ids(upload: Any) -> None:
    from bqemulator.domain.errors import AlreadyExistsError

    chosen: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
    in_flight: set[tuple[str, str]] = set()
    read_configuration = upload._load_configuration_from_envelope
    new_job_id = upload._new_job_id
    run_load = upload._run_load

    def configuration_with_job_id(envelope: dict[str, Any]) -> dict[str, Any]:
        # The configuration is all that travels from a resumable upload's first request to its
        # last, so the client's job id rides along in it.
        configuration = dict(read_configuration(envelope))
        job_id = (envelope.get("jobReference") or {}).get("jobId")
        if job_id:
            configuration[_JOB_ID_KEY] = job_id
        return configuration

    async def run_load_with_job_id(
        *, project_id: str, configuration: dict[str, Any], **kwargs: Any
    ) -> Any:
        configuration = dict(configuration)
        job_id = configuration.pop(_JOB_ID_KEY, None)
        if job_id is None:
            return await run_load(project_id=project_id, configuration=configuration, **kwargs)
        key = (project_id, job_id)
        # Checked and reserved with no await in between: one event loop serves every request,
        # so no other load with the same id can slip in.
        if key in in_flight or kwargs["ctx"].catalog.get_job(project_id, job_id) is not None:
            raise AlreadyExistsError(f"Already Exists: Job {project_id}:US.{job_id}")
        in_flight.add(key)
        token = chosen.set(job_id)
        try:
            return await run_load(project_id=project_id, configuration=configuration, **kwargs)
        finally:
            chosen.reset(token)
            in_flight.discard(key)

    upload._load_configuration_from_envelope = configuration_with_job_id
    upload._new_job_id = lambda: chosen.get() or new_job_id()
    upload._run_load = run_load_with_job_id


def main() -> None:
    apply_offline_patches()
    from bqemulator.cli import main as bqemulator_main

    bqemulator_main(prog_name="bqemulator")


if __name__ == "__main__":
    main()
