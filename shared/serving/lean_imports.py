"""Import XGBoost without the scikit-learn it would pull in.

When scikit-learn is installed, `import xgboost` imports it (for its scikit-learn style
wrappers), and scikit-learn imports pandas and scipy.stats: about 1 s of a new instance's first
request here, for code the HTTP path never calls (it scores a `Booster`). Hiding scikit-learn for
the duration of that one import leaves XGBoost's wrappers disabled in this process and everything
else as it was; a scikit-learn pipeline model imports scikit-learn normally when it is loaded.
"""

from __future__ import annotations

import importlib
import sys


def import_xgboost_alone() -> None:
    """Import xgboost now, without scikit-learn unless something imported it already."""
    if "xgboost" in sys.modules:
        return
    if "sklearn" in sys.modules:
        # With scikit-learn already there, there is nothing to save.
        importlib.import_module("xgboost")
        return
    # A None entry makes `import sklearn` raise ImportError, which xgboost expects when
    # scikit-learn is not installed.
    sys.modules["sklearn"] = None  # type: ignore[assignment]
    try:
        importlib.import_module("xgboost")
    except ImportError:
        pass  # not installed: a model that needs it says so when it is loaded
    finally:
        del sys.modules["sklearn"]
