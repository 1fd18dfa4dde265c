"""tune(): the grid oracle (GridSearchCV), seeds, pruning by fold, workers, Dask, nested CV,
the Tuning section, and bad arguments."""

from __future__ import annotations

import os

import numpy as np
import optuna
import pytest
from sklearn.datasets import load_breast_cancer, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from afterfit.errors import InvalidInputError, ModelError
from afterfit.report.page import Figure, Table
from afterfit.report.sections.tuning import tuning_section
from afterfit.selection.nested import nested_tune
from afterfit.selection.tune import tune

LR = LogisticRegression(solver="liblinear")
GRID = {"C": {"type": "categorical", "choices": [0.001, 0.01, 0.1, 1.0, 10.0]}}


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    rows = np.random.default_rng(0).choice(len(y), 240, replace=False)
    return X.iloc[rows, :8].reset_index(drop=True), y.iloc[rows].reset_index(drop=True)


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "log_loss"])
def test_grid_equals_gridsearchcv(data, metric):
    X, y = data
    splits = list(StratifiedKFold(4, shuffle=True, random_state=1).split(X, y))
    result = tune(LR, X, y, space=GRID, sampler="grid", pruner="none", cv=splits,
                  metric=metric, n_trials=100, random_state=0)  # fmt: skip
    scoring = {"roc_auc": "roc_auc", "accuracy": "accuracy", "log_loss": "neg_log_loss"}[metric]
    gs = GridSearchCV(LR, {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}, cv=splits, scoring=scoring)
    gs.fit(X, y)
    sign = -1.0 if metric == "log_loss" else 1.0
    assert result.n_complete == 5  # n_trials capped at the grid's size
    assert result.best_score == pytest.approx(sign * gs.best_score_, abs=1e-10)
    assert result.best_params == gs.best_params_
    # Every grid point, not only the best.
    by_c = dict(zip(result.trials["param_C"], result.trials["value"], strict=True))
    for c, mean in zip(gs.cv_results_["param_C"], gs.cv_results_["mean_test_score"], strict=True):
        assert by_c[c] == pytest.approx(sign * mean, abs=1e-10)
    assert result.direction == ("minimize" if metric == "log_loss" else "maximize")
    # Refit on all rows with the best parameters.
    assert result.best_estimator.C == gs.best_params_["C"]
    np.testing.assert_allclose(result.best_estimator.coef_, gs.best_estimator_.coef_)


def test_interval_is_the_corrected_t_of_the_best_folds(data):
    from afterfit.selection.corrected import corrected_resampled_t

    X, y = data
    result = tune(LR, X, y, space=GRID, sampler="grid", pruner="none", cv=4, n_trials=5)
    # On the metric's scale (ROC AUC: logit), so the interval stays in [0, 1].
    mean, low, high = corrected_resampled_t(result.fold_scores, 180, 60, metric=result.metric)
    assert (result.best_score, result.ci_low, result.ci_high) == pytest.approx((mean, low, high))
    assert low < mean < high and result.fold_scores.size == 4


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "gp"])
def test_same_seed_same_trials(data, sampler):
    X, y = data
    space = {"C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
             "tol": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True}}  # fmt: skip
    n = 4 if sampler == "gp" else 8
    runs = [tune(LR, X, y, space=space, sampler=sampler, pruner="none", cv=3, n_trials=n,
                 random_state=7, refit=False) for _ in range(2)]  # fmt: skip
    a, b = (r.trials[["param_C", "param_tol", "value"]].to_numpy() for r in runs)
    np.testing.assert_array_equal(a, b)
    other = tune(LR, X, y, space=space, sampler=sampler, pruner="none", cv=3, n_trials=n,
                 random_state=8, refit=False)  # fmt: skip
    assert not np.array_equal(a[:, 0], other.trials["param_C"].to_numpy())


class _Recorder(optuna.pruners.BasePruner):
    """Prunes every trial after its second fold; records what each trial reported."""

    def __init__(self) -> None:
        self.seen: list = []

    def prune(self, study, trial):
        self.seen.append((trial.params["C"], dict(trial.intermediate_values)))
        return trial.last_step >= 1


def test_running_mean_reported_after_each_fold(data, monkeypatch):
    from sklearn.base import clone

    from afterfit.selection import study as tune_module
    from afterfit.selection.study import fold_score, make_splits

    X, y = data
    recorder = _Recorder()
    monkeypatch.setattr(tune_module, "make_pruner", lambda name, n: recorder)
    with pytest.raises(ModelError, match="No tuning trial completed"):
        tune(LR, X, y, space=GRID, sampler="grid", cv=4, n_trials=2)
    # Each trial reported fold 0, then the running mean of folds 0-1, then was pruned.
    assert [sorted(iv) for _, iv in recorder.seen] == [[0], [0, 1]] * 2
    splits = make_splits(4, X, y, None, task="binary", random_state=0)
    for c, iv in recorder.seen[1::2]:
        est = clone(LR).set_params(C=c)
        s = [
            fold_score(est, X, y, tr, te, task="binary", metric="roc_auc") for tr, te in splits[:2]
        ]
        assert iv[0] == pytest.approx(s[0]) and iv[1] == pytest.approx(np.mean(s))


def test_median_pruner_prunes_bad_trials(data):
    X, y = data
    space = {"C": {"type": "float", "low": 1e-6, "high": 100.0, "log": True}}
    result = tune(LR, X, y, space=space, sampler="random", pruner="median", cv=5, n_trials=25,
                  random_state=0, refit=False)  # fmt: skip
    pruned = result.trials[result.trials["state"] == "PRUNED"]
    assert result.n_complete + result.n_pruned == 25
    assert len(pruned) >= 3
    assert (pruned["folds_run"] < 5).all()
    # Pruned trials are the bad ones: their running means sit below the best complete trial.
    assert pruned["value"].isna().all() or (pruned["value"] < result.best_score).all()


def test_halving_pruner_runs(data):
    X, y = data
    space = {"C": {"type": "float", "low": 1e-6, "high": 100.0, "log": True}}
    result = tune(LR, X, y, space=space, sampler="random", pruner="halving", cv=4, n_trials=12,
                  random_state=0, refit=False)  # fmt: skip
    assert result.n_complete + result.n_pruned == 12 and result.n_pruned >= 1


def test_regression_minimises_a_loss():
    X, y = make_regression(200, 5, noise=10.0, random_state=0)
    space = {"alpha": {"type": "float", "low": 1e-3, "high": 1e4, "log": True}}
    result = tune(Ridge(), X, y, space=space, metric="rmse", n_trials=10, cv=KFold(3),
                  pruner="none", random_state=0)  # fmt: skip
    assert result.direction == "minimize"
    assert result.best_score == result.trials["value"].min()
    assert result.best_params["alpha"] < 100  # heavy shrinkage is bad on this data


@pytest.mark.slow
def test_two_worker_processes_share_a_sqlite_study(data, tmp_path):
    X, y = data
    space = {"C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}}
    url = f"sqlite:///{tmp_path / 'study.db'}"
    result = tune(LR, X, y, space=space, n_trials=16, cv=3, workers=2, storage=url,
                  study_name="two", random_state=0, refit=False)  # fmt: skip
    finished = result.trials[result.trials["state"].isin(["COMPLETE", "PRUNED"])]
    assert len(finished) == 16  # exactly as asked, none beyond
    workers = set(finished["worker"])
    assert len(workers) == 2 and all(str(os.getpid()) not in w for w in workers)
    assert finished["number"].is_unique
    # Run again: the study is complete, nothing new is added.
    again = tune(LR, X, y, space=space, n_trials=16, cv=3, workers=2, storage=url,
                 study_name="two", random_state=0, refit=False)  # fmt: skip
    assert again.n_complete + again.n_pruned == 16


def test_every_trial_names_its_worker_before_the_sampler_sees_it(data, monkeypatch, tmp_path):
    # A worker killed while the sampler works must leave a trial that a resume can tell is
    # dead: the owner is written when the trial is created, not at the objective's first line.
    from afterfit.selection import study as study_module

    seen: list[object] = []
    make = study_module.make_sampler

    def recording(*args, **kwargs):
        sampler = make(*args, **kwargs)
        before = sampler.before_trial

        def before_trial(study, trial):
            seen.append(trial.user_attrs.get(study_module.WORKER))
            before(study, trial)

        sampler.before_trial = before_trial
        return sampler

    monkeypatch.setattr(study_module, "make_sampler", recording)
    X, y = data
    space = {"C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}}
    result = tune(LR, X, y, space=space, n_trials=6, cv=3, storage=tmp_path / "own.db",
                  random_state=0, refit=False)  # fmt: skip
    assert result.n_complete + result.n_pruned == 6
    assert len(seen) == 6
    assert set(seen) == {study_module._worker_name()}
    assert set(result.trials["state"]) <= {"COMPLETE", "PRUNED"}  # no queued trial left over


def test_a_study_left_by_a_killed_worker_resumes_to_exactly_n(data, tmp_path):
    import subprocess
    import sys

    from afterfit.selection.study import WORKER

    X, y = data
    space = {"C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}}
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    tune(LR, X, y, space=space, n_trials=3, cv=3, storage=url, study_name="k", refit=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f"{__import__('socket').gethostname()}:{dead.pid}"
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name="k", storage=storage)
    State = optuna.trial.TrialState
    # What a worker killed in the middle leaves: the trial it was running, which carries
    # its name from the moment it was created.
    study.add_trial(optuna.trial.create_trial(state=State.RUNNING, user_attrs={WORKER: owner}))
    storage.engine.dispose()
    result = tune(LR, X, y, space=space, n_trials=6, cv=3, storage=url, study_name="k",
                  refit=False)  # fmt: skip
    assert result.n_complete + result.n_pruned == 6
    assert result.n_failed == 1  # the dead worker's running trial, marked failed
    left = optuna.load_study(study_name="k", storage=url).get_trials(
        states=(State.RUNNING, State.WAITING)
    )
    assert not left


@pytest.mark.slow
def test_dask_local_cluster(data, tmp_path):
    from distributed import LocalCluster

    X, y = data
    space = {"C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True}}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:  # fmt: skip
        result = tune(LR, X, y, space=space, n_trials=10, cv=3, workers=2, backend="dask",
                      scheduler=cluster.scheduler_address, random_state=0,
                      storage=tmp_path / "dask.db", refit=False)  # fmt: skip
    finished = result.trials[result.trials["state"].isin(["COMPLETE", "PRUNED"])]
    assert len(finished) == 10
    assert all(str(os.getpid()) not in w for w in finished["worker"])  # ran on the cluster


def test_nested_tuned_versus_default(data):
    X, y = data
    space = {"C": {"type": "categorical", "choices": [1e-4, 1e-3, 1.0]}}
    weak = LogisticRegression(solver="liblinear", C=1e-4)
    nested = nested_tune(weak, X, y, space=space, n_trials=3, sampler="grid", pruner="none",
                         inner_cv=3, outer_cv=4, metric="accuracy", random_state=0)  # fmt: skip
    frame = nested.frame()
    assert len(frame) == 4
    np.testing.assert_allclose(frame["difference"], frame["tuned"] - frame["default"])
    assert nested.diff_mean == pytest.approx(frame["difference"].mean())
    assert nested.diff_low < nested.diff_mean < nested.diff_high
    # C=1e-4 is far too strong a penalty: tuning must help, measurably.
    assert nested.diff_low > 0
    assert all(p["C"] == 1.0 for p in nested.best_params)
    d = nested.to_dict()
    assert d["difference"]["mean"] == pytest.approx(nested.diff_mean) and d["n_outer"] == 4


def test_section_has_history_importances_parallel(data):
    X, y = data
    space = {"C": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
             "penalty": {"type": "categorical", "choices": ["l1", "l2"]}}  # fmt: skip
    result = tune(LR, X, y, space=space, n_trials=12, cv=3, random_state=0, refit=False,
                  importance="mdi")  # fmt: skip
    section = tuning_section(result)
    figs = {f.id: f for f in section.blocks if isinstance(f, Figure)}
    assert set(figs) == {"tuning-history", "tuning-importances", "tuning-parallel"}
    hist = figs["tuning-history"].spec["data"]
    best = [v for v in hist[1]["y"] if v is not None]
    assert best == sorted(best) and best[-1] == pytest.approx(result.best_score, abs=1e-6)
    par = figs["tuning-parallel"].spec["data"][0]
    assert par["type"] == "parcoords"
    assert [d["label"] for d in par["dimensions"]] == ["log10 C", "penalty", "roc_auc"]
    assert sum(result.importances.values()) == pytest.approx(1.0)
    tables = {t.id for t in section.blocks if isinstance(t, Table)}
    assert tables == {"tuning-best-params", "tuning-trials"}
    assert section.headline[0].value == result.best_score
    import json

    json.dumps(section.data, allow_nan=False)


def test_bad_arguments(data):
    X, y = data
    for kwargs, word in [
        ({"sampler": "bayes"}, "sampler"),
        ({"pruner": "hyperband"}, "pruner"),
        ({"workers": 0}, "workers"),
        ({"metric": "nope"}, "metric"),
        ({"confidence": 1.5}, "confidence"),
        ({"space": {"alpha": {"type": "float", "low": 0.1, "high": 1}}}, "'alpha'"),
        ({"sampler": "grid", "space": {"C": {"type": "float", "low": 0.1, "high": 1}}}, "grid"),
        ({"storage": "postgresql+psycopg://u@127.0.0.1:1/db"}, "Cannot reach"),
    ]:
        with pytest.raises(InvalidInputError, match=word):
            tune(LR, X, y, n_trials=2, **kwargs)
    with pytest.raises(InvalidInputError, match="n_trials"):
        tune(LR, X, y, n_trials=0)


def test_every_trial_failing_is_a_model_error(data):
    X, y = data
    # liblinear does not support penalty=None: every fit raises.
    space = {"penalty": {"type": "categorical", "choices": [None]}}
    with pytest.raises(ModelError, match="No tuning trial completed"):
        tune(LR, X, y, space=space, n_trials=3, cv=3)


def test_tune_nested_in_the_result_and_section(data):
    X, y = data
    space = {"C": {"type": "categorical", "choices": [1e-4, 1.0]}}
    result = tune(LR, X, y, space=space, sampler="grid", pruner="none", cv=3, n_trials=2,
                  nested=True, outer_cv=3, metric="accuracy", random_state=0)  # fmt: skip
    assert result.nested is not None and result.nested.tuned.size == 3
    assert not any("optimistic" in n for n in result.notes)
    section = tuning_section(result)
    ids = {b.id for b in section.blocks if isinstance(b, Figure | Table)}
    assert {"tuning-nested", "tuning-nested-folds"} <= ids
    assert [h.name for h in section.headline] == [
        "best accuracy (CV)", "tuned − default accuracy (nested)"]  # fmt: skip
    assert result.to_dict()["nested"]["n_outer"] == 3
