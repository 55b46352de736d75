"""The report page: its sections, tables and the HTML around them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.monitoring.record import Decision, MonitoringRun
from shared.monitoring.report.charts import (
    DRIFT_MAX_BARS,
    Interval,
    comparison_chart,
    difference_chart,
    drift_chart,
    labelled_rows_chart,
    metric_history_chart,
)
from shared.monitoring.report.checks import (
    MAIN_METRICS,
    Check,
    chart_metric,
    lower_is_better,
    mapping_of,
    number,
    worst_first,
)
from shared.monitoring.report.period_charts import (
    DRIFT_MAX_FEATURE_CHARTS,
    PeriodPoint,
    drift_charts,
    performance_chart,
    period_label,
    period_points,
    rows_chart,
)
from shared.monitoring.report.svg import (
    AMBER,
    BLUE,
    FONT,
    GREEN,
    GREY,
    GRID,
    INK,
    MINUS,
    MUTED,
    RED,
    as_utc,
    cut,
    duration,
    esc,
    fmt,
    fmt_count,
    fmt_time,
)

HISTORY_MAX_RUNS = 200  # checks drawn in the charts over time
TABLE_MAX_RUNS = 30  # checks listed in the table of recent checks
HEATMAP_MAX_RUNS = 12  # checks in the PSI heat map

BADGE_COLOURS = {
    Decision.HEALTHY: GREEN,
    Decision.PROMOTED: BLUE,
    Decision.KEPT_CHAMPION: AMBER,
    Decision.CHALLENGER_REFUSED: AMBER,
    Decision.FAILED: RED,
}
DECISION_MEANING = {
    Decision.HEALTHY: "the champion was measured and nothing called for action",
    Decision.NOT_ENOUGH_LABELS: "too few labelled rows to judge the champion's quality",
    Decision.PROMOTED: "a challenger was trained, won, and is now the champion",
    Decision.KEPT_CHAMPION: "a challenger was trained but did not win; the champion stays",
    Decision.CHALLENGER_REFUSED: "a challenger was trained but did not beat the trivial baseline",
    Decision.WOULD_RETRAIN: "a dry run: the check would have retrained",
    Decision.SKIPPED: "skipped: another check held the lock",
    Decision.NO_CHAMPION: "there is no champion to measure yet",
    Decision.FAILED: "the check could not finish",
}


def render_report(
    model_name: str,
    runs: Sequence[MonitoringRun],
    *,
    generated_at: datetime,
    focus_run_id: str | None = None,
) -> str:
    """The HTML document about `focus_run_id` (default: the latest of `runs`, in any order).

    Raises ValueError when `focus_run_id` is not among `runs`.
    """
    checks = sorted((Check.of(run) for run in runs), key=lambda c: (c.started, c.run.run_id))
    if focus_run_id is not None and all(c.run.run_id != focus_run_id for c in checks):
        raise ValueError(f"focus_run_id {focus_run_id!r} is not among the {len(checks)} runs")
    if not checks:
        return _page(model_name, generated_at, _empty_body(model_name))
    focus = next((c for c in checks if c.run.run_id == focus_run_id), checks[-1])
    sections = [
        _header(model_name, focus),
        _periods_section(focus),
        _metrics_section(checks, focus),
        _drift_section(checks, focus),
        _comparison_section(focus),
        _decision_section(checks, focus),
    ]
    return _page(model_name, generated_at, "\n".join(sections))


# ---------------------------------------------------------------------------- the page


def _page(model_name: str, generated_at: datetime, body: str) -> str:
    title = f"Monitoring report: {model_name}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<p class="generated">Generated {esc(fmt_time(generated_at))}</p>\n'
        f"{body}\n</main>\n</body>\n</html>\n"
    )


_CSS = f"""
body {{ margin: 0; background: #f6f8fa; color: {INK}; font: 15px/1.45 {FONT}; }}
main {{ max-width: 920px; margin: 0 auto; padding: 16px 20px 48px; background: #fff; }}
h1 {{ font-size: 24px; margin: 4px 0 8px; overflow-wrap: anywhere; }}
h2 {{ font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid {GRID}; padding-bottom: 4px; }}
h3 {{ font-size: 16px; margin: 20px 0 6px; }}
svg {{ display: block; max-width: 100%; height: auto; margin: 8px 0; }}
table {{ border-collapse: collapse; font-size: 13px; margin: 8px 0; }}
th, td {{ border: 1px solid {GRID}; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.runs td:first-child {{ white-space: nowrap; }}
tr.focus td {{ background: #fff8c5; }}
tr.alert td {{ background: #fff0ef; }}
dl {{ display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }}
dt {{ color: {MUTED}; }}
dd {{ margin: 0; overflow-wrap: anywhere; }}
.badge {{ display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff;
  font-weight: 600; font-size: 14px; white-space: nowrap; }}
.reason {{ font-size: 16px; overflow-wrap: anywhere; }}
.note, .generated {{ color: {MUTED}; font-size: 13px; }}
.placeholder {{ color: {MUTED}; font-style: italic; }}
.verdict {{ font-weight: 600; }}
.heat th {{ white-space: nowrap; }}
.heat td {{ text-align: right; font-variant-numeric: tabular-nums; min-width: 40px; }}
.feature {{ max-width: 260px; overflow-wrap: anywhere; }}
.wide {{ overflow-x: auto; }}
"""


def _empty_body(model_name: str) -> str:
    return (
        f"<h1>Monitoring report: {esc(model_name)}</h1>\n"
        '<p class="placeholder" data-empty="">No checks recorded yet: the scheduled check of '
        "this model has not run, so there is nothing to report.</p>"
    )


def _badge(decision: Decision) -> str:
    colour = BADGE_COLOURS.get(decision, GREY)
    label = esc(str(decision).replace("_", " "))
    style = f"background:{colour}"
    return f'<span class="badge" style="{style}" data-decision="{esc(decision)}">{label}</span>'


def _section(name: str, heading: str, content: str) -> str:
    return f'<section data-section="{name}">\n<h2>{esc(heading)}</h2>\n{content}\n</section>'


def _placeholder(message: str) -> str:
    return f'<p class="placeholder">{esc(message)}</p>'


def _note(message: str) -> str:
    return f'<p class="note">{esc(message)}</p>'


def _header(model_name: str, focus: Check) -> str:
    run = focus.run
    started = f"{run.run_id}, started {fmt_time(focus.started, seconds=True)}"
    took = None if run.ended_at is None else (as_utc(run.ended_at) - focus.started).total_seconds()
    if took is not None and took >= 0:
        started += f", took {duration(took)}"
    rows = [("Check", started), ("Trigger", run.trigger), ("Champion", run.champion_version or "—")]
    if run.challenger_version:
        promoted = "promoted" if run.promoted else "not promoted"
        rows.append(("Challenger", f"{run.challenger_version} ({promoted})"))
    details = "".join(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in rows)
    return (
        f"<header>\n<h1>Monitoring report: {esc(model_name)}</h1>\n"
        f'<p>{_badge(run.decision)} <span class="reason">{esc(run.reason or "no reason given")}'
        f"</span></p>\n<dl>{details}</dl>\n</header>"
    )


# ---------------------------------------------------------------------------- periods


def _periods_section(focus: Check) -> str:
    points = period_points(focus.run.periods)
    if not points:
        return ""
    metrics = mapping_of(focus.run.metrics)
    period = str(metrics.get("period") or "") or None
    metric = focus.primary_metric or ""
    recent, alerting = number(metrics.get("recent_periods")), number(metrics.get("alert_periods"))
    rule = (
        f" A measure calls for a retrain when it alerts in {fmt_count(alerting)} of the last "
        f"{fmt_count(recent)} periods with data."
        if recent is not None and alerting is not None
        else ""
    )
    intro = (
        f"What the champion scored, cut into {len(points)} periods"
        + (f" of a {period}" if period in ("day", "week", "month") else "")
        + " by the data's own time (its time column; the scoring time where there is none), "
        f"each judged on its own, oldest first.{rule}"
    )
    parts = [_note(intro), f"<h3>Performance per period: {esc(metric)}</h3>"]
    if metric and any(metric in p.realized or metric in p.estimated for p in points):
        parts.append(performance_chart(
            points, metric, period=period, test_value=focus.test_value,
            limit=number(metrics.get("alert_limit")),
        ))  # fmt: skip
        no_estimate = metrics.get("no_estimate")
        if isinstance(no_estimate, str) and no_estimate:
            parts.append(_note(f"Realized where the period's labels arrived; {no_estimate}."))
        else:
            parts.append(_note(
                "Realized where the period's labels arrived; estimated from the scores alone "
                "(confidence-based performance estimation), with ± 3 sampling errors, before "
                "they do. A realized value outside the band means the estimate's assumptions "
                "(calibrated scores, an unchanged link between inputs and label) no longer hold."
            ))  # fmt: skip
    else:
        parts.append(_placeholder("No period has a measured or estimated value of the metric."))
    charts, features = drift_charts(points, period=period)
    statistic = points[-1].statistic.replace("_", "-")
    shown = min(features, DRIFT_MAX_FEATURE_CHARTS)
    parts += [
        f"<h3>Drift per period ({esc(statistic)})</h3>",
        _note(
            f"The score and the {shown} most drifted of {features} features; red: at or above "
            "the threshold. The table below has every feature."
        ),
        charts,
        "<h3>Rows per period</h3>",
        rows_chart(points, period=period),
        _period_table(points, metric, period),
        _measures_table(points, period),
    ]
    return _section("periods", "Periods", "\n".join(parts))


def _measures_table(points: Sequence[PeriodPoint], period: str | None) -> str:
    """Every realized metric of every period, one column each (RMSE and MAE; macro and
    weighted F1, log loss and each class's recall; …), realized and estimated side by side."""
    names = list(dict.fromkeys(name for point in points for name in point.realized))
    if not names:
        return ""
    head = "".join(f"<th>{esc(name)}</th>" for name in ("period", *names))
    rows = []
    for point in points:
        cells = []
        for name in names:
            text = fmt(point.realized.get(name), 4)
            estimate = point.estimated.get(name)
            if estimate is not None:
                text += f" (est. {fmt(estimate[0], 4)})"
            cells.append(f'<td class="num" data-metric="{esc(name)}">{esc(text)}</td>')
        rows.append(
            f'<tr data-period="{point.start.isoformat()}">'
            f"<td>{esc(period_label(point.start, period))}</td>{''.join(cells)}</tr>"
        )
    table = (
        f'<div class="wide"><table data-table="period-measures"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return (
        "<details><summary>Every realized metric per period (estimated in brackets)</summary>"
        f"{table}</details>"
    )


def _period_table(points: Sequence[PeriodPoint], metric: str, period: str | None) -> str:
    head = ("period", "rows", "labelled", metric or "metric", "estimated ± 3 SE",
            "drifted features", "alerts")  # fmt: skip
    rows = []
    for point in points:
        estimate = point.estimated.get(metric)
        if estimate is None:
            estimated = "—"
        else:
            band = "" if estimate[1] is None else f" ± {fmt(3 * estimate[1], 4)}"
            estimated = f"{fmt(estimate[0], 4)}{band}"
        drifted = ", ".join(cut(name, 24) for name in point.drifted[:4])
        if len(point.drifted) > 4:
            drifted += f" and {len(point.drifted) - 4} more"
        alerts = ", ".join(name.replace("_", " ") for name in point.alerts)
        marked = ' class="alert"' if point.alerts else ""
        rows.append(
            f'<tr{marked} data-period="{point.start.isoformat()}">'
            f"<td>{esc(period_label(point.start, period))}</td>"
            f'<td class="num">{fmt_count(point.rows)}</td>'
            f'<td class="num">{fmt_count(point.labelled_rows)}</td>'
            f'<td class="num">{fmt(point.realized.get(metric), 4)}</td>'
            f'<td class="num">{esc(estimated)}</td><td>{esc(drifted)}</td>'
            f"<td>{esc(alerts)}</td></tr>"
        )
    header = "".join(f"<th>{esc(name)}</th>" for name in head)
    table = (
        f'<div class="wide"><table data-table="periods"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return f"<details open><summary>The per-period table</summary>{table}</details>"


# ---------------------------------------------------------------------------- metrics over time


def _metrics_section(checks: Sequence[Check], focus: Check) -> str:
    metric = chart_metric(checks, focus)
    shown = checks[-HISTORY_MAX_RUNS:]
    notes = []
    if len(shown) < len(checks):
        since = f"{shown[0].started:%Y-%m-%d}"
        notes.append(f"The last {len(shown)} of {len(checks)} checks, from {since}.")
    if metric is None or all(c.value(metric) is None for c in shown):
        chart = _placeholder("No check has measured the champion's metrics yet (too few labels).")
    else:
        chart = metric_history_chart(shown, metric, focus)
        gaps = sum(c.value(metric) is None for c in shown)
        if gaps:
            notes.append(f"{gaps} of {len(shown)} checks measured no {metric} (too few labelled "
                         "rows, or the check did not get that far): gaps in the line.")  # fmt: skip
    if all(c.labelled_rows is None for c in shown):
        rows = _placeholder("No labelled rows recorded.")
    else:
        rows = labelled_rows_chart(shown)
    body = [chart, *map(_note, notes), "<h3>Labelled rows per check</h3>", rows]
    return _section("metrics", "Metrics over time", "\n".join(body))


# ---------------------------------------------------------------------------- drift


def _drift_section(checks: Sequence[Check], focus: Check) -> str:
    if not focus.psi and focus.score_psi is None:
        content = _placeholder("This check measured no drift.")
        return _section("drift", "Drift per feature", content)
    ranked = sorted(focus.psi.items(), key=worst_first)
    drift = mapping_of(focus.run.drift)
    rows, files = number(drift.get("rows")), number(drift.get("files"))
    summary = (
        f"{len(focus.drifted)} of {len(ranked)} features drifted (PSI at or above the threshold "
        f"{fmt(focus.threshold)}); the score's PSI is {fmt(focus.score_psi)}. Measured on "
        f"{fmt_count(rows)} rows from {fmt_count(files)} files and "
        f"{fmt_count(number(drift.get('online_rows')))} online predictions."
    )
    parts = [_note(summary), drift_chart(focus, ranked)]
    if len(ranked) > DRIFT_MAX_BARS:
        parts.append(_note(f"The {DRIFT_MAX_BARS} worst of {len(ranked)} features are drawn; "
                           "the table lists them all."))  # fmt: skip
    parts += [_drift_table(focus, ranked), _drift_history(checks, focus, ranked)]
    return _section("drift", "Drift per feature", "\n".join(parts))


def _drift_table(focus: Check, ranked: Sequence[tuple[str, float | None]]) -> str:
    rows = [
        f'<tr><td class="feature">{esc(name)}</td><td class="num">{fmt(value)}</td>'
        f"<td>{'drifted' if name in focus.drifted else ''}</td></tr>"
        for name, value in ranked
    ]
    score = f'<tr><td><i>model score</i></td><td class="num">{fmt(focus.score_psi)}</td><td></td>'
    table = (
        '<table data-table="drift"><thead><tr><th>feature</th><th>PSI</th><th></th></tr></thead>'
        f"<tbody>{score}</tr>{''.join(rows)}</tbody></table>"
    )
    opened = " open" if len(ranked) <= 12 else ""
    return f"<details{opened}><summary>PSI per feature, as a table</summary>{table}</details>"


def _drift_history(
    checks: Sequence[Check], focus: Check, ranked: Sequence[tuple[str, float | None]]
) -> str:
    """PSI per feature over the last checks, up to the focused one, that measured drift."""
    recent = [c for c in checks if c.started <= focus.started and c.psi][-HEATMAP_MAX_RUNS:]
    if len(recent) < 2:
        return ""
    names = [name for name, _ in ranked]
    names += sorted({name for c in recent for name in c.psi} - set(names))
    shown = names[:DRIFT_MAX_BARS]
    head = "".join(f'<th title="{esc(fmt_time(c.started))}">{c.started:%m-%d}</th>' for c in recent)
    body = "".join(
        f'<tr><th class="feature" scope="row">{esc(name)}</th>'
        + "".join(_heat_cell(c.psi.get(name), c.threshold) for c in recent)
        + "</tr>"
        for name in shown
    )
    more = f"The first {len(shown)} of {len(names)} features." if len(shown) < len(names) else ""
    return (
        f"<h3>PSI over the last {len(recent)} checks</h3>\n"
        + _note("Green: below 0.1; amber: 0.1 up to the check's threshold; red: at or above it.")
        + f'\n<div class="wide"><table class="heat" data-table="drift-history"><thead><tr>'
        f"<th>feature</th>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        + (_note(more) if more else "")
    )


def _heat_cell(value: float | None, threshold: float | None) -> str:
    if value is None:
        return "<td></td>"
    if threshold is not None and value >= threshold:
        colour = "#ffd5d2"
    elif value >= 0.1:
        colour = "#fff1c2"
    else:
        colour = "#e6f4e8"
    return f'<td style="background:{colour}">{fmt(value, 2)}</td>'


# ---------------------------------------------------------------------------- challenger


def _comparison_section(focus: Check) -> str:
    comparison = mapping_of(focus.run.challenger_metrics)
    if not comparison:
        return ""
    metric = str(comparison.get("primary_metric") or focus.primary_metric or "")
    champion = mapping_of(comparison.get("champion"))
    challenger = mapping_of(comparison.get("challenger"))
    names = [metric] if metric else []
    names += [m for m in MAIN_METRICS if m != metric and (m in champion or m in challenger)]
    version = comparison.get("version") or focus.run.challenger_version or "—"
    holdout = fmt_count(number(comparison.get("holdout_rows")))
    intro = (
        f"Challenger {version} against champion {focus.run.champion_version or '—'}, both "
        f"measured on the same fresh holdout of {holdout} labelled rows."
    )
    parts = [_note(intro)]
    if names:
        parts.append(comparison_chart(names, champion, challenger))
        parts.append(_comparison_table(names, champion, challenger))
    parts.append(_difference(comparison, metric))
    return _section("comparison", "Champion vs challenger", "\n".join(parts))


def _comparison_table(
    names: Sequence[str], champion: Mapping[str, Any], challenger: Mapping[str, Any]
) -> str:
    rows = []
    for metric in names:
        a, b = number(champion.get(metric)), number(challenger.get(metric))
        difference = fmt(None if a is None or b is None else b - a, 4, signed=True)
        rows.append(
            f'<tr><td>{esc(metric)}</td><td class="num">{fmt(a, 4)}</td>'
            f'<td class="num">{fmt(b, 4)}</td><td class="num">{difference}</td></tr>'
        )
    return (
        '<table data-table="comparison"><thead><tr><th>metric</th><th>champion</th>'
        f"<th>challenger</th><th>challenger {MINUS} champion</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _difference(comparison: Mapping[str, Any], metric: str) -> str:
    difference = mapping_of(comparison.get("difference"))
    low, high = number(difference.get("low")), number(difference.get("high"))
    if low is None or high is None or not metric:
        return _placeholder("No interval of the difference was recorded.")
    margin = abs(number(comparison.get("margin")) or 0.0)
    interval = Interval(
        metric=metric,
        mean=number(difference.get("mean")),
        low=min(low, high),
        high=max(low, high),
        margin=-margin if lower_is_better(metric) else margin,
    )
    excludes = str(interval.excludes_zero).lower()
    return (
        f"<h3>Difference on {esc(metric)}</h3>\n{difference_chart(interval)}\n"
        f'<p class="verdict" data-excludes-zero="{excludes}">{esc(interval.verdict())}</p>'
    )


# ---------------------------------------------------------------------------- decision


def _decision_section(checks: Sequence[Check], focus: Check) -> str:
    run = focus.run
    meaning = DECISION_MEANING.get(run.decision, str(run.decision))
    recent = list(reversed(checks[-TABLE_MAX_RUNS:]))
    if focus not in recent:
        recent.append(focus)
    body = [
        f"<p>{_badge(run.decision)} {esc(meaning)}.</p>",
        f'<p class="reason"><b>Reason:</b> {esc(run.reason or "no reason given")}</p>',
        f"<h3>Recent checks ({len(recent)} of {len(checks)}, newest first)</h3>",
        _runs_table(recent, focus, chart_metric(checks, focus)),
    ]
    return _section("decision", "Decision", "\n".join(body))


def _runs_table(checks: Sequence[Check], focus: Check, metric: str | None) -> str:
    head = ("time (UTC)", "decision", "champion", metric or "primary metric", "labelled rows",
            "drifted features", "challenger", "promoted")  # fmt: skip
    header = "".join(f"<th>{esc(name)}</th>" for name in head)
    rows = "".join(_run_row(check, metric, focus=check is focus) for check in checks)
    return (
        f'<div class="wide"><table class="runs" data-table="runs"><thead><tr>{header}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _run_row(check: Check, metric: str | None, *, focus: bool) -> str:
    run = check.run
    drifted = ", ".join(cut(name, 24) for name in check.drifted[:3])
    if len(check.drifted) > 3:
        drifted += f" and {len(check.drifted) - 3} more"
    cells = (
        f"<td>{check.started:%Y-%m-%d %H:%M}</td><td>{_badge(run.decision)}</td>"
        f"<td>{esc(run.champion_version or '—')}</td>"
        f'<td class="num">{fmt(check.value(metric))}</td>'
        f'<td class="num">{fmt_count(check.labelled_rows)}</td>'
        f"<td>{esc(drifted)}</td><td>{esc(run.challenger_version or '')}</td>"
        f"<td>{'yes' if run.promoted else ''}</td>"
    )
    marked = ' class="focus"' if focus else ""
    return f'<tr{marked} data-run="{esc(run.run_id)}">{cells}</tr>'
