"""Which Beam runner runs a job: the one `--runner` names, except that a local run (no
`--runner`, or DirectRunner) runs on the FnApiRunner, in process or on
`--direct_num_workers` worker processes (`--direct_running_mode=multi_processing`).

Why not Beam's own DirectRunner: in recent SDKs it first tries the Prism runner, which downloads
its binary from GitHub at first use (apache_beam/runners/portability/prism_runner.py). A machine
without internet then waits for the download to fail before falling back to the FnApiRunner on
every launch, and a machine with internet runs the job on Prism, a runner the pipeline is not
tested on. The FnApiRunner is what the DirectRunner falls back to, built the same way.
"""

from __future__ import annotations

from typing import Any, Final

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

_LOCAL_NAMES: Final = frozenset({"directrunner", "direct", "fnapirunner"})


def is_local(options: PipelineOptions) -> bool:
    name = options.view_as(StandardOptions).runner
    return name is None or str(name).lower() in _LOCAL_NAMES


def runner_for(options: PipelineOptions) -> Any:
    """The runner object for a local run; None lets Beam build the one `--runner` names."""
    if not is_local(options):
        return None
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    # As apache_beam.runners.direct.direct_runner.SwitchingDirectRunner builds it: the worker
    # processes of multi_processing read the job's options from this.
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    provision = beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(provision))
