"""`cloudscore demo`: run the product end to end on the local cloud with built-in demo data."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local_emulator.settings import StackSettings
    from shared.contract import DataContract

_DEMO_DIR = Path(".cloudscore/demo")
# The table that the demo's training.source (cloudscore.toml) reads: recent labelled applications.
_RECENT_TABLE = "recent_applications"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="start the local cloud and run the product on built-in demo data",
        description="Start the local cloud (if it is not running), make a demo data set, drop "
        "files in the inbox and follow them through, then print what happened and where to "
        "look. The stack is left running once the demo has run, even if it failed (a demo "
        "interrupted or killed stops the stack it started); stop it with `cloudscore local down`.",
    )
    demo.add_argument(
        "--rows", type=int, default=2000, help="rows per dropped file (default: 2000)"
    )
    demo.add_argument("--state-dir", type=Path, help="folder of the local stack's state")
    demo.add_argument(
        "--config",
        type=Path,
        default=Path("cloudscore.toml"),
        help="the demo's project configuration (default: ./cloudscore.toml)",
    )
    demo.set_defaults(run=_run)


def _say(text: str) -> None:
    print(text, flush=True)


def _run(args: argparse.Namespace) -> int:
    from local_emulator import stack
    from local_emulator.settings import StackSettings

    started = time.monotonic()
    _say("1/8 starting the local cloud …")
    stack.up(StackSettings.resolve(args.state_dir))
    settings = StackSettings.load(args.state_dir)
    try:
        _tour(args, settings, started)
    except Exception:
        stack.detach(settings)  # a demo that failed leaves its stack to be looked into
        raise
    stack.detach(settings)
    return 0


def _tour(args: argparse.Namespace, settings: StackSettings, started: float) -> None:
    _say("2/8 making demo data (loan applications) …")
    data = _make_data(args.rows)

    _say("3/8 training and registering the champion (as `cloudscore train --promote`) …")
    trained = _train(settings, args.config, data.train.out)

    _say("4/8 dropping the files in the inbox and waiting for their scoring runs …")
    runs = _drop(settings, [b.out for b in data.batches])

    _say("5/8 calling the HTTP function …")
    instance = first_instance(data.batches[0].out, trained.contract)
    answer = _predict(settings.url("predict_rows"), instance)
    if "error" in answer:
        from shared.errors import LocalStackError

        raise LocalStackError("predict_rows", f"refused the demo's request: {answer['error']}")

    _say("6/8 the outcomes arrive: loading the labels (as `cloudscore labels load`) and the "
         "lender's recent labelled applications …")  # fmt: skip
    labelled = _load_outcomes(settings, data)

    _say("7/8 firing the retrain schedule and waiting for the check …")
    check = _tick_and_wait(settings)
    report = _DEMO_DIR / "report.html"
    _write_report(settings, check, report)

    _say("8/8 dropping next week's file: scored by the champion of the moment …")
    (later,) = _drop(settings, [data.later.out])

    from shared import clients

    bq = clients.bigquery_client(settings.project, settings.endpoints())
    tables = sorted(t.table_id for t in bq.list_tables(f"{settings.project}.{settings.dataset}"))
    metrics = trained.outcome.test_metrics
    base_cost = trained.outcome.baseline_metrics["expected_cost"]
    state = f" --state-dir {args.state_dir}" if args.state_dir else ""
    train_rate = f"{data.train.label_rate:.1%}"
    promoted = check.promoted and later["model_version"] == check.challenger_version
    new_champion = " (the new champion)" if promoted else ""
    _say(
        f"""
cloudscore demo — done in {time.monotonic() - started:.0f} s, on the local cloud at 127.0.0.1

  training data   {data.train.out} — {data.train.rows:,} rows, default rate {train_rate}
  champion        {trained.version} ({trained.outcome.model.family})
                  test ROC AUC {metrics["roc_auc"]:.3f} (baseline 0.5); expected cost per
                  application {metrics["expected_cost"]:.3f} (baseline {base_cost:.3f})
  scored          (weeks 2 and 3 drifted; 2% of rows malformed on purpose)
{_runs_table(runs)}
  HTTP function   POST {settings.url("predict_rows")}/?explain=true ({_shown_id(instance)})
{_answer_lines(answer)}
  labels          {labelled}
  monitoring      tick → check {check.run_id}: {check.decision.value}
{_check_lines(check)}
                  report: {report} (also {check.report_uri})
  next week       {later["source_uri"]}: scored by {later["model_version"]}{new_champion}
  BigQuery        {settings.project}.{settings.dataset}: {", ".join(tables)}

Look around:
{_next_steps(state)}"""
    )


def _runs_table(runs: list[dict[str, Any]]) -> str:
    lines = []
    for run in runs:
        lines.append(
            f"                  {run['source_uri']}: {run['rows_in']:,} rows → "
            f"{run['rows_scored']:,} predictions, {run['rows_rejected']:,} rejected "
            f"({run['status']})"
        )
        if run.get("drift_summary"):
            drift = json.loads(run["drift_summary"])
            drifted = ", ".join(drift["drifted"][:4]) or "none"
            lines.append(
                f"                    drifted features (PSI ≥ {drift['threshold']}): {drifted}"
            )
    return "\n".join(lines)


def first_instance(path: Path, contract: DataContract) -> dict[str, Any]:
    """The first valid application of a demo CSV file, as a client would send it: each value
    read by the contract (as the batch path reads the file's text) and sent as the JSON type of
    its column — a number as a number, never as the text "45", which the function refuses."""
    import pandas as pd

    from cloudscore.demo_data import LABEL_COLUMN
    from shared.contract import validate
    from shared.errors import DataError

    text = pd.read_csv(path, nrows=50, dtype=str, keep_default_na=False, na_values=[""])
    valid = validate(text.drop(columns=[LABEL_COLUMN], errors="ignore"), contract).valid
    if valid.empty:
        raise DataError(f"{path}: none of its first 50 rows is valid for the model")
    instance: dict[str, Any] = json.loads(
        valid.iloc[[0]].to_json(orient="records", date_format="iso")
    )[0]
    return instance


def _predict(url: str, instance: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url + "/?explain=true",
        data=json.dumps({"instances": [instance]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = {"error": json.loads(error.read()).get("error")}
    return answer


def _shown_id(instance: dict[str, Any]) -> str:
    from cloudscore.demo_data import ID_COLUMN

    return str(instance.get(ID_COLUMN))


def _answer_lines(answer: dict[str, Any]) -> str:
    pad = " " * 18
    if "predictions" not in answer:
        return f"{pad}→ {json.dumps(answer)}"
    (prediction,) = answer["predictions"]
    top = sorted(prediction["contributions"].items(), key=lambda item: -abs(item[1]))[:3]
    reasons = ", ".join(f"{name} {value:+.2f}" for name, value in top)
    return (
        f"{pad}→ label {prediction['label']}, score {prediction['score']:.3f} "
        f"(model {answer['model']['version']})\n"
        f"{pad}  largest contributions to the log-odds: {reasons}"
    )


def _next_steps(state: str) -> str:
    steps = [
        (f'eval "$(.venv/bin/cloudscore local env{state})"', "point your shell at the stack"),
        (f".venv/bin/cloudscore local status{state}", "components, ports, event counts"),
        (f".venv/bin/cloudscore local logs{state} score_file", "what the batch function did"),
        (
            f".venv/bin/cloudscore local query{state} "
            "'SELECT reason_code, COUNT(*) n FROM rejected_rows GROUP BY 1'",
            "why rows were rejected",
        ),
        (".venv/bin/cloudscore models list", "the registry: versions and aliases"),
        (".venv/bin/cloudscore retrain --dry-run", "check the champion now, change nothing"),
        (".venv/bin/cloudscore report --out report.html", "every check so far, as charts"),
        (f".venv/bin/cloudscore local down{state}", "stop it all (data is kept)"),
    ]
    width = max(len(command) for command, _ in steps)
    return "\n".join(f"  {command:<{width}}  # {why}" for command, why in steps)


@dataclass(frozen=True)
class _DemoData:
    train: Any
    batches: list[Any]
    recent: Any  # labelled applications of the last months: what a retrain learns from
    later: Any  # next week's file, dropped after the check


def _make_data(rows: int) -> _DemoData:
    from cloudscore.demo_data import write_demo_data

    _DEMO_DIR.mkdir(parents=True, exist_ok=True)
    return _DemoData(
        train=write_demo_data(_DEMO_DIR / "train.parquet", rows=20_000, seed=1),
        batches=[
            # The weeks after the training data's last day (2026-06-30), Monday to Sunday:
            # the check judges each week of application dates on its own.
            write_demo_data(
                _DEMO_DIR / "applications-week-1.csv",
                rows=rows,
                seed=2,
                bad_rows=0.02,
                labels_out=_DEMO_DIR / "labels-week-1.csv",
                dates=("2026-07-06", "2026-07-12"),
            ),
            write_demo_data(
                # The market turns: more applications, from a different population, two weeks
                # running (the check retrains on drift in 2 of its last 3 weeks).
                _DEMO_DIR / "applications-week-2.jsonl",
                rows=3 * rows,
                seed=3,
                drift=1.0,
                bad_rows=0.02,
                labels_out=_DEMO_DIR / "labels-week-2.csv",
                dates=("2026-07-13", "2026-07-26"),
            ),
        ],
        recent=write_demo_data(
            _DEMO_DIR / "recent-labelled.parquet", rows=8_000, seed=4, drift=0.8
        ),
        later=write_demo_data(
            _DEMO_DIR / "applications-week-4.csv",
            rows=rows,
            seed=5,
            drift=0.8,
            dates=("2026-07-27", "2026-08-02"),
        ),
    )


def _load_outcomes(settings: Any, data: _DemoData) -> str:
    """The week's labels into `labels`; the recent labelled applications into the table the
    demo's `training.source` names (a lender's warehouse would hold it)."""
    import pandas as pd
    from google.cloud import bigquery

    from cloudscore.demo_data import ID_COLUMN, LABEL_COLUMN
    from shared import clients
    from shared.monitoring.labels import label_frame, load_labels
    from shared.sources import fingerprint

    bq = clients.bigquery_client(settings.project, settings.endpoints())
    loaded = 0
    for batch in data.batches:
        frame = label_frame(batch.labels_out, id_column=ID_COLUMN, label_column=LABEL_COLUMN)
        # Keyed by content: the same outcomes load once, new ones always load.
        load_labels(bq, settings.dataset, frame, fingerprint(frame), location=settings.region)
        loaded += len(frame)
    table = f"{settings.project}.{settings.dataset}.{_RECENT_TABLE}"
    # Replaced whole: the local BigQuery keeps a table across demos.
    bq.delete_table(table, not_found_ok=True)
    job = bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
    bq.load_table_from_dataframe(pd.read_parquet(data.recent.out), table, job_config=job).result()
    return (
        f"{loaded:,} outcomes of the scored weeks in `labels`; "
        f"{data.recent.rows:,} recent labelled applications in `{_RECENT_TABLE}`"
    )


def _tick_and_wait(settings: Any, timeout_s: float = 600.0) -> Any:
    """Publish a tick as Cloud Scheduler does, and wait until the retrain function's check of
    it is recorded (the demo's ticks say trigger "demo")."""
    from datetime import UTC, datetime, timedelta

    from local_emulator.scheduler import publish_tick
    from shared import clients
    from shared.errors import LocalStackError
    from shared.monitoring.history import MonitoringHistory

    # A little before: the function's clock and this one are the same machine's.
    published = datetime.now(UTC) - timedelta(seconds=1)
    message_id = publish_tick(settings, "demo")
    history = MonitoringHistory(
        clients.bigquery_client(settings.project, settings.endpoints()),
        settings.dataset,
        location=settings.region,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [run for run in history.runs(since=published) if run.trigger == "demo"]
        if runs:
            return runs[-1]
        if time.monotonic() > deadline:
            raise LocalStackError(
                "retrain_model",
                f"no check of tick {message_id} after {timeout_s:.0f} s; see "
                "`cloudscore local logs retrain_model`",
            )
        time.sleep(1)


def _write_report(settings: Any, check: Any, out: Path) -> None:
    """A local copy of the report the check stored beside its run."""
    from shared import clients

    bucket, _, name = check.report_uri.removeprefix("gs://").partition("/")
    storage = clients.storage_client(settings.project, settings.endpoints())
    out.write_bytes(storage.bucket(bucket).blob(name).download_as_bytes())


def _check_lines(check: Any) -> str:
    pad = " " * 18
    lines = []
    metrics = check.metrics or {}
    if metrics.get("values"):
        metric = metrics["primary_metric"]
        lines.append(
            f"{pad}champion {metric} {metrics['values'][metric]:.3f} on "
            f"{metrics['labelled_rows']:,} labelled predictions "
            f"({metrics['test_value']:.3f} at training)"
        )
    if check.drift:
        drifted = ", ".join(check.drift["drifted"][:5]) or "none"
        lines.append(f"{pad}drifted features: {drifted}")
    compared = check.challenger_metrics or {}
    if compared.get("difference"):
        metric = compared["primary_metric"]
        low, high = compared["difference"]["low"], compared["difference"]["high"]
        lines.append(
            f"{pad}challenger {check.challenger_version}: {metric} "
            f"{compared['challenger'][metric]:.3f} vs champion {compared['champion'][metric]:.3f}"
            f" on {compared['holdout_rows']:,} fresh rows; 95% interval of the difference "
            f"[{low:+.3f}, {high:+.3f}] → {'promoted' if check.promoted else 'not promoted'}"
        )
    elif check.reason:
        lines.append(f"{pad}{check.reason}")
    return "\n".join(lines)


def _train(settings: Any, config_path: Path, data: Path) -> Any:
    from shared import clients
    from shared.audit import AuditLog
    from shared.project_config import load_project_config
    from shared.registration import train_and_register
    from shared.registry import ModelRegistry
    from shared.sources import read_source

    config = load_project_config(config_path)
    frame, source = read_source(str(data))
    storage = clients.storage_client(settings.project, settings.endpoints())
    bq = clients.bigquery_client(settings.project, settings.endpoints())
    return train_and_register(
        frame,
        source,
        config,
        ModelRegistry(storage, settings.models_bucket, config.model_name),
        AuditLog(bq, settings.dataset, location=settings.region),
        promote=True,
    )


def _drop(settings: Any, files: list[Path]) -> list[dict[str, Any]]:
    """Upload to the inbox and wait for each file's row in `scoring_runs`."""
    from local_emulator.inbox import drop, wait_for_runs

    return wait_for_runs(settings, [drop(settings, path) for path in files])
