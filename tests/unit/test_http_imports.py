"""The HTTP function's first request imports neither XGBoost, scikit-learn nor pandas for an
XGBoost model (its ONNX graph scores it): a new instance answers sooner."""

from __future__ import annotations

from pathlib import Path

from shared.model_format import model_files
from shared.registry import NewVersion, version_dir_files
from shared.training import train_model
from shared.training.onnx_export import booster_onnx
from tests.unit.fresh_python import FUNCTION_ENV, fresh_python
from tests.unit.training_data import demo_frame, quick_demo_spec


def test_an_xgboost_version_is_served_by_its_graph_without_xgboost_sklearn_or_pandas(
    tmp_path: Path,
) -> None:
    from shared.contract import infer_contract
    from shared.project_config import ProjectConfig

    frame = demo_frame(1500, seed=5)
    model = train_model(frame, quick_demo_spec(candidates=("xgboost",), max_trials=1)).model
    contract = infer_contract(frame, ProjectConfig(model_name="m", target="defaulted"))
    new = NewVersion(
        model_files(model, booster_onnx(model.estimator)), contract.to_json(), {}, {}, None, {}
    )
    for name, data in version_dir_files("m", "v1", new).items():
        (tmp_path / name).write_bytes(data)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from shared.registry import assemble_version, sha256\n"
        "from shared.serving.service import Served\n"
        f"folder = Path({str(tmp_path)!r})\n"
        "data = (folder / 'manifest.json').read_bytes()\n"
        "version = assemble_version(json.loads(data), sha256(data), 0,"
        " lambda name: (folder / name).read_bytes(), 'local')\n"
        "served = Served.of(version)\n"
        "row = [float('nan')] * len(version.card.features)\n"
        "print(served.predictor.scored_by, 0.0 <= served.predictor.scores([row])[0] <= 1.0)\n"
        "heavy = ('sklearn', 'pandas', 'xgboost', 'pyarrow')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = fresh_python(code)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["onnxruntime True", "[]"]


def test_the_http_function_builds_its_service_without_scikit_learn_or_pandas() -> None:
    code = (
        "import sys\n"
        "import functions.main\n"
        "from shared.runtime import prediction_service\n"
        "prediction_service()\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'xgboost') if m in sys.modules))\n"
    )
    result = fresh_python(code, FUNCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
