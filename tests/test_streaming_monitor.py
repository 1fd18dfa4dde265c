"""The monitor on a partitioned Parquet log: a folder or glob, checked partitions, and the
same counts on a Dask LocalCluster (issue 16, item 3).

Oracle: the monitor on the same rows as one Parquet file (and as one DataFrame); a Dask run
must give the same numbers as the local run, exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from afterfit.bundle.reference import ReferenceStats
from afterfit.cli import app
from afterfit.errors import DataError, InvalidInputError
from afterfit.monitoring.core import monitor

runner = CliRunner()
DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CLASSES = ["no", "yes"]


def _features(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    frame["x0"] = frame["x0"] + shift
    frame["city"] = rng.choice(["paris", "rome", "oslo"], n, p=[0.5, 0.3, 0.2])
    return frame


def _proba(frame: pd.DataFrame) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-frame["x0"].to_numpy()))


@pytest.fixture(scope="module")
def reference() -> ReferenceStats:
    X = _features(10_000, 0)
    return ReferenceStats.from_frame(X, scores=_proba(X), classes=CLASSES)


def _log(parts: int = 4, n: int = 1500, seed: int = 1) -> list[pd.DataFrame]:
    """One partition per day; from the third day on x0 has shifted."""
    frames = []
    for d in range(parts):
        frame = _features(n, seed + d, shift=0.4 if d >= 2 else 0.0)
        p = _proba(frame)
        frame["ts"] = T0 + d * DAY + np.linspace(0, DAY, n, endpoint=False)
        frame["request_id"] = [f"r{d}-{i}" for i in range(n)]
        frame["model_version"] = np.where(np.arange(n) % 5 == 0, "0.9", "1.0")
        frame["proba_no"] = 1 - p
        frame["proba_yes"] = p
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory):
    frames = _log()
    folder = tmp_path_factory.mktemp("log") / "preds"
    folder.mkdir()
    for i, f in enumerate(frames):
        f.to_parquet(folder / f"day-{i}.parquet", index=False)
    whole = pd.concat(frames, ignore_index=True)
    one = folder.parent / "whole.parquet"
    whole.to_parquet(one, index=False)
    return folder, one, whole


def _run(ref, log, **kw):
    kw.setdefault("task", "binary")
    kw.setdefault("classes", CLASSES)
    return monitor(ref, log, **kw)


def _numbers(result) -> list:
    """Every number the result reports, in a comparable form."""
    out = [result.n_rows, result.ts_min, result.ts_max]
    for c in (*result.features, *result.predictions):
        out.append((c.name, c.psi, c.ks, c.js, c.p_value, c.drifted, c.missing_current))
    for w in result.windows:
        out.append((w.index, w.n_rows, w.ts_min, w.ts_max))
        for c in (*w.features, *w.predictions):
            out.append((c.name, c.psi, c.ks, c.js, c.p_value, c.drifted))
    return out


def _same(a, b) -> None:
    left, right = _numbers(a), _numbers(b)
    assert len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        assert repr(x) == repr(y)  # NaN-safe, exact


# -- a folder or glob, read here -----------------------------------------------------------
@pytest.mark.parametrize("window", [None, "1d", "1000rows"])
def test_folder_and_glob_equal_one_file(reference, log_folder, window):
    folder, one, whole = log_folder
    single = _run(reference, one, window=window)
    _same(_run(reference, folder, window=window), single)
    _same(_run(reference, str(folder / "day-*.parquet"), window=window), single)
    _same(_run(reference, whole, window=window), single)
    assert single.n_rows == 6000
    if window == "1d":
        assert [w.n_rows for w in single.windows] == [1500] * 4
        shifted = [next(c for c in w.features if c.name == "x0").drifted for w in single.windows]
        assert shifted == [False, False, True, True]


def test_partitions_that_disagree_name_the_file_and_column(reference, log_folder, tmp_path):
    frames = _log(parts=3, n=200)
    frames[1]["x2"] = frames[1]["x2"].astype("float32")
    folder = tmp_path / "types"
    folder.mkdir()
    for i, f in enumerate(frames):
        f.to_parquet(folder / f"day-{i}.parquet", index=False)
    with pytest.raises(DataError, match=r"day-1\.parquet.*'x2'.*float"):
        _run(reference, folder)
    frames = _log(parts=3, n=200)
    frames[2] = frames[2].drop(columns="x1")
    folder = tmp_path / "missing"
    folder.mkdir()
    for i, f in enumerate(frames):
        f.to_parquet(folder / f"day-{i}.parquet", index=False)
    with pytest.raises(DataError, match=r"day-2\.parquet lacks column 'x1'|day-2\.parquet.*'x1'"):
        _run(reference, str(folder / "*.parquet"))


def test_a_glob_that_matches_nothing(reference, tmp_path):
    with pytest.raises(DataError, match="matches no file"):
        _run(reference, str(tmp_path / "none-*.parquet"))


def test_dask_needs_a_parquet_log(reference, tmp_path):
    frame = pd.concat(_log(parts=1, n=100))
    with pytest.raises(InvalidInputError, match="Parquet log"):
        _run(reference, f"sqlite:///{tmp_path / 'x.db'}", backend="dask", scheduler="tcp://h:1")
    with pytest.raises(InvalidInputError, match="Parquet log"):
        _run(reference, frame, backend="dask", scheduler="tcp://h:1")


def test_unreachable_scheduler_is_a_clear_error(reference, log_folder):
    with pytest.raises(InvalidInputError, match="Cannot connect to the Dask scheduler"):
        _run(reference, log_folder[0], backend="dask", scheduler="tcp://127.0.0.1:9")


# -- the CLI ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from afterfit.bundle.core import build_bundle

    X = _features(2_000, 20)
    rng = np.random.default_rng(20)
    y = np.where(rng.random(len(X)) < _proba(X), "yes", "no")
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder=StandardScaler()
        ),
        LogisticRegression(),
    ).fit(X, y)
    out = tmp_path_factory.mktemp("bundle") / "churn-1.0"
    build_bundle(model, X, y, out=out, name="churn", version="1.0")
    return out


def test_cli_monitor_on_a_glob_and_bad_partitions(bundle_dir, log_folder, tmp_path):
    folder, _, _ = log_folder
    out = tmp_path / "drift"
    res = runner.invoke(
        app,
        ["monitor", str(bundle_dir), "--log", str(folder / "day-*.parquet"), "--out", str(out),
         "--window", "1d", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    mon = json.loads((out / "results.json").read_text())["monitor"]
    assert mon["log"]["n_rows"] == 4 * 1200  # the bundle's version only (4 rows in 5)
    assert len(mon["windows"]) == 4
    frames = _log(parts=2, n=100)
    frames[1]["city"] = frames[1]["city"].astype("category")
    bad = tmp_path / "bad"
    bad.mkdir()
    for i, f in enumerate(frames):
        f.to_parquet(bad / f"day-{i}.parquet", index=False)
    res = runner.invoke(
        app, ["monitor", str(bundle_dir), "--log", str(bad), "--out", str(tmp_path / "d2")]
    )
    assert res.exit_code == 2
    assert "day-1.parquet" in res.output and "'city'" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(
        app,
        ["monitor", str(bundle_dir), "--log", str(folder), "--out", str(tmp_path / "d3"),
         "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"],
    )  # fmt: skip
    assert res.exit_code == 2
    assert "Cannot connect to the Dask scheduler" in res.output
    assert "Traceback" not in res.output


# -- a real Dask cluster --------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.mark.slow  # the workers import afterfit first: about 15 s on two shared cores
def test_dask_equals_local_exactly(reference, log_folder, cluster, tmp_path):
    folder, _, whole = log_folder
    address = cluster.scheduler_address
    for window, version in ((None, None), ("1d", None), ("1000rows", "1.0"), ("6h", "1.0")):
        local = _run(reference, folder, window=window, model_version=version)
        remote = _run(
            reference, folder, window=window, model_version=version, backend="dask",
            scheduler=address,
        )  # fmt: skip
        _same(remote, local)
    # Labels joined across partitions, evaluated the same way.
    rng = np.random.default_rng(5)
    labels = pd.DataFrame(
        {
            "request_id": whole["request_id"],
            "label": np.where(rng.random(len(whole)) < whole["proba_yes"], "yes", "no"),
        }
    ).iloc[::3]
    local = _run(reference, folder, window="1d", labels=labels, threshold=0.5)
    remote = _run(
        reference, folder, window="1d", labels=labels, threshold=0.5, backend="dask",
        scheduler=address,
    )  # fmt: skip
    assert remote.performance.n_labeled == local.performance.n_labeled == len(labels)
    for a, b in zip(
        remote.performance.overall.metrics.rows, local.performance.overall.metrics.rows,
        strict=True,
    ):  # fmt: skip
        assert (a.value, a.ci_low) == (b.value, b.ci_low)
