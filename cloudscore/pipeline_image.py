"""The pipeline's Flex Template as `cloudscore deploy` publishes it: the image's build context and
the two commands that publish it.

    .cloudscore/deploy/pipeline/   Dockerfile (infra/pipeline/Dockerfile, its Python and Beam
                                   images those of this environment), main.py, requirements.txt
                                   (the runtime dependencies and Beam, pinned to the versions
                                   installed here), src/ (the shared and cloudscore packages)

The image is tagged by the context's sha256: the same sources and pins are the same tag, and a
deploy with nothing changed builds nothing new. Cloud Build builds and pushes it
(`gcloud builds submit`), then `gcloud dataflow flex-template build` writes the template's spec
(the image, the SDK's language and metadata.json) to the pipeline bucket's templates/
(https://cloud.google.com/sdk/gcloud/reference/dataflow/flex-template/build).
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Final

from cloudscore.packaging import ROOT, runtime_requirements
from shared.dataflow import TEMPLATE_OBJECT
from shared.errors import ConfigError

PIPELINE_DIR: Final = Path("infra/pipeline")
# What the pipeline's code needs in the image: the shared library and the cloudscore package
# (cloudscore.pipeline), Python modules only.
SOURCE_PACKAGES: Final = ("shared", "cloudscore")
_SKIPPED: Final = frozenset({"__pycache__", "tests"})


@dataclass(frozen=True)
class PipelineImage:
    context: Path
    tag: str  # the sha256 of the context, shortened


def beam_version() -> str:
    try:
        return metadata.version("apache-beam")
    except metadata.PackageNotFoundError:
        raise ConfigError(
            "apache-beam",
            "is not installed here; the pipeline's image pins the Beam of this environment: "
            "`pip install -e '.[beam]'`",
        ) from None


def context_files(root: Path = ROOT) -> dict[str, bytes]:
    """Every file of the build context, by its path in the context."""
    beam = beam_version()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    dockerfile = (root / PIPELINE_DIR / "Dockerfile").read_text()
    dockerfile = _set_arg(dockerfile, "PYTHON_TAG", f"python{python.replace('.', '')}")
    dockerfile = _set_arg(dockerfile, "BEAM_IMAGE", f"apache/beam_python{python}_sdk:{beam}")
    requirements = [*runtime_requirements(root), f"apache-beam[gcp]=={beam}"]
    files = {
        "Dockerfile": dockerfile.encode(),
        "main.py": (root / PIPELINE_DIR / "main.py").read_bytes(),
        "requirements.txt": ("\n".join(requirements) + "\n").encode(),
    }
    for package in SOURCE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if not _SKIPPED & set(relative.parts):
                files[f"src/{relative.as_posix()}"] = path.read_bytes()
    return files


def _set_arg(dockerfile: str, name: str, value: str) -> str:
    prefix = f"ARG {name}="
    lines = dockerfile.splitlines()
    found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    if len(found) != 1:
        raise ConfigError(str(PIPELINE_DIR / "Dockerfile"), f"expected one line `{prefix}…`")
    lines[found[0]] = prefix + value
    return "\n".join(lines) + "\n"


def write_context(out: Path, root: Path = ROOT) -> PipelineImage:
    files = context_files(root)
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    shutil.rmtree(out, ignore_errors=True)
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return PipelineImage(out, digest.hexdigest()[:20])


def publish_commands(
    image: PipelineImage,
    *,
    project: str,
    region: str,
    repository: str,
    bucket: str,
    root: Path = ROOT,
) -> list[list[str]]:
    """Build and push the image with Cloud Build, then write the template's spec naming it."""
    tagged = f"{repository}:{image.tag}"
    return [
        [
            "gcloud", "builds", "submit", str(image.context), f"--tag={tagged}",
            f"--project={project}", f"--region={region}",
        ],
        [
            "gcloud", "dataflow", "flex-template", "build", f"gs://{bucket}/{TEMPLATE_OBJECT}",
            f"--image={tagged}", "--sdk-language=PYTHON",
            f"--metadata-file={root / PIPELINE_DIR / 'metadata.json'}", f"--project={project}",
        ],
    ]  # fmt: skip
