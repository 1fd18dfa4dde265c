"""Shared helpers of the server tests (no tests here): bundles built with
:func:`afterfit.bundle.core.build_bundle` from small scikit-learn models, and a real
uvicorn server on a loopback port in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cancer_data() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X.columns = [c.replace(" ", "_") for c in X.columns]
    return X, y


def cancer_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer_data()
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)


def build_cancer_bundle(out: Path, *, threshold: float = 0.4) -> Any:
    from afterfit.bundle.core import build_bundle, load_bundle

    X, y = cancer_data()
    build_bundle(cancer_model(), X, y, out=out, name="cancer", version="1.0", threshold=threshold)
    return load_bundle(out)


def mixed_data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A frame with an integer, a nullable float, a text category and a boolean column."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50.0, 15.0, n)
    income[rng.random(n) < 0.1] = np.nan
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": income,
            "plan": rng.choice(["basic", "pro", "team"], n),
            "active": rng.random(n) < 0.5,
        }
    )
    logit = 0.04 * (X["age"] - 50) + (X["plan"] == "pro") * 1.0 - 0.5
    y = pd.Series(np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "churn", "stay"))
    return X, y


def mixed_model() -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = mixed_data()
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("flag", "passthrough", ["active"]),
        ]
    )
    return make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(X, y)


def build_mixed_bundle(out: Path) -> Any:
    from afterfit.bundle.core import build_bundle, load_bundle

    X, y = mixed_data()
    build_bundle(mixed_model(), X, y, out=out, name="churn", version="2.1")
    return load_bundle(out)


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL.
    Leaving the block shuts the server down cleanly (lifespan shutdown included)."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,  # as afterfit serve: never close under a busy client's pool
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
