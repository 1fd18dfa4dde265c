"""The binary views of ``evaluate``: gain, lift, KS, deciles, decision and cost curves.

Point values come from the suite's counts at the group ends; bands and the KS interval
from the bootstrap replicates that ``evaluate`` draws anyway (``bands=True`` puts the views
in every resample), so the views cost no resampling of their own.
"""

from __future__ import annotations

import math

import numpy as np

from afterfit.evaluation.results import Band, BinaryViews, MetricValue
from afterfit.metrics import views
from afterfit.metrics.binary import BinarySuite
from afterfit.metrics.resampling import BootstrapDraws, bootstrap_interval, pointwise_band


def binary_views(
    suite: BinarySuite,
    draws: BootstrapDraws | None,
    *,
    confidence: float,
    bootstrap_method: str,
) -> BinaryViews:
    """Every view of :mod:`afterfit.metrics.views` for one binary suite.

    Parameters
    ----------
    suite : BinarySuite
    draws : BootstrapDraws or None
        Replicates drawn with ``bands=True`` (None: no bands, no KS interval).
    confidence : float
    bootstrap_method : {"bca", "percentile"}
        The method of the KS interval.
    """
    c = suite.point_counts()
    gain = views.gain_on_grid(c)[0]
    ks, where = (a[0] for a in views.ks_statistic(c))
    if where >= 0:
        ks_score = float(suite.ranked.thresholds[where])
        ks_share = float(c.total[0, where] / c.total[0, -1])
    else:
        ks_score = ks_share = math.nan
    if draws is not None and ("ks", None) in draws.replicates:
        lo, hi, method = bootstrap_interval(
            draws, ("ks", None), confidence=confidence, method=bootstrap_method
        )
    else:
        lo, hi, method = math.nan, math.nan, "none"
    cost, _, _ = views.cost_curve(c.pos[0], c.total[0])
    nb = treat_all = grid = None
    if suite.net_benefit_groups is not None:
        grid = views.NET_BENEFIT_GRID
        nb = views.net_benefit(c, suite.net_benefit_groups)[0]
        treat_all = views.treat_all(c)[0]
    return BinaryViews(
        gain_grid=views.GAIN_GRID,
        gain=gain,
        lift=views.lift_from_gain(gain),
        ks=MetricValue("ks", float(ks), lo, hi, method),
        ks_score=ks_score,
        ks_share=ks_share,
        deciles=views.decile_table(suite.ranked, c),
        cost_grid=views.COST_GRID,
        cost=cost,
        gain_band=_band(draws, ("curve:gain", None), views.GAIN_GRID, confidence),
        threshold_probability=grid,
        net_benefit=nb,
        treat_all=treat_all,
        net_benefit_band=(
            None if grid is None else _band(draws, ("curve:net_benefit", None), grid, confidence)
        ),
        confidence=confidence,
    )


def _band(
    draws: BootstrapDraws | None, key: tuple[str, None], grid: np.ndarray, confidence: float
) -> Band | None:
    if draws is None or key not in draws.replicates:
        return None
    lo, hi = pointwise_band(draws.replicates[key], confidence)
    return Band(grid, lo, hi, confidence)
