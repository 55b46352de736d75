"""The permission layer of one local stack: its grants, resolved to the stack's names, and one
proxy per account (each function's, the Dataflow workers') on the ports the stack gives them.

Run as `python -m local_emulator.iam --state-dir DIR` (the stack starts it).
"""

from __future__ import annotations

import threading

from local_emulator.iam.grants import Deployment, Grant, Policy, account_email, account_grants
from local_emulator.iam.proxy import AccountProxy, EmulatorState, JobBook, Upstreams, serve
from local_emulator.iam.reads import source_reads
from local_emulator.iam.roles import known_roles
from local_emulator.iam.usage import UsageRecorder, usage_file
from local_emulator.settings import ACCOUNTS, HOST, StackSettings
from local_emulator.worker import WorkerStatus, component_main


def stack_grants(settings: StackSettings) -> list[Grant]:
    """Every grant infra/ gives the accounts, in this stack's names."""
    deployment = Deployment(
        project=settings.project,
        dataset=settings.dataset,
        buckets={
            "CLOUDSCORE_INBOX_BUCKET": settings.inbox_bucket,
            "CLOUDSCORE_MODELS_BUCKET": settings.models_bucket,
            "CLOUDSCORE_PIPELINE_BUCKET": settings.pipeline_bucket,
        },
        training_reads=source_reads(settings.training_source, project=settings.project),
    )
    return account_grants(deployment, settings.infra())


def start(settings: StackSettings) -> list[AccountProxy]:
    """Serve each account's proxy (in threads of this process)."""
    module = settings.infra()
    policy = Policy(stack_grants(settings), known_roles(module))
    upstreams = Upstreams(
        storage=settings.url("gcs"),
        bigquery=settings.url("bigquery"),
        dataflow=settings.url("dataflow"),
    )
    state = EmulatorState(upstreams, JobBook(settings.state_dir / "run" / "iam-jobs.tsv"))
    usage = UsageRecorder(usage_file(settings.state_dir))
    proxies = [
        AccountProxy(
            (HOST, settings.ports[f"iam_{account}"]),
            principal=account,
            email=account_email(account, settings.project, module),
            project=settings.project,
            policy=policy,
            upstreams=upstreams,
            state=state,
            usage=usage,
        )
        for account in ACCOUNTS
    ]
    for proxy in proxies:
        serve(proxy)
    return proxies


def run(settings: StackSettings, stop: threading.Event) -> None:
    status = WorkerStatus(settings.state_dir / "run" / "iam.json")
    proxies = start(settings)
    status.ready(accounts={p.principal: p.email for p in proxies})
    stop.wait()
    for proxy in proxies:
        proxy.shutdown()
        proxy.server_close()


def main(argv: list[str] | None = None) -> None:
    component_main("iam", "The local cloud's permission layer.", run, argv)
