"""A pipeline with SimpleImputer (which keeps numpy dtypes) loads from skops without flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from afterfit.models import load_model
from afterfit.models.loading import types_needing_trust


def _pipeline_file(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"region": rng.choice(["n", "s", None], 200), "x": rng.normal(size=200)})
    X.loc[::7, "x"] = np.nan
    y = (rng.random(200) < 0.5).astype(int)
    cat = make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
    pre = ColumnTransformer([("cat", cat, ["region"]), ("num", SimpleImputer(), ["x"])])
    model = make_pipeline(pre, LogisticRegression()).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    return path, model, X


def test_imputer_pipeline_loads_without_flags(tmp_path) -> None:
    path, model, X = _pipeline_file(tmp_path)
    assert "numpy.dtype" in sio.get_untrusted_types(file=path)  # skops alone refuses it
    assert types_needing_trust(sio.get_untrusted_types(file=path)) == []
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict_scores(X), model.predict_proba(X))


def test_other_untrusted_types_still_need_trust() -> None:
    assert types_needing_trust(["numpy.dtype", "builtins.eval"]) == ["builtins.eval"]
