"""The report's charts, each an `<svg role="img" data-chart="NAME">` with an aria-label and a
<title>; drawn marks carry `data-mark` (and `data-value`, the number drawn) and the plot area is
the `<rect data-plot-area>`, so tests can find and measure them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.monitoring.record import Decision
from shared.monitoring.report.checks import (
    Check,
    direction,
    number,
)
from shared.monitoring.report.svg import (
    AXIS,
    BLUE,
    CHALLENGER,
    CHAMPION,
    DRIFTED_BAR,
    GREEN,
    GREY,
    GRID,
    INK,
    MINUS,
    MUTED,
    NORMAL_BAR,
    RED,
    SCORE,
    THRESHOLD,
    Scale,
    TimeFrame,
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
    tick_label,
    y_axis,
)

DRIFT_MAX_BARS = 50  # features drawn as bars (the table lists them all)


# ---------------------------------------------------------------------------- metrics over time


def metric_history_chart(checks: Sequence[Check], metric: str, focus: Check) -> str:
    left, right, top, bottom = 70, 860, 40, 284
    frame = TimeFrame.spanning(checks[0].started, checks[-1].started, left, right)
    values = [c.value(metric) for c in checks]
    references = [c.test_value if c.primary_metric == metric else None for c in checks]
    known = [v for v in values + references if v is not None]
    pad = (max(known) - min(known)) * 0.08
    ticks = nice_ticks(min(known) - pad, max(known) + pad)
    y = Scale(ticks[0], ticks[-1], bottom, top)
    xs = [frame(c.started) for c in checks]
    parts = [
        plot_area(left, top, right - left, bottom - top),
        y_axis(y, ticks, left, right, f"{metric} ({direction(metric)})".removesuffix(" ()")),
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
            commands.append(f"{'L' if joined else 'M'}{coord(x)} {coord(y)}")
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
            commands.append(f"V{coord(y)}")
        else:  # a step on its own is drawn 16 units wide
            commands.append(f"M{coord(x if has_next else x - 8)} {coord(y)}")
        commands.append(f"H{coord(xs[i + 1] if has_next else x + 8)}")
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
            parts.append(tag("path", d=f"M{coord(x - 5)} {coord(top)} h10 l-5 8 z", fill=BLUE))
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
    frame = TimeFrame.spanning(checks[0].started, checks[-1].started, left, right)
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
    label = text(x.start - 8, y + 11, cut(name), text_anchor="end", fill=INK, font_style=style)
    if value is None:
        return label + text(x.start + 6, y + 11, "not measured", font_style="italic")
    colour = SCORE if kind == "score" else DRIFTED_BAR if drifted else NORMAL_BAR
    width = max(x(max(value, 0.0)) - x.start, 0.0)
    tip = f"{name}: PSI {fmt(value)}{' (drifted)' if drifted else ''}"
    bar = rect(x.start, y, width, 14, colour, tip=tip, data_mark="score-bar" if kind == "score"
               else "bar", data_feature=name, data_value=repr(value),
               data_drifted="" if drifted else None)  # fmt: skip
    return label + bar + text(x.start + width + 5, y + 11, fmt(value), fill=INK)


# ---------------------------------------------------------------------------- challenger


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
        parts.append(text(left - 8, y + 29, direction(metric), text_anchor="end", size=11))
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
