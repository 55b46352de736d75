"""The monitoring report opened in real headless Chromium: its charts are laid out and painted.

Two views of one realistic report (30 daily checks, two promotions, 19 features, a challenger):

- the measured view: a copy of the report with a small script, added here only, that records
  the page box of every `svg[data-chart]`, of its plot area and of each drawn mark
  (getBoundingClientRect) and each mark's own geometry (getBBox) into the DOM, which
  `--dump-dom` prints;
- the picture: a `--screenshot` of the shipped, script-free report at the same width, whose
  pixels inside each chart's box must not be blank, with the marks in their colours.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.monitoring.report import render_report
from shared.monitoring.report.svg import (
    CHALLENGER,
    CHAMPION,
    DRIFTED_BAR,
    NORMAL_BAR,
    RED,
    SCORE,
)
from tests.browser.conftest import Chromium, Picture, read_png
from tests.unit.test_report import GENERATED, realistic_runs

WIDTH = 1200  # the window's width: wider than the page's column, so charts are drawn 1:1
# Each name once, in the order first drawn (the periods' drift is one small chart per feature).
CHARTS = (
    "period-performance", "period-drift", "period-rows",
    "metric-history", "labelled-rows", "drift", "comparison", "difference",
)  # fmt: skip
MEASURE = """
<script>
(() => {
  const page = (r) => ({x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height});
  const own = (b) => ({x: b.x, y: b.y, width: b.width, height: b.height});
  const charts = Array.from(document.querySelectorAll("svg[data-chart]"), (svg) => ({
    name: svg.dataset.chart,
    box: page(svg.getBoundingClientRect()),
    area: page(svg.querySelector("[data-plot-area]").getBoundingClientRect()),
    texts: Array.from(svg.querySelectorAll("text"), (t) => t.getBBox().width),
    marks: Array.from(svg.querySelectorAll("[data-mark]"), (m) => ({
      mark: m.dataset.mark,
      value: m.dataset.value === undefined ? null : Number(m.dataset.value),
      low: m.dataset.low === undefined ? null : Number(m.dataset.low),
      feature: m.dataset.feature ?? null,
      model: m.dataset.model ?? null,
      metric: m.dataset.metric ?? null,
      focus: m.dataset.focus !== undefined,
      alert: m.dataset.alert !== undefined,
      bbox: own(m.getBBox()),
      box: page(m.getBoundingClientRect()),
    })),
  }));
  const out = document.createElement("pre");
  out.id = "measurements";
  out.textContent = JSON.stringify({height: document.documentElement.scrollHeight, charts});
  document.body.appendChild(out);
})();
</script>
"""


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @classmethod
    def of(cls, data: dict[str, float]) -> Box:
        return cls(data["x"], data["y"], data["width"], data["height"])

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2

    def holds(self, x: float, y: float, slack: float = 0.5) -> bool:
        return (
            self.x - slack <= x <= self.right + slack and self.y - slack <= y <= self.bottom + slack
        )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    document = render_report("loan-default", realistic_runs(), generated_at=GENERATED)
    assert "<script" not in document
    (folder / "report.html").write_text(document, encoding="utf-8")
    measured = document.replace("</body>", MEASURE + "</body>")
    (folder / "measured.html").write_text(measured, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def measured(chromium: Chromium, report: Path) -> dict[str, Any]:
    dom = chromium.run(
        f"--window-size={WIDTH},900", "--dump-dom", (report / "measured.html").as_uri()
    )
    found = re.search(r'<pre id="measurements">(.*?)</pre>', dom, re.DOTALL)
    assert found, f"the measuring script left no result; the DOM began:\n{dom[:2000]}"
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


@pytest.fixture(scope="module")
def picture(chromium: Chromium, report: Path, measured: dict[str, Any]) -> Picture:
    path = report / "report.png"
    height = int(measured["height"]) + 20
    chromium.run(
        f"--window-size={WIDTH},{height}", f"--screenshot={path}", (report / "report.html").as_uri()
    )
    shot = read_png(path)
    assert (shot.width, shot.height) == (WIDTH, height)
    return shot


def charts(measured: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {chart["name"]: chart for chart in measured["charts"]}


def marks(chart: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [mark for mark in chart["marks"] if mark["mark"] == kind]


def close(colour: tuple[int, int, int], hex_colour: str, tolerance: int = 12) -> bool:
    expected = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


# ---------------------------------------------------------------------------- layout


def test_every_chart_is_laid_out_with_marks_and_legible_text(measured: dict[str, Any]) -> None:
    found = charts(measured)
    assert tuple(found) == CHARTS
    for name, chart in found.items():
        box = Box.of(chart["box"])
        assert box.width > 600 and box.height > 100, (name, box)
        assert chart["marks"], name
        for mark in chart["marks"]:  # each drawn mark has a geometry, and sits in its chart
            bbox = mark["bbox"]
            assert bbox["width"] > 0 or bbox["height"] > 0, (name, mark)
            mark_box = Box.of(mark["box"])
            assert box.holds(mark_box.x, mark_box.y) and box.holds(mark_box.right, mark_box.bottom)
        # every label was laid out with a font: none is empty
        assert chart["texts"] and min(chart["texts"]) > 0, (name, chart["texts"])


def test_the_drift_bars_are_as_long_as_their_psi_worst_first(measured: dict[str, Any]) -> None:
    drift = charts(measured)["drift"]
    bars = marks(drift, "bar")
    assert len(bars) == 19
    values = [bar["value"] for bar in bars]
    assert values == sorted(values, reverse=True)
    widths = [bar["box"]["width"] for bar in bars]
    assert widths == sorted(widths, reverse=True) and widths[-1] > 0
    for bar in bars:  # drawn to scale from a common origin
        assert bar["box"]["x"] == pytest.approx(bars[0]["box"]["x"], abs=0.5)
        assert bar["box"]["width"] / widths[0] == pytest.approx(bar["value"] / values[0], abs=0.01)
    # the threshold line separates the drifted bars from the others
    threshold = Box.of(marks(drift, "threshold")[0]["box"])
    runs = realistic_runs()
    drifted = set(runs[-1].drift["drifted"])
    for bar in bars:
        assert (Box.of(bar["box"]).right > threshold.x) == (bar["feature"] in drifted)
    assert marks(drift, "score-bar")[0]["box"]["width"] > 0


def test_the_metric_line_stays_in_its_plot_area(measured: dict[str, Any]) -> None:
    history = charts(measured)["metric-history"]
    area = Box.of(history["area"])
    points = marks(history, "point")
    assert len(points) == 28
    for point in points:
        assert area.holds(*Box.of(point["box"]).centre), point
    # higher values are drawn higher, and time runs left to right
    centres = [Box.of(p["box"]).centre for p in points]
    assert [x for x, _ in centres] == sorted(x for x, _ in centres)
    by_value = sorted(zip([p["value"] for p in points], centres, strict=True))
    assert [y for _, (_, y) in by_value] == sorted((y for _, (_, y) in by_value), reverse=True)
    line = Box.of(marks(history, "line")[0]["box"])
    assert area.holds(line.x, line.y) and area.holds(line.right, line.bottom)
    assert len(marks(history, "promotion")) == 2
    assert marks(history, "reference")


def test_the_periods_run_left_to_right_with_alerts_past_the_limit(
    measured: dict[str, Any], picture: Picture
) -> None:
    performance = charts(measured)["period-performance"]
    area = Box.of(performance["area"])
    realized = marks(performance, "realized")
    estimated = marks(performance, "estimated")
    assert (len(realized), len(estimated)) == (8, 10)  # the last two periods have no labels yet
    centres = [Box.of(p["box"]).centre for p in estimated]
    assert all(area.holds(*c) for c in centres)
    assert [x for x, _ in centres] == sorted(x for x, _ in centres)
    limit = Box.of(marks(performance, "limit")[0]["box"])
    for point in realized:  # higher is better: an alerted value is drawn below the limit
        _, y = Box.of(point["box"]).centre
        assert (y > limit.y) == point["alert"], point
        assert close(picture.at(*Box.of(point["box"]).centre), RED if point["alert"] else CHAMPION)
    band = Box.of(marks(performance, "band")[0]["box"])
    assert band.height > 0 and area.holds(band.x, band.y)


def test_the_interval_lies_right_of_zero_and_beyond_the_margin(measured: dict[str, Any]) -> None:
    difference = charts(measured)["difference"]
    zero = Box.of(marks(difference, "zero")[0]["box"])
    margin = Box.of(marks(difference, "margin")[0]["box"])
    interval = Box.of(marks(difference, "interval")[0]["box"])
    assert zero.x < margin.x < interval.x < interval.right
    comparison = charts(measured)["comparison"]
    auc = {
        b["model"]: b["box"]["width"] for b in marks(comparison, "bar") if b["metric"] == "roc_auc"
    }
    assert auc["challenger"] > auc["champion"] > 0


# ---------------------------------------------------------------------------- pixels


def test_every_chart_is_painted(measured: dict[str, Any], picture: Picture) -> None:
    for name, chart in charts(measured).items():
        box = Box.of(chart["box"])
        region = picture.region(box.x, box.y, box.width, box.height)
        inked = np.any(region < 200, axis=2)
        colours = {tuple(p) for p in region.reshape(-1, 3)[:: max(1, region.size // 3 // 20000)]}
        assert inked.mean() > 0.01, (name, inked.mean())
        assert len(colours) > 8, (name, len(colours))
    # and the page around the charts is not all ink: a chart is not a black box
    page = picture.region(0, 0, picture.width, picture.height)
    assert np.mean(np.all(page > 240, axis=2)) > 0.5


def test_the_marks_are_painted_in_their_colours(measured: dict[str, Any], picture: Picture) -> None:
    found = charts(measured)
    drifted = set(realistic_runs()[-1].drift["drifted"])
    for bar in marks(found["drift"], "bar"):
        box = Box.of(bar["box"])
        if box.width >= 4:
            expected = DRIFTED_BAR if bar["feature"] in drifted else NORMAL_BAR
            assert close(picture.at(*box.centre), expected), (
                bar["feature"],
                picture.at(*box.centre),
            )
    score = Box.of(marks(found["drift"], "score-bar")[0]["box"])
    assert close(picture.at(*score.centre), SCORE)
    for bar in marks(found["comparison"], "bar"):
        expected = CHAMPION if bar["model"] == "champion" else CHALLENGER
        assert close(picture.at(*Box.of(bar["box"]).centre), expected)
    point = next(p for p in marks(found["metric-history"], "point") if not p["focus"])
    assert close(picture.at(*Box.of(point["box"]).centre), CHAMPION)
