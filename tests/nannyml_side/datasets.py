"""Run by the Python of nannyml's own virtual environment (`make nannyml`), never imported by
the suite: nannyml pins packages the project's environment cannot hold (XGBoost's CUDA build,
through FLAML, over the project's CPU-only one), so the two sides talk through files.

    datasets.py DATASET OUT_DIR PERIOD

DATASET is one of nannyml's synthetic datasets: car_loan (binary), car_price (regression) or
multiclass (`load_synthetic_multiclass_classification_dataset`). Writes to OUT_DIR:
    reference.parquet, analysis.parquet   the dataset's two periods, without nannyml's own
                                          model outputs, the analysis joined with its targets
    drift.json                            nannyml's univariate drift of the analysis against
                                          the reference: Jensen-Shannon, chunked by PERIOD (a
                                          pandas offset: "M" calendar months, "W" weeks from
                                          Monday, "D" days) on the timestamp, with a constant
                                          threshold of 0.1 (nannyml's documented alert level
                                          for the distance):
                                          {"features": […], "chunks": [{"start", "end",
                                           "rows", "values": {feature: x}, "alerts": {feature:
                                           bool}}]}
    cbpe.json                             multiclass only: nannyml's CBPE of its own model
                                          outputs (macro F1, the same chunks), its sampling
                                          error and the realized value: {"chunks": [{"start",
                                          "value", "sampling_error", "realized"}]}
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

THRESHOLD = 0.1
# Each dataset: its loader, its features, and the columns of nannyml's own model outputs.
DATASETS = {
    "car_loan": (
        nml.load_synthetic_car_loan_dataset,
        [
            "car_value",
            "salary_range",
            "debt_to_income_ratio",
            "loan_length",
            "repaid_loan_on_prev_car",
            "size_of_downpayment",
            "driver_tenure",
        ],
        ["y_pred_proba", "y_pred"],
    ),
    "car_price": (
        nml.load_synthetic_car_price_dataset,
        [
            "car_age",
            "km_driven",
            "price_new",
            "accident_count",
            "door_count",
            "fuel",
            "transmission",
        ],
        ["y_pred"],
    ),
    "multiclass": (
        nml.load_synthetic_multiclass_classification_dataset,
        [
            "acq_channel",
            "app_behavioral_score",
            "requested_credit_limit",
            "app_channel",
            "credit_bureau_score",
            "stated_income",
            "is_customer",
        ],
        [
            "y_pred_proba_prepaid_card",
            "y_pred_proba_highstreet_card",
            "y_pred_proba_upmarket_card",
            "y_pred",
        ],
    ),
}


def main(dataset: str, out: Path, period: str) -> None:
    load, features, own_outputs = DATASETS[dataset]
    reference, analysis, targets = load()
    analysis = analysis.merge(targets, on="id")
    reference.drop(columns=own_outputs).to_parquet(out / "reference.parquet", index=False)
    analysis.drop(columns=own_outputs).to_parquet(out / "analysis.parquet", index=False)

    calculator = nml.UnivariateDriftCalculator(
        column_names=features,
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
                "values": {f: float(row[(f, "jensen_shannon", "value")]) for f in features},
                "alerts": {f: bool(row[(f, "jensen_shannon", "alert")]) for f in features},
            }
        )
    document = {"features": features, "threshold": THRESHOLD, "chunks": chunks}
    (out / "drift.json").write_text(json.dumps(document, indent=1))
    if dataset == "multiclass":
        (out / "cbpe.json").write_text(json.dumps(multiclass_cbpe(reference, analysis, period)))


def multiclass_cbpe(reference: pd.DataFrame, analysis: pd.DataFrame, period: str) -> dict:
    classes = ["prepaid_card", "highstreet_card", "upmarket_card"]
    estimator = nml.CBPE(
        y_pred_proba={c: f"y_pred_proba_{c}" for c in classes},
        y_pred="y_pred",
        y_true="y_true",
        timestamp_column_name="timestamp",
        problem_type="classification_multiclass",
        metrics=["f1"],
        chunk_period=period,
    )
    estimator.fit(reference)
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    chunks = [
        {
            "start": str(pd.Timestamp(row[("chunk", "start_date")]).date()),
            "value": float(row[("f1", "value")]),
            "sampling_error": float(row[("f1", "sampling_error")]),
            "realized": float(row[("f1", "realized")]),
        }
        for _, row in result.iterrows()
    ]
    return {"metric": "macro_f1", "chunks": chunks}


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
