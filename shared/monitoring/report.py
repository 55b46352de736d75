"""The monitoring report: one self-contained HTML page about the checks of a model's champion.

    render_report(model_name, runs, generated_at=..., focus_run_id=None) -> str

The page has no script and makes no request: its CSS is inline and its charts are inline SVG
drawn here, so it opens offline, as an email attachment or straight from a bucket. It is about
one check (the focused run, by default the latest) set against the history of checks:

    header                  model, decision badge and reason, champion, trigger, challenger
    Metrics over time       the champion's primary metric per check, its test value at training
                            (dashed), promotions; labelled rows per check
    Drift per feature       PSI per feature of the focused check against its threshold, the
                            score's PSI, a table; PSI per feature over the last checks
    Champion vs challenger  both models' metrics on the same holdout, and the bootstrap interval
                            of the difference on a number line with zero and the margin
    Decision                what was decided and why; the recent checks in a table

Every chart is an `<svg role="img" data-chart="NAME">` with an aria-label and a <title>; its
drawn marks carry `data-mark` (and `data-value`, the number they draw) and its plot area is the
`<rect data-plot-area>`, so tests can find and measure them. Every value from a run is escaped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from shared.monitoring.record import Decision, MonitoringRun

__all__ = ["render_report"]

# Metrics where lower is better; the others are higher-is-better. The same split as
# shared.training.metrics.HIGHER_IS_BETTER (a test holds them equal), which is not imported
# because it brings numpy and pandas.
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "expected_cost"})
# The metrics compared side by side, in this order after the primary metric.
MAIN_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "log_loss", "brier", "expected_cost")
MAIN_METRICS += ("f1", "precision", "recall")
HISTORY_MAX_RUNS = 200  # checks drawn in the charts over time
TABLE_MAX_RUNS = 30  # checks listed in the table of recent checks
HEATMAP_MAX_RUNS = 12  # checks in the PSI heat map
DRIFT_MAX_BARS = 50  # features drawn as bars (the table lists them all)
LABEL_MAX_CHARS = 30  # longer feature names are cut in charts (whole in tooltips and tables)

# Colours: every text colour has a contrast of at least 4.5:1 on white, or on its badge.
INK, MUTED, GRID, AXIS = "#1f2328", "#57606a", "#e4e7eb", "#8c959f"
CHAMPION, CHALLENGER, SCORE = "#2f6db5", "#b35900", "#6f42c1"
NORMAL_BAR, DRIFTED_BAR, THRESHOLD = "#5b8dc9", "#cf222e", "#1f2328"
GREEN, BLUE, AMBER, RED, GREY = "#1a7f37", "#0b57d0", "#9a6700", "#b42318", "#57606a"
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
MINUS = "\u2212"
WIDTH = 880  # of every chart, in SVG units (CSS pixels unless the page is narrower)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Helvetica, Arial, sans-serif"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        _metrics_section(checks, focus),
        _drift_section(checks, focus),
        _comparison_section(focus),
        _decision_section(checks, focus),
    ]
    return _page(model_name, generated_at, "\n".join(sections))


# ---------------------------------------------------------------------------- a run's numbers


@dataclass(frozen=True)
class Check:
    """A run with the numbers the report draws, read defensively: any may be missing."""

    run: MonitoringRun
    started: datetime  # UTC
    primary_metric: str | None
    values: Mapping[str, float | None]
    test_value: float | None
    labelled_rows: float | None
    psi: Mapping[str, float | None]
    score_psi: float | None
    threshold: float | None
    drifted: tuple[str, ...]

    @classmethod
    def of(cls, run: MonitoringRun) -> Check:
        metrics, drift = _mapping(run.metrics), _mapping(run.drift)
        psi = {str(k): number(v) for k, v in _mapping(drift.get("psi")).items()}
        threshold = number(drift.get("threshold"))
        listed = drift.get("drifted")
        if isinstance(listed, list | tuple):
            drifted = tuple(str(name) for name in listed)
        else:  # not recorded: judged here against the threshold
            drifted = tuple(
                name
                for name, value in sorted(psi.items(), key=_worst_first)
                if value is not None and threshold is not None and value >= threshold
            )
        primary = metrics.get("primary_metric")
        primary = primary or _mapping(run.challenger_metrics).get("primary_metric")
        return cls(
            run=run,
            started=as_utc(run.started_at),
            primary_metric=str(primary) if primary else None,
            values={str(k): number(v) for k, v in _mapping(metrics.get("values")).items()},
            test_value=number(metrics.get("test_value")),
            labelled_rows=number(metrics.get("labelled_rows")),
            psi=psi,
            score_psi=number(drift.get("score_psi")),
            threshold=threshold,
            drifted=drifted,
        )

    def value(self, metric: str | None) -> float | None:
        return self.values.get(metric) if metric else None


def number(value: object) -> float | None:
    """A finite float, or None for a missing, non-numeric, NaN or infinite value."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        result = float(value)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def as_utc(moment: datetime) -> datetime:
    """Aware times in UTC; naive ones are taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _worst_first(item: tuple[str, float | None]) -> tuple[bool, float, str]:
    name, value = item
    return (value is None, -(value or 0.0), name)


def _chart_metric(checks: Sequence[Check], focus: Check) -> str | None:
    """The metric drawn over time: the focused check's primary metric, else the most common."""
    if focus.primary_metric:
        return focus.primary_metric
    named = Counter(c.primary_metric for c in checks if c.primary_metric)
    return named.most_common(1)[0][0] if named else None


def _direction(metric: str) -> str:
    return "lower is better" if metric in LOWER_IS_BETTER else "higher is better"


# ---------------------------------------------------------------------------- formatting


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def fmt(value: float | None, places: int = 3, *, signed: bool = False) -> str:
    """A number for people: an em dash when missing, thousands separated when large."""
    if value is None:
        return "—"
    sign = "+" if signed else ""
    if abs(value) >= 1000:
        text = f"{value:{sign},.0f}"
    elif abs(value) >= 100:
        text = f"{value:{sign}.1f}"
    else:
        text = f"{value:{sign}.{places}f}"
    return text.replace("-", MINUS)


def fmt_time(moment: datetime, *, seconds: bool = False) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def fmt_count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _cut(text: str, limit: int = LABEL_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------- SVG elements


def _n(value: float) -> str:
    """An SVG coordinate."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _attrs(attrs: Mapping[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        shown = _n(value) if isinstance(value, float) else value
        parts.append(f' {name}="{esc(shown)}"')
    return "".join(parts)


def tag(name: str, content: str = "", /, **attrs: object) -> str:
    """An element; attribute names lose a trailing '_' and have '-' for '_'; values escaped."""
    if not content:
        return f"<{name}{_attrs(attrs)}/>"
    return f"<{name}{_attrs(attrs)}>{content}</{name}>"


def text(x: float, y: float, content: str, *, size: int = 12, **attrs: object) -> str:
    """SVG text; `content` is escaped here."""
    attrs.setdefault("fill", MUTED)
    return tag("text", esc(content), x=float(x), y=float(y), font_size=size, **attrs)


def line(x1: float, y1: float, x2: float, y2: float, colour: str, **attrs: object) -> str:
    ends = {"x1": float(x1), "y1": float(y1), "x2": float(x2), "y2": float(y2)}
    return tag("line", **ends, stroke=colour, **attrs)


def rect(x: float, y: float, width: float, height: float, fill: str, **attrs: object) -> str:
    tip = attrs.pop("tip", None)
    content = tag("title", esc(tip)) if tip else ""
    return tag("rect", content, x=float(x), y=float(y), width=float(width), height=float(height),
               fill=fill, **attrs)  # fmt: skip


def svg(name: str, height: float, label: str, body: Iterable[str]) -> str:
    """A chart: role img, its label as aria-label and <title>, `data-chart` naming it."""
    content = tag("title", esc(label)) + "".join(body)
    height = math.ceil(height)
    return tag("svg", content, viewBox=f"0 0 {WIDTH} {height}",
               width=WIDTH, height=height, role="img", aria_label=label, data_chart=name,
               font_family=FONT)  # fmt: skip


def plot_area(x: float, y: float, width: float, height: float) -> str:
    return rect(x, y, width, height, "#ffffff", stroke=GRID, data_plot_area="")


def legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> str:
    """A row of legend entries: a swatch (an SVG fragment drawn at its origin), a caption."""
    parts = []
    for swatch, caption in items:
        parts.append(f'<g transform="translate({_n(x)} {_n(y)})">{swatch}</g>')
        parts.append(text(x + 26, y + 4, caption, fill=INK))
        x += 40 + 7 * len(caption)
    return "".join(parts)


def line_swatch(colour: str, dash: str | None = None) -> str:
    return line(0, 0, 20, 0, colour, stroke_width=2, stroke_dasharray=dash)


def box_swatch(colour: str) -> str:
    return rect(2, -6, 16, 12, colour)


# ---------------------------------------------------------------------------- scales and axes


@dataclass(frozen=True)
class Scale:
    """A linear map from the domain [lo, hi] to the pixels [start, end]."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: the first at or below lo, the last at or above hi."""
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks: list[float] = []
    while not ticks or ticks[-1] < hi - step * 1e-9:
        ticks.append(round(first + len(ticks) * step, 12))
    return ticks


def tick_label(value: float, ticks: Sequence[float]) -> str:
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    places = max(0, -math.floor(math.log10(step) + 1e-9))
    places += 1 if f"{step:g}".rstrip("0").endswith("25") else 0
    label = f"{value:,.0f}" if places == 0 else f"{value:.{places}f}"
    return label.replace("-", MINUS)


TIME_STEPS = tuple(
    hours * 3600 for hours in (1, 3, 6, 12, 24, 48, 168, 336, 720, 1440, 2184, 4368, 8760, 17520)
)


def time_ticks(start: datetime, end: datetime, count: int = 6) -> tuple[list[datetime], str]:
    """Round instants between start and end, and the strftime format that labels them."""
    span = max((end - start).total_seconds(), 1.0)
    step = next((s for s in TIME_STEPS if span / s <= count), TIME_STEPS[-1])
    at = math.ceil((start - EPOCH).total_seconds() / step) * step
    ticks = []
    while at <= (end - EPOCH).total_seconds():
        ticks.append(EPOCH + timedelta(seconds=at))
        at += step
    return ticks, "%m-%d %H:%M" if step < 86400 else "%Y-%m-%d"


def y_axis(scale: Scale, ticks: Sequence[float], left: float, right: float, title: str) -> str:
    parts = []
    for value in ticks:
        y = scale(value)
        parts.append(line(left, y, right, y, GRID))
        parts.append(text(left - 6, y + 4, tick_label(value, ticks), text_anchor="end"))
    middle = _n((scale.start + scale.end) / 2)
    parts.append(text(0, 16, title, transform=f"translate(0 {middle}) rotate(-90)",
                      text_anchor="middle", fill=INK))  # fmt: skip
    return "".join(parts)


@dataclass(frozen=True)
class TimeFrame:
    """The x scale of the charts over time: the checks' span, padded, onto [left, right]."""

    start: datetime
    end: datetime
    left: float
    right: float

    @classmethod
    def of(cls, checks: Sequence[Check], left: float, right: float) -> TimeFrame:
        start, end = checks[0].started, checks[-1].started
        pad = max((end - start) * 0.03, timedelta(hours=12))
        return cls(start - pad, end + pad, left, right)

    def __call__(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        return self.left + (moment - self.start).total_seconds() / span * (self.right - self.left)

    def axis(self, top: float, bottom: float, title: str | None = None) -> str:
        ticks, form = time_ticks(self.start, self.end)
        parts = [line(self.left, bottom, self.right, bottom, AXIS)]
        if title:
            middle = (self.left + self.right) / 2
            parts.append(text(middle, bottom + 34, title, text_anchor="middle", fill=INK))
        for moment in ticks:
            x = self(moment)
            parts.append(line(x, top, x, bottom, GRID))
            parts.append(text(x, bottom + 16, moment.strftime(form), text_anchor="middle"))
        return "".join(parts)


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
        started += f", took {_duration(took)}"
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


# ---------------------------------------------------------------------------- metrics over time


def _metrics_section(checks: Sequence[Check], focus: Check) -> str:
    metric = _chart_metric(checks, focus)
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


def metric_history_chart(checks: Sequence[Check], metric: str, focus: Check) -> str:
    left, right, top, bottom = 70, 860, 40, 284
    frame = TimeFrame.of(checks, left, right)
    values = [c.value(metric) for c in checks]
    references = [c.test_value if c.primary_metric == metric else None for c in checks]
    known = [v for v in values + references if v is not None]
    pad = (max(known) - min(known)) * 0.08
    ticks = nice_ticks(min(known) - pad, max(known) + pad)
    y = Scale(ticks[0], ticks[-1], bottom, top)
    xs = [frame(c.started) for c in checks]
    parts = [
        plot_area(left, top, right - left, bottom - top),
        y_axis(y, ticks, left, right, f"{metric} ({_direction(metric)})"),
        frame.axis(top, bottom, "date of the check (UTC)"),
        _promotions(checks, xs, top, bottom),
        _reference_path(xs, [None if v is None else y(v) for v in references]),
        _line_path(xs, [None if v is None else y(v) for v in values]),
        _points(checks, xs, [None if v is None else y(v) for v in values], metric, focus),
        legend(left, 16, [
            (line_swatch(CHAMPION), f"{metric} on the labelled window"),
            (line_swatch(MUTED, "6 4"), "on the test split at training"),
            (line_swatch(BLUE), "promotion"),
        ]),
    ]  # fmt: skip
    label = (
        f"Line chart of the champion's {metric} at each check from {checks[0].started:%Y-%m-%d} "
        f"to {checks[-1].started:%Y-%m-%d}, with its test value at training as a dashed line "
        "and promotions as vertical lines"
    )
    return svg("metric-history", 328, label, parts)


def _line_path(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """The line through the values, broken where a value is missing."""
    commands, joined = [], False
    for x, y in zip(xs, ys, strict=True):
        if y is not None:
            commands.append(f"{'L' if joined else 'M'}{_n(x)} {_n(y)}")
        joined = y is not None
    return tag("path", d=" ".join(commands), fill="none", stroke=CHAMPION, stroke_width=2,
               stroke_linejoin="round", data_mark="line")  # fmt: skip


def _reference_path(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """The test value as steps: it holds from one check to the next and moves on promotion."""
    commands = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y is None:
            continue
        has_next = i + 1 < len(ys) and ys[i + 1] is not None
        if i > 0 and ys[i - 1] is not None:
            commands.append(f"V{_n(y)}")
        else:  # a step on its own is drawn 16 units wide
            commands.append(f"M{_n(x if has_next else x - 8)} {_n(y)}")
        commands.append(f"H{_n(xs[i + 1] if has_next else x + 8)}")
    if not commands:
        return ""
    return tag("path", d=" ".join(commands), fill="none", stroke=MUTED, stroke_width=1.5,
               stroke_dasharray="6 4", data_mark="reference")  # fmt: skip


def _promotions(checks: Sequence[Check], xs: Sequence[float], top: float, bottom: float) -> str:
    parts = []
    for check, x in zip(checks, xs, strict=True):
        if check.run.decision == Decision.PROMOTED:
            version = check.run.challenger_version or "a challenger"
            tip = tag("title", esc(f"{check.started:%Y-%m-%d %H:%M}: promoted {version}"))
            parts.append(tag("g", line(x, top, x, bottom, BLUE, stroke_width=1.5) + tip,
                             data_mark="promotion"))  # fmt: skip
            parts.append(tag("path", d=f"M{_n(x - 5)} {_n(top)} h10 l-5 8 z", fill=BLUE))
    return "".join(parts)


def _points(
    checks: Sequence[Check],
    xs: Sequence[float],
    ys: Sequence[float | None],
    metric: str,
    focus: Check,
) -> str:
    parts = []
    radius = 3.5 if len(checks) <= 60 else 2.0
    for check, x, y in zip(checks, xs, ys, strict=True):
        value = check.value(metric)
        if y is None or value is None:
            continue
        tip = tag("title", esc(f"{check.started:%Y-%m-%d %H:%M}: {metric} {fmt(value)}"))
        ring = check is focus
        parts.append(tag("circle", tip, cx=x, cy=y, r=radius + 2 if ring else radius,
                         fill="#ffffff" if ring else CHAMPION, stroke=CHAMPION,
                         stroke_width=2 if ring else 0, data_mark="point", data_value=repr(value),
                         data_focus="" if ring else None))  # fmt: skip
    return "".join(parts)


def labelled_rows_chart(checks: Sequence[Check]) -> str:
    left, right, top, bottom = 70, 860, 12, 120
    frame = TimeFrame.of(checks, left, right)
    counts = [c.labelled_rows for c in checks]
    ticks = nice_ticks(0.0, max([c for c in counts if c is not None] + [1.0]), 3)
    y = Scale(0.0, ticks[-1], bottom, top)
    width = min(12.0, max(1.0, (right - left) / len(checks) * 0.6))
    parts = [
        plot_area(left, top, right - left, bottom - top),
        y_axis(y, ticks, left, right, "rows"),
        frame.axis(top, bottom),
    ]
    for check, count in zip(checks, counts, strict=True):
        if count is not None:
            tip = f"{check.started:%Y-%m-%d %H:%M}: {fmt_count(count)} labelled rows"
            x, height = frame(check.started), bottom - y(max(count, 0.0))
            parts.append(rect(x - width / 2, bottom - height, width, height, MUTED, tip=tip,
                              data_mark="bar", data_value=repr(count)))  # fmt: skip
    label = "Bar chart of the labelled rows each check measured the champion on, over time"
    return svg("labelled-rows", 150, label, parts)


# ---------------------------------------------------------------------------- drift


def _drift_section(checks: Sequence[Check], focus: Check) -> str:
    if not focus.psi and focus.score_psi is None:
        content = _placeholder("This check measured no drift.")
        return _section("drift", "Drift per feature", content)
    ranked = sorted(focus.psi.items(), key=_worst_first)
    drift = _mapping(focus.run.drift)
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


def drift_chart(focus: Check, ranked: Sequence[tuple[str, float | None]]) -> str:
    rows: list[tuple[str, float | None, str]] = [("model score", focus.score_psi, "score")]
    rows += [(name, value, "feature") for name, value in ranked[:DRIFT_MAX_BARS]]
    known = [v for _, v, _ in rows if v is not None] + [focus.threshold or 0.0, 0.01]
    ticks = nice_ticks(0.0, max(known), 5)
    step, left, right, top = 20, 250, 800, 44
    bottom = top + step * len(rows) + 6
    x = Scale(0.0, ticks[-1], left, right)
    parts = [plot_area(left, top, right - left, bottom - top)]
    for tick in ticks:
        parts.append(line(x(tick), top, x(tick), bottom, GRID))
        parts.append(text(x(tick), bottom + 16, tick_label(tick, ticks), text_anchor="middle"))
    parts.append(text((left + right) / 2, bottom + 34, "PSI (population stability index)",
                      text_anchor="middle", fill=INK))  # fmt: skip
    for i, (name, value, kind) in enumerate(rows):
        drifted = kind == "feature" and name in focus.drifted
        parts.append(_drift_bar(name, value, kind, x, top + i * step + 3, drifted=drifted))
    parts.append(line(10, top + step + 1.5, right, top + step + 1.5, AXIS))
    if focus.threshold is not None:
        at = x(focus.threshold)
        parts.append(line(at, top - 6, at, bottom, THRESHOLD, stroke_width=1.5,
                          stroke_dasharray="5 3", data_mark="threshold",
                          data_value=repr(focus.threshold)))  # fmt: skip
    parts.append(legend(10, 18, [
        (box_swatch(DRIFTED_BAR), "drifted"),
        (box_swatch(NORMAL_BAR), "not drifted"),
        (box_swatch(SCORE), "model score"),
        (line_swatch(THRESHOLD, "5 3"), f"threshold {fmt(focus.threshold)}"),
    ]))  # fmt: skip
    label = (
        f"Horizontal bar chart of the PSI of each feature in check {focus.run.run_id}, worst "
        f"first, with the score's PSI and a vertical line at the threshold {fmt(focus.threshold)}"
    )
    return svg("drift", bottom + 44, label, parts)


def _drift_bar(
    name: str, value: float | None, kind: str, x: Scale, y: float, *, drifted: bool
) -> str:
    style = "italic" if kind == "score" else None
    label = text(x.start - 8, y + 11, _cut(name), text_anchor="end", fill=INK, font_style=style)
    if value is None:
        return label + text(x.start + 6, y + 11, "not measured", font_style="italic")
    colour = SCORE if kind == "score" else DRIFTED_BAR if drifted else NORMAL_BAR
    width = max(x(max(value, 0.0)) - x.start, 0.0)
    tip = f"{name}: PSI {fmt(value)}{' (drifted)' if drifted else ''}"
    bar = rect(x.start, y, width, 14, colour, tip=tip, data_mark="score-bar" if kind == "score"
               else "bar", data_feature=name, data_value=repr(value),
               data_drifted="" if drifted else None)  # fmt: skip
    return label + bar + text(x.start + width + 5, y + 11, fmt(value), fill=INK)


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
    comparison = _mapping(focus.run.challenger_metrics)
    if not comparison:
        return ""
    metric = str(comparison.get("primary_metric") or focus.primary_metric or "")
    champion = _mapping(comparison.get("champion"))
    challenger = _mapping(comparison.get("challenger"))
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


def comparison_chart(
    names: Sequence[str], champion: Mapping[str, Any], challenger: Mapping[str, Any]
) -> str:
    left, right, top, group = 250, 720, 40, 44
    bottom = top + group * len(names)
    parts = [plot_area(left, top, right - left, bottom - top)]
    for i, metric in enumerate(names):
        values = (number(champion.get(metric)), number(challenger.get(metric)))
        largest = max([abs(v) for v in values if v is not None] + [1e-12])
        x = Scale(0.0, largest * 1.05, left, right)
        y = top + i * group + 6
        parts.append(text(left - 8, y + 14, metric, text_anchor="end", fill=INK, font_weight=600))
        parts.append(text(left - 8, y + 29, _direction(metric), text_anchor="end", size=11))
        parts.append(_comparison_bar("champion", CHAMPION, metric, values[0], x=x, y=y))
        parts.append(_comparison_bar("challenger", CHALLENGER, metric, values[1], x=x, y=y + 16))
    parts.append(legend(10, 18, [(box_swatch(CHAMPION), "champion"),
                                 (box_swatch(CHALLENGER), "challenger")]))  # fmt: skip
    parts.append(text(left, bottom + 18, "each metric on its own scale, from 0", size=11))
    label = (
        "Bar chart of the champion's and the challenger's metrics on the same holdout, "
        f"side by side: {', '.join(names)}"
    )
    return svg("comparison", bottom + 28, label, parts)


def _comparison_bar(
    who: str, colour: str, metric: str, value: float | None, *, x: Scale, y: float
) -> str:
    if value is None:
        return text(x.start + 6, y + 11, f"{who}: not measured", font_style="italic")
    width = max(x(abs(value)) - x.start, 0.0)
    tip = f"{who} {metric} {fmt(value, 4)}"
    bar = rect(x.start, y, width, 14, colour, tip=tip, data_mark="bar", data_model=who,
               data_metric=metric, data_value=repr(value))  # fmt: skip
    return bar + text(x.start + width + 5, y + 11, f"{fmt(value, 4)} {who}", fill=INK)


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


@dataclass(frozen=True)
class Interval:
    """The bootstrap interval of challenger - champion on a metric, and what it says."""

    metric: str
    mean: float | None
    low: float
    high: float
    margin: float  # signed: on the side of zero where the challenger is better

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def challenger_better(self) -> bool:
        return self.low > 0 if self.margin >= 0 else self.high < 0

    @property
    def beyond_margin(self) -> bool:
        return self.low > self.margin if self.margin >= 0 else self.high < self.margin

    def verdict(self) -> str:
        interval = f"[{fmt(self.low, 4, signed=True)}, {fmt(self.high, 4, signed=True)}]"
        said = f"The bootstrap interval of challenger {MINUS} champion on {self.metric}"
        said += f" is {interval}"
        if self.mean is not None:
            said += f" (mean {fmt(self.mean, 4, signed=True)})"
        if not self.excludes_zero:
            return said + ": it includes zero, so this holdout does not tell the two apart."
        side = "better" if self.challenger_better else "worse"
        said += f": it excludes zero, so the challenger is {side} on this holdout"
        if self.challenger_better:
            clears = "lies entirely beyond" if self.beyond_margin else "does not clear"
            said += f", and the interval {clears} the promotion margin of {fmt(self.margin, 4)}"
        return said + "."


def _difference(comparison: Mapping[str, Any], metric: str) -> str:
    difference = _mapping(comparison.get("difference"))
    low, high = number(difference.get("low")), number(difference.get("high"))
    if low is None or high is None or not metric:
        return _placeholder("No interval of the difference was recorded.")
    margin = abs(number(comparison.get("margin")) or 0.0)
    interval = Interval(
        metric=metric,
        mean=number(difference.get("mean")),
        low=min(low, high),
        high=max(low, high),
        margin=-margin if metric in LOWER_IS_BETTER else margin,
    )
    excludes = str(interval.excludes_zero).lower()
    return (
        f"<h3>Difference on {esc(metric)}</h3>\n{difference_chart(interval)}\n"
        f'<p class="verdict" data-excludes-zero="{excludes}">{esc(interval.verdict())}</p>'
    )


def difference_chart(interval: Interval) -> str:
    left, right, axis_y = 60, 820, 96
    points = [interval.low, interval.high, 0.0, interval.margin]
    lo, hi = min(points), max(points)
    pad = (hi - lo) * 0.15 or 0.01
    ticks = nice_ticks(lo - pad, hi + pad, 6)
    x = Scale(ticks[0], ticks[-1], left, right)
    parts = [
        plot_area(left, 30, right - left, axis_y - 30),
        line(left, axis_y, right, axis_y, AXIS),
    ]
    for value in ticks:
        label = ("+" if value > 0 else "") + tick_label(value, ticks)
        parts.append(line(x(value), axis_y, x(value), axis_y + 5, AXIS))
        parts.append(text(x(value), axis_y + 20, label, text_anchor="middle"))
    parts.append(line(x(0.0), 30, x(0.0), axis_y, INK, stroke_width=1.5, data_mark="zero"))
    parts.append(text(x(0.0), 24, "0: no difference", text_anchor="middle", fill=INK))
    if interval.margin:
        at = x(interval.margin)
        parts.append(line(at, 40, at, axis_y, BLUE, stroke_dasharray="5 3", data_mark="margin",
                          data_value=repr(interval.margin)))  # fmt: skip
        side = 1 if interval.margin > 0 else -1
        caption = f"margin {fmt(interval.margin, 4)}"
        anchor = "start" if side > 0 else "end"
        parts.append(text(at + 4 * side, 48, caption, text_anchor=anchor, fill=BLUE, size=11))
    parts.append(_interval_mark(interval, x))
    rightwards = interval.margin >= 0
    better = f"challenger better {'→' if rightwards else '←'}"
    anchor = "end" if rightwards else "start"
    parts.append(text(right if rightwards else left, 140, better, text_anchor=anchor, fill=INK))
    parts.append(text((left + right) / 2, 140, f"challenger {MINUS} champion, {interval.metric}",
                      text_anchor="middle", fill=INK))  # fmt: skip
    label = (
        f"Number line of the bootstrap interval of challenger minus champion on {interval.metric}, "
        f"from {fmt(interval.low, 4)} to {fmt(interval.high, 4)}, with zero and the promotion "
        f"margin marked: it {'excludes' if interval.excludes_zero else 'includes'} zero"
    )
    return svg("difference", 152, label, parts)


def _interval_mark(interval: Interval, x: Scale) -> str:
    colour = GREEN if interval.challenger_better else RED if interval.excludes_zero else GREY
    width = max(x(interval.high) - x(interval.low), 2.0)
    ends = {"data_low": repr(interval.low), "data_high": repr(interval.high)}
    mark = rect(x(interval.low), 64, width, 12, colour, rx=3, tip=interval.verdict(),
                data_mark="interval", **ends)  # fmt: skip
    if interval.mean is not None:
        mark += tag("circle", cx=x(interval.mean), cy=70.0, r=5.0, fill="#ffffff", stroke=INK,
                    stroke_width=2, data_mark="mean", data_value=repr(interval.mean))  # fmt: skip
    return mark


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
        _runs_table(recent, focus, _chart_metric(checks, focus)),
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
    drifted = ", ".join(_cut(name, 24) for name in check.drifted[:3])
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
