"""Anchors that finish (issue 14, speed): one model call per KL-LUCB round samples every
contested candidate, so a row takes tens of model calls, not hundreds; the bandit still
chooses the best arms; the time limit is kept at the pace of the calls so far (a large last
call does not overrun it). Figures: benchmarks/bench_explain.py."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from afterfit.explain import AnchorTabular
from afterfit.explain.anchors import kl_lucb


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X[:400], y[:400])
    return model, X, AnchorTabular(X[:400], random_state=0)


@pytest.mark.parametrize("seed", range(5))
def test_kl_lucb_with_many_close_arms_finds_the_best(seed: int) -> None:
    """Forty arms, most of them close to each other: the top two (0.95, 0.9) are chosen, and
    a round samples several arms at once (far fewer rounds than samples per arm)."""
    rng = np.random.default_rng(seed)
    means = np.r_[0.95, 0.9, rng.uniform(0.55, 0.7, size=38)]
    n, pos = np.zeros(40), np.zeros(40)
    rounds: list[int] = []

    def sample(arm: int, k: int) -> None:
        n[arm] += k
        pos[arm] += rng.binomial(k, means[arm])

    def sample_many(requests: list[tuple[int, int]]) -> None:
        rounds.append(len(requests))
        for arm, k in requests:
            sample(arm, k)

    chosen = kl_lucb(sample, n, pos, top_n=2, epsilon=0.1, delta=0.05, batch_size=50,
                     sample_many=sample_many)  # fmt: skip
    assert sorted(chosen.tolist()) == [0, 1]
    assert len(rounds) < 40 and max(rounds) > 2  # several arms per call


def test_a_row_takes_tens_of_model_calls(cancer) -> None:
    model, X, explainer = cancer
    calls: list[int] = []

    class Counting:
        task = "binary"
        classes_ = model.classes_
        scores_are_probabilities = True

        def __init__(self) -> None:
            self.feature_names = list(X.columns)

        def predict_scores(self, data):
            calls.append(len(data))
            return model.predict_proba(data)

        def predict(self, data):
            return model.predict(data)

    a = explainer.explain(Counting(), X.iloc[404], time_limit=None)
    assert a.converged and a.valid
    # the reference's two arms a round took about 150 calls on this row
    assert len(calls) <= 60, len(calls)


@pytest.mark.parametrize("limit", [0.5, 1.5])
def test_time_limit_is_kept_on_hard_rows(cancer, limit: float) -> None:
    model, X, explainer = cancer
    for i in (406, 414):  # rows whose search does not finish quickly
        a = explainer.explain(model, X.iloc[i], time_limit=limit)
        # the last call is one the pace of the earlier ones says fits; then the anchor's
        # prefixes take one more small call
        assert a.seconds <= limit + 0.75, (i, a.seconds)
        assert a.num_samples > 0
