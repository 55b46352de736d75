"""The data contract: inference on the demo data, overrides, storage, diff and validation."""

from __future__ import annotations

import io
import json
import math
import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cloudscore import demo_data as dd
from shared.contract import (
    REJECTION_COLUMNS,
    ColumnContract,
    ColumnOverride,
    DataContract,
    Reason,
    infer_contract,
    missing_columns,
    validate,
)
from shared.errors import ConfigError, DataError
from shared.project_config import ProjectConfig, parse_project_config
from shared.timestamps import is_timestamp

ROWS = 2000
CONFIG = ProjectConfig(
    model_name="loan-default",
    target=dd.LABEL_COLUMN,
    id_column=dd.ID_COLUMN,
    time_column=dd.TIME_COLUMN,
)
CATEGORIES = {
    "home_ownership": dd.HOME,
    "loan_purpose": dd.PURPOSES,
    "employment_type": dd.EMPLOYMENT,
    "region": dd.REGIONS,
    "application_channel": dd.CHANNELS,
}
INTEGERS = (
    "age",
    "term_months",
    "credit_score",
    "num_open_accounts",
    "num_delinquencies_2y",
    "num_credit_inquiries_6m",
)


def demo(bad_rows: float) -> pd.DataFrame:
    # The same seed and chunking give the same clean values: bad_rows only corrupts some rows.
    return next(dd.iter_demo_frames(ROWS, seed=1, drift=0, bad_rows=bad_rows, chunk_rows=ROWS))


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return demo(0)


@pytest.fixture(scope="module")
def bad() -> pd.DataFrame:
    return demo(0.1)


@pytest.fixture(scope="module")
def contract(clean: pd.DataFrame) -> DataContract:
    return infer_contract(clean, CONFIG)


def as_csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` written to CSV and read back as the batch path reads it: every value text."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=str, keep_default_na=False, na_values=[""])


def as_json_instances(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as the HTTP path gets it: a list of JSON objects turned into a DataFrame."""
    return pd.DataFrame(json.loads(frame.to_json(orient="records")))


def verdicts(frame: pd.DataFrame, contract: DataContract) -> list[tuple[Any, ...]]:
    rejections = validate(frame, contract).rejections
    columns = ["row_number", "column_name", "reason_code"]
    return [tuple(row) for row in rejections[columns].itertuples(index=False)]


def corrupted_row_numbers(clean: pd.DataFrame, bad: pd.DataFrame) -> set[int]:
    """1-based numbers of the rows the generator changed, found by comparing values as text."""

    def text(value: Any) -> str:
        if pd.isna(value):
            return "<missing>"
        if isinstance(value, float) and value == int(value):
            return str(int(value))
        return str(value)

    differs = clean.map(text).ne(bad.map(text)).any(axis=1).to_numpy()
    return {int(i) + 1 for i in np.flatnonzero(differs)}


# --- inference ---------------------------------------------------------------------------------


def test_inference_gives_each_demo_column_its_role_and_kind(contract: DataContract) -> None:
    roles = {c.name: c.role for c in contract.columns}
    kinds = {c.name: c.kind for c in contract.columns}
    assert roles[dd.ID_COLUMN] == "id"
    assert roles[dd.TIME_COLUMN] == "time"
    assert roles[dd.LABEL_COLUMN] == "target"
    assert contract.feature_names() == dd.FEATURE_COLUMNS
    assert kinds[dd.ID_COLUMN] == "string"
    assert kinds[dd.TIME_COLUMN] == "timestamp"
    assert {n for n in dd.FEATURE_COLUMNS if kinds[n] == "integer"} == set(INTEGERS)
    assert {n for n in dd.FEATURE_COLUMNS if kinds[n] == "categorical"} == set(CATEGORIES)
    assert kinds["has_cosigner"] == "boolean"
    assert kinds["annual_income"] == kinds["months_since_last_delinquency"] == "numeric"
    for name, allowed in CATEGORIES.items():
        assert contract.column(name).categories == tuple(sorted(allowed))
        assert contract.column(name).strict_categories


def test_inference_records_nullability_and_requirement(contract: DataContract) -> None:
    nullable = {c.name for c in contract.columns if c.nullable}
    gappy = {
        "annual_income",
        "employment_years",
        "revolving_utilization",
        "months_since_last_delinquency",
    }
    assert nullable == gappy | {dd.TIME_COLUMN}
    required = {c.name for c in contract.columns if c.required}
    assert required == {dd.ID_COLUMN, *dd.FEATURE_COLUMNS}


def test_ranges_widen_the_observed_ones_without_crossing_zero(
    contract: DataContract, clean: pd.DataFrame
) -> None:
    for name in ("age", "credit_score", "interest_rate", "loan_amount"):
        column = contract.column(name)
        low, high = float(clean[name].min()), float(clean[name].max())
        assert column.min == 0.0  # never negative in training, so never below 0
        assert column.max == pytest.approx(high + (high - low))
    assert (contract.column("credit_score").max or math.inf) < 9999  # the generator's sentinel
    assert contract.column("home_ownership").min is None
    assert contract.column(dd.LABEL_COLUMN).min is None


def test_csv_text_infers_the_same_contract_as_typed_data(
    clean: pd.DataFrame, contract: DataContract
) -> None:
    assert infer_contract(as_csv_text(clean), CONFIG) == contract


def test_overrides_are_applied_last(clean: pd.DataFrame) -> None:
    overrides = {
        "credit_score": ColumnOverride(min=300, max=850),
        "region": ColumnOverride(strict_categories=False, categories=("south", "west")),
        "age": ColumnOverride(kind="numeric", max=math.inf),
        "num_open_accounts": ColumnOverride(kind="categorical"),
        "annual_income": ColumnOverride(nullable=False),
    }
    contract = infer_contract(clean, replace(CONFIG, contract=overrides))
    assert (contract.column("credit_score").min, contract.column("credit_score").max) == (300, 850)
    region = contract.column("region")
    assert (region.categories, region.strict_categories) == (("south", "west"), False)
    age = contract.column("age")
    assert (age.kind, age.min, age.max) == ("numeric", 0.0, None)
    accounts = contract.column("num_open_accounts")
    assert accounts.kind == "categorical"
    assert accounts.min is None
    assert accounts.categories == tuple(sorted(str(v) for v in clean["num_open_accounts"].unique()))
    assert not contract.column("annual_income").nullable


def test_an_override_of_a_column_without_a_role_is_an_error(clean: pd.DataFrame) -> None:
    config = replace(CONFIG, contract={"agee": ColumnOverride(min=0)})
    with pytest.raises(ConfigError) as caught:
        infer_contract(clean, config)
    assert caught.value.name == "ProjectConfig:contract.agee"


def test_an_override_that_does_not_fit_the_inferred_kind_is_an_error(clean: pd.DataFrame) -> None:
    config = replace(CONFIG, contract={"region": ColumnOverride(min=0)})
    with pytest.raises(ConfigError) as caught:
        infer_contract(clean, config)
    assert caught.value.name == "ProjectConfig:contract.region"
    assert "found kind 'categorical'" in caught.value.problem


def test_a_configured_column_missing_from_the_data_is_named(clean: pd.DataFrame) -> None:
    with pytest.raises(ConfigError) as caught:
        infer_contract(clean.drop(columns=dd.ID_COLUMN), CONFIG)
    assert caught.value.name == "ProjectConfig:model.id_column"
    assert repr(dd.ID_COLUMN) in caught.value.problem


def test_a_time_column_that_holds_no_times_is_refused(clean: pd.DataFrame) -> None:
    config = replace(CONFIG, time_column="region")
    with pytest.raises(ConfigError) as caught:
        infer_contract(clean.drop(columns=dd.TIME_COLUMN), config)
    assert caught.value.name == "ProjectConfig:model.time_column"


# --- storage, review and diff ------------------------------------------------------------------


def test_json_round_trip_is_exact(contract: DataContract) -> None:
    text = contract.to_json()
    back = DataContract.from_json(text)
    assert back == contract
    assert back.to_json() == text
    document = json.loads(text)
    assert document["contract_version"] == 1
    assert text == json.dumps(document, sort_keys=True, indent=2)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.update(contract_version=2), "contract_version 2"),
        (lambda d: d["columns"][0].pop("kind"), "columns[0]"),
        (lambda d: d["columns"][3].update(min="low"), "columns[3].min"),
        (lambda d: d["columns"][3].update(kind="float"), "kind must be one of"),
        (lambda d: d["columns"][3].update(max=10**400), "columns[3].max: expected a number a "),
    ],
)
def test_a_damaged_contract_json_is_a_data_error(
    contract: DataContract, change: object, words: str
) -> None:
    document = json.loads(contract.to_json())
    change(document)  # type: ignore[operator]
    with pytest.raises(DataError, match=words.replace("[", r"\[").replace("]", r"\]")):
        DataContract.from_json(json.dumps(document))


@pytest.mark.parametrize("text", ["9" * 5000, "[" * 100_000 + "]" * 100_000, "{"])
def test_a_contract_json_that_json_cannot_read_is_a_data_error(text: str) -> None:
    with pytest.raises(DataError, match=r"contract\.json: not valid JSON"):
        DataContract.from_json(text)


def test_to_toml_freezes_the_contract_whatever_the_data(
    clean: pd.DataFrame, contract: DataContract
) -> None:
    reviewed = tomllib.loads(contract.to_toml())
    assert set(reviewed["contract"]) == {c.name for c in contract.columns} - {dd.LABEL_COLUMN}
    assert reviewed["contract"]["age"]["min"] == 0.0
    model = {
        "name": "loan-default",
        "target": dd.LABEL_COLUMN,
        "id_column": dd.ID_COLUMN,
        "time_column": dd.TIME_COLUMN,
    }
    data = {"model": model} | reviewed
    frozen = parse_project_config(data, "cloudscore.toml")
    assert infer_contract(clean, frozen) == contract
    # Other data (a different range of ages) gives the same contract once frozen.
    younger = clean.assign(age=clean["age"] // 2)
    assert infer_contract(younger, frozen) == contract
    assert infer_contract(younger, CONFIG) != contract


def test_to_toml_quotes_column_names_that_need_it() -> None:
    contract = DataContract(
        (
            ColumnContract("loan.amount", "feature", "numeric", nullable=False, required=True),
            ColumnContract(
                'say "hi"',
                "feature",
                "categorical",
                nullable=True,
                required=True,
                categories=("a b", "ü"),
            ),
        )
    )
    tables = tomllib.loads(contract.to_toml())["contract"]
    assert tables["loan.amount"] == {
        "kind": "numeric",
        "nullable": False,
        "min": -math.inf,
        "max": math.inf,
    }
    assert tables['say "hi"']["categories"] == ["a b", "ü"]


def test_diff_lists_every_change(contract: DataContract) -> None:
    edits: dict[str, dict[str, Any]] = {
        "age": {"kind": "numeric"},
        "credit_score": {"max": 900.0},
        "home_ownership": {"categories": ("MORTGAGE", "OWN", "SHARED")},
        "loan_amount": {"nullable": True},
    }
    kept = [replace(c, **edits.get(c.name, {})) for c in contract.columns if c.name != "region"]
    postcode = ColumnContract("postcode", "passthrough", "string", nullable=True, required=False)
    changed = DataContract((*kept, postcode))
    assert contract.diff(changed) == [
        "removed column 'region' (feature, categorical)",
        "added column 'postcode' (passthrough, string)",
        "'age': kind integer → numeric",
        "'loan_amount': nullable false → true",
        f"'credit_score': max {contract.column('credit_score').max:g} → 900",
        "'home_ownership': categories added ['SHARED'], removed ['RENT']",
    ]
    assert contract.diff(contract) == []


# --- validation --------------------------------------------------------------------------------


def test_validation_rejects_exactly_the_malformed_rows(
    clean: pd.DataFrame, bad: pd.DataFrame, contract: DataContract
) -> None:
    result = validate(bad, contract)
    rejected = set(result.rejections["row_number"])
    assert rejected == corrupted_row_numbers(clean, bad)
    assert len(rejected) == math.floor(ROWS * 0.1)
    assert len(result.valid) + result.rows_rejected == result.rows_in == ROWS
    assert set(result.valid["row_number"]).isdisjoint(rejected)
    assert list(result.rejections.columns) == list(REJECTION_COLUMNS)
    assert result.rejections["row_number"].is_monotonic_increasing


def test_validation_gives_the_reason_and_the_raw_value(
    bad: pd.DataFrame, contract: DataContract
) -> None:
    lines = validate(bad, contract).rejections
    by_row = {(r.row_number, r.column_name): r for r in lines.itertuples(index=False)}

    def line(position: int, column: str) -> tuple[str, object, str]:
        found = by_row[(position + 1, column)]
        return str(found.reason_code), found.raw_value, str(found.reason)

    junk_income = bad.index[
        pd.to_numeric(bad["annual_income"], errors="coerce").isna() & bad["annual_income"].notna()
    ]
    assert len(junk_income) > 0
    for position in junk_income:
        code, raw, reason = line(position, "annual_income")
        assert (code, raw) == (Reason.WRONG_TYPE, bad.at[position, "annual_income"])
        assert reason == f'expected a number, found "{raw}"'
    negative_age = bad.index[bad["age"] < 0]
    assert len(negative_age) > 0
    for position in negative_age:
        code, raw, reason = line(position, "age")
        assert (code, raw) == (Reason.BELOW_MIN, str(bad.at[position, "age"]))
        assert reason == f"expected >= 0, found {raw}"  # a typed number, echoed as JSON
    spaceship = bad.index[bad["home_ownership"] == "SPACESHIP"]
    assert len(spaceship) > 0
    for position in spaceship:
        code, raw, reason = line(position, "home_ownership")
        assert (code, raw) == (Reason.UNKNOWN_CATEGORY, "SPACESHIP")
        assert "one of MORTGAGE, OWN, RENT" in reason
    no_id = bad.index[bad[dd.ID_COLUMN] == ""]
    assert len(no_id) > 0
    for position in no_id:
        assert line(position, dd.ID_COLUMN)[0] == Reason.MISSING_VALUE
    impossible_score = bad.index[bad["credit_score"] == 9999]
    assert {line(p, "credit_score")[0] for p in impossible_score} == {Reason.ABOVE_MAX}


def test_csv_text_and_json_instances_get_the_same_verdicts_as_typed_data(
    bad: pd.DataFrame, contract: DataContract
) -> None:
    typed = verdicts(bad, contract)
    assert verdicts(as_csv_text(bad), contract) == typed
    assert verdicts(as_json_instances(bad), contract) == typed
    assert verdicts(bad.astype(object), contract) == typed


def test_valid_rows_come_out_typed_and_equal_to_the_clean_values(
    clean: pd.DataFrame, bad: pd.DataFrame, contract: DataContract
) -> None:
    for frame in (bad, as_csv_text(bad)):
        valid = validate(frame, contract).valid
        assert list(valid.columns) == ["row_number", *(c.name for c in contract.columns)]
        expected = clean.loc[valid.index]
        for name in ("age", "annual_income", "employment_years", "interest_rate"):
            assert valid[name].dtype == np.float64
            np.testing.assert_array_equal(valid[name], expected[name].astype(float))
        assert valid["has_cosigner"].tolist() == expected["has_cosigner"].astype(float).tolist()
        region = valid["region"]
        assert isinstance(region.dtype, pd.CategoricalDtype)
        assert tuple(region.cat.categories) == contract.column("region").categories
        assert region.astype(str).tolist() == expected["region"].tolist()
        assert valid[dd.ID_COLUMN].tolist() == expected[dd.ID_COLUMN].tolist()
        assert (valid["row_number"] == valid.index + 1).all()


def test_lenient_categories_keep_the_row_and_make_the_value_missing(
    bad: pd.DataFrame, contract: DataContract
) -> None:
    lenient = DataContract(
        tuple(
            replace(c, strict_categories=False) if c.name == "region" else c
            for c in contract.columns
        )
    )
    atlantis = bad.index[bad["region"] == "atlantis"]
    assert len(atlantis) > 0
    strict = validate(bad, contract)
    result = validate(bad, lenient)
    assert "region" not in set(result.rejections["column_name"])
    assert len(result.valid) > len(strict.valid)
    kept = result.valid[result.valid.index.isin(atlantis)]
    assert len(kept) > 0  # those whose only problem was the region
    assert kept["region"].isna().all()


def test_row_numbers_continue_from_the_first_row_number(
    bad: pd.DataFrame, contract: DataContract
) -> None:
    chunk = bad.iloc[1000:].reset_index(drop=True)
    result = validate(chunk, contract, first_row_number=1001)
    whole = validate(bad, contract)
    assert (
        result.valid["row_number"].tolist()
        == whole.valid["row_number"][whole.valid["row_number"] > 1000].tolist()
    )
    later = whole.rejections[whole.rejections["row_number"] > 1000].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.rejections, later)


def test_a_missing_required_column_rejects_every_row(
    clean: pd.DataFrame, contract: DataContract
) -> None:
    frame = clean.head(5).drop(columns=["age", dd.TIME_COLUMN, dd.LABEL_COLUMN])
    result = validate(frame, contract)
    assert result.valid.empty
    assert set(result.rejections["reason_code"]) == {Reason.MISSING_COLUMN}
    assert result.rejections["column_name"].tolist() == ["age"] * 5
    assert result.rejections["raw_value"].isna().all()


def test_missing_columns_lists_the_required_ones_absent_from_a_header(
    contract: DataContract,
) -> None:
    header = [c.name for c in contract.columns if c.name not in ("age", "region")]
    assert missing_columns([*header, "unrelated"], contract) == ["age", "region"]
    optional = [dd.ID_COLUMN, *dd.FEATURE_COLUMNS]
    assert missing_columns(optional, contract) == []


SMALL = DataContract((
    ColumnContract("n", "feature", "numeric", nullable=True, required=True, min=-10, max=10),
    ColumnContract("i", "feature", "integer", nullable=True, required=True),
    ColumnContract("b", "feature", "boolean", nullable=True, required=True),
    ColumnContract("t", "feature", "timestamp", nullable=True, required=True),
))  # fmt: skip


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("n", "12k", Reason.WRONG_TYPE), ("n", "n/a", Reason.WRONG_TYPE),
        ("n", "nan", Reason.NOT_FINITE), ("n", "-inf", Reason.NOT_FINITE),
        ("n", float("inf"), Reason.NOT_FINITE), ("n", "11", Reason.ABOVE_MAX),
        ("n", -10.5, Reason.BELOW_MIN), ("n", True, Reason.WRONG_TYPE),
        ("i", "35.5", Reason.WRONG_TYPE), ("i", 35.5, Reason.WRONG_TYPE),
        ("b", "maybe", Reason.WRONG_TYPE), ("b", 2, Reason.WRONG_TYPE),
        ("t", "01/07/2024", Reason.WRONG_TYPE),
    ],
)  # fmt: skip
def test_a_bad_value_is_rejected_with_its_reason(
    column: str, value: object, reason: Reason
) -> None:
    frame = pd.DataFrame(
        {"n": [1.0, 2.0], "i": [1, 2], "b": [True, False], "t": ["2024-07-01"] * 2}
    )
    frame[column] = pd.Series([frame[column][0], value], dtype=object)
    result = validate(frame, SMALL)
    assert [
        tuple(r)
        for r in result.rejections[["row_number", "column_name", "reason_code"]].itertuples(
            index=False
        )
    ] == [(2, column, reason)]
    assert result.valid["row_number"].tolist() == [1]


def test_accepted_spellings_are_read_as_their_kind() -> None:
    frame = pd.DataFrame({
        "n": [" 4 ", "1e0", "", "-3.5"],
        "i": ["35", "35.0", None, "+7"],
        "b": ["TRUE", "no", "Y", "0"],
        "t": ["2024-07-01", "2024-07-01T10:00:00Z", "2024-07-01T12:00:00+02:00", " "],
    })  # fmt: skip
    result = validate(frame, SMALL)
    assert result.rejections.empty
    valid = result.valid
    assert valid["n"].tolist()[:2] == [4.0, 1.0]
    assert math.isnan(valid["n"][2])
    assert valid["i"].tolist()[:2] == [35.0, 35.0]
    assert valid["b"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert str(valid["t"].dtype).startswith("datetime64")
    assert valid["t"][2] == pd.Timestamp("2024-07-01T10:00:00Z")
    assert pd.isna(valid["t"][3])


def test_an_empty_chunk_gives_empty_results(clean: pd.DataFrame, contract: DataContract) -> None:
    result = validate(clean.head(0), contract)
    assert (result.rows_in, len(result.valid), result.rows_rejected) == (0, 0, 0)
    assert list(result.rejections.columns) == list(REJECTION_COLUMNS)
    assert "row_number" in result.valid.columns


def test_values_with_blanks_around_them_read_as_the_trimmed_values() -> None:
    # A column whose values all read as given skips the trimming; one value with blanks around
    # it must not change any verdict or value.
    contract = DataContract((
        ColumnContract("n", "feature", "numeric", nullable=False, required=True),
        ColumnContract("b", "feature", "boolean", nullable=False, required=True),
        ColumnContract(
            "c", "feature", "categorical", nullable=False, required=True, categories=("x", "y")
        ),
    ))  # fmt: skip
    plain = pd.DataFrame({"n": ["1", "2.5", "3"], "b": ["yes", "0", "T"], "c": ["x", "y", "x"]})
    padded = pd.DataFrame(
        {"n": ["1", " 2.5", "3"], "b": ["yes", "0 ", "T"], "c": ["x", "\ty ", "x"]}
    )
    expected = validate(plain, contract)
    assert expected.rejections.empty
    for frame in (padded, padded.astype("str")):
        result = validate(frame, contract)
        assert result.rejections.empty
        pd.testing.assert_frame_equal(result.valid, expected.valid)
    blank = validate(padded.assign(n=["1", "  ", "3"], c=["x", "y", " "]), contract)
    assert [tuple(r) for r in blank.rejections[["row_number", "column_name"]].values] == [
        (2, "n"),
        (3, "c"),
    ]


TIMESTAMP_SPELLINGS = [
    "2024-07-01", "2024-07-01T12", "2024-07-01 12:00", "2024-07-01T12:00:00.123456",
    "2024-07-01T12:00:00.123456789", "2024-07-01T12:00:00Z", "2024-07-01T12:00:00+02:00",
    "0001-01-01", "1000-01-01", "1677-09-21", "1677-09-22T00:00:00", "2262-04-11", "2262-04-12",
    "9999-12-31", "2024-02-29", "2023-02-29", "2024-13-01", "2024-07-01T24:00:00",
    "2024-07-01T12:00:60", " 2024-07-01 ", "20240701", "2024-7-1", "01/07/2024", "", "  ",
    "2024-07-01T12:00:00.", "2024", "2024-07", "2024-07-01T1200", "2024-07-01T12:00:00,5",
    "2024-W27", "2024-W27-1", "2024-07-01t12:00", "+2024-07-01",
]  # fmt: skip


@pytest.mark.parametrize("values", [[v] for v in TIMESTAMP_SPELLINGS] + [TIMESTAMP_SPELLINGS])
def test_a_timestamp_gets_the_grammars_verdict_whatever_else_its_column_holds(
    values: list[str],
) -> None:
    # A value's verdict is its own: pandas' reading took year 1000 alone but not beside a value
    # with nine decimals. A time column is only checked, a feature carried parsed too.
    contract = DataContract((
        ColumnContract("at", "time", "timestamp", nullable=True, required=False),
        ColumnContract("f", "feature", "timestamp", nullable=True, required=True),
    ))  # fmt: skip
    frame = pd.DataFrame({"at": values, "f": values}, dtype=object)
    result = validate(frame, contract)
    found = result.rejections
    expected = [n for n, v in enumerate(values, 1) if v.strip() and not is_timestamp(v.strip())]
    for name in ("at", "f"):
        assert found.loc[found["column_name"] == name, "row_number"].tolist() == expected
    # The time column is carried as given; every accepted feature value is read, to the
    # microsecond, as Python reads it.
    assert result.valid["at"].tolist() == frame.loc[result.valid.index, "at"].tolist()
    for text, parsed in zip(frame.loc[result.valid.index, "f"], result.valid["f"], strict=True):
        if not text.strip():
            assert pd.isna(parsed)
            continue
        moment = datetime.fromisoformat(text.strip().replace(".123456789", ".123456"))
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        assert parsed.to_pydatetime() == utc
