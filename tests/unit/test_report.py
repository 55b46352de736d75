"""The monitoring report's HTML: structure, content, escaping and edge cases, parsed, no browser.

`realistic_runs()` builds the history the browser test (tests/browser) draws as well.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from shared.metric_table import higher_is_better
from shared.monitoring.record import Decision, MonitoringRun
from shared.monitoring.report import render_report
from shared.monitoring.report.page import BADGE_COLOURS
from shared.monitoring.report.svg import (
    DRIFTED_BAR,
    NORMAL_BAR,
    RED,
    nice_ticks,
    time_ticks,
)

GENERATED = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
FEATURES = (
    "age", "annual_income", "loan_amount", "term_months", "interest_rate", "credit_score",
    "employment_years", "debt_to_income", "revolving_utilization", "num_open_accounts",
    "num_delinquencies_2y", "months_since_last_delinquency", "num_credit_inquiries_6m",
    "home_ownership", "loan_purpose", "employment_type", "region", "application_channel",
    "has_cosigner",
)  # fmt: skip
XSS = "<script>alert(1)</script>"


# ---------------------------------------------------------------------------- data


def metrics(value: float | None, *, test_value: float = 0.84, rows: int = 1500) -> dict[str, Any]:
    values = {} if value is None else {"roc_auc": value, "pr_auc": value - 0.35, "log_loss": 0.41}
    return {
        "labelled_rows": rows,
        "window_days": 30,
        "period": "month",
        "alert_limit": test_value - 0.03,
        "recent_periods": 3,
        "alert_periods": 2,
        "primary_metric": "roc_auc",
        "values": values,
        "test_value": test_value,
        "drop": None if value is None else round(test_value - value, 4),
        "age_days": 12,
    }


def drift(psi: Mapping[str, float | None], *, threshold: float = 0.2) -> dict[str, Any]:
    drifted = sorted(
        (name for name, v in psi.items() if v is not None and v >= threshold),
        key=lambda name: -(psi[name] or 0.0),
    )
    return {
        "rows": 48000,
        "files": 12,
        "online_rows": 3100,
        "threshold": threshold,
        "psi": dict(psi),
        "score_psi": 0.12,
        "drifted": drifted,
    }


def challenger(
    low: float, high: float, *, metric: str = "roc_auc", margin: float = 0.005
) -> dict[str, Any]:
    champion = {"roc_auc": 0.79, "pr_auc": 0.44, "log_loss": 0.43, "brier": 0.12, "f1": 0.47}
    better = {"roc_auc": 0.815, "pr_auc": 0.47, "log_loss": 0.40, "brier": 0.11, "f1": 0.5}
    return {
        "version": "20261101-c0ffee",
        "holdout_rows": 4000,
        "primary_metric": metric,
        "margin": margin,
        "champion": champion,
        "challenger": better,
        "difference": {"mean": (low + high) / 2, "low": low, "high": high},
    }


def period_table(
    count: int = 10, *, unlabelled: int = 2, test_value: float = 0.95
) -> list[dict[str, Any]]:
    """A check's per-period table: monthly periods, the last ones drifted and degraded, the
    newest `unlabelled` without labels yet (estimated only)."""
    rng = random.Random(11)
    rows = []
    for index in range(count):
        start = datetime(2019, 1, 1) + timedelta(days=31 * index)
        start = start.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        late = index >= count - 4
        value = round(test_value - (0.05 if late else 0.0) + rng.uniform(-0.005, 0.005), 4)
        labelled = index < count - unlabelled
        js = {name: round(rng.uniform(0.005, 0.04) + (0.2 * (i % 3 == 0) if late else 0.0), 4)
              for i, name in enumerate(FEATURES)}  # fmt: skip
        drifted = sorted((n for n, v in js.items() if v >= 0.1), key=lambda n: -js[n])
        alerts = {}
        if late and labelled:
            alerts["performance"] = f"roc_auc {value} is 0.05 worse than at training"
        if late and not labelled:
            alerts["estimated_performance"] = "estimated roc_auc is 0.05 worse"
        if len(drifted) >= 3:
            alerts["drift"] = f"{len(drifted)} features drifted"
        rows.append({
            "start": start.date().isoformat(),
            "end": end.date().isoformat(),
            "rows": 5000 + 10 * index,
            "labelled_rows": 5000 + 10 * index if labelled else 0,
            "realized": {"roc_auc": value} if labelled else {},
            "realized_problem": None if labelled else "0 labelled rows; 200 needed to judge",
            "realized_error": 0.003,
            "estimated": {"roc_auc": {"value": round(value + rng.uniform(-0.004, 0.004), 4),
                                      "sampling_error": 0.003}},
            "drift": {"rows": 5000, "statistic": "jensen_shannon", "threshold": 0.1,
                      "jensen_shannon": js, "psi": {n: v * 4 for n, v in js.items()},
                      "score_jensen_shannon": 0.05 + 0.1 * late, "score_psi": 0.1,
                      "drifted": drifted},
            "alerts": alerts,
        })  # fmt: skip
    return rows


def realistic_runs(days: int = 30) -> list[MonitoringRun]:
    """A month of daily checks of the demo model: its roc_auc slowly falling, two days without
    enough labels, a promotion on day 12, drift growing, and the last check promoting again."""
    rng = random.Random(7)
    start = datetime(2026, 10, 3, 3, 0, tzinfo=UTC)
    runs = []
    champion, test_value = "20260901-a1b2c3", 0.84
    for day in range(days):
        at = start + timedelta(days=day)
        last = day == days - 1
        psi = {name: round(rng.uniform(0.0, 0.12) + 0.012 * day * (i % 4 == 0), 4)
               for i, name in enumerate(FEATURES)}  # fmt: skip
        value: float | None = round(0.83 - 0.0015 * day + rng.uniform(-0.006, 0.006), 4)
        decision, reason = Decision.HEALTHY, "roc_auc and drift within limits"
        extra: dict[str, Any] = {}
        if day in (5, 6):
            value, decision = None, Decision.NOT_ENOUGH_LABELS
            reason = "120 labelled rows in the window, fewer than 200"
        if day == 12 or last:
            decision, reason = Decision.PROMOTED, "roc_auc dropped 0.041 below its test value"
            new = f"{at:%Y%m%d}-{day:06x}"
            extra = {
                "challenger_version": new,
                "challenger_metrics": challenger(0.006, 0.041) | {"version": new},
                "promoted": True,
            }
        runs.append(
            MonitoringRun(
                run_id=f"check-{day:03d}",
                started_at=at,
                ended_at=at + timedelta(minutes=4, seconds=day),
                decision=decision,
                reason=reason,
                trigger="schedule",
                champion_version=champion,
                metrics=metrics(
                    value, test_value=test_value, rows=120 if value is None else 1400 + 20 * day
                ),
                drift=drift(psi),
                periods=period_table(test_value=test_value) if last else [],
                **extra,
            )
        )
        if decision == Decision.PROMOTED:
            champion, test_value = extra["challenger_version"], 0.82
    return runs


def run(**changes: Any) -> MonitoringRun:
    base = MonitoringRun(
        run_id="only",
        started_at=datetime(2026, 11, 1, 3, 0, tzinfo=UTC),
        decision=Decision.HEALTHY,
        reason="fine",
    )
    return replace(base, **changes)


# ---------------------------------------------------------------------------- a small DOM


VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr"})


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str, **attrs: str | None) -> list[Node]:
        """Elements of that tag whose attributes match (None: present, any value)."""
        return [
            node
            for node in self.iter()
            if node.tag == tag
            and all(
                (name.replace("_", "-") in node.attrs)
                if value is None
                else node.attrs.get(name.replace("_", "-")) == value
                for name, value in attrs.items()
            )
        ]

    def find(self, tag: str, **attrs: str | None) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]

    def text(self) -> str:
        return "".join(self.texts) + "".join(child.text() for child in self.children)


class TreeBuilder(HTMLParser):
    """Builds the tree and fails on any end tag that does not close the open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.declarations: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.declarations.append(decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].texts.append(data)


def parse(document: str) -> Node:
    builder = TreeBuilder()
    builder.feed(document)
    builder.close()
    assert builder.stack == [builder.root], "unclosed: " + ", ".join(n.tag for n in builder.stack)
    assert builder.declarations == ["DOCTYPE html"]
    return builder.root


def render(runs: list[MonitoringRun], **options: Any) -> tuple[str, Node]:
    document = render_report("loan-default", runs, generated_at=GENERATED, **options)
    return document, parse(document)


def chart(root: Node, name: str) -> Node:
    return root.find("svg", data_chart=name)


def number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def sections(root: Node) -> list[str]:
    return [node.attrs["data-section"] for node in root.find_all("section")]


# ---------------------------------------------------------------------------- the page


def test_a_model_with_no_checks_gets_a_page_that_says_so() -> None:
    document, root = render([])
    assert root.find("html").attrs["lang"] == "en"
    assert root.find("meta", charset="utf-8")
    assert root.find("head").find("title").text() == "Monitoring report: loan-default"
    assert "No checks recorded yet" in root.find("p", data_empty="").text()
    assert not root.find_all("svg") and not root.find_all("section")
    assert "2026-11-02 06:30 UTC" in document


def test_a_realistic_history_has_every_section_and_chart() -> None:
    _, root = render(realistic_runs())
    assert sections(root) == ["periods", "metrics", "drift", "comparison", "decision"]
    names = [node.attrs["data-chart"] for node in root.find_all("svg")]
    assert names == [
        "period-performance", *["period-drift"] * 9, "period-rows",
        "metric-history", "labelled-rows", "drift", "comparison", "difference",
    ]  # fmt: skip
    for svg in root.find_all("svg"):
        assert svg.attrs["role"] == "img"
        assert len(svg.attrs["aria-label"]) > 30
        assert svg.children[0].tag == "title" and svg.children[0].text() == svg.attrs["aria-label"]
        assert svg.find_all("rect", data_plot_area=None)
        assert any("data-mark" in node.attrs for node in svg.iter())
    assert root.find("table", data_table="runs")


def test_the_periods_are_drawn_like_chunked_plots_with_their_thresholds() -> None:
    table = period_table()
    _, root = render([run(metrics=metrics(0.93, test_value=0.95), periods=table)])
    performance = chart(root, "period-performance")
    realized = performance.find_all("circle", data_mark="realized")
    estimated = performance.find_all("circle", data_mark="estimated")
    assert [number(p.attrs["data-value"]) for p in realized] == [
        row["realized"]["roc_auc"] for row in table if row["realized"]
    ]
    assert len(estimated) == len(table)
    # Alerted periods are red; the others are not.
    alerted = [p for p in realized if "data-alert" in p.attrs]
    assert len(alerted) == 2 and {p.attrs["fill"] for p in alerted} == {RED}
    assert RED not in {p.attrs["fill"] for p in realized if p not in alerted}
    assert len(performance.find_all("circle", data_mark="estimated", data_alert=None)) == 2
    limit = performance.find("line", data_mark="limit")
    assert number(limit.attrs["data-value"]) == pytest.approx(0.92)
    assert performance.find("line", data_mark="reference").attrs["data-value"] == "0.95"
    assert performance.find_all("polygon", data_mark="band")
    drift_charts = root.find_all("svg", data_chart="period-drift")
    assert len(drift_charts) == 9  # the score and the 8 most drifted of 19 features
    score = drift_charts[0]
    assert number(score.find("line", data_mark="threshold").attrs["data-value"]) == 0.1
    worst = drift_charts[1].find_all("circle", data_mark="point")
    assert len(worst) == len(table)
    assert sum("data-alert" in p.attrs for p in worst) == 4
    periods = root.find("table", data_table="periods")
    body = periods.find("tbody").find_all("tr")
    assert [r.attrs["data-period"] for r in body] == [row["start"] for row in table]
    assert body[0].find_all("td")[0].text() == "2019-01"
    assert "performance" in body[-3].text() and "estimated performance" in body[-1].text()
    last_estimate = table[-1]["estimated"]["roc_auc"]["value"]
    assert f"{last_estimate:.4f} ± 0.0090" in body[-1].text()


def test_a_check_without_periods_has_no_periods_section() -> None:
    _, root = render([run(metrics=metrics(0.9))])
    assert "periods" not in sections(root)


def test_the_header_shows_the_focused_checks_decision_reason_and_versions() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    header = root.find("header")
    assert "loan-default" in header.find("h1").text()
    badge = header.find("span", data_decision="promoted")
    assert badge.text() == "promoted" and BADGE_COLOURS[Decision.PROMOTED] in badge.attrs["style"]
    text = header.text()
    assert runs[-1].reason in text and "schedule" in text
    assert f"{runs[-1].champion_version}" in text
    assert f"{runs[-1].challenger_version} (promoted)" in text
    assert "took 4 min" in text
    odd = replace(runs[-1], ended_at=runs[-1].started_at - timedelta(days=1))
    assert "took" not in render([odd])[1].find("header").text()


@pytest.mark.parametrize(
    ("decision", "colour"),
    [
        (Decision.HEALTHY, "#1a7f37"),
        (Decision.PROMOTED, "#0b57d0"),
        (Decision.KEPT_CHAMPION, "#9a6700"),
        (Decision.CHALLENGER_REFUSED, "#9a6700"),
        (Decision.FAILED, "#b42318"),
        (Decision.SKIPPED, "#57606a"),
        (Decision.NOT_ENOUGH_LABELS, "#57606a"),
    ],
)
def test_the_badge_colour_follows_the_decision(decision: Decision, colour: str) -> None:
    _, root = render([run(decision=decision)])
    badge = root.find("header").find("span", data_decision=decision.value)
    assert f"background:{colour}" in badge.attrs["style"]


def test_one_check_with_nothing_measured_shows_placeholders_not_charts() -> None:
    _, root = render([run(decision=Decision.NO_CHAMPION, reason="nothing promoted yet")])
    assert sections(root) == ["metrics", "drift", "decision"]
    assert not root.find_all("svg")
    placeholders = [
        node.text() for node in root.find_all("p") if "placeholder" in node.attrs.get("class", "")
    ]
    assert any("measured the champion's metrics" in text for text in placeholders)
    assert any("measured no drift" in text for text in placeholders)
    assert "nothing promoted yet" in root.find("section", data_section="decision").text()
    assert len(root.find("table", data_table="runs").find_all("tr")) == 2  # header + the check


def test_one_check_with_everything_draws_every_chart() -> None:
    only = realistic_runs()[-1]
    _, root = render([only])
    assert [n.attrs["data-chart"] for n in root.find_all("svg")] == [
        "period-performance", *["period-drift"] * 9, "period-rows",
        "metric-history", "labelled-rows", "drift", "comparison", "difference",
    ]  # fmt: skip
    assert len(chart(root, "metric-history").find_all("circle", data_mark="point")) == 1


# ---------------------------------------------------------------------------- escaping


def test_user_data_is_escaped_everywhere() -> None:
    nasty = "a\"b'c&d<e>"
    runs = [
        run(
            run_id=XSS,
            reason=f"reason {XSS}",
            trigger=nasty,
            champion_version=XSS,
            metrics=metrics(0.8) | {"primary_metric": XSS, "values": {XSS: 0.8}},
            drift=drift({XSS: 0.5, nasty: 0.1}),
            challenger_version=XSS,
            challenger_metrics=challenger(0.01, 0.02) | {"version": XSS},
        )
    ]
    document = render_report(XSS, runs, generated_at=GENERATED)
    root = parse(document)
    assert "<script" not in document.lower()
    assert not root.find_all("script")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    bars = chart(root, "drift").find_all("rect", data_mark="bar")
    assert {bar.attrs["data-feature"] for bar in bars} == {XSS, nasty}
    assert XSS in root.find("head").find("title").text()
    assert f"reason {XSS}" in root.find("header").text()
    # nothing but the report's own elements: user text never became markup
    tags = {node.tag for node in root.iter()}
    assert tags <= {
        "#document", "html", "head", "meta", "title", "style", "body", "main", "p", "header",
        "h1", "h2", "h3", "span", "dl", "dt", "dd", "section", "svg", "rect", "line", "text",
        "g", "path", "circle", "details", "summary", "table", "thead", "tbody", "tr", "th",
        "td", "div", "i", "b",
    }  # fmt: skip


def test_the_page_makes_no_request_and_runs_no_script() -> None:
    document, root = render(realistic_runs())
    lowered = document.lower()
    for forbidden in ("http://", "https://", "<script", "<link", "<img", "<iframe", "url(",
                      "@import", "javascript:", " on"):  # fmt: skip
        if forbidden == " on":  # no event handler attribute such as onload=
            assert not any(a.startswith("on") for n in root.iter() for a in n.attrs)
        else:
            assert forbidden not in lowered, forbidden
    assert not any(name in ("src", "href") for node in root.iter() for name in node.attrs)


# ---------------------------------------------------------------------------- metrics over time


def test_the_metric_line_has_a_point_per_measured_check_and_gaps_where_none() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    svg = chart(root, "metric-history")
    points = svg.find_all("circle", data_mark="point")
    measured = [r.metrics["values"]["roc_auc"] for r in runs if r.metrics["values"]]
    assert [float(p.attrs["data-value"]) for p in points] == measured
    assert len(points) == len(runs) - 2
    # higher roc_auc is drawn higher (smaller y)
    by_value = sorted(points, key=lambda p: float(p.attrs["data-value"]))
    ys = [float(p.attrs["cy"]) for p in by_value]
    assert ys == sorted(ys, reverse=True)
    # the two checks without labels break the line in two
    path = svg.find("path", data_mark="line").attrs["d"]
    assert path.count("M") == 2
    assert (
        "2 of 30 checks measured no roc_auc (too few labelled rows"
        in root.find("section", data_section="metrics").text()
    )
    # every point lies within the plot area
    area = svg.find("rect", data_plot_area="")
    x0, y0 = float(area.attrs["x"]), float(area.attrs["y"])
    x1, y1 = x0 + float(area.attrs["width"]), y0 + float(area.attrs["height"])
    for point in points:
        assert x0 <= float(point.attrs["cx"]) <= x1 and y0 <= float(point.attrs["cy"]) <= y1


def test_the_test_value_is_a_dashed_reference_and_promotions_are_marked() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    svg = chart(root, "metric-history")
    reference = svg.find("path", data_mark="reference")
    assert reference.attrs["stroke-dasharray"] == "6 4"
    promotions = svg.find_all("g", data_mark="promotion")
    assert len(promotions) == sum(r.decision == Decision.PROMOTED for r in runs) == 2
    assert "promoted 20261015-00000c" in promotions[0].text()
    legend = svg.text()
    assert "on the test split at training" in legend and "promotion" in legend
    # y axis: ticks labelled, and the metric named with its direction
    assert "roc_auc (higher is better)" in legend
    assert re.search(r"0\.8\d", legend)


def test_labelled_rows_are_bars_per_check() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    bars = chart(root, "labelled-rows").find_all("rect", data_mark="bar")
    assert [float(b.attrs["data-value"]) for b in bars] == [
        r.metrics["labelled_rows"] for r in runs
    ]
    tallest = max(bars, key=lambda b: float(b.attrs["height"]))
    assert float(tallest.attrs["data-value"]) == max(r.metrics["labelled_rows"] for r in runs)


def test_five_hundred_checks_stay_small_and_say_what_is_drawn() -> None:
    base = realistic_runs(1)[0]
    runs = [
        replace(base, run_id=f"r{i}", started_at=base.started_at + timedelta(hours=12 * i),
                metrics=metrics(0.8 + 0.02 * math.sin(i / 9)))
        for i in range(500)
    ]  # fmt: skip
    document, root = render(runs)
    assert len(document) < 400_000, len(document)
    assert len(chart(root, "metric-history").find_all("circle", data_mark="point")) == 200
    assert "The last 200 of 500 checks" in root.find("section", data_section="metrics").text()
    table = root.find("table", data_table="runs")
    assert len(table.find_all("tr")) == 31
    assert "Recent checks (30 of 500" in root.find("section", data_section="decision").text()


# ---------------------------------------------------------------------------- drift


def test_drift_bars_are_sorted_worst_first_and_as_long_as_their_psi() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    psi = runs[-1].drift["psi"]
    bars = chart(root, "drift").find_all("rect", data_mark="bar")
    assert [b.attrs["data-feature"] for b in bars] == sorted(psi, key=lambda k: (-psi[k], k))
    widths = [float(b.attrs["width"]) for b in bars]
    assert widths == sorted(widths, reverse=True)
    worst = max(psi, key=lambda k: psi[k])
    assert bars[0].attrs["data-feature"] == worst and widths[0] == max(widths)
    # widths are proportional to PSI (the axis starts at 0)
    for bar in bars[1:]:
        ratio = float(bar.attrs["width"]) / widths[0]
        assert ratio == pytest.approx(float(bar.attrs["data-value"]) / psi[worst], abs=0.01)


def test_drifted_bars_are_in_the_warning_colour_and_the_threshold_is_drawn() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    svg = chart(root, "drift")
    drifted = set(runs[-1].drift["drifted"])
    assert drifted, "the realistic data should have drifted features"
    for bar in svg.find_all("rect", data_mark="bar"):
        expected = DRIFTED_BAR if bar.attrs["data-feature"] in drifted else NORMAL_BAR
        assert bar.attrs["fill"] == expected
    threshold = svg.find("line", data_mark="threshold")
    assert float(threshold.attrs["data-value"]) == 0.2
    bars = svg.find_all("rect", data_mark="bar")
    x = float(threshold.attrs["x1"])
    for bar in bars:  # drifted bars cross the line, the others stop short of it
        end = float(bar.attrs["x"]) + float(bar.attrs["width"])
        assert (end >= x - 0.1) == (bar.attrs["data-feature"] in drifted)
    score = svg.find("rect", data_mark="score-bar")
    assert float(score.attrs["data-value"]) == 0.12
    assert "PSI (population stability index)" in svg.text()


def test_drift_numbers_are_printed_in_the_chart_and_the_table() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    psi = runs[-1].drift["psi"]
    table = root.find("table", data_table="drift")
    rows = {tr.children[0].text(): tr.children[1].text() for tr in table.find("tbody").children}
    assert rows["model score"] == "0.120"
    for name, value in psi.items():
        assert rows[name] == f"{value:.3f}"
        assert f"{value:.3f}" in chart(root, "drift").text()
    summary = root.find("section", data_section="drift").find_all("p")[0].text()
    assert f"{len(runs[-1].drift['drifted'])} of 19 features drifted" in summary
    history = root.find("table", data_table="drift-history")
    assert len(history.find("thead").find_all("th")) == 1 + 12
    assert len(history.find("tbody").children) == 19


def test_many_features_with_long_names_are_cut_in_the_chart_and_whole_in_the_table() -> None:
    long_name = "feature_" + "x" * 300
    psi = {f"f{i:02d}": i / 100 for i in range(60)} | {long_name: 0.9}
    _, root = render([run(drift=drift(psi))])
    svg = chart(root, "drift")
    assert len(svg.find_all("rect", data_mark="bar")) == 50
    labels = [t.text() for t in svg.find_all("text")]
    assert "feature_xxxxxxxxxxxxxxxxxxxxx…" in labels
    assert long_name in svg.find("rect", data_feature=long_name).text()  # its tooltip
    assert long_name in root.find("table", data_table="drift").text()
    assert "The 50 worst of 61 features are drawn" in root.text()
    assert float(svg.attrs["height"]) < 1200


def test_missing_nan_and_infinite_values_are_dashes_or_gaps_never_numbers() -> None:
    runs = [
        run(run_id="a", started_at=datetime(2026, 10, 1, tzinfo=UTC),
            metrics=metrics(0.8) | {"values": {"roc_auc": float("nan")}, "test_value": None},
            drift=drift({"x": float("nan"), "y": None, "z": 0.3}) | {"psi": {
                "x": float("nan"), "y": None, "z": 0.3, "w": "0.1"}}),
        run(run_id="b", started_at=datetime(2026, 10, 2, tzinfo=UTC),
            metrics=metrics(0.8) | {"values": {"roc_auc": float("inf")}, "labelled_rows": None},
            drift={"psi": {}, "score_psi": None}),
        run(run_id="c", started_at=datetime(2026, 10, 3, tzinfo=UTC), metrics=metrics(0.81),
            challenger_metrics={"champion": {}, "challenger": {"roc_auc": None},
                                "difference": {"low": None, "high": float("nan")}}),
    ]  # fmt: skip
    document, root = render(runs, focus_run_id="a")
    assert not re.search(r"\b(nan|inf|none|null)\b", root.text(), re.IGNORECASE)
    assert "nan" not in document.lower().replace("\u2212", "-").split("<style>")[0]
    bars = chart(root, "drift").find_all("rect", data_mark="bar")
    assert {b.attrs["data-feature"]: float(b.attrs["data-value"]) for b in bars} == {
        "z": 0.3, "w": 0.1,
    }  # fmt: skip
    assert "not measured" in chart(root, "drift").text()
    points = chart(root, "metric-history").find_all("circle", data_mark="point")
    assert [p.attrs["data-value"] for p in points] == ["0.81"]
    # the last check's comparison has no numbers: it says so
    _, last = render(runs)
    section = last.find("section", data_section="comparison")
    assert "No interval of the difference was recorded" in section.text()


# ---------------------------------------------------------------------------- challenger


def test_champion_and_challenger_bars_start_with_the_primary_metric() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    svg = chart(root, "comparison")
    bars = svg.find_all("rect", data_mark="bar")
    metrics_drawn = [b.attrs["data-metric"] for b in bars]
    assert metrics_drawn[:2] == ["roc_auc", "roc_auc"]
    assert metrics_drawn[::2] == ["roc_auc", "pr_auc", "log_loss", "brier", "f1"]
    comparison = runs[-1].challenger_metrics
    for bar in bars:
        recorded = comparison[bar.attrs["data-model"]][bar.attrs["data-metric"]]
        assert float(bar.attrs["data-value"]) == recorded
    auc = [b for b in bars if b.attrs["data-metric"] == "roc_auc"]
    assert float(auc[1].attrs["width"]) > float(auc[0].attrs["width"])  # 0.815 > 0.79
    assert "lower is better" in svg.text() and "higher is better" in svg.text()
    table = root.find("table", data_table="comparison").text()
    assert "0.7900" in table and "0.8150" in table and "+0.0250" in table


@pytest.mark.parametrize(
    ("low", "high", "metric", "excludes", "says"),
    [
        (0.006, 0.041, "roc_auc", "true", "excludes zero, so the challenger is better"),
        (-0.004, 0.012, "roc_auc", "false", "includes zero"),
        (-0.03, -0.01, "roc_auc", "true", "challenger is worse"),
        (-0.03, -0.01, "log_loss", "true", "challenger is better"),
    ],
)
def test_the_interval_of_the_difference_says_whether_it_excludes_zero(
    low: float, high: float, metric: str, excludes: str, says: str
) -> None:
    focus = run(
        decision=Decision.KEPT_CHAMPION,
        challenger_version="v2",
        challenger_metrics=challenger(low, high, metric=metric),
    )
    _, root = render([focus])
    verdict = root.find("p", data_excludes_zero=excludes)
    assert says in verdict.text()
    svg = chart(root, "difference")
    interval = svg.find("rect", data_mark="interval")
    assert (float(interval.attrs["data-low"]), float(interval.attrs["data-high"])) == (low, high)
    zero = float(svg.find("line", data_mark="zero").attrs["x1"])
    start = float(interval.attrs["x"])
    end = start + float(interval.attrs["width"])
    assert (start <= zero <= end) == (excludes == "false")
    margin = svg.find("line", data_mark="margin")
    # the margin lies on the side where the challenger is better
    expected = 0.005 if higher_is_better(metric) else -0.005
    assert float(margin.attrs["data-value"]) == expected
    assert (float(margin.attrs["x1"]) > zero) == (expected > 0)


def test_no_challenger_no_comparison_section() -> None:
    runs = realistic_runs()
    _, root = render(runs, focus_run_id="check-020")
    assert "comparison" not in sections(root)


# ---------------------------------------------------------------------------- decision, focus


def test_the_decision_section_tells_and_lists_recent_checks_newest_first() -> None:
    runs = realistic_runs()
    _, root = render(runs)
    section = root.find("section", data_section="decision")
    assert "a challenger was trained, won, and is now the champion" in section.text()
    assert runs[-1].reason in section.text()
    rows = section.find("table", data_table="runs").find("tbody").children
    assert [r.attrs["data-run"] for r in rows] == [r.run_id for r in reversed(runs)]
    assert rows[0].attrs["class"] == "focus"
    cells = [c.text() for c in rows[0].children]
    assert cells[0] == "2026-11-01 03:00" and cells[1] == "promoted"
    assert cells[3] == f"{runs[-1].metrics['values']['roc_auc']:.3f}"
    assert cells[4] == f"{runs[-1].metrics['labelled_rows']:,}"
    assert cells[6] == runs[-1].challenger_version and cells[7] == "yes"
    not_enough = next(r for r in rows if r.attrs["data-run"] == "check-005")
    assert [c.text() for c in not_enough.children][3] == "—"


def test_the_focused_check_can_be_an_older_one() -> None:
    runs = realistic_runs()
    _, root = render(runs, focus_run_id="check-012")
    assert root.find("header").find("span", data_decision="promoted")
    assert "check-012" in root.find("header").text()
    focused = root.find("tr", **{"class": "focus"})
    assert focused.attrs["data-run"] == "check-012"
    assert len(chart(root, "metric-history").find_all("circle", data_focus="")) == 1
    # the heat map stops at the focused check
    history = root.find("table", data_table="drift-history")
    assert history.find("thead").find_all("th")[-1].text() == "10-15"


def test_an_unknown_focus_is_an_error() -> None:
    with pytest.raises(ValueError, match="nope"):
        render_report("m", realistic_runs(), generated_at=GENERATED, focus_run_id="nope")


def test_the_order_of_the_runs_does_not_matter_and_naive_times_are_utc() -> None:
    runs = realistic_runs()
    shuffled = runs[:]
    random.Random(1).shuffle(shuffled)
    assert render(shuffled)[0] == render(runs)[0]
    naive = [replace(r, started_at=r.started_at.replace(tzinfo=None)) for r in runs[:5]]
    assert render(naive + runs[5:])[0] == render(runs)[0]


def test_runs_read_back_from_their_rows_render_the_same() -> None:
    runs = realistic_runs()
    again = [MonitoringRun.from_row(r.to_row()) for r in runs]
    assert render(again)[0] == render(runs)[0]


# ---------------------------------------------------------------------------- parts


def test_the_report_reads_which_way_a_metric_improves_from_the_one_table() -> None:
    from shared.metric_table import METRICS
    from shared.monitoring.report.checks import MAIN_METRICS, direction

    assert {m.name for m in METRICS} == set(MAIN_METRICS)
    for row in METRICS:
        assert direction(row.name) == ("higher" if row.higher_is_better else "lower") + (
            " is better"
        )
    assert direction("not_a_metric") == ""


@pytest.mark.parametrize(
    ("lo", "hi"), [(0.0, 1.0), (0.781, 0.842), (0.0, 0.37), (-0.031, 0.052), (5.0, 5.0), (0, 1503)]
)
def test_ticks_are_round_and_cover_the_range(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_time_ticks_fall_inside_the_span() -> None:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    ticks, form = time_ticks(start, end)
    assert 2 <= len(ticks) <= 6 and form == "%Y-%m-%d"
    assert all(start <= t <= end for t in ticks)
    hours, form = time_ticks(start, start + timedelta(hours=10))
    assert form == "%m-%d %H:%M" and len(hours) >= 2
