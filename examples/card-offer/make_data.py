"""Synthetic card applications: train.csv (with the card each applicant took), then a week of
new applications without it (week-1.csv) and the cards taken as they are known
(cards-week-1.csv, as `cloudscore labels load` reads them). Run from this folder:
../../.venv/bin/python make_data.py"""

from __future__ import annotations

import numpy as np
import pandas as pd

CARDS = ("prepaid", "highstreet", "upmarket")
CHANNELS = ("web", "mobile", "branch")


def applications(rows: int, seed: int, first_id: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.2, 0.5, rows).round(-2)
    score = rng.normal(600, 80, rows).round()
    channel = rng.integers(0, len(CHANNELS), rows)
    customer = rng.random(rows) < 0.4
    wealth = np.log(income) - 10.2 + (score - 600) / 100
    logits = np.stack(
        [-2 * wealth, 0.3 + 0.5 * customer, 2.2 * wealth - 0.5 + 0.4 * (channel == 2)], axis=1
    )
    card = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    return pd.DataFrame(
        {
            "applicant_id": np.arange(first_id, first_id + rows),
            "applied_at": pd.date_range(start, periods=rows, freq="2min").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "stated_income": income,
            "credit_bureau_score": score,
            "channel": np.array(CHANNELS)[channel],
            "is_customer": customer,
            "card": np.array(CARDS)[card],
        }
    )


if __name__ == "__main__":
    applications(20_000, seed=1, first_id=0, start="2026-08-01").to_csv("train.csv", index=False)
    week = applications(3_000, seed=2, first_id=100_000, start="2026-10-05")
    week.drop(columns=["card"]).to_csv("week-1.csv", index=False)
    week[["applicant_id", "card"]].to_csv("cards-week-1.csv", index=False)
    print("wrote train.csv, week-1.csv and cards-week-1.csv")
