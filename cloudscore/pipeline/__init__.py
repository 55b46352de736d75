"""The scoring pipeline: the batch function's scoring on Apache Beam, for files too large for one
function attempt and for backfills of many files or a BigQuery table.

    python -m cloudscore.pipeline --sources=URI[,URI...] [--model_version=V]
        [--handoff_run_id=RUN_ID] --settings=JSON [--split_bytes=N] [--model_threads=N]
        [--model_dir=DIR] [--output_dir=DIR] [any Beam option]

    cloudscore.pipeline.run(argv: Sequence[str]) -> PipelineResult   (the job's files, accounted)

`--sources`: gs:// objects (`#GENERATION` after the name for that version only), gs:// globs
(`*`, `?`, `[…]` in the object name), `bq://project.dataset.table`, or local paths and globs
(DirectRunner only).
`--model_version`: default the champion, resolved once at launch (with the manifest its alias
recorded, which every worker checks the version against) and written in every row.
`--handoff_run_id`: the `scoring_runs` run that `score_file` recorded as `handed_off` for the one
file of `--sources`; the pipeline scores under that run id and writes the run's final row. Its
generation gone before the job starts (deleted, overwritten) is that row too, `failed`, saying
so, where a source that matches no file otherwise stops the launch.
Without it a file's run id derives from (file, generation, model version), so a second launch
scores under the same id.
`--split_bytes`: the split size of a file no launch planned before; one that did keeps the
split size that launch recorded, so its splits load under the same ids.
`--settings`: a JSON object of CLOUDSCORE_* variables, read by the workers through
`shared.config` exactly as the functions read their environment (Dataflow workers have no
per-job environment). Emulator endpoints (STORAGE_EMULATOR_HOST, BIGQUERY_EMULATOR_HOST) are read
from the environment, as `shared.clients` reads them.
`--model_dir` (a version's files as `cloudscore models download` writes them) and `--output_dir`
(Parquet files per load instead of BigQuery) score with no cloud at all, like `cloudscore score`.

Every Cloud Storage and BigQuery call goes through `shared.clients`, and so, locally, through the
emulators or the permission layer in front of them. The calls (the grants a worker account needs):
    Cloud Storage  objects.list (a glob), objects.get (sources, model registry, alias),
                   objects.create + objects.delete (a file of the inbox's incoming/: copied to
                   processed/ or quarantine/, then deleted, as `score_file` does),
                   objects.create + objects.get in the inbox's `_plans/` (each file's split
                   size, recorded by the first launch: `cloudscore.pipeline.plans`)
    BigQuery       tables.get + tables.getData (a bq:// source), jobs.create + jobs.get (the load
                   jobs), tables.updateData (predictions, rejected_rows, scoring_runs),
                   tables.getData on scoring_runs (the launcher reads its runs' rows back)

The graph (`cloudscore.pipeline.graph`): plan each file (format, header check against the
contract, split size recorded or reused, splits) → count the rows of each text split → number
the splits' rows → score each split chunk by chunk through `RunInference` with
`ScoringModelHandler` → load each split's predictions and rejected rows by one load job per
table whose id derives from (file, generation, model version, split) → one `scoring_runs` row
per file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloudscore.pipeline.graph import PipelineResult


def run(argv: Sequence[str]) -> PipelineResult:
    """Build and run the pipeline; on a local runner, wait and return every file's run."""
    from cloudscore.pipeline.graph import run as run_graph

    return run_graph(argv)
