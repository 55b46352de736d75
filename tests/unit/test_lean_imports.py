"""XGBoost imported for the HTTP path leaves scikit-learn and pandas out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_xgboost_is_imported_without_scikit_learn_or_pandas() -> None:
    code = (
        "import sys\n"
        "from shared.serving.lean_imports import import_xgboost_alone\n"
        "import_xgboost_alone()\n"
        "import xgboost, numpy\n"
        "booster = xgboost.train({}, xgboost.DMatrix(numpy.eye(4), label=[0, 1, 0, 1]), 2)\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'xgboost') if m in sys.modules))\n"
        "import sklearn.linear_model\n"  # and scikit-learn still imports when a model needs it
        "print('sklearn' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.split("\n")[:2] == ["['xgboost']", "True"]


def test_an_xgboost_model_is_loaded_and_served_without_pandas(tmp_path: Path) -> None:
    import joblib

    from shared.training import train_model
    from tests.unit.training_data import demo_frame, quick_demo_spec

    spec = quick_demo_spec(candidates=("xgboost",), max_trials=1)
    model = train_model(demo_frame(1500, seed=5), spec).model
    joblib.dump(model, tmp_path / "model.joblib")
    code = (
        "import sys\n"
        "from shared.serving.lean_imports import import_xgboost_alone\n"
        "import_xgboost_alone()\n"
        "import joblib\n"
        "from shared.serving.predictor import Predictor\n"
        f"model = joblib.load({str(tmp_path / 'model.joblib')!r})\n"
        "row = [float('nan')] * len(model.features)\n"
        "print(0.0 <= float(Predictor(model).scores([row])[0]) <= 1.0)\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'pyarrow') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.split("\n")[:2] == ["True", "[]"]


def test_the_http_function_builds_its_service_without_scikit_learn_or_pandas() -> None:
    code = (
        "import sys\n"
        "import functions.main\n"
        "from shared.runtime import prediction_service\n"
        "prediction_service()\n"
        "print(sorted(m for m in ('sklearn', 'pandas', 'xgboost') if m in sys.modules))\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "CLOUDSCORE_PROJECT": "acme-prod",
        "CLOUDSCORE_INBOX_BUCKET": "acme-inbox",
        "CLOUDSCORE_MODELS_BUCKET": "acme-models",
        "CLOUDSCORE_DATASET": "scoring",
        "CLOUDSCORE_MODEL_NAME": "churn",
        # Nothing listens there; building the service reads nothing yet.
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:9",
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert result.stdout.strip() == "['xgboost']"
