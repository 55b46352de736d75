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

    svg.py      colours, formatting, SVG elements, scales and axes
    checks.py   a run's numbers as the report reads them (`Check`)
    charts.py   the charts
    page.py     the sections, tables and the page around them
"""

from shared.monitoring.report.page import render_report

__all__ = ["render_report"]
