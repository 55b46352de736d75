"""XGBoost imported for the HTTP path leaves scikit-learn and pandas out."""

from __future__ import annotations

import subprocess
import sys


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
