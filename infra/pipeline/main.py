"""The Flex Template's program: Dataflow's launcher runs it with the job's parameters as options
(--sources, --settings, --model_version, --handoff_run_id: metadata.json) and Dataflow's own
(--runner, --project, --region, --temp_location, --sdk_container_image, …), which build and
submit the pipeline (cloudscore.pipeline). The local cloud's Dataflow runs this same file, on
Beam's DirectRunner. A file the pipeline rejects is recorded as such in scoring_runs: the job
itself fails only when the pipeline does."""

import sys

from cloudscore.pipeline import run

if __name__ == "__main__":
    run(sys.argv[1:])
