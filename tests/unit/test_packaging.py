"""The functions' source archive: reproducible, complete, importable on its own."""

from __future__ import annotations

import ast
import hashlib
import io
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cloudscore import packaging

ROOT = packaging.ROOT


@pytest.fixture(scope="module")
def contents() -> dict[str, bytes]:
    return packaging.archive_contents()


def _copy_sources(destination: Path, mode: int, mtime: float) -> Path:
    """The inputs of a build in a new folder, with other file times and permissions."""
    for package in packaging.ARCHIVED_PACKAGES:
        shutil.copytree(
            ROOT / package, destination / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", destination / "pyproject.toml")
    for path in destination.rglob("*"):
        if path.is_file():
            path.chmod(mode)
            os.utime(path, (mtime, mtime))
    return destination


def test_the_same_sources_give_the_same_archive_hash(tmp_path: Path) -> None:
    first = _copy_sources(tmp_path / "a", 0o600, 1_000_000_000)
    second = _copy_sources(tmp_path / "b", 0o755, 1_700_000_000)

    built = [
        packaging.build_archive(tmp_path / "out-a", root=first),
        packaging.build_archive(tmp_path / "out-b", root=second),
        packaging.build_archive(tmp_path / "out-c", root=first),
    ]

    assert len({archive.sha256 for archive in built}) == 1
    assert built[0].path.read_bytes() == built[1].path.read_bytes()
    assert built[0].sha256 == hashlib.sha256(built[0].path.read_bytes()).hexdigest()


def test_a_changed_source_changes_the_hash(tmp_path: Path) -> None:
    tree = _copy_sources(tmp_path / "a", 0o644, 1_000_000_000)
    before = packaging.build_archive(tmp_path / "out-1", root=tree).sha256
    with (tree / "shared" / "errors.py").open("a") as source:
        source.write("\n# changed\n")

    assert packaging.build_archive(tmp_path / "out-2", root=tree).sha256 != before


def test_entries_are_sorted_with_fixed_times_and_permissions(tmp_path: Path) -> None:
    archive = packaging.build_archive(tmp_path)

    with zipfile.ZipFile(archive.path) as opened:
        infos = opened.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED}


def test_the_archive_holds_the_functions_and_shared_without_local_tools(
    contents: dict[str, bytes],
) -> None:
    names = set(contents)

    assert {"main.py", "requirements.txt", "functions/main.py", "shared/config.py"} <= names
    assert "shared/serving/openapi.json" in names  # package data the predictor serves
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "shared").rglob("*.py")}
    expected = {n for n in sources if "__pycache__" not in n}
    assert expected <= names
    assert not any(n.startswith(("cloudscore/", "local_emulator/", "tests/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_root_main_exposes_every_entry_point(contents: dict[str, bytes]) -> None:
    tree = ast.parse(contents["main.py"])
    imported = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "functions.main"
        for alias in node.names
    }

    assert imported == {"score_file", "predict_rows", "retrain_model"}
    assert {p.name: p.signature for p in packaging.entry_points()} == {
        "predict_rows": "http",
        "retrain_model": "cloudevent",
        "score_file": "cloudevent",
    }


def test_requirements_pin_the_runtime_dependencies_at_their_installed_versions(
    contents: dict[str, bytes],
) -> None:
    lines = contents["requirements.txt"].decode().splitlines()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    pinned = {canonicalize_name(Requirement(line).name): Requirement(line) for line in lines}
    assert set(pinned) == {canonicalize_name(Requirement(d).name) for d in declared}
    for name, requirement in pinned.items():
        assert str(requirement.specifier) == f"=={metadata.version(name)}"
    # The CPU-only XGBoost the project installs, not the CUDA build the name `xgboost` brings.
    assert "xgboost-cpu" in pinned
    assert "xgboost" not in pinned
    assert "pytest" not in pinned and "bqemulator" not in pinned  # no dev or local extras


def _archived_imports(contents: dict[str, bytes]) -> set[str]:
    """Every module imported anywhere in the archived code, at import or inside a function."""
    imported: set[str] = set()
    for name, data in contents.items():
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(data, filename=name)):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module)
                # `from google.cloud import storage` imports google.cloud.storage
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return imported


def _third_party(modules: set[str]) -> set[str]:
    first_party = set(packaging.ARCHIVED_PACKAGES)
    return {
        m
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] not in first_party
    }


def _owner(module: str) -> str | None:
    """The distribution whose files hold `module`, found from its first part that is not a
    namespace package: `sklearn.pipeline` is looked up without importing scikit-learn, and
    `google.cloud.storage` down to the package no other distribution shares. None for a
    namespace package alone, or a name that is no module."""
    import importlib.util

    parts = module.split(".")
    for depth in range(1, len(parts) + 1):
        try:
            spec = importlib.util.find_spec(".".join(parts[:depth]))
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        if spec.origin and spec.has_location:  # a module or a regular package
            origin = Path(spec.origin).resolve()
            for name in _DISTRIBUTIONS.get(parts[0], []):
                dist = metadata.distribution(name)
                for file in dist.files or []:
                    if (
                        file.name == origin.name
                        and Path(str(dist.locate_file(file))).resolve() == origin
                    ):
                        return canonicalize_name(name)
            return None
    return None


_DISTRIBUTIONS = metadata.packages_distributions()


def _closure(requirements: list[Requirement]) -> set[str]:
    """The distributions installing these requirements installs, with their extras."""
    seen: set[str] = set()
    queue = [(r, set(r.extras)) for r in requirements]
    while queue:
        requirement, extras = queue.pop()
        name = canonicalize_name(requirement.name)
        if name in seen and not extras:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            child = Requirement(spec)
            marker: Marker | None = child.marker
            wanted = marker is None or any(
                marker.evaluate({"extra": extra}) for extra in (extras or {""})
            )
            if wanted:
                queue.append((child, set(child.extras)))
    return seen


def test_every_third_party_import_of_the_archive_is_installed_by_its_requirements(
    contents: dict[str, bytes],
) -> None:
    requirements = [Requirement(line) for line in contents["requirements.txt"].decode().split()]
    installed = _closure(requirements)
    modules = _third_party(_archived_imports(contents))
    owners = {module: _owner(module) for module in modules}

    uncovered = {m: owner for m, owner in owners.items() if owner and owner not in installed}
    # Names that are no module (classes imported with `from x import Y`) or namespace packages
    # resolve to nobody; every top-level name must resolve through some module under it.
    resolved_tops = {m.split(".")[0] for m, owner in owners.items() if owner}
    unresolved = {m.split(".")[0] for m in modules} - resolved_tops

    assert uncovered == {}, f"imported but not installed by requirements.txt: {uncovered}"
    assert unresolved == set(), f"imported modules of no installed distribution: {unresolved}"


def test_no_archived_module_imports_the_local_cloud_or_the_tooling(
    contents: dict[str, bytes],
) -> None:
    imported = _archived_imports(contents)

    assert not {m for m in imported if m.split(".")[0] == "local_emulator"}
    assert not {m for m in imported if m.split(".")[0] == "cloudscore"}


def test_the_extracted_archive_imports_on_its_own(tmp_path: Path) -> None:
    archive = packaging.build_archive(tmp_path / "build")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(io.BytesIO(archive.path.read_bytes())) as opened:
        opened.extractall(unpacked)
    site_packages = sysconfig.get_paths()["purelib"]
    # -S: no site processing, so the project's editable install is not on the path; the
    # archive and the installed third-party packages are all there is, as in the cloud.
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]; sys.path.append(sys.argv[2]);\n"
        "import main, functions, shared\n"
        "assert functions.__file__.startswith(sys.argv[1]), functions.__file__\n"
        "assert shared.__file__.startswith(sys.argv[1]), shared.__file__\n"
        "assert all(callable(getattr(main, n)) for n in main.__all__)\n"
        "print(' '.join(sorted(main.__all__)))\n"
        "try:\n"
        "    import cloudscore.cli\n"
        "except ModuleNotFoundError:\n"
        "    print('no cli')\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CLOUDSCORE_PROJECT": "demo-project",
        "CLOUDSCORE_INBOX_BUCKET": "demo-inbox",
        "CLOUDSCORE_MODELS_BUCKET": "demo-models",
        "CLOUDSCORE_DATASET": "cloudscore",
        "CLOUDSCORE_MODEL_NAME": "loan-default",
    }

    result = subprocess.run(
        [sys.executable, "-S", "-c", script, str(unpacked), site_packages],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["predict_rows retrain_model score_file", "no cli"]
