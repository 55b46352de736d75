"""What a deployment takes from the code: the source archive the functions run, and the facts
Terraform must agree with.

- `build_archive` writes the zip each Cloud Function deploys: a `main.py` at its root exposing the
  entry points of `functions/main.py`, `functions/` and `shared/`, and a `requirements.txt`
  pinning the project's runtime dependencies at the versions installed here. The same inputs
  give the same bytes, so the same sha256: Terraform names the uploaded object after it and
  redeploys only when the code or a pin changed.
- `infra_facts` is what Terraform reads from `infra/generated/cloudscore.json`: the functions, the
  `CLOUDSCORE_*` variables each reads (`shared.config.variables_of`) with their defaults and
  forms, and every BigQuery table (`shared.tables`). It is generated, never written by hand, and a
  test fails when the committed file is stale (`cloudscore deploy generate` rewrites it).

This module runs on a developer's machine, from a source checkout; nothing deployed imports it.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import re
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from cloudscore.pipeline.plans import PLANS_PREFIX
from shared.clients import CLIENT_LIBRARY_ENVIRONMENT
from shared.config import BATCH_VARIABLES, PREDICT_VARIABLES, VARIABLES, variables_of
from shared.errors import ConfigError
from shared.events import INCOMING_PREFIX
from shared.tables import ALL_TABLES, Table

ROOT: Final = Path(__file__).resolve().parent.parent
FACTS_PATH: Final = Path("infra/generated/cloudscore.json")

# The packages a function imports (the `cloudscore` tooling and the local cloud are not
# deployed), and what of them the cloud does not need: tests and caches.
ARCHIVED_PACKAGES: Final = ("functions", "shared")
EXCLUDED_DIR_NAMES: Final = frozenset({"__pycache__", "tests", ".mypy_cache", ".pytest_cache"})

# Every entry gets these, whatever the checkout's clock and umask: the archive's bytes then
# depend on the file contents only. 1980-01-01 is the earliest time a zip entry can hold.
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)
_FILE_MODE: Final = 0o100644  # a regular file, rw-r--r--

# BigQuery answers with its legacy type names whatever the request said; Terraform compares the
# schema it sent with the one read back, so the standard SQL names the code uses would show a
# change (and so a table replacement) at every plan. Same types, the names the API returns.
_API_TYPE_NAMES: Final = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}

_REQUIREMENT = re.compile(
    r"\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<extras>\[[^\]]*\])?\s*[^;]*(?P<marker>;.*)?"
)


@dataclass(frozen=True)
class EntryPoint:
    """A function the archive exposes: its name (also its Cloud Function's entry point) and
    how it is triggered, as its functions-framework decorator says."""

    name: str
    module: str  # e.g. "functions.score_file"
    signature: str  # "http" or "cloudevent"


@dataclass(frozen=True)
class Archive:
    path: Path
    sha256: str
    runtime: str  # the Cloud Functions runtime matching the interpreter the pins came from
    entries: tuple[str, ...]
    requirements: tuple[str, ...]


# --- entry points ------------------------------------------------------------------------------

_SIGNATURES: Final = {"http": "http", "cloud_event": "cloudevent"}


def entry_points(root: Path = ROOT) -> tuple[EntryPoint, ...]:
    """The functions `functions/main.py` exports, read from the source (importing it would
    validate the configuration of this shell, which a build has no reason to need)."""
    main = ast.parse((root / "functions/main.py").read_text(encoding="utf-8"))
    modules: dict[str, str] = {}
    exported: list[str] = []
    for node in main.body:
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("functions.")
        ):
            modules.update({alias.asname or alias.name: node.module for alias in node.names})
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            exported = [ast.literal_eval(e) for e in getattr(node.value, "elts", [])]
    if not exported:
        raise ConfigError("functions/main.py", "has no __all__ naming the entry points")
    return tuple(
        EntryPoint(name, modules[name], _signature(root, modules[name], name))
        for name in sorted(exported)
    )


def _signature(root: Path, module: str, name: str) -> str:
    path = root / (module.replace(".", "/") + ".py")
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            for decorator in node.decorator_list:
                if isinstance(decorator, ast.Attribute) and decorator.attr in _SIGNATURES:
                    return _SIGNATURES[decorator.attr]
    raise ConfigError(
        module, f"{name} is not decorated with functions_framework.http or .cloud_event"
    )


def root_main(points: tuple[EntryPoint, ...]) -> str:
    """The `main.py` Cloud Functions loads from the archive's root."""
    names = ", ".join(p.name for p in points)
    listed = ", ".join(f'"{p.name}"' for p in points)
    return (
        '"""The entry points of the deployed functions, where Cloud Functions looks for them.\n\n'
        "Written by `cloudscore deploy package`: importing functions.main validates this\n"
        'instance\'s configuration before the first event or request."""\n\n'
        f"from functions.main import {names}\n\n"
        f"__all__ = [{listed}]\n"
    )


# --- requirements ------------------------------------------------------------------------------


def runtime_requirements(root: Path = ROOT) -> tuple[str, ...]:
    """The project's runtime dependencies (not its extras), each pinned to the version installed
    in this environment, so the cloud runs what the tests ran."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = []
    for spec in project["dependencies"]:
        match = _REQUIREMENT.fullmatch(spec)
        if match is None:
            raise ConfigError("pyproject.toml", f"cannot read the dependency {spec!r}")
        name = match["name"]
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError as exc:
            raise ConfigError(
                name, "is a runtime dependency but is not installed here; run `make setup`"
            ) from exc
        marker = f" {match['marker'].strip()}" if match["marker"] else ""
        pins.append(f"{name}{match['extras'] or ''}=={installed}{marker}")
    return tuple(sorted(pins, key=str.lower))


def runtime_name() -> str:
    return f"python{sys.version_info.major}{sys.version_info.minor}"


# --- the archive -------------------------------------------------------------------------------


def archived_sources(root: Path = ROOT) -> dict[str, Path]:
    """Archive name -> file: every module of the archived packages and their declared package
    data (`[tool.setuptools.package-data]`), minus what the cloud does not need."""
    data_patterns = _package_data(root)
    found: dict[str, Path] = {}
    for package in ARCHIVED_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            relative = path.relative_to(root)
            name = relative.as_posix()
            if not path.is_file() or _excluded(relative):
                continue
            wanted = path.suffix == ".py" or any(
                relative.parent.as_posix() == folder and path.match(pattern)
                for folder, patterns in data_patterns.items()
                for pattern in patterns
            )
            if wanted:
                found[name] = path
    return found


def _excluded(relative: Path) -> bool:
    return any(part in EXCLUDED_DIR_NAMES for part in relative.parts)


def _package_data(root: Path) -> dict[str, list[str]]:
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    declared = config.get("tool", {}).get("setuptools", {}).get("package-data", {})
    return {package.replace(".", "/"): list(patterns) for package, patterns in declared.items()}


def archive_contents(root: Path = ROOT) -> dict[str, bytes]:
    """Every entry of the archive, by name."""
    contents = {name: path.read_bytes() for name, path in archived_sources(root).items()}
    contents["main.py"] = root_main(entry_points(root)).encode()
    contents["requirements.txt"] = ("\n".join(runtime_requirements(root)) + "\n").encode()
    return contents


def zip_bytes(contents: dict[str, bytes]) -> bytes:
    """A zip whose bytes depend on the names and contents only: sorted entries, fixed times and
    permissions. Entries are stored, not deflated: compressed bytes can differ between zlib
    builds, and then two machines would upload the same code under two names."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(contents):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = _FILE_MODE << 16
            info.create_system = 3  # Unix, so the mode above is read as one
            archive.writestr(info, contents[name])
    return buffer.getvalue()


def build_archive(out_dir: Path, root: Path = ROOT) -> Archive:
    """Write `cloudscore-functions.zip` and its manifest into `out_dir`."""
    contents = archive_contents(root)
    data = zip_bytes(contents)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "cloudscore-functions.zip"
    path.write_bytes(data)
    archive = Archive(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        runtime=runtime_name(),
        entries=tuple(sorted(contents)),
        requirements=runtime_requirements(root),
    )
    manifest = {
        "sha256": archive.sha256,
        "runtime": archive.runtime,
        "entries": list(archive.entries),
        "requirements": list(archive.requirements),
    }
    (out_dir / "cloudscore-functions.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return archive


# --- facts for Terraform -----------------------------------------------------------------------


def infra_facts(root: Path = ROOT) -> dict[str, Any]:
    """What Terraform must agree with the code on, as plain data."""
    settings = (*VARIABLES, *BATCH_VARIABLES, *PREDICT_VARIABLES)
    return {
        "functions": {
            point.name: {
                "entry_point": point.name,
                "signature": point.signature,
                "environment": list(variables_of(point.name)),
            }
            for point in entry_points(root)
        },
        "settings": {
            v.name: {"default": v.default, "scope": v.scope, "help": v.help} for v in settings
        },
        "tables": {table.name: table_facts(table) for table in ALL_TABLES},
        # Only objects under this prefix of the inbox are files to score: the inbox's
        # notification is filtered to it.
        "incoming_prefix": INCOMING_PREFIX,
        # Where the pipeline records each file's split plan in the inbox: the inbox's lifecycle
        # deletes them there.
        "plans_prefix": PLANS_PREFIX,
        "library_environment": CLIENT_LIBRARY_ENVIRONMENT,
    }


def table_facts(table: Table) -> dict[str, Any]:
    return {
        "description": table.description,
        "schema": [
            {
                "name": c.name,
                "type": _API_TYPE_NAMES.get(c.type, c.type),
                "mode": c.mode,
                "description": c.description,
            }
            for c in table.columns
        ],
        "partition_by_day": table.partition_by_day,
        "cluster_by": list(table.cluster_by),
    }


def facts_json(root: Path = ROOT) -> str:
    return json.dumps(infra_facts(root), indent=2, sort_keys=True) + "\n"


def write_facts(root: Path = ROOT) -> Path:
    path = root / FACTS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(facts_json(root), encoding="utf-8")
    return path


def facts_are_current(root: Path = ROOT) -> bool:
    path = root / FACTS_PATH
    return path.is_file() and path.read_text(encoding="utf-8") == facts_json(root)
