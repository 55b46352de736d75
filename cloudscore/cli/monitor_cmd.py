"""`cloudscore retrain` and `cloudscore report`: check the champion now; see the checks so far."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_CONFIG_HELP = (
    "judge and retrain by this project configuration instead of the one the champion was "
    "trained with"
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retrain = subparsers.add_parser(
        "retrain",
        help="check the champion now, as a scheduler tick does, and retrain if it is due",
        description="Cut what the champion scored in the window into periods of the data's "
        "own time ([monitoring] period), measure each period (realized performance where "
        "labels arrived, performance estimated from the scores, drift of the inputs, row "
        "counts), decide by the [monitoring] policy over the recent periods, and when a "
        "retrain is due train a challenger on training.source, compare both on the same fresh "
        "holdout and promote the challenger only if it is clearly better. Prints the "
        "per-period table. The run is recorded in monitoring_runs with its HTML report. Exits "
        "1 when the check failed.",
    )
    retrain.add_argument(
        "--force", action="store_true", help="retrain whatever the measurements say"
    )
    retrain.add_argument(
        "--dry-run",
        action="store_true",
        help="measure and decide only (the per-period table is printed): train, promote and "
        "record nothing",
    )
    retrain.add_argument("--config", type=Path, help=_CONFIG_HELP)
    retrain.set_defaults(run=_retrain)

    report = subparsers.add_parser(
        "report",
        help="write the HTML report of the recorded checks",
        description="Read monitoring_runs and write one self-contained HTML page: the latest "
        "check's periods (performance realized and estimated, drift per feature, rows), the "
        "champion's metric over the checks, drift per feature, champion vs challenger, "
        "decisions.",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=Path("cloudscore-report.html"),
        help="where to write it (default: ./cloudscore-report.html)",
    )
    report.add_argument(
        "--days", type=int, default=90, help="checks of the last N days (default: 90)"
    )
    report.set_defaults(run=_report)


def cloud_of(target: Any) -> Any:
    from shared.monitoring.check import Cloud
    from shared.registration import default_actor

    return Cloud.of(target.config, target.storage, target.bigquery, default_actor())


def _retrain(args: argparse.Namespace) -> int:
    from cloudscore.cli.target import resolve_target
    from shared.monitoring.check import CheckRequest, run_check
    from shared.monitoring.record import Decision
    from shared.project_config import load_project_config

    target = resolve_target()
    config = load_project_config(args.config) if args.config else None
    request = CheckRequest(trigger="manual", force=args.force, dry_run=args.dry_run, config=config)
    run = run_check(cloud_of(target), request)
    assert run is not None  # only a tick that was already checked gives none
    print(summary(run))
    return 1 if run.decision is Decision.FAILED else 0


def summary(run: Any) -> str:
    """A few lines on what a check found and did."""
    lines = [f"check {run.run_id}: {run.decision.value}", f"  champion   {run.champion_version}"]
    metrics = run.metrics
    if metrics:
        metric = metrics["primary_metric"]
        value = metrics["values"].get(metric)
        shown = f"{value:.4f}" if value is not None else "not measured"
        test = metrics.get("test_value")
        lines.append(
            f"  quality    {metric} {shown} on {metrics['labelled_rows']} labelled predictions "
            f"scored in the last {metrics['window_days']} days"
            + (f" ({test:.4f} at training)" if test is not None else "")
        )
    if run.drift:
        drifted = run.drift["drifted"]
        lines.append(
            f"  drift      {run.drift['rows']} inputs ({run.drift['files']} files, "
            f"{run.drift['online_rows']} online); {len(drifted)} drifted: "
            + (", ".join(drifted[:6]) or "none")
        )
    if run.periods:
        lines.extend(period_lines(run.periods, metrics.get("primary_metric", ""), metrics))
    if run.challenger_version:
        promoted = "promoted" if run.promoted else "not promoted (alias challenger)"
        lines.append(f"  challenger {run.challenger_version}, {promoted}")
    lines.append(f"  why        {run.reason}")
    if run.report_uri:
        lines.append(f"  report     {run.report_uri}")
    return "\n".join(lines)


def period_lines(periods: Any, metric: str, metrics: Any) -> list[str]:
    """The per-period table, one line a period, oldest first."""
    head = (
        f"    {'period':<10} {'to':<10} {'rows':>8} {'labelled':>8} {metric or 'metric':>9} "
        f"{'estimated ± 3 SE':>17} {'drifted':>7}  alerts"
    )
    lines = [f"  periods    {metrics.get('period', '?')} periods by the data's time", head]
    for row in periods:
        realized = row.get("realized", {}).get(metric)
        estimate = row.get("estimated", {}).get(metric)
        if estimate:
            error = estimate.get("sampling_error")
            band = f" ±{3 * error:.4f}" if error is not None else ""
            estimated = f"{estimate['value']:.4f}{band}"
        else:
            estimated = "—"
        drift = row.get("drift", {})
        drifted = len(drift.get("drifted", [])) if drift.get("rows") else "—"
        last_day = (datetime.fromisoformat(row["end"]) - timedelta(days=1)).date().isoformat()
        lines.append(
            f"    {row['start']:<10} {last_day:<10} {row['rows']:>8,} "
            f"{row['labelled_rows']:>8,} "
            f"{(f'{realized:.4f}' if realized is not None else '—'):>9} {estimated:>17} "
            f"{drifted!s:>7}  {', '.join(row.get('alerts', {})) or '—'}"
        )
    if metrics.get("no_estimate"):
        lines.append(f"  estimated  none: {metrics['no_estimate']}")
    return lines


def _report(args: argparse.Namespace) -> int:
    from cloudscore.cli.target import resolve_target
    from shared.monitoring.history import MonitoringHistory
    from shared.monitoring.report import render_report

    target = resolve_target()
    now = datetime.now(UTC)
    history = MonitoringHistory(
        target.bigquery, target.config.dataset, location=target.config.region
    )
    runs = history.runs(since=now - timedelta(days=args.days))
    html = render_report(target.config.model_name, runs, generated_at=now)
    args.out.write_text(html, encoding="utf-8")
    print(f"wrote {args.out} ({len(runs)} checks of the last {args.days} days)", file=sys.stderr)
    return 0
