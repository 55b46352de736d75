"""How a model is stored: in files that cannot run code when they are read.

    files = model_files(model, scorer)   # the files of a ScoringModel, by name
    card = ModelCard.from_bytes(files[CARD_FILE])
    model = load_model(card, files)      # a ScoringModel again, or ModelFormatError

    model.json      the card: task, family, features, threshold, labels (binary) or classes
                    (multiclass), calibrator, library versions, and which of the files below
                    hold the estimator and its scorer (a card without a task is binary: cards
                    written before other tasks existed)
    booster.ubj     an XGBoost booster, in XGBoost's own format (UBJSON)
    booster.onnx    the same booster as an ONNX graph, which the HTTP function scores
                    (`shared.onnx_export`); absent when the conversion was refused
    pipeline.skops  a scikit-learn pipeline, in skops' format: only the types listed in
                    `TRUSTED_TYPES` are accepted, and the file is refused before anything in it
                    is built when it names any other

None of them is a pickle. Versions written before this format hold `model.joblib`, which
cloudscore no longer reads: `old_format_error` says how to move such a version.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from shared.errors import ModelFormatError, UsageError
from shared.model import (
    Calibrator,
    FeatureSpec,
    IsotonicCalibrator,
    Label,
    ScoringModel,
    SigmoidCalibrator,
)
from shared.tasks import TASKS, Task

CARD_FILE: Final = "model.json"
BOOSTER_FILE: Final = "booster.ubj"
SCORER_FILE: Final = "booster.onnx"
PIPELINE_FILE: Final = "pipeline.skops"
# What versions written before this format hold: a joblib pickle, never read again.
OLD_MODEL_FILE: Final = "model.joblib"
FORMAT: Final = 1

# Every type a cloudscore pipeline holds (`shared.training.sklearn_fit`): its preprocessing, the
# three scikit-learn families (classifiers, and regressors where the family has one) and what
# their fitted state is made of. A skops file that names
# any other type is refused unread. (A scikit-learn release that moves one of these classes
# makes its models refused too, with the type named: retrain, or add it here after review.)
TRUSTED_TYPES: Final = (
    "builtins.bool",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
)


@dataclass(frozen=True)
class ModelCard:
    """What `model.json` holds: everything about a model but its estimator."""

    family: str
    features: tuple[FeatureSpec, ...]
    threshold: float
    positive_label: Label
    negative_label: Label
    calibrator: Calibrator | None
    estimator_file: str
    scorer_file: str | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    task: Task = "binary_classification"
    classes: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        document = {
            "format": FORMAT,
            "task": self.task,
            "family": self.family,
            "features": [
                {"name": f.name, "kind": f.kind, "categories": _list(f.categories)}
                for f in self.features
            ],
            "threshold": self.threshold,
            "positive_label": self.positive_label,
            "negative_label": self.negative_label,
            "classes": list(self.classes),
            "calibrator": _calibrator_json(self.calibrator),
            "estimator_file": self.estimator_file,
            "scorer_file": self.scorer_file,
            "versions": dict(self.versions),
        }
        return json.dumps(document, indent=2, allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = CARD_FILE) -> ModelCard:
        try:
            document = json.loads(data)
            if document.get("format") != FORMAT:
                raise ModelFormatError(
                    f"{where}: format {document.get('format')!r}, this cloudscore reads {FORMAT}"
                )
            return cls(
                family=document["family"],
                features=tuple(
                    FeatureSpec(f["name"], f["kind"], _tuple(f["categories"]))
                    for f in document["features"]
                ),
                threshold=float(document["threshold"]),
                positive_label=document["positive_label"],
                negative_label=document["negative_label"],
                calibrator=_calibrator_of(document["calibrator"]),
                estimator_file=document["estimator_file"],
                scorer_file=document.get("scorer_file"),
                versions=dict(document.get("versions") or {}),
                task=_task(document.get("task", "binary_classification")),
                classes=tuple(str(c) for c in document.get("classes") or ()),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelFormatError(f"{where} is not a model card: {exc}") from exc

    def model_files(self) -> tuple[str, ...]:
        """The files the card names, itself first."""
        return (CARD_FILE, self.estimator_file, *((self.scorer_file,) if self.scorer_file else ()))


def model_files(model: ScoringModel, scorer: bytes | None = None) -> dict[str, bytes]:
    """The files that store `model`; `scorer`: its booster as ONNX, when it converted."""
    if model.family == "xgboost":
        estimator_file, estimator = BOOSTER_FILE, bytes(model.estimator.save_raw("ubj"))
    else:
        import skops.io

        estimator_file = PIPELINE_FILE
        estimator = canonical_skops(skops.io.dumps(model.estimator))
    card = ModelCard(
        family=model.family,
        features=model.features,
        threshold=float(model.threshold),
        positive_label=_plain(model.positive_label),
        negative_label=_plain(model.negative_label),
        calibrator=model.calibrator,
        estimator_file=estimator_file,
        scorer_file=SCORER_FILE if scorer is not None else None,
        versions=dict(model.versions),
        task=model.task,
        classes=model.classes,
    )
    files = {CARD_FILE: card.to_bytes(), estimator_file: estimator}
    if scorer is not None:
        files[SCORER_FILE] = scorer
    return files


def canonical_skops(data: bytes) -> bytes:
    """A skops file written so that the same pipeline always gives the same bytes: skops names
    each object by its memory address (`__id__`, and the arrays' file names) and stamps each
    entry with the time; here they are numbered in the order the schema first names them, and
    every entry dated 1980-01-01, so that reproducible training gives a reproducible file."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    numbers: dict[int, int] = {}
    renamed: dict[str, str] = {}

    def number(value: int) -> int:
        return numbers.setdefault(value, len(numbers) + 1)

    pending: list[Any] = [schema]
    while pending:
        node = pending.pop(0)
        if isinstance(node, dict):
            if isinstance(node.get("__id__"), int):
                node["__id__"] = number(node["__id__"])
            name = node.get("file")
            if isinstance(name, str) and name.endswith(".npy") and name[:-4].isdigit():
                fresh = renamed.setdefault(name, f"{number(int(name[:-4]))}.npy")
                node["file"] = fresh
            pending += node.values()
        elif isinstance(node, list):
            pending += node
    entries["schema.json"] = json.dumps(schema, indent=2).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(entries, key=lambda n: renamed.get(n, n)):
            info = zipfile.ZipInfo(renamed.get(name, name), date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, entries[name])
    return out.getvalue()


def load_model(card: ModelCard, files: Mapping[str, bytes], where: str = "") -> ScoringModel:
    """The ScoringModel of a card and its files (verified bytes), single-threaded."""
    data = files[card.estimator_file]
    name = f"{where}{card.estimator_file}"
    if card.estimator_file == BOOSTER_FILE:
        estimator = _booster(data, name)
    elif card.estimator_file == PIPELINE_FILE:
        estimator = _pipeline(data, name)
    else:
        raise ModelFormatError(f"{name}: not a model file cloudscore reads")
    try:
        return _scoring_model(card, estimator)
    except UsageError as exc:
        raise ModelFormatError(f"{where}{CARD_FILE}: {exc}") from exc


def _scoring_model(card: ModelCard, estimator: Any) -> ScoringModel:
    return ScoringModel(
        family=card.family,
        features=card.features,
        estimator=estimator,
        threshold=card.threshold,
        positive_label=card.positive_label,
        negative_label=card.negative_label,
        calibrator=card.calibrator,
        versions=card.versions,
        task=card.task,
        classes=card.classes,
    )


def old_format_error(where: str, version: str) -> ModelFormatError:
    return ModelFormatError(
        f"{where}: version {version} is stored in the old format ({OLD_MODEL_FILE}, a pickle), "
        "which cloudscore no longer loads: reading it would run whatever code it holds. Move it "
        f"with `cloudscore models migrate --version {version}` (run by someone who trusts the "
        "file: it is read once, and written again as a new version in formats that cannot run "
        "code), or retrain (`cloudscore train`)"
    )


def _booster(data: bytes, name: str) -> Any:
    import xgboost

    if not data.startswith(b"{"):  # UBJSON, as JSON, opens an object
        raise ModelFormatError(f"{name} is not an XGBoost model (UBJSON)")
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgboost.core.XGBoostError as exc:
        raise ModelFormatError(f"{name} is not an XGBoost model: {exc}") from exc
    booster.set_param({"nthread": 1})
    return booster


def _pipeline(data: bytes, name: str) -> Any:
    import skops.io

    untrusted = sorted(set(_named_types(data, name)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ModelFormatError(
            f"{name} holds types outside the trusted list (shared/model_format.py "
            f"TRUSTED_TYPES): {', '.join(untrusted[:10])}; refused unread"
        )
    try:
        return skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises many kinds on a malformed file
        raise ModelFormatError(f"{name} cannot be read as a skops file: {exc}") from exc


def _named_types(data: bytes, name: str) -> Iterator[str]:
    """Every type a skops file's schema names, read as JSON: nothing in it is built."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelFormatError(f"{name} is not a skops file: {exc}") from exc
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if "__class__" in node or "__module__" in node:
                yield f"{node.get('__module__')}.{node.get('__class__')}"
            pending += node.values()
        elif isinstance(node, list):
            pending += node


def _plain(label: Any) -> Label:
    """A NumPy scalar label as the Python value JSON writes."""
    value: Label = label.item() if isinstance(label, np.generic) else label
    return value


def _task(name: object) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; this cloudscore knows {', '.join(TASKS)}")
    return next(task for task in TASKS if task == name)


def _tuple(categories: list[str] | None) -> tuple[str, ...] | None:
    return None if categories is None else tuple(categories)


def _list(categories: tuple[str, ...] | None) -> list[str] | None:
    return None if categories is None else list(categories)


def _calibrator_json(calibrator: Calibrator | None) -> dict[str, Any] | None:
    if calibrator is None:
        return None
    if isinstance(calibrator, SigmoidCalibrator):
        return {"method": "sigmoid", "slope": calibrator.slope, "intercept": calibrator.intercept}
    return {
        "method": "isotonic",
        "knots_x": np.asarray(calibrator.knots_x, dtype=np.float64).tolist(),
        "knots_y": np.asarray(calibrator.knots_y, dtype=np.float64).tolist(),
    }


def _calibrator_of(document: Mapping[str, Any] | None) -> Calibrator | None:
    if document is None:
        return None
    if document["method"] == "sigmoid":
        return SigmoidCalibrator(float(document["slope"]), float(document["intercept"]))
    if document["method"] == "isotonic":
        return IsotonicCalibrator(
            np.asarray(document["knots_x"], dtype=np.float64),
            np.asarray(document["knots_y"], dtype=np.float64),
        )
    raise ValueError(f"unknown calibrator {document['method']!r}")
