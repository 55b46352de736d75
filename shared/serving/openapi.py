"""The API document (`GET /openapi.json`): `shared/serving/openapi.json`, with the instances of the
model version served described by its data contract.

    openapi_document(contract=None, max_instances=None, explainable=True, task=None) -> dict
    openapi_text(...) -> str                                   the same, written as JSON

The contract's JSON Schema (`DataContract.instance_schema`) accepts exactly what the contract
check accepts, so a client generator or an API fuzzer sends what is answered: a request the
document allows is scored (or refused by a limit the document also states), one it does not
allow is a 4xx. With the served model's `task`, a prediction is that task's (`shared.tasks`):
the document says which fields the answers hold.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from shared.schema import DataContract
from shared.serving.answers import to_json
from shared.tasks import definition


@cache
def _base() -> dict[str, Any]:
    text = resources.files("shared.serving").joinpath("openapi.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def openapi_document(
    contract: DataContract | None = None,
    *,
    max_instances: int | None = None,
    explainable: bool = True,
    version: str | None = None,
    task: str | None = None,
) -> dict[str, Any]:
    """The document; with `contract`, its instances are that contract's, `max_instances` the
    most a request holds, `explain=true` left out when the model has no explanation, and each
    prediction the `task`'s."""
    document = copy.deepcopy(_base())
    schemas = document["components"]["schemas"]
    if task is not None:
        schemas["Prediction"] = {"$ref": f"#/components/schemas/{definition(task).answer_schema}"}
    if contract is not None:
        instance = contract.instance_schema()
        instance.pop("$schema")
        described = f"The data contract of model version {version}" if version else ""
        schemas["Instance"] = {**instance, "description": described or schemas["Instance"]}
    if max_instances is not None:
        schemas["Instances"]["properties"]["instances"]["maxItems"] = max_instances
    if not explainable:
        predict = document["paths"]["/"]["post"]
        for parameter in predict["parameters"]:
            if parameter["name"] == "explain":
                parameter["schema"]["pattern"] = r"^\s*(?:[Ff][Aa][Ll][Ss][Ee]|0)?\s*$"
                parameter["description"] += " This model has no explanation."
    return document


def openapi_text(
    contract: DataContract | None = None,
    *,
    max_instances: int | None = None,
    explainable: bool = True,
    version: str | None = None,
    task: str | None = None,
) -> str:
    """The document as the encoder writes it (compact, non-ASCII escaped)."""
    return to_json(
        openapi_document(
            contract,
            max_instances=max_instances,
            explainable=explainable,
            version=version,
            task=task,
        )
    )
