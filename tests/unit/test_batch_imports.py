"""Beam is the pipeline's optional extra: the functions' cold start never imports it, nor the
Dataflow client, which only an instance that hands a file off imports. (What the functions'
archive installs: tests/unit/test_beam_stays_optional.py.)"""

from __future__ import annotations

from tests.unit.fresh_python import FUNCTION_ENV, fresh_python


def test_a_batch_instance_starts_and_decides_on_a_hand_off_without_beam_or_dataflow() -> None:
    # What a new score_file instance imports and builds before its first file: the functions'
    # module, the scoring use case, the sink, the clients, and its hand-off (a pipeline deployed).
    code = (
        "import sys\n"
        "import functions.main\n"
        "import shared.scoring.batch, shared.scoring.bigquery_sink, shared.clients\n"
        "from shared.events import StorageObject\n"
        "from shared.runtime import batch_config, instance_config, pipeline_handoff\n"
        "config = instance_config('score_file')\n"
        "handoff = pipeline_handoff(config, batch_config())\n"
        "big = StorageObject('acme-inbox', 'incoming/a.csv', 1, 10**12, 'text/csv', 'e1')\n"
        "print(handoff is not None and handoff.wanted(big))\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] == 'apache_beam'\n"
        "         or m.startswith('google.cloud.dataflow')]\n"
        "print(sorted(heavy))\n"
    )
    env = {
        **FUNCTION_ENV,
        "CLOUDSCORE_PIPELINE_BUCKET": "acme-pipeline",
        "CLOUDSCORE_PIPELINE_SERVICE_ACCOUNT": (
            "cloudscore-dataflow-worker@acme-prod.iam.gserviceaccount.com"
        ),
    }
    result = fresh_python(code, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["True", "[]"]
