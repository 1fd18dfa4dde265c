"""Where afterfit's parallel work runs: in this process, on local cores, or on a Dask cluster.

Permutation importance and the model-agnostic SHAP explainers split their work into tasks
and hand them to :func:`run_tasks`, which runs them through joblib. Which joblib backend
runs them is chosen with the :func:`parallel_backend` context manager::

    with parallel_backend("dask", scheduler="tcp://10.0.0.5:8786"):
        imp = afterfit.compute_permutation_importance(model, X, y, random_state=0)

The tasks are drawn up before they are handed out (permutations generated up front, seeds
spawned with :class:`numpy.random.SeedSequence`), so the same ``random_state`` gives the
same numbers in one process, with threads, or on a cluster, whatever the number of workers.

Backends:

- ``"local"``: joblib's default process pool (loky) on this machine's cores;
- ``"threads"``: threads of this process (no copying; pays off when the model's predict
  releases the GIL and is itself single-threaded);
- ``"dask"``: a Dask cluster through joblib's dask backend. ``scheduler`` is the address of
  its scheduler (``"tcp://host:8786"``); needs the ``dask`` extra, and afterfit installed on
  the workers.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from afterfit.errors import InvalidInputError, MissingDependencyError

__all__ = [
    "BACKENDS",
    "CONNECT_TIMEOUT",
    "ParallelConfig",
    "active_config",
    "effective_n_jobs",
    "parallel_backend",
    "run_tasks",
    "spawn_seeds",
    "split_evenly",
]

#: The backends :func:`parallel_backend` accepts.
BACKENDS: tuple[str, ...] = ("local", "threads", "dask")
#: Seconds to wait for a Dask scheduler before giving up on its address.
CONNECT_TIMEOUT = 5.0

_JOBLIB_NAME = {"local": "loky", "threads": "threading", "dask": "dask"}

T = TypeVar("T")


@dataclass(frozen=True)
class ParallelConfig:
    """The backend in force inside :func:`parallel_backend`.

    Attributes
    ----------
    backend : {"local", "threads", "dask"}
    n_jobs : int
        Workers asked for (-1: all cores of the machine or cluster).
    scheduler : str or None
        The Dask scheduler's address.
    client : object or None
        The ``distributed.Client`` connected to it (dask only).
    """

    backend: str
    n_jobs: int
    scheduler: str | None = None
    client: Any = None


_ACTIVE: contextvars.ContextVar[ParallelConfig | None] = contextvars.ContextVar(
    "afterfit_parallel", default=None
)


def active_config() -> ParallelConfig | None:
    """The configuration of the innermost :func:`parallel_backend` block (None outside)."""
    return _ACTIVE.get()


def _check_n_jobs(n_jobs: Any) -> None:
    if n_jobs is None:
        return
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise InvalidInputError(
            f"The argument 'n_jobs' must be a non-zero integer or None; received {n_jobs!r}.",
            fix="pass n_jobs=-1 for all cores, n_jobs=2 for two workers, or leave it out.",
        )


@contextlib.contextmanager
def parallel_backend(
    backend: str | None = None,
    scheduler: str | None = None,
    n_jobs: int | None = None,
) -> Iterator[ParallelConfig]:
    """Run afterfit's parallel work (permutation importance, SHAP) on a chosen backend.

    Parameters
    ----------
    backend : {"local", "threads", "dask"}, optional
        ``"local"`` (the default): joblib's process pool on this machine. ``"threads"``:
        threads of this process. ``"dask"``: the Dask cluster at ``scheduler``.
    scheduler : str, optional
        Dask only: the scheduler's address, such as ``"tcp://10.0.0.5:8786"``. Without it,
        the Dask client already created in this process is used.
    n_jobs : int, optional
        Workers to use; default -1, every core of the machine (local, threads) or of the
        cluster (dask). A function's own ``n_jobs`` argument overrides it.

    Yields
    ------
    ParallelConfig
        The backend in force; ``client`` is the Dask client for ``"dask"``.

    Raises
    ------
    InvalidInputError
        An unknown backend, a ``scheduler`` without ``backend="dask"``, a bad ``n_jobs``,
        or a scheduler that cannot be reached within :data:`CONNECT_TIMEOUT` seconds.
    MissingDependencyError
        ``backend="dask"`` without the ``distributed`` package (``pip install
        'afterfit[dask]'``).

    Examples
    --------
    >>> from afterfit.parallel import parallel_backend
    >>> with parallel_backend("threads", n_jobs=2) as config:
    ...     config.backend, config.n_jobs
    ('threads', 2)
    """
    name = "local" if backend is None else backend
    if not isinstance(name, str) or name not in BACKENDS:
        raise InvalidInputError(
            f"The argument 'backend' must be one of {', '.join(map(repr, BACKENDS))}; "
            f"received {backend!r}.",
            fix="pass backend='local' (processes on this machine), 'threads', or 'dask' "
            "with scheduler='tcp://HOST:8786'.",
        )
    if scheduler is not None and name != "dask":
        raise InvalidInputError(
            f"A scheduler address ({scheduler!r}) was given with backend={name!r}; only the "
            "'dask' backend has a scheduler.",
            fix="pass backend='dask' with the scheduler, or leave the scheduler out.",
        )
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise InvalidInputError(
            f"The argument 'scheduler' must be a Dask scheduler address; received {scheduler!r}.",
            fix="pass the address the scheduler prints, such as 'tcp://10.0.0.5:8786'.",
        )
    _check_n_jobs(n_jobs)
    jobs = -1 if n_jobs is None else int(n_jobs)

    import joblib

    client = None
    own_client = False
    params: dict[str, Any] = {}
    if name == "dask":
        client, own_client = _dask_client(scheduler)
        params["client"] = client
    config = ParallelConfig(backend=name, n_jobs=jobs, scheduler=scheduler, client=client)
    token = _ACTIVE.set(config)
    try:
        with joblib.parallel_config(backend=_JOBLIB_NAME[name], n_jobs=jobs, **params):
            yield config
    finally:
        _ACTIVE.reset(token)
        if own_client:
            client.close()


def _dask_client(scheduler: str | None) -> tuple[Any, bool]:
    """A ``distributed.Client`` for ``scheduler`` (ours to close), or the current one."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            "dask", "dask", purpose="Running on a Dask cluster (backend='dask')"
        ) from exc
    if scheduler is None:
        try:
            return distributed.default_client(), False
        except ValueError:
            raise InvalidInputError(
                "backend='dask' needs the address of a Dask scheduler, and no Dask client "
                "exists in this process.",
                fix="pass scheduler='tcp://HOST:8786' (the address the scheduler prints), "
                "or create a distributed.Client first.",
            ) from None
    try:
        # A short timeout: a wrong address should fail in seconds, not hang.
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address
        raise InvalidInputError(
            f"Cannot connect to the Dask scheduler at {scheduler!r} within "
            f"{CONNECT_TIMEOUT:g} s ({type(exc).__name__}: {exc}).",
            fix="check that the scheduler is running and that the address (usually "
            "'tcp://HOST:8786') is the one it prints, and reachable from this machine.",
        ) from exc
    return client, True


def effective_n_jobs(n_jobs: int | None = None) -> int:
    """How many workers a call with ``n_jobs`` gets (1: run in this process, no joblib).

    ``n_jobs=None`` takes the active :func:`parallel_backend`'s ``n_jobs``, and is 1 outside
    one. Negative values count back from every core (-1: all), as joblib does; on a Dask
    cluster, every core of the cluster.
    """
    _check_n_jobs(n_jobs)
    config = _ACTIVE.get()
    if n_jobs is None:
        if config is None:
            return 1
        n_jobs = config.n_jobs
    if n_jobs == 1:
        return 1
    import joblib

    return max(1, int(joblib.effective_n_jobs(int(n_jobs))))


def run_tasks(
    func: Callable[..., T],
    tasks: Sequence[tuple[Any, ...]],
    *,
    n_jobs: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[T]:
    """``[func(*task) for task in tasks]``, through joblib when more than one worker is asked.

    The tasks must carry their own randomness (seeds from :func:`spawn_seeds`, or
    permutations drawn up front), so the results do not depend on where or in which order
    they run. Arguments shared by the tasks should be the same objects: joblib's Dask
    backend then sends each to the cluster once.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled by reference for processes and Dask).
    tasks : sequence of tuple
        The positional arguments of each call.
    n_jobs : int, optional
        Workers; see :func:`effective_n_jobs`. The backend is joblib's current one: that
        of the active :func:`parallel_backend`, else loky processes.
    on_done : callable, optional
        Called with a task's index as its result arrives, in the order of ``tasks``
        (progress).

    Returns
    -------
    list
        The results, in the order of ``tasks``.
    """
    workers = effective_n_jobs(n_jobs)
    if workers == 1 or len(tasks) <= 1:
        results = []
        for i, task in enumerate(tasks):
            results.append(func(*task))
            if on_done is not None:
                on_done(i)
        return results
    from joblib import Parallel, delayed

    config = _ACTIVE.get()
    jobs = n_jobs if n_jobs is not None else (config.n_jobs if config is not None else workers)
    calls = (delayed(func)(*task) for task in tasks)
    if on_done is None:
        return list(Parallel(n_jobs=jobs)(calls))
    # A generator hands each result over as it (and those before it) is done, so the
    # progress moves per task rather than once at the end.
    results = []
    for i, result in enumerate(Parallel(n_jobs=jobs, return_as="generator")(calls)):
        results.append(result)
        on_done(i)
    return results


def spawn_seeds(random_state: int, n: int) -> list[int]:
    """``n`` independent 32-bit seeds spawned from ``random_state`` (``SeedSequence``).

    The same ``random_state`` gives the same seeds, so a task seeded with the i-th draws the
    same numbers wherever it runs.
    """
    children = np.random.SeedSequence(int(random_state)).spawn(int(n))
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


def split_evenly(items: Sequence[T], parts: int) -> list[list[T]]:
    """Split ``items`` into at most ``parts`` contiguous, non-empty runs of near-equal size."""
    items = list(items)
    parts = max(1, min(int(parts), len(items)))
    bounds = np.linspace(0, len(items), parts + 1).round().astype(int)
    return [items[a:b] for a, b in itertools.pairwise(bounds.tolist()) if b > a]
