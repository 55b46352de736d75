"""Beam is an optional extra (`cloudscore[beam]`): nothing the functions deploy imports it, so
their cold start does not pay for it and their archive does not install it."""

from __future__ import annotations

from pathlib import Path

from cloudscore.packaging import build_archive
from tests.unit.fresh_python import FUNCTION_ENV, fresh_python


def test_no_module_the_functions_deploy_imports_beam() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import functions, shared\n"
        "import functions.main\n"
        "for package in (functions, shared):\n"
        "    for module in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(module.name)\n"
        "print(len(sys.modules) > 100, 'apache_beam' in sys.modules)\n"
    )
    result = fresh_python(code, FUNCTION_ENV, timeout=180)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_the_functions_archive_does_not_install_beam(tmp_path: Path) -> None:
    archive = build_archive(tmp_path)

    names = [line.split("==")[0].split("[")[0].lower() for line in archive.requirements]
    assert "pyarrow" in names  # what the archive pins is read from this environment
    # The Dataflow client is in it: an instance that hands a file off imports it.
    assert "google-cloud-dataflow-client" in names
    assert not [name for name in names if "beam" in name]
