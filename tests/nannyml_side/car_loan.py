"""Run by the Python of nannyml's own virtual environment (`make nannyml`), never imported by
the suite: nannyml pins packages the project's environment cannot hold (XGBoost's CUDA build,
through FLAML, over the project's CPU-only one), so the two sides talk through files.

    car_loan.py OUT_DIR PERIOD

writes to OUT_DIR:
    reference.parquet, analysis.parquet   `load_synthetic_car_loan_dataset()`'s two periods,
                                          without nannyml's own model outputs, the analysis
                                          joined with its targets
    drift.json                            nannyml's univariate drift of the analysis against
                                          the reference: Jensen-Shannon, chunked by PERIOD (a
                                          pandas offset, "M": calendar months) on the timestamp,
                                          with a constant threshold of 0.1 (nannyml's documented
                                          alert level for the distance):
                                          {"features": […], "chunks": [{"start", "end",
                                           "rows", "values": {feature: x}, "alerts": {feature:
                                           bool}}]}
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml as nml
import pandas as pd
from nannyml.thresholds import ConstantThreshold

FEATURES = [
    "car_value",
    "salary_range",
    "debt_to_income_ratio",
    "loan_length",
    "repaid_loan_on_prev_car",
    "size_of_downpayment",
    "driver_tenure",
]
THRESHOLD = 0.1


def main(out: Path, period: str) -> None:
    reference, analysis, targets = nml.load_synthetic_car_loan_dataset()
    analysis = analysis.merge(targets, on="id")
    own_outputs = ["y_pred_proba", "y_pred"]
    reference.drop(columns=own_outputs).to_parquet(out / "reference.parquet", index=False)
    analysis.drop(columns=own_outputs).to_parquet(out / "analysis.parquet", index=False)

    calculator = nml.UnivariateDriftCalculator(
        column_names=FEATURES,
        timestamp_column_name="timestamp",
        continuous_methods=["jensen_shannon"],
        categorical_methods=["jensen_shannon"],
        chunk_period=period,
        thresholds={"jensen_shannon": ConstantThreshold(upper=THRESHOLD)},
    )
    calculator.fit(reference)
    result = calculator.calculate(analysis).filter(period="analysis").to_df()
    chunks = []
    for _, row in result.iterrows():
        chunks.append(
            {
                "start": str(pd.Timestamp(row[("chunk", "chunk", "start_date")]).date()),
                "end": str(pd.Timestamp(row[("chunk", "chunk", "end_date")]).date()),
                "rows": int(row[("chunk", "chunk", "end_index")])
                - int(row[("chunk", "chunk", "start_index")])
                + 1,
                "values": {f: float(row[(f, "jensen_shannon", "value")]) for f in FEATURES},
                "alerts": {f: bool(row[(f, "jensen_shannon", "alert")]) for f in FEATURES},
            }
        )
    document = {"features": FEATURES, "threshold": THRESHOLD, "chunks": chunks}
    (out / "drift.json").write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
