"""The pipeline's launch through Google's Dataflow client, against the local Dataflow served in
this process: a job per name while it runs, the running or finished job found again instead of
launched twice, parameters checked against the template's metadata, cancelling. The jobs run a
stand-in for the pipeline (a Python one-liner that sleeps or exits), so what is tested is the
launch and the job's life, not the scoring (tests/integration/test_pipeline_handoff.py)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_emulator.dataflow.jobs import JobStore
from local_emulator.dataflow.server import LocalDataflow
from local_emulator.dataflow.template import METADATA, template_spec
from shared.clients import Endpoints, dataflow_clients
from shared.dataflow import (
    SOURCES_PATTERN,
    TEMPLATE_OBJECT,
    LaunchRefused,
    PipelineLauncher,
    PipelineLocation,
    backfill_job_name,
    file_job_name,
    pipeline_parameters,
    source_problem,
)
from tests.conftest import free_port

WORKER = "cloudscore-dataflow-worker@demo-project.iam.gserviceaccount.com"
WHERE = PipelineLocation("demo-project", "europe-west1", "demo-pipeline", WORKER)
SETTINGS = {"CLOUDSCORE_PROJECT": "demo-project"}


class _Bucket:
    """The few Cloud Storage calls the launcher makes (reading the template's spec)."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def blob(self, name: str) -> _Blob:
        return _Blob(self.objects, name)


class _Blob:
    def __init__(self, objects: dict[str, bytes], name: str) -> None:
        self.objects, self.name = objects, name

    def download_as_bytes(self) -> bytes:
        from google.api_core.exceptions import NotFound

        if self.name not in self.objects:
            raise NotFound(f"no {self.name}")
        return self.objects[self.name]


class _Storage:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def bucket(self, name: str) -> _Bucket:
        assert name == WHERE.bucket
        return _Bucket(self.objects)


@pytest.fixture
def dataflow(tmp_path: Path) -> Iterator[tuple[LocalDataflow, dict[str, bytes], Path]]:
    objects = {TEMPLATE_OBJECT: json.dumps(template_spec("europe-docker.pkg.dev/p/r/i")).encode()}
    # The stand-in pipeline: runs until the file its --sources names exists, then exits 0;
    # a source named "fail" exits 3 at once.
    stand_in = tmp_path / "stand_in.py"
    stand_in.write_text(
        "import pathlib, sys, time\n"
        "options = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n"
        "path = pathlib.Path('/' + options['sources'].split('/', 3)[3])\n"
        "if path.name == 'fail':\n"
        "    sys.exit(3)\n"
        "while not path.exists():\n"
        "    time.sleep(0.05)\n"
    )
    command = [sys.executable, str(stand_in)]
    jobs = JobStore(tmp_path / "jobs", tmp_path / "logs", command, {})
    server = LocalDataflow(
        ("127.0.0.1", free_port()),
        jobs=jobs,
        read_object=lambda bucket, name: objects.get(name) if bucket == WHERE.bucket else None,
        worker_account=WORKER,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, objects, tmp_path
    finally:
        server.shutdown()
        server.server_close()
        jobs.stop_all(grace_s=2)


def _launcher(server: LocalDataflow, objects: dict[str, bytes]) -> PipelineLauncher:
    host, port = server.server_address[:2]
    endpoints = Endpoints(dataflow=f"http://{host!s}:{port}")
    return PipelineLauncher(WHERE, *dataflow_clients(endpoints), _Storage(objects))  # type: ignore[arg-type]


def _parameters(done_when: Path) -> dict[str, str]:
    return pipeline_parameters([f"gs://demo-inbox/{done_when.relative_to('/')}"], SETTINGS)


def test_a_job_is_launched_once_per_name_and_found_again_running_then_finished(
    dataflow: tuple[LocalDataflow, dict[str, bytes], Path],
) -> None:
    server, objects, tmp = dataflow
    launcher = _launcher(server, objects)
    done = tmp / "done"
    name = file_job_name("0123456789abcdef01234567")

    first, launched = launcher.launch_once(name, _parameters(done))
    again, launched_again = launcher.launch_once(name, _parameters(done))

    assert launched and not launched_again
    assert again.id == first.id and again.state == "JOB_STATE_RUNNING"
    done.touch()
    finished = launcher.wait(first, timeout_s=30, poll_s=0.05)
    assert finished.state == "JOB_STATE_DONE"
    # Finished: a redelivered event finds it, and launches nothing.
    found, launched_after = launcher.launch_once(name, _parameters(done))
    assert (found.id, launched_after) == (first.id, False)
    assert [r.id for r in server.jobs.all()] == [first.id]
    # The job ran as the workers' account, with the template's image and the pipeline's
    # options as the parameters gave them.
    record = server.jobs.get(first.id)
    assert record is not None and record.service_account == WORKER
    assert record.options["settings"] == json.dumps(SETTINGS, separators=(",", ":"))


def test_a_second_launch_while_one_runs_is_refused_409_and_the_launcher_adopts_the_first(
    dataflow: tuple[LocalDataflow, dict[str, bytes], Path],
) -> None:
    from google.api_core.exceptions import Conflict

    server, objects, tmp = dataflow
    launcher = _launcher(server, objects)
    name = backfill_job_name(["gs://demo-inbox/a.csv"], "loan-default", None)
    first, _ = launcher.launch_once(name, _parameters(tmp / "never"))

    with pytest.raises(Conflict, match="already an active job named"):
        launcher._launch(name, _parameters(tmp / "never"))
    # Two deliveries at once: the one that lost the race finds the winner's job.
    original_find = launcher.find
    calls = iter([None])
    launcher.find = lambda n: next(calls, None) or original_find(n)  # type: ignore[method-assign]
    adopted, launched = launcher.launch_once(name, _parameters(tmp / "never"))

    assert (adopted.id, launched) == (first.id, False)
    cancelled = launcher.wait(launcher.cancel(first), timeout_s=30, poll_s=0.05)
    assert cancelled.state == "JOB_STATE_CANCELLED"


def test_a_failed_job_is_launched_anew(
    dataflow: tuple[LocalDataflow, dict[str, bytes], Path],
) -> None:
    server, objects, tmp = dataflow
    launcher = _launcher(server, objects)
    name = file_job_name("fedcba9876543210fedcba98")
    bad = _parameters(tmp / "fail")
    first, _ = launcher.launch_once(name, bad)
    assert launcher.wait(first, timeout_s=30, poll_s=0.05).state == "JOB_STATE_FAILED"

    second, launched = launcher.launch_once(name, bad)

    assert launched and second.id != first.id


def test_a_backfill_follows_its_running_job_and_launches_again_once_it_finished(
    dataflow: tuple[LocalDataflow, dict[str, bytes], Path],
) -> None:
    server, objects, tmp = dataflow
    launcher = _launcher(server, objects)
    name = backfill_job_name(["gs://demo-inbox/*.csv"], "loan-default", None)
    done = tmp / "backfilled"
    first, _ = launcher.launch_once(name, _parameters(done), adopt_finished=False)

    followed, launched_while_running = launcher.launch_once(
        name, _parameters(done), adopt_finished=False
    )
    done.touch()
    assert launcher.wait(first, timeout_s=30, poll_s=0.05).state == "JOB_STATE_DONE"
    second, launched_after = launcher.launch_once(name, _parameters(done), adopt_finished=False)

    assert (followed.id, launched_while_running) == (first.id, False)
    assert launched_after and second.id != first.id


def test_parameters_outside_the_templates_metadata_are_refused_saying_which(
    dataflow: tuple[LocalDataflow, dict[str, bytes], Path],
) -> None:
    server, objects, _ = dataflow
    launcher = _launcher(server, objects)

    with pytest.raises(LaunchRefused, match="'sources' does not match"):
        launcher.launch_once("cloudscore-backfill-x", {"sources": "/tmp/a.csv", "settings": "{}"})
    with pytest.raises(LaunchRefused, match="'sources' is missing"):
        launcher.launch_once("cloudscore-backfill-x", {"settings": "{}"})
    with pytest.raises(LaunchRefused, match="'runner' is not declared"):
        launcher.launch_once(
            "cloudscore-backfill-x",
            {"sources": "gs://b-1/a", "settings": "{}", "runner": "DirectRunner"},
        )
    assert server.jobs.all() == []


def test_a_template_not_published_is_said_so(
    dataflow: tuple[LocalDataflow, dict[str, bytes], Path],
) -> None:
    server, objects, tmp = dataflow
    objects.clear()

    with pytest.raises(LaunchRefused, match=r"does not exist.*cloudscore deploy pipeline"):
        _launcher(server, objects).launch_once("cloudscore-backfill-y", _parameters(tmp / "d"))


def test_job_names_follow_dataflows_rule_and_differ_by_what_they_score() -> None:
    import re

    names = [
        file_job_name("0123456789abcdef01234567"),
        backfill_job_name(["gs://a/b.csv", "gs://a/c.csv"], "m", None),
        backfill_job_name(["gs://a/c.csv", "gs://a/b.csv"], "m", None),
        backfill_job_name(["gs://a/b.csv", "gs://a/c.csv"], "m", "20260101-000000-abc"),
    ]

    assert all(re.fullmatch(r"[a-z]([-a-z0-9]{0,1022}[a-z0-9])?", n) for n in names)
    assert names[1] == names[2] != names[3]


def test_the_sources_pattern_is_the_templates_own() -> None:
    metadata = json.loads(METADATA.read_text())
    sources = next(p for p in metadata["parameters"] if p["name"] == "sources")

    assert sources["regexes"] == [SOURCES_PATTERN]
    assert source_problem("gs://inbox-1/incoming/*.csv") is None
    assert source_problem("bq://my-project.sales.applications") is None
    assert "found 'applications.csv'" in str(source_problem("applications.csv"))
