"""The HTTP predictor's use case: a request in, a reply out (status, JSON body, headers).

    service = PredictionService(models, settings, log)
    reply = service.handle(HttpRequest(...), request_id)

Per instance of the function: the model cache (versions stay loaded; an alias is re-read at
most every `model_refresh_s`), one `Predictor` and `InstanceChecker` per version, the
prediction log, and in shadow mode one thread that scores each request with the challenger
after the answer is sent. Safe under concurrent requests: everything shared is either immutable
once built or guarded.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from shared.config import PredictConfig
from shared.errors import (
    ApiError,
    CloudscoreError,
    RegistryError,
    TransientError,
    VersionNotFound,
)
from shared.model_cache import ModelCache
from shared.registry import ModelVersion
from shared.serving.answers import answer_json, error_json, to_json
from shared.serving.instance_check import InstanceChecker, ModelInput
from shared.serving.openapi import openapi_text
from shared.serving.prediction_log import PredictionLog
from shared.serving.predictor import Explanation, NotExplainable, Predictor
from shared.serving.request import HttpRequest, PredictRequest, Route, parse_request
from shared.serving.request_body import Limits
from shared.tasks import TaskDefinition, definition
from shared.values import label_text, record_id

_log = logging.getLogger(__name__)
# The families whose predictions `explain=true` explains (`Predictor.explain`).
EXPLAINED_FAMILIES: Final = frozenset({"xgboost", "logistic_regression"})
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})


class Reply(NamedTuple):
    """The answer to a request: its status, its JSON text and its own headers."""

    status: int
    text: str
    headers: Mapping[str, str] = _NO_HEADERS

    @classmethod
    def of(cls, status: int, document: Any, headers: Mapping[str, str] = _NO_HEADERS) -> Reply:
        return cls(status, to_json(document), headers)


@dataclass(frozen=True)
class Served:
    """A model version ready to answer: how to check its instances and score them."""

    version: str
    family: str
    checker: InstanceChecker
    predictor: Predictor
    id_field: str | None
    label_texts: Mapping[Any, str]  # binary: each label of the model as labels are spelled

    @property
    def task(self) -> TaskDefinition:
        return definition(self.predictor.task)

    @classmethod
    def of(cls, loaded: ModelVersion) -> Served:
        card, contract = loaded.card, loaded.contract_document
        inputs = [ModelInput(f.name, f.categories) for f in card.features]
        id_field = next((c["name"] for c in contract["columns"] if c["role"] == "id"), None)
        return cls(
            loaded.version, card.family, InstanceChecker(contract, inputs),
            Predictor.of_version(loaded), id_field,
            {label: label_text(label) for label in (card.positive_label, card.negative_label)},
        )  # fmt: skip


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is a sane token, else a new random one (a version 4
    UUID in hex): random, not counted, so that an id a client sees does not reveal how many
    requests an instance served."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class PredictionService:
    def __init__(
        self, models: ModelCache, settings: PredictConfig, log: PredictionLog | None = None
    ) -> None:
        self.models = models
        self.settings = settings
        self.log = log
        self.limits = Limits(settings.max_body_bytes, settings.max_instances)
        self._served: dict[str, Served] = {}
        self._model_texts: dict[tuple[str, str | None], str] = {}
        self._documents: dict[str, str] = {}  # the API document per champion version
        self._lock = threading.Lock()
        self._shadow = ThreadPoolExecutor(1, "shadow") if settings.shadow else None

    def close(self) -> None:
        """Finish the shadow predictions under way, then load what the log holds."""
        if self._shadow is not None:
            self._shadow.shutdown(wait=True)
        if self.log is not None:
            self.log.close()

    def handle(self, request: HttpRequest, request_id: str) -> Reply:
        try:
            return self._answer(request, request_id)
        except Exception:  # a failure, or a refusal whose answer could not be written
            _log.exception("request %s failed", request_id)
            message = f"internal error; the logs hold its details under request id {request_id}"
            return Reply.of(500, error_json(ApiError(500, message), request_id))

    def _answer(self, request: HttpRequest, request_id: str) -> Reply:
        started = time.perf_counter()
        try:
            parsed = parse_request(request, self.limits)
            if isinstance(parsed, Route):
                return self._route(parsed)
            return self._predict(parsed, request_id, started)
        except ApiError as exc:
            headers = {"Allow": exc.allow} if exc.allow else _NO_HEADERS
            return Reply.of(exc.status, error_json(exc, request_id), headers)
        except CloudscoreError as exc:
            status = 503 if exc.retryable or isinstance(exc, RegistryError) else exc.http_status
            _log.warning("request %s: %s: %s", request_id, type(exc).__name__, exc)
            return Reply.of(status, error_json(ApiError(status, str(exc)), request_id))

    def served(self, version: str) -> Served:
        # Read without the lock: a dict look-up is atomic, and entries are only ever added.
        found = self._served.get(version)
        if found is None:
            found = Served.of(self.models.get_version(version))
            with self._lock:
                found = self._served.setdefault(version, found)
        return found

    def _document(self) -> str:
        """The API document, its instances the champion's contract (without a champion, the
        document alone)."""
        try:
            version = self.models.get("champion").version
        except (VersionNotFound, TransientError, RegistryError):
            return openapi_text(max_instances=self.limits.max_instances)
        text = self._documents.get(version)
        if text is None:
            served = self.served(version)
            text = openapi_text(
                served.checker.contract,
                max_instances=self.limits.max_instances,
                explainable=served.family in EXPLAINED_FAMILIES,
                version=version,
                task=served.predictor.task,
            )
            self._documents[version] = text
        return text

    def _route(self, route: Route) -> Reply:
        if route.name == "openapi":
            return Reply(200, self._document())
        name = self.models.registry.model_name
        try:
            version = self.models.get("champion").version
            served = self.served(version)
        except (VersionNotFound, TransientError, RegistryError) as exc:
            return Reply.of(503, {"status": "unavailable", "message": str(exc)})
        model = {
            "name": name,
            "version": served.version,
            "alias": "champion",
            "family": served.family,
            "task": served.predictor.task,
            "features": list(served.predictor.feature_names),
        }
        return Reply.of(200, {"status": "ok", "model": model})

    def _predict(self, request: PredictRequest, request_id: str, started: float) -> Reply:
        version, alias = self._choose(request)
        served = self.served(version)
        rows, problems = served.checker.check(request.instances)
        if problems:
            count = len({p.instance for p in problems})
            raise ApiError(
                400,
                f"{count} of {len(request.instances)} instances are not valid for model "
                f"version {version}",
                problems,
            )
        predicted = _predictions(served, rows)
        if request.explain:
            text = self._explained(served, rows, predicted, alias=alias, request_id=request_id)
        else:
            text = answer_json(predicted.answers(), self._model_json(version, alias), request_id)
        latency_ms = (time.perf_counter() - started) * 1000
        if self.log is not None and self.log.sampled():
            self.log.record(
                self._log_rows(
                    request,
                    served,
                    predicted,
                    alias=alias,
                    request_id=request_id,
                    latency_ms=latency_ms,
                )
            )
            if self._shadow is not None and alias == "champion":
                self._shadow.submit(self._score_shadow, request, version, request_id)
        return Reply(200, text)

    def _model(self, version: str, alias: str | None) -> dict[str, Any]:
        return {"name": self.models.registry.model_name, "version": version, "alias": alias}

    def _model_json(self, version: str, alias: str | None) -> str:
        """The answer's "model" part, written once per version and alias."""
        key = (version, alias)
        text = self._model_texts.get(key)
        if text is None:
            text = self._model_texts.setdefault(key, to_json(self._model(version, alias)))
        return text

    def _explained(
        self,
        served: Served,
        rows: list[list[float]],
        predicted: Predicted,
        *,
        alias: str | None,
        request_id: str,
    ) -> str:
        """The answer with each prediction's contributions, bias and margin (a multiclass
        model's: per class, under "explanations")."""
        try:
            if served.task.has_probabilities:
                per_class = served.predictor.explain_classes(rows)
                extra = [
                    {"explanations": {label: _explained(e) for label, e in row.items()}}
                    for row in per_class
                ]
            else:
                extra = [_explained(e) for e in served.predictor.explain(rows)]
        except NotExplainable as exc:
            raise ApiError(400, str(exc)) from exc
        predictions = [
            answer | more for answer, more in zip(predicted.answers(), extra, strict=True)
        ]
        return to_json(
            {
                "predictions": predictions,
                "model": self._model(served.version, alias),
                "request_id": request_id,
            }
        )

    def _choose(self, request: PredictRequest) -> tuple[str, str | None]:
        if request.version is not None:
            try:
                self.served(request.version)  # loaded once, then served from memory
                expected = request.alias
                pointed = None if expected is None else self.models.get(expected).version
            except VersionNotFound as exc:
                raise ApiError(404, str(exc)) from exc
            if pointed is not None and pointed != request.version:
                raise ApiError(
                    409, f"alias {expected} points at version {pointed}, not {request.version}"
                )
            return request.version, request.alias
        alias = request.alias or "champion"
        try:
            # The version checked against its alias on every request: a cheap comparison, and
            # a version first served by its id may since have been promoted.
            return self.models.get(alias).version, alias
        except VersionNotFound as exc:
            if alias == "champion":
                raise  # no model is served yet: 503
            raise ApiError(404, str(exc)) from exc

    def _score_shadow(self, request: PredictRequest, champion: str, request_id: str) -> None:
        """The challenger's predictions for a request the champion answered, logged beside."""
        try:
            version = self.models.get("challenger").version
            if version == champion:
                return
            started = time.perf_counter()
            served = self.served(version)
            rows, problems = served.checker.check(request.instances)
            if problems:
                _log.info("shadow %s: challenger %s refuses the request", request_id, version)
                return
            predicted = _predictions(served, rows)
            latency_ms = (time.perf_counter() - started) * 1000
            rows_out = self._log_rows(
                request,
                served,
                predicted,
                alias="challenger",
                request_id=request_id,
                latency_ms=latency_ms,
                shadow=True,
            )
            if self.log is not None:
                self.log.record(rows_out)
        except Exception as exc:  # the shadow never affects the answer, nor the server
            _log.warning("shadow %s: %s: %s", request_id, type(exc).__name__, exc)

    def _log_rows(
        self,
        request: PredictRequest,
        served: Served,
        predicted: Predicted,
        *,
        alias: str | None,
        request_id: str,
        latency_ms: float,
        shadow: bool = False,
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        name = self.models.registry.model_name
        return [
            {
                "request_id": request_id,
                "instance_index": index,
                "record_id": record_id(instance.get(served.id_field)) if served.id_field else None,
                "inputs": inputs_text(instance),
                "predicted_label": label,
                "score": score,
                "model_name": name,
                "model_version": served.version,
                "alias": alias,
                "shadow": shadow,
                "latency_ms": latency_ms,
                "predicted_at": now,
                "probabilities": None if probabilities is None else to_json(probabilities),
            }
            for index, (instance, label, score, probabilities) in enumerate(
                zip(
                    request.instances,
                    predicted.labels,
                    predicted.scores,
                    predicted.probabilities or _NO_PROBABILITIES * len(predicted.scores),
                    strict=True,
                )
            )
        ]


# Strict JSON: `json.dumps` writes an infinite number as Infinity, which no JSON reader takes.
_NO_PROBABILITIES: Final[list[dict[str, float] | None]] = [None]
_LOG_ENCODER: Final = json.JSONEncoder(default=str, allow_nan=False)


def inputs_text(instance: dict[str, Any]) -> str:
    """An instance as the log's `inputs` holds it: JSON, with a number JSON cannot hold (which
    a field the contract does not check may carry: 1e400 reads as inf) written as its text."""
    try:
        return _LOG_ENCODER.encode(instance)
    except ValueError:
        return _LOG_ENCODER.encode(_non_finite_as_text(instance))


def _non_finite_as_text(value: Any) -> Any:
    # Recursion is safe: a body nested deeper than `shared.json_values.MAX_DEPTH` is refused.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _non_finite_as_text(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_non_finite_as_text(child) for child in value]
    return value


@dataclass(frozen=True)
class Predicted:
    """The predictions of a request's checked instances, as the answer and the log hold them
    (what each task gives is `shared.tasks`')."""

    task: TaskDefinition
    labels: list[str | None]  # spelled as labels are (`shared.values.label_text`)
    scores: list[float]  # P(positive), P(the predicted class), or the value
    probabilities: list[dict[str, float]] | None  # multiclass

    def answers(self) -> list[dict[str, Any]]:
        if not self.task.labelled:
            return [{"value": value} for value in self.scores]
        if self.probabilities is None:
            return [
                {"label": label, "score": score}
                for label, score in zip(self.labels, self.scores, strict=True)
            ]
        return [
            {"label": label, "score": score, "probabilities": probabilities}
            for label, score, probabilities in zip(
                self.labels, self.scores, self.probabilities, strict=True
            )
        ]


def _predictions(served: Served, rows: list[list[float]]) -> Predicted:
    """The predictions of the checked instances."""
    task = served.task
    if task.output == "probability":
        scores = served.predictor.scores(rows)
        spelled = served.label_texts
        labels: list[str | None] = [spelled[label] for label in served.predictor.labels(scores)]
        return Predicted(task, labels, scores, None)
    outputs = served.predictor.outputs(rows)
    if task.output == "value":
        values: list[float] = outputs.tolist()
        return Predicted(task, [None] * len(values), values, None)
    classes = served.predictor.classes
    chosen = outputs.argmax(axis=1).tolist()
    matrix: list[list[float]] = outputs.tolist()
    return Predicted(
        task,
        [classes[index] for index in chosen],
        [row[index] for row, index in zip(matrix, chosen, strict=True)],
        [dict(zip(classes, row, strict=True)) for row in matrix],
    )


def _explained(explanation: Explanation) -> dict[str, Any]:
    return {
        "contributions": explanation.contributions,
        "bias": explanation.bias,
        "margin": explanation.margin,
    }
