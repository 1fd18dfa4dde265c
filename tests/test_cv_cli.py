"""``afterfit cv``: the folder it writes, its numbers against the Python API, a Dask
cluster, and bad input (exit code 2, nothing written)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.datasets import load_breast_cancer, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import afterfit.cli.cv  # noqa: F401  (registers the command)
from afterfit.cli._app import app
from afterfit.selection.cv import cross_validate

runner = CliRunner()


def _cli(*args):
    return runner.invoke(app, ["cv", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cv")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:300, :6]
    y = y.iloc[:300]
    frame = X.assign(y=y.to_numpy(), g=np.arange(300) % 12)
    frame.to_parquet(d / "train.parquet")
    sio.dump(LogisticRegression(max_iter=3000).fit(X, y), d / "lr.skops")
    sio.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y), d / "tree.skops")
    sio.dump(LogisticRegression(max_iter=3000).fit(X.iloc[:, :4], y), d / "lr4.skops")
    rare = frame.copy()
    rare.loc[:296, "y"] = 0
    rare.loc[297:, "y"] = 1  # 3 rows of class 1
    rare.to_parquet(d / "rare.parquet")
    Xr, yr = make_regression(120, 4, noise=5.0, random_state=0)
    reg = pd.DataFrame(Xr, columns=[f"x{i}" for i in range(4)]).assign(y=yr)
    reg.to_parquet(d / "reg.parquet")
    sio.dump(Ridge().fit(reg.drop(columns="y"), yr), d / "ridge.skops")
    return d, X, y.to_numpy()


def test_cv_writes_folder_with_api_numbers(files):
    d, X, y = files
    out = d / "out"
    r = _cli("--model", d / "lr.skops", "--data", d / "train.parquet", "--target", "y",
             "--drop", "g", "--folds", 4, "--repeats", 2, "--compare",
             f"tree={d / 'tree.skops'}", "--trusted-type", "sklearn.tree._tree.Tree",
             "--metrics", "roc_auc,accuracy,log_loss", "--n-jobs", 1, "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Paired comparison with lr" in r.output
    for name in ("index.html", "results.json", "oof.parquet", "tables/cv-summary.csv",
                 "tables/cv-folds.csv", "tables/cv-comparison.csv",
                 "figures/cv-folds-roc_auc.png"):  # fmt: skip
        assert (out / name).is_file(), name
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == "afterfit.cv"
    lr = doc["cv"]["models"]["lr"]
    assert lr["n_folds"] == 8 and lr["n_repeats"] == 2 and lr["splitter"] == "stratified"
    api = cross_validate(LogisticRegression(max_iter=3000), X, y, cv=4, n_repeats=2,
                         random_state=0, metrics=["roc_auc", "accuracy", "log_loss"])  # fmt: skip
    np.testing.assert_allclose(lr["metrics"]["roc_auc"]["values"], api.fold_values("roc_auc"),
                               rtol=0, atol=1e-12)  # fmt: skip
    assert lr["metrics"]["roc_auc"]["low"] == pytest.approx(api.stats["roc_auc"].low, abs=1e-12)
    rows = doc["cv"]["comparison"]["rows"]
    assert {r["metric"] for r in rows} == {"roc_auc", "accuracy", "log_loss"}
    oof = pd.read_parquet(out / "oof.parquet")
    assert len(oof) == 600 and set(oof["model"]) == {"lr", "tree"}
    lr_oof = oof[oof["model"] == "lr"]
    np.testing.assert_allclose(lr_oof["score_1"], api.oof_scores[:, 1], atol=1e-12)
    assert "Cross-validation" in (out / "index.html").read_text()


def test_cv_groups_and_timeseries(files):
    d, _, _ = files
    r = _cli("--model", d / "lr.skops", "--data", d / "train.parquet", "--target", "y",
             "--groups", "g", "--folds", 3, "--metrics", "accuracy", "--n-jobs", 1,
             "--no-figures", "--out", d / "g", "--quiet")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.output == ""
    doc = json.loads((d / "g" / "results.json").read_text())
    assert doc["cv"]["models"]["lr"]["splitter"] == "group"
    r = _cli("--model", d / "ridge.skops", "--data", d / "reg.parquet", "--target", "y",
             "--splitter", "timeseries", "--gap", 3, "--folds", 3, "--n-jobs", 2,
             "--out", d / "ts")  # fmt: skip
    assert r.exit_code == 0, r.output
    oof = pd.read_parquet(d / "ts" / "oof.parquet")
    assert oof["score"].isna().sum() == 30  # the first block is never tested
    assert "r2" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "rare.parquet", "--folds", 5], "smallest class, 1, has only 3 row"),
        (["--metrics", "roc_auc,r2"], "unknown metric"),
        (["--groups", "nope"], "--groups column 'nope' is not in the data"),
        (["--splitter", "timeseries", "--gap", 250], "leaves no training rows"),
        (["--compare", "lr4=lr4.skops"], "trained on different features"),
        (["--compare", "=lr4.skops"], "not NAME=PATH"),
        (["--backend", "local", "--scheduler", "tcp://127.0.0.1:1"], "only the 'dask'"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(files, args, message):
    d, _, _ = files
    out = d / "bad"
    base = {"--model": d / "lr.skops", "--data": d / "train.parquet"}
    args = [d / a if isinstance(a, str) and a.endswith(".parquet") else a for a in args]
    if "--compare" in args:
        i = args.index("--compare") + 1
        name, _, path = str(args[i]).partition("=")
        args[i] = f"{name}={d / path}" if path else name
    for k, v in base.items():
        if k not in args:
            args = [k, v, *args]
    r = _cli(*args, "--target", "y", "--drop", "g", "--n-jobs", 1, "--out", out)
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output
    assert not out.exists()


def test_cv_on_a_dask_cluster_equals_local(files):
    distributed = pytest.importorskip("distributed")
    d, _, _ = files
    common = ["--model", d / "lr.skops", "--data", d / "train.parquet", "--target", "y",
              "--drop", "g", "--folds", 3, "--metrics", "roc_auc,log_loss", "--no-figures",
              "--quiet"]  # fmt: skip
    assert _cli(*common, "--n-jobs", 1, "--out", d / "local").exit_code == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        r = _cli(*common, "--backend", "dask", "--scheduler", cluster.scheduler_address,
                 "--out", d / "dask")  # fmt: skip
    assert r.exit_code == 0, r.output
    a = json.loads((d / "local" / "results.json").read_text())["cv"]["models"]["lr"]
    b = json.loads((d / "dask" / "results.json").read_text())["cv"]["models"]["lr"]
    assert a["metrics"] == b["metrics"]
    assert json.loads((d / "dask" / "results.json").read_text())["source"]["backend"] == "dask"
