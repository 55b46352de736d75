"""`cloudscore demo`: run the product end to end on the local cloud with built-in demo data."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

_DEMO_DIR = Path(".cloudscore/demo")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="start the local cloud and run the product on built-in demo data",
        description="Start the local cloud (if it is not running), make a demo data set, drop "
        "files in the inbox and follow them through, then print what happened and where to "
        "look. The stack is left running; stop it with `cloudscore local down`.",
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
    from local_emulator.scheduler import publish_tick
    from local_emulator.settings import StackSettings

    started = time.monotonic()
    _say("1/6 starting the local cloud …")
    stack.up(StackSettings.resolve(args.state_dir))
    settings = StackSettings.load(args.state_dir)

    _say("2/6 making demo data (loan applications) …")
    train, batches = _make_data(args.rows)

    _say("3/6 training and registering the champion (as `cloudscore train --promote`) …")
    trained = _train(settings, args.config, train.out)

    _say("4/6 dropping the files in the inbox and waiting for their scoring runs …")
    runs = _drop(settings, [b.out for b in batches])

    _say("5/6 calling the HTTP function …")
    instance = _first_instance(batches[0].out)
    answer = _predict(settings.url("predict_rows"), instance)

    _say("6/6 firing the retrain schedule …")
    message_id = publish_tick(settings, "demo")

    from shared import clients

    bq = clients.bigquery_client(settings.project, settings.endpoints())
    tables = sorted(t.table_id for t in bq.list_tables(f"{settings.project}.{settings.dataset}"))
    metrics = trained.outcome.test_metrics
    base_cost = trained.outcome.baseline_metrics["expected_cost"]
    state = f" --state-dir {args.state_dir}" if args.state_dir else ""
    _say(
        f"""
cloudscore demo — done in {time.monotonic() - started:.0f} s, on the local cloud at 127.0.0.1

  training data   {train.out} — {train.rows:,} rows, default rate {train.label_rate:.1%}
  champion        {trained.version} ({trained.outcome.model.family})
                  test ROC AUC {metrics["roc_auc"]:.3f} (baseline 0.5); expected cost per
                  application {metrics["expected_cost"]:.3f} (baseline {base_cost:.3f})
  scored          (week 2 drifted; 2% of rows malformed on purpose)
{_runs_table(runs)}
  HTTP function   POST {settings.url("predict_rows")}/?explain=true ({_shown_id(instance)})
{_answer_lines(answer)}
  retrain topic   tick {message_id} published to {settings.retrain_topic} (pushed to retrain_model)
  BigQuery        {settings.project}.{settings.dataset}: {", ".join(tables)}

Look around:
{_next_steps(state)}"""
    )
    return 0


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


def _first_instance(path: Path) -> dict[str, Any]:
    """The first valid-looking application of a demo file, as a client would send it."""
    import pandas as pd

    from shared.demo_data import LABEL_COLUMN

    frame = pd.read_csv(path, nrows=50, dtype=str, keep_default_na=False)
    row = frame.drop(columns=[LABEL_COLUMN], errors="ignore").iloc[0]
    return {str(name): (value if value != "" else None) for name, value in row.items()}


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
    from shared.demo_data import ID_COLUMN

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
        (f".venv/bin/cloudscore local down{state}", "stop it all (data is kept)"),
    ]
    width = max(len(command) for command, _ in steps)
    return "\n".join(f"  {command:<{width}}  # {why}" for command, why in steps)


def _make_data(rows: int) -> tuple[Any, list[Any]]:
    from shared.demo_data import write_demo_data

    _DEMO_DIR.mkdir(parents=True, exist_ok=True)
    train = write_demo_data(_DEMO_DIR / "train.parquet", rows=20_000, seed=1)
    batches = [
        write_demo_data(
            _DEMO_DIR / "applications-week-1.csv",
            rows=rows,
            seed=2,
            bad_rows=0.02,
            labels_out=_DEMO_DIR / "labels-week-1.csv",
        ),
        write_demo_data(
            _DEMO_DIR / "applications-week-2.jsonl",
            rows=rows,
            seed=3,
            drift=0.6,
            bad_rows=0.02,
            labels_out=_DEMO_DIR / "labels-week-2.csv",
        ),
    ]
    return train, batches


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
        AuditLog(bq, settings.dataset),
        promote=True,
    )


def _drop(settings: Any, files: list[Path]) -> list[dict[str, Any]]:
    """Upload to the inbox and wait for each file's row in `scoring_runs`."""
    from local_emulator.inbox import drop, wait_for_runs

    return wait_for_runs(settings, [drop(settings, path) for path in files])
