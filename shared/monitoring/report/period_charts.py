"""The charts of a check's per-period table, drawn like nannyml's chunked plots: one value per
period of the data's time, left to right, with the threshold that makes it alert, and the
periods that alerted in red.

    performance_chart   realized metric, estimated metric with its ± 3 sampling errors band,
                        the test value at training and the alert limit
    drift_chart         one small chart per feature (the worst first) and the score: the
                        drift statistic per period against its threshold
    rows_chart          predictions and labelled rows per period
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.monitoring.report.checks import direction, mapping_of, number
from shared.monitoring.report.svg import (
    AXIS,
    CHAMPION,
    GRID,
    INK,
    MUTED,
    RED,
    SCORE,
    THRESHOLD,
    Scale,
    box_swatch,
    coord,
    cut,
    esc,
    fmt,
    fmt_count,
    legend,
    line,
    line_swatch,
    nice_ticks,
    plot_area,
    rect,
    svg,
    tag,
    text,
    y_axis,
)

ESTIMATE = "#0b7285"
BAND = "#c5e8ee"
DRIFT_MAX_FEATURE_CHARTS = 8
LEFT, RIGHT = 70, 860
# The order alerts are listed in, whatever order a stored run's JSON has them in.
_MEASURES = ("performance", "estimated_performance", "drift")


@dataclass(frozen=True)
class PeriodPoint:
    """One row of the per-period table, read defensively: any number may be missing."""

    start: date
    rows: float | None
    labelled_rows: float | None
    realized: Mapping[str, float | None]
    estimated: Mapping[str, tuple[float, float | None]]  # metric → (value, sampling error)
    drift_values: Mapping[str, float | None]  # of the judging statistic, per feature
    score_drift: float | None
    drift_threshold: float | None
    statistic: str
    drifted: tuple[str, ...]
    alerts: Mapping[str, str]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> PeriodPoint | None:
        try:
            start = date.fromisoformat(str(row.get("start")))
        except ValueError:
            return None
        drift = mapping_of(row.get("drift"))
        statistic = str(drift.get("statistic") or "psi")
        estimated = {}
        for name, found in mapping_of(row.get("estimated")).items():
            value = number(mapping_of(found).get("value"))
            if value is not None:
                estimated[str(name)] = (value, number(mapping_of(found).get("sampling_error")))
        listed = drift.get("drifted")
        return cls(
            start=start,
            rows=number(row.get("rows")),
            labelled_rows=number(row.get("labelled_rows")),
            realized={str(k): number(v) for k, v in mapping_of(row.get("realized")).items()},
            estimated=estimated,
            drift_values={str(k): number(v) for k, v in mapping_of(drift.get(statistic)).items()},
            score_drift=number(drift.get(f"score_{statistic}")),
            drift_threshold=number(drift.get("threshold")),
            statistic=statistic,
            drifted=tuple(str(n) for n in listed) if isinstance(listed, list | tuple) else (),
            alerts=dict(sorted(
                ((str(k), str(v)) for k, v in mapping_of(row.get("alerts")).items()),
                key=lambda item: (_MEASURES.index(item[0]) if item[0] in _MEASURES else 9, item),
            )),
        )  # fmt: skip


def period_points(periods: Sequence[Any]) -> list[PeriodPoint]:
    points = [PeriodPoint.of(mapping_of(row)) for row in periods]
    return sorted((p for p in points if p is not None), key=lambda p: p.start)


def period_label(start: date, period: str | None) -> str:
    return f"{start:%Y-%m}" if period == "month" else f"{start:%Y-%m-%d}"


class PeriodAxis:
    """The x scale over periods: one slot each, the period's value at the slot's middle."""

    def __init__(self, points: Sequence[PeriodPoint], period: str | None) -> None:
        self.points = points
        self.period = period
        self.step = (RIGHT - LEFT) / max(len(points), 1)

    def __call__(self, index: int) -> float:
        return LEFT + self.step * (index + 0.5)

    def axis(self, top: float, bottom: float, *, labels: bool = True) -> str:
        parts = [line(LEFT, bottom, RIGHT, bottom, AXIS)]
        every = max(1, -(-len(self.points) // 12))  # at most 12 labels
        for index, point in enumerate(self.points):
            x = self(index)
            parts.append(line(x, top, x, bottom, GRID))
            if labels and index % every == 0:
                parts.append(text(x, bottom + 16, period_label(point.start, self.period),
                                  text_anchor="middle", size=11))  # fmt: skip
        return "".join(parts)


def _path(xs: Sequence[float], ys: Sequence[float | None], colour: str, mark: str,
          dash: str | None = None) -> str:  # fmt: skip
    commands, joined = [], False
    for x, y in zip(xs, ys, strict=True):
        if y is not None:
            commands.append(f"{'L' if joined else 'M'}{coord(x)} {coord(y)}")
        joined = y is not None
    if not commands:
        return ""
    return tag("path", d=" ".join(commands), fill="none", stroke=colour, stroke_width=2,
               stroke_dasharray=dash, stroke_linejoin="round", data_mark=mark)  # fmt: skip


def _hline(y: float, colour: str, mark: str, value: float, dash: str) -> str:
    return line(LEFT, y, RIGHT, y, colour, stroke_width=1.5, stroke_dasharray=dash,
                data_mark=mark, data_value=repr(value))  # fmt: skip


def performance_chart(
    points: Sequence[PeriodPoint],
    metric: str,
    *,
    period: str | None,
    test_value: float | None,
    limit: float | None,
) -> str:
    top, bottom = 40, 270
    axis = PeriodAxis(points, period)
    realized = [p.realized.get(metric) for p in points]
    estimated = [p.estimated.get(metric) for p in points]
    lows = [None if e is None or e[1] is None else e[0] - 3 * e[1] for e in estimated]
    highs = [None if e is None or e[1] is None else e[0] + 3 * e[1] for e in estimated]
    known = [v for v in realized + [e[0] if e else None for e in estimated] if v is not None]
    known += [v for v in lows + highs + [test_value, limit] if v is not None]
    pad = (max(known) - min(known)) * 0.08
    ticks = nice_ticks(min(known) - pad, max(known) + pad)
    y = Scale(ticks[0], ticks[-1], bottom, top)
    xs = [axis(i) for i in range(len(points))]
    parts = [
        plot_area(LEFT, top, RIGHT - LEFT, bottom - top),
        y_axis(y, ticks, LEFT, RIGHT, f"{metric} ({direction(metric)})".removesuffix(" ()")),
        axis.axis(top, bottom),
        _band(xs, lows, highs, y),
    ]
    if test_value is not None:
        parts.append(_hline(y(test_value), MUTED, "reference", test_value, "2 3"))
    if limit is not None:
        parts.append(_hline(y(limit), RED, "limit", limit, "6 4"))
    parts.append(_path(xs, [None if e is None else y(e[0]) for e in estimated], ESTIMATE,
                       "estimated-line", "5 3"))  # fmt: skip
    parts.append(_path(xs, [None if v is None else y(v) for v in realized], CHAMPION,
                       "realized-line"))  # fmt: skip
    for index, point in enumerate(points):
        label = period_label(point.start, period)
        estimate = estimated[index]
        if estimate is not None:
            error = "" if estimate[1] is None else f" ± {fmt(3 * estimate[1], 4)}"
            alerted = "estimated_performance" in point.alerts
            tip = tag("title", esc(f"{label}: estimated {metric} {fmt(estimate[0], 4)}{error}"))
            parts.append(tag("circle", tip, cx=xs[index], cy=y(estimate[0]), r=4.0,
                             fill="#ffffff", stroke=RED if alerted else ESTIMATE, stroke_width=2,
                             data_mark="estimated", data_value=repr(estimate[0]),
                             data_alert="" if alerted else None))  # fmt: skip
        value = realized[index]
        if value is not None:
            alerted = "performance" in point.alerts
            tip = tag("title", esc(f"{label}: {metric} {fmt(value, 4)} on "
                                   f"{fmt_count(point.labelled_rows)} labelled rows"))  # fmt: skip
            alert = "" if alerted else None
            parts.append(tag("circle", tip, cx=xs[index], cy=y(value), r=4.5,
                             fill=RED if alerted else CHAMPION, data_mark="realized",
                             data_value=repr(value), data_alert=alert))  # fmt: skip
    parts.append(legend(LEFT, 16, [
        (line_swatch(CHAMPION), "realized"),
        (line_swatch(ESTIMATE, "5 3"), "estimated (CBPE)"),
        (box_swatch(BAND), "± 3 sampling errors"),
        (line_swatch(RED, "6 4"), "alert limit"),
        (line_swatch(MUTED, "2 3"), "at training"),
    ]))  # fmt: skip
    label = (
        f"Line chart of the champion's {metric} per period of the data's time, realized where "
        "labels arrived and estimated from the scores with its uncertainty band, against the "
        "alert limit; periods that alerted are red"
    )
    return svg("period-performance", 300, label, parts)


def _band(
    xs: Sequence[float], lows: Sequence[float | None], highs: Sequence[float | None], y: Scale
) -> str:
    """The band between low and high, one polygon per run of periods that have both."""
    runs: list[list[int]] = [[]]
    for index, (low, high) in enumerate(zip(lows, highs, strict=True)):
        if low is None or high is None:
            runs.append([])
        else:
            runs[-1].append(index)
    parts = []
    for run in (r for r in runs if r):
        half = (xs[1] - xs[0]) / 2 if len(xs) > 1 else 20.0
        left_edge = [xs[run[0]] - half * 0.6, *(xs[i] for i in run), xs[run[-1]] + half * 0.6]
        upper = [highs[run[0]], *(highs[i] for i in run), highs[run[-1]]]
        lower = [lows[run[0]], *(lows[i] for i in run), lows[run[-1]]]
        points = [f"{coord(x)},{coord(y(v))}" for x, v in zip(left_edge, upper, strict=True)
                  if v is not None]  # fmt: skip
        points += [f"{coord(x)},{coord(y(v))}"
                   for x, v in reversed(list(zip(left_edge, lower, strict=True)))
                   if v is not None]  # fmt: skip
        parts.append(tag("polygon", points=" ".join(points), fill=BAND, data_mark="band"))
    return "".join(parts)


def drift_charts(points: Sequence[PeriodPoint], *, period: str | None) -> tuple[str, int]:
    """Small charts of the drift statistic per period: the score's, then the features' worst
    first (at most DRIFT_MAX_FEATURE_CHARTS); and how many features there are in all."""
    names = sorted(
        {name for p in points for name in p.drift_values},
        key=lambda name: (-max((p.drift_values.get(name) or 0.0) for p in points), name),
    )
    charts = []
    if any(p.score_drift is not None for p in points):
        charts.append(_drift_chart(points, "model score", [p.score_drift for p in points],
                                   period=period, score=True))  # fmt: skip
    for name in names[:DRIFT_MAX_FEATURE_CHARTS]:
        values = [p.drift_values.get(name) for p in points]
        charts.append(_drift_chart(points, name, values, period=period, score=False))
    return "\n".join(charts), len(names)


def _drift_chart(
    points: Sequence[PeriodPoint],
    name: str,
    values: Sequence[float | None],
    *,
    period: str | None,
    score: bool,
) -> str:
    top, bottom = 28, 118
    axis = PeriodAxis(points, period)
    thresholds = [p.drift_threshold for p in points if p.drift_threshold is not None]
    threshold = thresholds[-1] if thresholds else None
    statistic = points[-1].statistic if points else "psi"
    known = [v for v in values if v is not None] + ([threshold] if threshold else []) + [0.01]
    ticks = nice_ticks(0.0, max(known) * 1.1, 3)
    y = Scale(0.0, ticks[-1], bottom, top)
    xs = [axis(i) for i in range(len(points))]
    colour = SCORE if score else CHAMPION
    parts = [
        plot_area(LEFT, top, RIGHT - LEFT, bottom - top),
        y_axis(y, ticks, LEFT, RIGHT, "JS" if statistic == "jensen_shannon" else "PSI"),
        axis.axis(top, bottom),
        text(
            LEFT,
            18,
            cut(name, 60),
            fill=INK,
            font_weight=600,
            font_style="italic" if score else None,
        ),
    ]
    if threshold is not None:
        parts.append(_hline(y(threshold), THRESHOLD, "threshold", threshold, "5 3"))
    parts.append(_path(xs, [None if v is None else y(v) for v in values], colour, "line"))
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        if value is None:
            continue
        drifted = threshold is not None and value >= threshold
        tip = tag("title", esc(f"{period_label(point.start, period)}: {name} {statistic} "
                               f"{fmt(value, 4)}{' (drifted)' if drifted else ''}"))  # fmt: skip
        parts.append(tag("circle", tip, cx=xs[index], cy=y(value), r=3.5,
                         fill=RED if drifted else colour, data_mark="point",
                         data_feature=name, data_value=repr(value),
                         data_alert="" if drifted else None))  # fmt: skip
    label = (
        f"Line chart of the {statistic.replace('_', '-')} drift of {name} per period against "
        f"its threshold {fmt(threshold)}; drifted periods are red"
    )
    return svg("period-drift", 142, label, parts)


def rows_chart(points: Sequence[PeriodPoint], *, period: str | None) -> str:
    top, bottom = 30, 130
    axis = PeriodAxis(points, period)
    counts = [p.rows or 0.0 for p in points]
    ticks = nice_ticks(0.0, max([*counts, 1.0]), 3)
    y = Scale(0.0, ticks[-1], bottom, top)
    width = min(28.0, axis.step * 0.35)
    parts = [
        plot_area(LEFT, top, RIGHT - LEFT, bottom - top),
        y_axis(y, ticks, LEFT, RIGHT, "rows"),
        axis.axis(top, bottom),
    ]
    for index, point in enumerate(points):
        x = axis(index)
        label = period_label(point.start, period)
        for offset, value, colour, mark, what in (
            (-width, point.rows, MUTED, "rows", "predictions"),
            (0.0, point.labelled_rows, CHAMPION, "labelled", "labelled rows"),
        ):
            if value is None:
                continue
            height = bottom - y(value)
            parts.append(rect(x + offset, bottom - height, width, height, colour,
                              tip=f"{label}: {fmt_count(value)} {what}", data_mark=mark,
                              data_value=repr(value)))  # fmt: skip
    parts.append(legend(LEFT, 14, [(box_swatch(MUTED), "predictions"),
                                   (box_swatch(CHAMPION), "labelled")]))  # fmt: skip
    label = "Bar chart of the predictions and labelled rows in each period of the data's time"
    return svg("period-rows", 156, label, parts)
