"""Streaming evaluation of a partitioned Parquet dataset (issue 16, item 3).

Oracles: the in-memory ``evaluate_predictions`` on the same rows (counts and sums to 1e-12,
ROC AUC and average precision within the stated bound), scikit-learn for the histogram's
areas, and the local streaming run for the Dask one (equal, bit for bit).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from afterfit.cli import app
from afterfit.errors import DataError
from afterfit.evaluation import evaluate_predictions
from afterfit.evaluation.histogram import ScoreHistogram, key_values, order_keys
from afterfit.evaluation.streaming import evaluate_dataset
from afterfit.metrics.kernel import GroupCounts, average_precision, roc_auc

runner = CliRunner()


def _write_parts(folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        frame.to_parquet(folder / f"part-{i:02d}.parquet", index=False)
    return folder


def _binary_frames(seed=0, parts=4, n=2500, decimals=3, weights=False):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(parts):
        y = rng.integers(0, 2, n)
        p = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
        if decimals is not None:
            p = p.round(decimals)  # ties, as real scores have
        frame = pd.DataFrame({"y": y, "p": p})
        if weights:
            frame["w"] = rng.uniform(0.2, 3.0, n)
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def binary_ds(tmp_path_factory):
    frames = _binary_frames()
    return _write_parts(tmp_path_factory.mktemp("bin") / "preds", frames), pd.concat(frames)


def _assert_same_values(streamed, memory, tol=1e-12):
    names = [r.metric for r in memory.metrics.rows]
    assert [r.metric for r in streamed.metrics.rows] == names
    for a, b in zip(streamed.metrics.rows, memory.metrics.rows, strict=True):
        assert a.value == pytest.approx(b.value, abs=tol, rel=tol), a.metric


# -- exactness against the in-memory evaluation ------------------------------------------
def test_binary_streamed_equals_in_memory(binary_ds):
    folder, whole = binary_ds
    streamed = evaluate_dataset(folder, target="y", score=["p"], random_state=0)
    memory = evaluate_predictions(whole["y"].to_numpy(), whole["p"].to_numpy(), random_state=0)
    assert streamed.predictions.n == len(whole) == 10_000
    _assert_same_values(streamed, memory)
    np.testing.assert_array_equal(streamed.confusion.counts, memory.confusion.counts)
    # Few distinct scores: the histogram is the tie groups, so the curves are identical.
    np.testing.assert_allclose(streamed.roc.x, memory.roc.x, atol=1e-12)
    np.testing.assert_allclose(streamed.roc.y, memory.roc.y, atol=1e-12)
    np.testing.assert_allclose(streamed.pr.y, memory.pr.y, atol=1e-12)
    for field in ("mean_predicted", "fraction_positive", "weight"):
        np.testing.assert_allclose(
            getattr(streamed.calibration, field), getattr(memory.calibration, field), atol=1e-12
        )
    assert "exact" in streamed.metrics["roc_auc"].method
    assert "exact sums" in streamed.metrics["log_loss"].method
    # Wilson and DeLong from the exact counts: the in-memory intervals.
    for name in ("accuracy", "precision", "recall", "roc_auc"):
        a, b = streamed.metrics[name], memory.metrics[name]
        assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high), abs=1e-12), name


def test_every_row_sampled_gives_the_in_memory_bootstrap(binary_ds):
    folder, whole = binary_ds
    streamed = evaluate_dataset(
        folder, target="y", score=["p"], random_state=3, ci="bootstrap", n_resamples=200,
        sample_rows=10**6,
    )  # fmt: skip
    memory = evaluate_predictions(
        whole["y"].to_numpy(), whole["p"].to_numpy(), random_state=3, ci="bootstrap",
        n_resamples=200,
    )  # fmt: skip
    for a, b in zip(streamed.metrics.rows, memory.metrics.rows, strict=True):
        assert a.ci_low == pytest.approx(b.ci_low, abs=1e-9), a.metric
        assert a.ci_high == pytest.approx(b.ci_high, abs=1e-9), a.metric
        assert "m-out-of-n" not in a.method


def test_intervals_from_a_sample_say_so(binary_ds):
    folder, _ = binary_ds
    ev = evaluate_dataset(
        folder, target="y", score=["p"], random_state=0, sample_rows=3000, n_resamples=100
    )
    f1 = ev.metrics["f1"]
    assert "m-out-of-n" in f1.method and "Bernoulli" in f1.method
    m = int(re.search(r"m=([\d,]+)", f1.method).group(1).replace(",", ""))
    assert 2500 < m < 3500  # Bernoulli with rate 3000 / 10000
    assert f1.ci_low < f1.value < f1.ci_high
    # The same seed, the same sample and intervals.
    again = evaluate_dataset(
        folder, target="y", score=["p"], random_state=0, sample_rows=3000, n_resamples=100
    )
    assert again.metrics["f1"].ci_low == f1.ci_low


def test_weighted_binary_equals_in_memory(tmp_path):
    frames = _binary_frames(seed=4, parts=3, n=2000, weights=True)
    folder = _write_parts(tmp_path / "w", frames)
    whole = pd.concat(frames)
    streamed = evaluate_dataset(folder, target="y", score=["p"], weight="w", ci="none")
    memory = evaluate_predictions(
        whole["y"].to_numpy(), whole["p"].to_numpy(), sample_weight=whole["w"].to_numpy(),
        ci="none",
    )  # fmt: skip
    _assert_same_values(streamed, memory)
    np.testing.assert_allclose(streamed.confusion.counts, memory.confusion.counts, rtol=1e-12)


def test_decision_scores_and_text_labels(tmp_path):
    rng = np.random.default_rng(5)
    frames = []
    for _ in range(3):
        y = rng.choice(["no", "yes"], 1500)
        frames.append(pd.DataFrame({"y": y, "s": rng.normal(size=1500) + (y == "yes")}))
    folder = _write_parts(tmp_path / "d", frames)
    whole = pd.concat(frames)
    streamed = evaluate_dataset(folder, target="y", score=["s"], ci="none")
    memory = evaluate_predictions(whole["y"].to_numpy(), whole["s"].to_numpy(), ci="none")
    _assert_same_values(streamed, memory)
    assert not streamed.predictions.scores_are_probabilities
    assert streamed.predictions.threshold == 0.0


@pytest.mark.parametrize("weights", [False, True])
def test_regression_streamed_equals_in_memory(tmp_path, weights):
    rng = np.random.default_rng(6)
    frames = []
    for _ in range(4):
        y = rng.normal(1e4, 3, 1000)  # a large mean: sums of squares must not cancel
        frame = pd.DataFrame({"y": y, "pred": (y + rng.normal(0, 1, 1000)).round(2)})
        frame["w"] = rng.uniform(0.5, 2, 1000)
        frames.append(frame)
    folder = _write_parts(tmp_path / "r", frames)
    whole = pd.concat(frames)
    w = "w" if weights else None
    streamed = evaluate_dataset(folder, target="y", score=["pred"], weight=w, ci="none")
    memory = evaluate_predictions(
        whole["y"].to_numpy(), whole["pred"].to_numpy(), ci="none",
        sample_weight=whole["w"].to_numpy() if weights else None,
    )  # fmt: skip
    _assert_same_values(streamed, memory, tol=1e-10)
    assert streamed.metrics["median_ae"].value == memory.metrics["median_ae"].value
    assert streamed.residuals.n_total == 4000


def test_regression_median_within_its_bound_on_coarse_bins(tmp_path):
    rng = np.random.default_rng(7)
    frames = [pd.DataFrame({"y": rng.normal(size=3000), "pred": rng.normal(size=3000)})]
    folder = _write_parts(tmp_path / "rc", frames)
    streamed = evaluate_dataset(folder, target="y", score=["pred"], ci="none", max_bins=64)
    memory = evaluate_predictions(frames[0]["y"], frames[0]["pred"], ci="none")
    row = streamed.metrics["median_ae"]
    bound = float(re.search(r"\|error\| <= ([0-9.e+-]+)", row.method).group(1))
    assert abs(row.value - memory.metrics["median_ae"].value) <= bound * 1.01
    others = [r for r in memory.metrics.rows if r.metric != "median_ae"]
    for b in others:
        assert streamed.metrics[b.metric].value == pytest.approx(b.value, rel=1e-10, abs=1e-10)


# -- the histogram: bins, bounds and merges ------------------------------------------------
def _areas(hist: ScoreHistogram) -> tuple[float, float]:
    _, pos, neg = hist.descending()
    counts = GroupCounts(np.cumsum(pos)[None, :], np.cumsum(pos + neg)[None, :])
    return float(roc_auc(counts)[0]), float(average_precision(counts)[0])


@pytest.mark.parametrize(
    "kind", ["probabilities", "decision scores", "float32", "ties at zero and minus zero"]
)
def test_histogram_areas_within_their_bound(kind):
    rng = np.random.default_rng(8)
    n = 20_000
    y = rng.integers(0, 2, n)
    s = rng.normal(size=n) + y
    if kind == "probabilities":
        s = 1 / (1 + np.exp(-s))
    elif kind == "float32":
        s = s.astype(np.float32).astype(np.float64)
    elif kind == "ties at zero and minus zero":
        s = np.where(rng.random(n) < 0.2, np.where(rng.random(n) < 0.5, -0.0, 0.0), s)
    exact_auc, exact_ap = roc_auc_score(y, s), average_precision_score(y, s)
    exact = ScoreHistogram()
    exact.add(s, y)
    assert exact.exact
    assert _areas(exact) == pytest.approx((exact_auc, exact_ap), abs=1e-12)
    for max_bins in (64, 1024, 8192):
        hist = ScoreHistogram(max_bins=max_bins)
        hist.add(s, y)
        assert hist.n_bins <= max_bins and not hist.exact
        auc, ap = _areas(hist)
        assert abs(auc - exact_auc) <= hist.auc_bound()
        assert abs(ap - exact_ap) <= hist.ap_bound()
    # Finer bins, tighter bounds.
    coarse, fine = ScoreHistogram(max_bins=64), ScoreHistogram(max_bins=8192)
    coarse.add(s, y)
    fine.add(s, y)
    assert fine.auc_bound() < coarse.auc_bound()


def test_order_keys_keep_the_order_of_the_floats():
    x = np.array([-np.inf, -1e300, -2.5, -1e-300, -0.0, 0.0, 1e-300, 0.5, 3.0, np.inf])
    keys = order_keys(x)
    assert np.all(np.diff(keys[[0, 1, 2, 3, 5, 6, 7, 8, 9]]) > 0)
    assert keys[4] == keys[5]  # -0.0 == 0.0
    np.testing.assert_array_equal(key_values(keys), x + 0.0)


@pytest.mark.parametrize("split_seed", [0, 1, 2])
def test_merged_histograms_do_not_depend_on_the_split(split_seed):
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 30_000)
    s = rng.random(30_000)
    whole = ScoreHistogram(max_bins=500)
    whole.add(s, y)
    cuts = np.sort(np.random.default_rng(split_seed).choice(30_000, 4, replace=False))
    merged = ScoreHistogram(max_bins=500)
    for part in np.split(np.arange(30_000), cuts)[::-1]:  # another order, too
        piece = ScoreHistogram(max_bins=500)
        piece.add(s[part], y[part])
        merged.merge(piece)
    assert merged.shift == whole.shift
    np.testing.assert_array_equal(merged.keys, whole.keys)
    np.testing.assert_array_equal(merged.pos, whole.pos)  # integer counts: exact
    np.testing.assert_array_equal(merged.neg, whole.neg)


def test_streamed_areas_carry_the_bound(binary_ds, tmp_path):
    rng = np.random.default_rng(10)
    frames = []
    for _ in range(3):
        y = rng.integers(0, 2, 3000)
        frames.append(pd.DataFrame({"y": y, "p": 1 / (1 + np.exp(-rng.normal(size=3000) - y))}))
    folder = _write_parts(tmp_path / "c", frames)
    whole = pd.concat(frames)
    ev = evaluate_dataset(folder, target="y", score=["p"], ci="none", max_bins=256)
    for name, oracle in (
        ("roc_auc", roc_auc_score),
        ("average_precision", average_precision_score),
    ):
        row = ev.metrics[name]
        bound = float(re.search(r"\|error\| <= ([0-9.e+-]+)", row.method).group(1))
        assert 0 < bound < 0.2
        assert abs(row.value - oracle(whole["y"], whole["p"])) <= bound * 1.01
    # Threshold metrics stay exact whatever the bins.
    memory = evaluate_predictions(whole["y"].to_numpy(), whole["p"].to_numpy(), ci="none")
    for name in ("accuracy", "f1", "mcc", "log_loss", "brier"):
        assert ev.metrics[name].value == pytest.approx(memory.metrics[name].value, abs=1e-12)


# -- bad input ------------------------------------------------------------------------------
def test_partitions_that_disagree_name_the_file_and_column(tmp_path, binary_ds):
    frames = _binary_frames(parts=3, n=200)
    frames[2] = frames[2].assign(p=frames[2]["p"].astype("float32"))
    folder = _write_parts(tmp_path / "types", frames)
    with pytest.raises(DataError, match=r"part-02\.parquet.*'p'.*float"):
        evaluate_dataset(folder, target="y", score=["p"])
    frames = _binary_frames(parts=3, n=200)
    frames[1] = frames[1].rename(columns={"p": "proba"})
    folder = _write_parts(tmp_path / "names", frames)
    with pytest.raises(DataError, match=r"part-01\.parquet.*'proba'"):
        evaluate_dataset(folder, target="y", score=["p"])
    with pytest.raises(DataError, match=r"part-00\.parquet.*no column 'score'"):
        evaluate_dataset(binary_ds[0], target="y", score=["score"])


def test_label_missing_from_first_partition_says_pass_classes(tmp_path):
    frames = _binary_frames(parts=2, n=300)
    frames[1].loc[frames[1].index[:5], "y"] = 7
    folder = _write_parts(tmp_path / "labels", frames)
    with pytest.raises(DataError, match=r"part-01\.parquet") as info:
        evaluate_dataset(folder, target="y", score=["p"])
    assert "--classes" in info.value.fix


def test_a_bad_score_names_its_partition(tmp_path):
    frames = _binary_frames(parts=3, n=300)
    frames[2].loc[frames[2].index[7], "p"] = np.nan
    folder = _write_parts(tmp_path / "nan", frames)
    with pytest.raises(DataError, match=r"part-02\.parquet.*y_score"):
        evaluate_dataset(folder, target="y", score=["p"])
    frames = _binary_frames(parts=2, n=300)
    frames[1].loc[frames[1].index[3], "p"] = 1.5  # past 1: not a probability
    folder = _write_parts(tmp_path / "range", frames)
    with pytest.raises(DataError, match=r"part-01\.parquet.*outside \[0, 1\]"):
        evaluate_dataset(folder, target="y", score=["p"])


def test_an_empty_first_partition(tmp_path):
    frames = _binary_frames(parts=3, n=400)
    frames[0] = frames[0].iloc[:0]
    folder = _write_parts(tmp_path / "empty-first", frames)
    whole = pd.concat(frames[1:])
    ev = evaluate_dataset(folder, target="y", score=["p"], ci="none")
    memory = evaluate_predictions(whole["y"].to_numpy(), whole["p"].to_numpy(), ci="none")
    _assert_same_values(ev, memory)


def _multiclass_frames(seed=12, parts=3, n=1500, decimals=3, weights=False):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(parts):
        y = rng.integers(0, 3, n)
        logits = rng.normal(size=(n, 3)) + 1.2 * np.eye(3)[y]
        proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        if decimals is not None:
            proba = proba.round(decimals)
            proba[:, 2] = 1.0 - proba[:, 0] - proba[:, 1]  # rows still sum to 1
        frame = pd.DataFrame({"y": np.array(["ant", "bee", "cat"])[y], "p_ant": proba[:, 0],
                              "p_bee": proba[:, 1], "p_cat": proba[:, 2]})  # fmt: skip
        if weights:
            frame["w"] = rng.uniform(0.2, 3.0, n)
        frames.append(frame)
    return frames


SCORES = ["p_ant", "p_bee", "p_cat"]


@pytest.mark.parametrize("weights", [False, True])
def test_multiclass_streamed_equals_in_memory(tmp_path, weights):
    frames = _multiclass_frames(weights=weights)
    folder = _write_parts(tmp_path / "multi", frames)
    whole = pd.concat(frames)
    w = whole["w"].to_numpy() if weights else None
    streamed = evaluate_dataset(
        folder, target="y", score=SCORES, weight="w" if weights else None, random_state=0
    )
    memory = evaluate_predictions(
        whole["y"].to_numpy(), whole[SCORES].to_numpy(), sample_weight=w, random_state=0
    )
    assert streamed.task == "multiclass" and streamed.predictions.n == len(whole)
    _assert_same_values(streamed, memory)  # counts, sums and (few distinct scores) areas
    assert [(r.metric, r.label) for r in streamed.metrics.rows] == [
        (r.metric, r.label) for r in memory.metrics.rows
    ]
    np.testing.assert_allclose(streamed.confusion.counts, memory.confusion.counts, atol=1e-9)
    for a, b in zip(streamed.roc_per_class, memory.roc_per_class, strict=True):
        np.testing.assert_allclose(a.y, b.y, atol=1e-12)
    assert "exact counts" in streamed.metrics["balanced_accuracy"].method
    assert "exact sums" in streamed.metrics["log_loss"].method
    assert "exact" in streamed.metrics["roc_auc_ovr_macro"].method
    if not weights:  # Wilson and DeLong from the exact counts: the in-memory intervals
        a, b = streamed.metrics["accuracy"], memory.metrics["accuracy"]
        assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high), abs=1e-12)
        for c in ("ant", "bee", "cat"):
            for name in ("roc_auc", "precision", "recall"):
                a, b = (
                    next(r for r in ev.metrics.per_class() if (r.metric, r.label) == (name, c))
                    for ev in (streamed, memory)
                )
                assert (a.ci_low, a.ci_high) == pytest.approx((b.ci_low, b.ci_high), abs=1e-9)
    for row in streamed.metrics.rows:  # every interval in range and around its estimate
        if np.isfinite(row.ci_low):
            assert row.ci_low <= row.value + 1e-12 <= row.ci_high + 2e-12, row.metric


def test_multiclass_fine_scores_carry_the_bound_and_the_sample_interval(tmp_path):
    frames = _multiclass_frames(seed=5, parts=2, n=3000, decimals=None)
    folder = _write_parts(tmp_path / "fine", frames)
    whole = pd.concat(frames)
    ev = evaluate_dataset(folder, target="y", score=SCORES, max_bins=200, sample_rows=2000,
                          n_resamples=100, random_state=0)  # fmt: skip
    memory = evaluate_predictions(whole["y"].to_numpy(), whole[SCORES].to_numpy(), ci="none")
    auc = ev.metrics["roc_auc_ovr_macro"]
    bound = float(re.search(r"\|error\| <= ([\d.e+-]+)", auc.method).group(1))
    assert 0 < bound < 0.05
    assert abs(auc.value - memory.metrics["roc_auc_ovr_macro"].value) <= bound
    assert ev.metrics["accuracy"].value == pytest.approx(memory.metrics["accuracy"].value)
    f1 = ev.metrics["f1_macro"]
    assert "m-out-of-n" in f1.method and f1.ci_low < f1.value < f1.ci_high


def test_cli_streams_multiclass_predictions(tmp_path):
    import json

    folder = _write_parts(tmp_path / "multi", _multiclass_frames(parts=2, n=400))
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["evaluate", "--predictions", str(folder), "--target", "y", "--score", "p_ant",
         "--score", "p_bee", "--score", "p_cat", "--out", str(out), "--no-figures",
         "--n-resamples", "50"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["evaluation"]["task"] == "multiclass" and doc["evaluation"]["n_rows"] == 800


def test_empty_folder_and_glob(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no data files"):
        evaluate_dataset(tmp_path / "empty", target="y", score=["p"])
    with pytest.raises(DataError, match="matches no file"):
        evaluate_dataset(str(tmp_path / "nothing-*.parquet"), target="y", score=["p"])


def test_cli_streams_a_glob_and_refuses_bad_partitions(tmp_path, binary_ds):
    folder, whole = binary_ds
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["evaluate", "--predictions", str(folder / "part-*.parquet"), "--target", "y",
         "--score", "p", "--out", str(out), "--no-figures", "--n-resamples", "50"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    doc = json.loads((out / "results.json").read_text())
    assert doc["evaluation"]["n_rows"] == len(whole)
    assert doc["source"]["streamed"] is True
    frames = _binary_frames(parts=2, n=100)
    frames[1]["y"] = frames[1]["y"].astype(str)
    bad = _write_parts(tmp_path / "bad", frames)
    result = runner.invoke(
        app,
        ["evaluate", "--predictions", str(bad), "--target", "y", "--score", "p",
         "--out", str(tmp_path / "out2")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "part-01.parquet" in result.output and "'y'" in result.output
    assert "Traceback" not in result.output


def test_cli_unreachable_scheduler_exits_2(tmp_path, binary_ds):
    result = runner.invoke(
        app,
        ["evaluate", "--predictions", str(binary_ds[0]), "--target", "y", "--score", "p",
         "--out", str(tmp_path / "o"), "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Cannot connect to the Dask scheduler" in result.output
    assert "Traceback" not in result.output


def test_cli_streaming_needs_saved_predictions(tmp_path, binary_ds):
    result = runner.invoke(
        app,
        ["evaluate", "--model", "m.skops", "--data", str(binary_ds[0]), "--target", "y",
         "--out", str(tmp_path / "o"), "--backend", "local"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--predictions" in result.output


# -- a real Dask cluster --------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.mark.slow  # the workers import afterfit first: about 15 s on two shared cores
def test_dask_equals_local_exactly(binary_ds, cluster, tmp_path):
    folder, _ = binary_ds
    options = dict(target="y", score=["p"], random_state=1, sample_rows=4000, max_bins=300,
                   n_resamples=100)  # fmt: skip
    local = evaluate_dataset(folder, **options)
    remote = evaluate_dataset(
        folder, backend="dask", scheduler=cluster.scheduler_address, **options
    )
    for a, b in zip(local.metrics.rows, remote.metrics.rows, strict=True):
        assert (a.value, a.ci_low, a.ci_high, a.method) == (b.value, b.ci_low, b.ci_high, b.method)
    np.testing.assert_array_equal(local.roc.y, remote.roc.y)
    np.testing.assert_array_equal(local.predictions.scores, remote.predictions.scores)
    rng = np.random.default_rng(11)
    frames = []
    for _ in range(3):
        y = rng.normal(size=1000)
        frames.append(pd.DataFrame({"y": y, "p": y + rng.normal(size=1000),
                                    "w": rng.uniform(1, 2, 1000)}))  # fmt: skip
    reg = _write_parts(tmp_path / "reg", frames)
    options = dict(target="y", score=["p"], weight="w", random_state=1, n_resamples=50)
    a = evaluate_dataset(reg, **options)
    b = evaluate_dataset(reg, backend="dask", scheduler=cluster.scheduler_address, **options)
    assert [(r.value, r.ci_low) for r in a.metrics.rows] == [
        (r.value, r.ci_low) for r in b.metrics.rows
    ]
    multi = _write_parts(tmp_path / "multi", _multiclass_frames(parts=3, n=500))
    options = dict(target="y", score=SCORES, random_state=1, sample_rows=600, n_resamples=50)
    a = evaluate_dataset(multi, **options)
    b = evaluate_dataset(multi, backend="dask", scheduler=cluster.scheduler_address, **options)
    assert [(r.value, r.ci_low, r.ci_high) for r in a.metrics.rows] == [
        (r.value, r.ci_low, r.ci_high) for r in b.metrics.rows
    ]


def test_cli_shows_progress_per_partition_when_piped(binary_ds, tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["AFTERFIT_PROGRESS_INTERVAL"] = "0.01"  # stands for the 10 s of a long run
    args = [sys.executable, "-m", "afterfit.cli", "evaluate", "--predictions", str(binary_ds[0]),
            "--target", "y", "--score", "p", "--out", str(tmp_path / "o"), "--no-figures",
            "--n-resamples", "20"]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.startswith("progress:")]
    assert lines, proc.stderr
    assert all(re.match(r"progress: evaluate: partitions: [0-4]/4", x) for x in lines), lines
    assert "\x1b[" not in proc.stderr  # plain lines, no bar
