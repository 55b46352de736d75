"""The scoring pipeline launched on Dataflow as a Flex Template job, at most once per name.

The batch function hands a file too large for its attempts to the pipeline (`shared.scoring.
handoff`), and `cloudscore backfill` launches it by hand: both through `PipelineLauncher`.
Launching is idempotent by the job's name, which derives from what the job scores: Dataflow
refuses a second active job of one name (409, "There is already an active job named …",
https://cloud.google.com/dataflow/docs/guides/troubleshoot-templates), and before launching,
the jobs of that name are looked up (projects.locations.jobs.list takes a `name`): a running
one is the answer, not a new job, and for a file handed off a finished one too. A job that
failed or was cancelled is launched anew, and so is a backfill whose last job finished (its
globs may match new files; what it scored already adds nothing).

The pipeline bucket (CLOUDSCORE_PIPELINE_BUCKET) holds the template's spec under `templates/`,
and the jobs' `staging/` and `temp/` files. In the local cloud, the same client calls reach the
local Dataflow (`DATAFLOW_EMULATOR_HOST`), which runs the pipeline on Beam's DirectRunner.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from google.api_core import exceptions as api_exceptions

from shared.errors import CloudscoreError, TransientError
from shared.retryable import transient_errors

if TYPE_CHECKING:
    from google.cloud import dataflow_v1beta3, storage

TEMPLATE_OBJECT: Final = "templates/cloudscore-pipeline.json"
STAGING_PREFIX: Final = "staging"
TEMP_PREFIX: Final = "temp"

# Job states (google.dataflow.v1beta3.JobState) by what they mean for a launch.
ACTIVE_STATES: Final = frozenset(
    {
        "JOB_STATE_STOPPED",  # created, not started yet
        "JOB_STATE_PENDING",
        "JOB_STATE_QUEUED",
        "JOB_STATE_RUNNING",
        "JOB_STATE_CANCELLING",
        "JOB_STATE_DRAINING",
        "JOB_STATE_RESOURCE_CLEANING_UP",
        "JOB_STATE_PAUSING",
        "JOB_STATE_PAUSED",
    }
)
SUCCEEDED: Final = "JOB_STATE_DONE"
# What the pipeline reads (its `sources` parameter, checked by the template's metadata too):
# gs:// objects (with #generation for one version), globs, and BigQuery tables.
_SOURCE: Final = (
    r"(gs://[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]/[^,]+"
    r"|bq://[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024})"
)
SOURCES_PATTERN: Final = rf"^{_SOURCE}(,{_SOURCE})*$"
SOURCE_FORM: Final = (
    "gs://BUCKET/NAME (a glob, or #GENERATION, allowed) or bq://PROJECT.DATASET.TABLE"
)


def source_problem(source: str) -> str | None:
    """Why `source` is not one the pipeline reads; None when it is."""
    if re.fullmatch(_SOURCE, source) is None:
        return f"expected {SOURCE_FORM}, found {source!r}"
    return None


# Names are unique among active jobs only, and a job name is what makes a launch idempotent:
# lower-case letters, digits and hyphens, starting with a letter (Dataflow's rule).
_NAME_LENGTH: Final = 24


class LaunchRefused(CloudscoreError):
    """Dataflow refused the launch for a reason a retry will not fix by itself (a template that
    does not match the parameters, a missing template); retried like a missing grant, since a
    redeployment fixes it, and said in full."""

    retryable = True
    http_status = 503


@dataclass(frozen=True)
class PipelineJob:
    id: str
    name: str
    state: str  # JOB_STATE_…
    location: str

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED

    @property
    def finished(self) -> bool:
        return not self.active


def file_job_name(claim_key: str) -> str:
    """The job that scores one file generation with one model version (a claim's key)."""
    return f"cloudscore-file-{claim_key}"


def backfill_job_name(sources: Sequence[str], model_name: str, model_version: str | None) -> str:
    """The job of a backfill: the same sources and version are the same job."""
    text = json.dumps([sorted(sources), model_name, model_version or "champion"])
    return f"cloudscore-backfill-{hashlib.sha256(text.encode()).hexdigest()[:_NAME_LENGTH]}"


def pipeline_parameters(
    sources: Sequence[str],
    settings: Mapping[str, str],
    *,
    model_version: str | None = None,
    handoff_run_id: str | None = None,
) -> dict[str, str]:
    """The pipeline's options (`python -m cloudscore.pipeline --NAME=VALUE`), as the template's
    parameters: the sources, the CLOUDSCORE_* settings its workers read, and what is fixed."""
    parameters = {
        "sources": ",".join(sources),
        "settings": json.dumps(dict(sorted(settings.items())), separators=(",", ":")),
    }
    if model_version:
        parameters["model_version"] = model_version
    if handoff_run_id:
        parameters["handoff_run_id"] = handoff_run_id
    return parameters


@dataclass(frozen=True)
class PipelineLocation:
    """Where the pipeline's jobs run and what they run as."""

    project: str
    region: str
    bucket: str
    service_account: str

    @property
    def template(self) -> str:
        return f"gs://{self.bucket}/{TEMPLATE_OBJECT}"

    @property
    def staging(self) -> str:
        return f"gs://{self.bucket}/{STAGING_PREFIX}"

    @property
    def temp(self) -> str:
        return f"gs://{self.bucket}/{TEMP_PREFIX}"


class PipelineLauncher:
    """Flex Template launches and job look-ups, through the Dataflow API's clients."""

    def __init__(
        self,
        where: PipelineLocation,
        templates: dataflow_v1beta3.FlexTemplatesServiceClient,
        jobs: dataflow_v1beta3.JobsV1Beta3Client,
        storage: storage.Client,
    ) -> None:
        self.where = where
        self.templates = templates
        self.jobs = jobs
        self.storage = storage

    def template_image(self) -> str:
        """The image the template's spec names: the workers run it too (the launch's
        sdk_container_image), so the launcher and the workers hold the same code."""
        blob = self.storage.bucket(self.where.bucket).blob(TEMPLATE_OBJECT)
        with transient_errors(f"reading the pipeline's template {self.where.template}"):
            try:
                spec = json.loads(blob.download_as_bytes())
            except api_exceptions.NotFound:
                raise LaunchRefused(
                    f"{self.where.template} does not exist: the pipeline's template was not "
                    "published (`cloudscore deploy pipeline`)"
                ) from None
            except ValueError as exc:
                raise LaunchRefused(f"{self.where.template} is not JSON: {exc}") from exc
        image = spec.get("image") if isinstance(spec, dict) else None
        if not isinstance(image, str) or not image:
            raise LaunchRefused(f"{self.where.template} names no image")
        return image

    def named(self, name: str) -> list[PipelineJob]:
        """Every job named `name`, whatever its state, newest first."""
        from google.cloud import dataflow_v1beta3

        request = dataflow_v1beta3.ListJobsRequest(
            project_id=self.where.project,
            location=self.where.region,
            name=name,
            filter=dataflow_v1beta3.ListJobsRequest.Filter.ALL,
        )
        with transient_errors(f"listing the Dataflow jobs named {name}"):
            found = [_job(job) for job in self.jobs.list_jobs(request=request)]
        return [job for job in found if job.name == name]

    def find(self, name: str) -> PipelineJob | None:
        """The job named `name` a launch should adopt: an active one, else the latest that
        succeeded; None when there is none (never launched, or only failed or cancelled)."""
        named = self.named(name)
        return next((j for j in named if j.active), None) or next(
            (j for j in named if j.succeeded), None
        )

    def get(self, job_id: str) -> PipelineJob:
        from google.cloud import dataflow_v1beta3

        request = dataflow_v1beta3.GetJobRequest(
            project_id=self.where.project, location=self.where.region, job_id=job_id
        )
        with transient_errors(f"reading Dataflow job {job_id}"):
            return _job(self.jobs.get_job(request=request))

    def launch_once(
        self, name: str, parameters: Mapping[str, str], *, adopt_finished: bool = True
    ) -> tuple[PipelineJob, bool]:
        """The job named `name`: the one found, or a new one launched with `parameters`; the
        bool says whether this call launched it. Without `adopt_finished`, only a running job
        is adopted: a backfill's glob may match files its last job did not see."""
        existing = self.find(name)
        if existing is not None and (existing.active or adopt_finished):
            return existing, False
        try:
            return self._launch(name, parameters), True
        except api_exceptions.Conflict:
            # Launched meanwhile by another delivery of the same event: adopt it.
            found = self.find(name)
            if found is None or not (found.active or adopt_finished):
                raise TransientError(
                    f"Dataflow reports an active job named {name} but does not list it yet"
                ) from None
            return found, False

    def cancel(self, job: PipelineJob) -> PipelineJob:
        from google.cloud import dataflow_v1beta3

        request = dataflow_v1beta3.UpdateJobRequest(
            project_id=self.where.project,
            location=self.where.region,
            job_id=job.id,
            job=dataflow_v1beta3.Job(requested_state=dataflow_v1beta3.JobState.JOB_STATE_CANCELLED),
        )
        with transient_errors(f"cancelling Dataflow job {job.id}"):
            return _job(self.jobs.update_job(request=request))

    def wait(
        self,
        job: PipelineJob,
        *,
        timeout_s: float | None = None,
        poll_s: float = 2.0,
        seen: Callable[[PipelineJob], None] = lambda _: None,
    ) -> PipelineJob:
        """Follow `job` until it is finished (or `timeout_s` has passed): its last state."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while job.active and (deadline is None or time.monotonic() < deadline):
            time.sleep(poll_s)
            latest = self.get(job.id)
            if latest.state != job.state:
                seen(latest)
            job = latest
        return job

    def _launch(self, name: str, parameters: Mapping[str, str]) -> PipelineJob:
        from google.cloud import dataflow_v1beta3

        where = self.where
        request = dataflow_v1beta3.LaunchFlexTemplateRequest(
            project_id=where.project,
            location=where.region,
            launch_parameter=dataflow_v1beta3.LaunchFlexTemplateParameter(
                job_name=name,
                container_spec_gcs_path=where.template,
                parameters=dict(parameters),
                environment=dataflow_v1beta3.FlexTemplateRuntimeEnvironment(
                    service_account_email=where.service_account,
                    temp_location=where.temp,
                    staging_location=where.staging,
                    sdk_container_image=self.template_image(),
                    additional_user_labels={"cloudscore": "pipeline"},
                ),
            ),
        )
        with transient_errors(f"launching Dataflow job {name} from {where.template}"):
            try:
                response = self.templates.launch_flex_template(request=request)
            except (api_exceptions.BadRequest, api_exceptions.NotFound) as exc:
                raise LaunchRefused(
                    f"Dataflow refused to launch {name} from {where.template}: {exc.message}"
                ) from exc
        return _job(response.job)


def _job(job: Any) -> PipelineJob:
    state = job.current_state
    return PipelineJob(
        id=str(job.id),
        name=str(job.name),
        state=getattr(state, "name", str(state)),
        location=str(job.location),
    )
