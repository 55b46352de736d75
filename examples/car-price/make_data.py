"""Synthetic used-car listings: train.csv (with prices), then a week of new listings without
them (week-1.csv) and their prices as they sell (prices-week-1.csv, as `cloudscore labels load`
reads them). Run from this folder: ../../.venv/bin/python make_data.py"""

from __future__ import annotations

import numpy as np
import pandas as pd

FUELS = ("petrol", "diesel", "electric", "hybrid")


def listings(rows: int, seed: int, first_id: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.uniform(0, 15, rows).round(1)
    km = (age * rng.uniform(8_000, 20_000, rows)).round(-2)
    fuel = rng.integers(0, len(FUELS), rows)
    new_price = rng.lognormal(10.3, 0.35, rows).round(-2)
    accidents = rng.poisson(0.3, rows)
    value = new_price * np.exp(-0.12 * age) * (1 - km / 1_000_000) * (1 + 0.1 * (fuel == 2))
    price = (value * (1 - 0.07 * accidents) + rng.normal(0, 600, rows)).clip(300).round(-1)
    return pd.DataFrame(
        {
            "car_id": np.arange(first_id, first_id + rows),
            "listed_at": pd.date_range(start, periods=rows, freq="2min").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "age_years": age,
            "km_driven": km,
            "fuel": np.array(FUELS)[fuel],
            "price_new": new_price,
            "accident_count": accidents,
            "price": price,
        }
    )


if __name__ == "__main__":
    listings(20_000, seed=1, first_id=0, start="2026-08-01").to_csv("train.csv", index=False)
    week = listings(3_000, seed=2, first_id=100_000, start="2026-10-05")
    week.drop(columns=["price"]).to_csv("week-1.csv", index=False)
    week[["car_id", "price"]].to_csv("prices-week-1.csv", index=False)
    print("wrote train.csv, week-1.csv and prices-week-1.csv")
