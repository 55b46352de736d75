"""What the report's charts are drawn with: colours, number and time formatting, SVG elements,
scales and axes. Pure text building: no data of a check is read here."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

# Colours: every text colour has a contrast of at least 4.5:1 on white, or on its badge.
INK, MUTED, GRID, AXIS = "#1f2328", "#57606a", "#e4e7eb", "#8c959f"
CHAMPION, CHALLENGER, SCORE = "#2f6db5", "#b35900", "#6f42c1"
NORMAL_BAR, DRIFTED_BAR, THRESHOLD = "#5b8dc9", "#cf222e", "#1f2328"
GREEN, BLUE, AMBER, RED, GREY = "#1a7f37", "#0b57d0", "#9a6700", "#b42318", "#57606a"

MINUS = "\u2212"
WIDTH = 880  # of every chart, in SVG units (CSS pixels unless the page is narrower)
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Helvetica, Arial, sans-serif"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LABEL_MAX_CHARS = 30  # longer feature names are cut in charts (whole in tooltips and tables)


def as_utc(moment: datetime) -> datetime:
    """Aware times in UTC; naive ones are taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cut(text: str, limit: int = LABEL_MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------------- SVG elements


def coord(value: float) -> str:
    """An SVG coordinate."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _attrs(attrs: Mapping[str, object]) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        shown = coord(value) if isinstance(value, float) else value
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
        parts.append(f'<g transform="translate({coord(x)} {coord(y)})">{swatch}</g>')
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
    middle = coord((scale.start + scale.end) / 2)
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
    def spanning(cls, start: datetime, end: datetime, left: float, right: float) -> TimeFrame:
        """From the first instant drawn to the last, padded."""
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
