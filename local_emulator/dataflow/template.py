"""The pipeline's Flex Template as the local cloud publishes and checks it.

The deployment's template is built from infra/pipeline/ (its Dockerfile and metadata.json) by
`cloudscore deploy pipeline`; the local cloud publishes a spec with the same metadata to its
pipeline bucket, naming a local image that nothing pulls: the local Dataflow runs the pipeline
from this checkout. At launch it checks the parameters against the metadata as Dataflow does:
each required parameter given, each given one declared and matching its regexes
(https://cloud.google.com/dataflow/docs/guides/templates/configuring-flex-templates, "Metadata").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from local_emulator.iam.hcl import INFRA

METADATA: Final = INFRA / "pipeline" / "metadata.json"
LOCAL_IMAGE: Final = "cloudscore-pipeline:local"


def metadata(path: Path = METADATA) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def template_spec(image: str = LOCAL_IMAGE, path: Path = METADATA) -> dict[str, Any]:
    """The spec file of a Python Flex Template (what `gcloud dataflow flex-template build`
    writes): the image, the SDK's language and the metadata."""
    return {"image": image, "sdkInfo": {"language": "PYTHON"}, "metadata": metadata(path)}


def parameter_problems(spec: Mapping[str, Any], parameters: Mapping[str, str]) -> list[str]:
    """What is wrong with `parameters` for the template `spec`; empty when nothing."""
    declared = {p["name"]: p for p in (spec.get("metadata") or {}).get("parameters", [])}
    problems = [
        f"the template's required parameter {name!r} is missing"
        for name, parameter in declared.items()
        if not parameter.get("isOptional") and name not in parameters
    ]
    for name, value in parameters.items():
        parameter = declared.get(name)
        if parameter is None:
            problems.append(
                f"parameter {name!r} is not declared by the template (declared: "
                f"{', '.join(sorted(declared))})"
            )
            continue
        regexes = parameter.get("regexes") or []
        if regexes and not any(re.search(r, value) for r in regexes):
            problems.append(
                f"parameter {name!r} does not match the template's pattern {regexes[0]!r}: "
                f"{value[:200]!r}"
            )
    return problems
