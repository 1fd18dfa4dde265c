"""Parallel backends (issue 5): the same seed gives the same numbers in one process, on
threads, in processes and on a Dask cluster; clear errors for bad backends and addresses."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import afterfit.parallel as parallel
from afterfit.errors import AfterfitError, InvalidInputError, MissingDependencyError
from afterfit.explain import permutation_importance
from afterfit.parallel import (
    active_config,
    effective_n_jobs,
    parallel_backend,
    run_tasks,
    spawn_seeds,
    split_evenly,
)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="module")
def models(cancer):
    X, y = cancer
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    boosted = HistGradientBoostingClassifier(max_iter=25, random_state=0).fit(X, y)
    return {"generic": linear, "fast": boosted}


def _square(x: int) -> int:
    return x * x


def _importances(model, X, y, **kw):
    # Small batches: the generic path makes many tasks (batches of 3 copies).
    return permutation_importance(
        model, X, y, n_repeats=3, random_state=0, batch_rows=1800, **kw
    ).importances


# --- helpers --------------------------------------------------------------------------------


def test_run_tasks_keeps_order_and_runs_in_process_by_default():
    tasks = [(i,) for i in range(7)]
    assert run_tasks(_square, tasks) == [i * i for i in range(7)]
    assert run_tasks(_square, tasks, n_jobs=2) == [i * i for i in range(7)]
    with parallel_backend("threads", n_jobs=2):
        assert run_tasks(_square, tasks) == [i * i for i in range(7)]
    assert run_tasks(_square, []) == []


def test_effective_n_jobs_and_active_config():
    assert effective_n_jobs() == 1 and active_config() is None
    with parallel_backend("threads", n_jobs=2) as config:
        assert config.backend == "threads" and config.n_jobs == 2
        assert active_config() is config
        assert effective_n_jobs() == 2
        assert effective_n_jobs(1) == 1  # an explicit n_jobs wins
        with parallel_backend() as inner:
            assert inner.backend == "local" and inner.n_jobs == -1
            assert effective_n_jobs() >= 1
        assert active_config() is config
    assert active_config() is None


def test_spawn_seeds_and_split_evenly():
    assert spawn_seeds(3, 4) == spawn_seeds(3, 4)
    assert spawn_seeds(3, 4) != spawn_seeds(4, 4)
    assert len(set(spawn_seeds(3, 50))) == 50
    assert split_evenly(list(range(10)), 3) == [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]]
    assert split_evenly([1, 2], 8) == [[1], [2]]
    assert split_evenly([], 4) == []


# --- same numbers, locally ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["generic", "fast"])
def test_permutation_same_on_threads_and_processes(cancer, models, path):
    X, y = cancer
    model = models[path]
    seq = _importances(model, X, y)
    np.testing.assert_array_equal(seq, _importances(model, X, y, n_jobs=2))  # loky
    with parallel_backend("threads", n_jobs=2):
        np.testing.assert_array_equal(seq, _importances(model, X, y))
    with parallel_backend("local", n_jobs=2):
        np.testing.assert_array_equal(seq, _importances(model, X, y))


def test_kernel_and_permutation_shap_same_on_threads(cancer):
    pytest.importorskip("shap")
    from afterfit.explain import shap_values

    X, y = cancer
    Xs = X.iloc[:, :5]
    model = LogisticRegression(max_iter=5000).fit(Xs, y)
    state = np.random.get_state()  # noqa: NPY002 - shap draws from numpy's global generator
    for algorithm, evals in (("kernel", 64), ("permutation", 22)):
        kw = dict(background=Xs, max_background=10, random_state=3, algorithm=algorithm,
                  max_evals=evals)  # fmt: skip
        seq = shap_values(model, Xs.iloc[:40], **kw)  # 3 chunks of 16 rows
        with parallel_backend("threads", n_jobs=2):
            thr = shap_values(model, Xs.iloc[:40], **kw)
        np.testing.assert_array_equal(seq.values, thr.values)
        np.testing.assert_array_equal(seq.base_values, thr.base_values)
        assert thr.additivity.within_tolerance
    after = np.random.get_state()  # noqa: NPY002 - shap draws from numpy's global generator
    assert np.array_equal(state[1], after[1])  # the global generator is left as it was


# --- a real Dask cluster -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


def _ran_on_cluster(client, run):
    """Run ``run()`` and return its result and the number of tasks the cluster ran."""
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        out = run()
    return out, len(stream.data)


@pytest.mark.slow
@pytest.mark.parametrize("path", ["generic", "fast"])
def test_permutation_on_dask_equals_local(cancer, models, cluster, path):
    X, y = cancer
    model = models[path]
    local = _importances(model, X, y)
    with parallel_backend("dask", scheduler=cluster.scheduler_address) as config:
        assert config.client is not None
        remote, n_tasks = _ran_on_cluster(config.client, lambda: _importances(model, X, y))
    assert n_tasks > 1  # the copies were scored on the workers
    np.testing.assert_array_equal(local, remote)


@pytest.mark.slow
def test_kernel_shap_on_dask_equals_local(cancer, cluster):
    pytest.importorskip("shap")
    from afterfit.explain import shap_values

    X, y = cancer
    Xs = X.iloc[:, :5]
    model = LogisticRegression(max_iter=5000).fit(Xs, y)
    kw = dict(background=Xs, max_background=10, random_state=3, algorithm="kernel", max_evals=64)
    local = shap_values(model, Xs.iloc[:40], **kw)
    with parallel_backend("dask", scheduler=cluster.scheduler_address) as config:
        remote, n_tasks = _ran_on_cluster(
            config.client, lambda: shap_values(model, Xs.iloc[:40], **kw)
        )
    assert n_tasks > 1
    np.testing.assert_array_equal(local.values, remote.values)
    np.testing.assert_array_equal(local.base_values, remote.base_values)
    assert remote.additivity.within_tolerance


# --- errors -----------------------------------------------------------------------------------


def test_bad_scheduler_address_is_a_clear_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 1.0)
    with pytest.raises(InvalidInputError, match=r"tcp://127\.0\.0\.1:9.*within 1 s") as info:
        with parallel_backend("dask", scheduler="tcp://127.0.0.1:9"):
            pass  # pragma: no cover - never reached
    assert "scheduler is running" in info.value.fix
    assert active_config() is None


@pytest.mark.parametrize("backend", ["spark", "ray", "", "Threads"])
def test_unknown_backend_is_a_clear_error(backend):
    with pytest.raises(InvalidInputError, match=r"'local', 'threads', 'dask'"):
        with parallel_backend(backend):
            pass  # pragma: no cover - never reached


def test_bad_arguments():
    with pytest.raises(InvalidInputError, match="only the 'dask' backend has a scheduler"):
        with parallel_backend("threads", scheduler="tcp://127.0.0.1:8786"):
            pass  # pragma: no cover
    with pytest.raises(InvalidInputError, match="n_jobs"):
        with parallel_backend("threads", n_jobs=0):
            pass  # pragma: no cover
    with pytest.raises(InvalidInputError, match="n_jobs"):
        effective_n_jobs(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="scheduler"):
        with parallel_backend("dask", scheduler="  "):
            pass  # pragma: no cover


def test_dask_without_scheduler_or_client():
    distributed = pytest.importorskip("distributed")
    try:
        distributed.default_client()
        pytest.skip("a default Dask client exists in this process")
    except ValueError:
        pass
    with pytest.raises(InvalidInputError, match="needs the address of a Dask scheduler"):
        with parallel_backend("dask"):
            pass  # pragma: no cover


def test_missing_distributed(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(MissingDependencyError, match=r"pip install 'afterfit\[dask\]'"):
        with parallel_backend("dask", scheduler="tcp://127.0.0.1:8786"):
            pass  # pragma: no cover
    assert issubclass(MissingDependencyError, AfterfitError)


def test_permutation_n_jobs_validated(cancer, models):
    X, y = cancer
    with pytest.raises(InvalidInputError, match="n_jobs"):
        permutation_importance(models["generic"], X, y, n_jobs=0)
    frame = pd.DataFrame(X)
    assert permutation_importance(models["generic"], frame, y, n_repeats=1, n_jobs=1).n_repeats == 1
