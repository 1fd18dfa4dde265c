"""What a metric's name says: whether higher is better (``val_auc``, ``train_loss``) and
which split it was computed on (``val_loss`` -> validation, ``validation_0`` -> validation).

Shared by the curves estimators record and the training logs users pass.
"""

from __future__ import annotations

import re

# --- what a metric name says about its direction -----------------------------------------

# Tokens of names where lower is better (losses and errors); checked before the scores,
# because a name with "loss" in it is a loss whatever else it says.
_LOWER = {
    "loss", "logloss", "mlogloss", "nll", "nloglik", "error", "err", "merror", "mse", "rmse",
    "mae", "mape", "msle", "rmsle", "l1", "l2", "huber", "fair", "poisson", "gamma", "tweedie",
    "deviance", "crossentropy", "cross", "entropy", "kullback", "kl", "perplexity", "brier",
    "multiclass", "logcosh", "quantile", "wer", "cer", "hinge",
}  # fmt: skip
_HIGHER = {
    "auc", "aucpr", "auroc", "ap", "map", "ndcg", "acc", "accuracy", "f1", "fbeta",
    "precision", "pre", "recall", "r2", "r²", "score", "iou", "dice", "mcc", "kappa", "bleu",
    "rouge", "match", "hit", "hits", "jaccard", "auprc",
}  # fmt: skip


def _direction(metric: str) -> bool | None:
    """Whether higher values of ``metric`` are better, from its name; None if unknown."""
    name = metric.strip().lower()
    if name.startswith("neg_"):  # scikit-learn scorers: negated losses, higher is better
        return True
    tokens = [t for t in re.split(r"[^a-z0-9²]+", name) if t]
    if not tokens or tokens[0] in ("lr", "learning") or name.startswith("lr"):
        return None
    if any(t in _LOWER or t.endswith(("loss", "error")) for t in tokens):
        return False
    if any(t in _HIGHER or t.endswith("accuracy") for t in tokens):
        return True
    return None


_SPLIT_PREFIX = re.compile(
    r"^(train|training|val|valid|validation|test|eval|evaluation)[_/.\- ]+(.+)$", re.I
)
_SPLIT_SUFFIX = re.compile(r"^(.+?)[_/.\- ]+(train|training|val|valid|validation|test)$", re.I)
_SPLIT_NAMES = {"train": "train", "training": "train", "val": "validation",
                "valid": "validation", "validation": "validation", "eval": "validation",
                "evaluation": "validation", "test": "test"}  # fmt: skip


def _split_metric(key: str) -> tuple[str | None, str]:
    """``"val_loss"`` -> ``("validation", "loss")``; ``"loss"`` -> ``(None, "loss")``.

    Lightning's per-step and per-epoch suffixes (``train_loss_step``) stay in the metric
    name: they are different quantities.
    """
    m = _SPLIT_PREFIX.match(key)
    if m:
        return _SPLIT_NAMES[m.group(1).lower()], m.group(2)
    m = _SPLIT_SUFFIX.match(key)
    if m:
        return _SPLIT_NAMES[m.group(2).lower()], m.group(1)
    return None, key


def split_kind(split: str | None) -> str | None:
    """``"train"``, ``"validation"`` or None for a split name as estimators write them
    (``"training"``, ``"learn"``, ``"valid_1"``, ``"validation_0"``, ``"out-of-bag"``...).

    XGBoost names every evaluation set ``validation_<i>``, even the training data passed
    as one, so ``validation_0`` counts as validation.
    """
    if split is None:
        return None
    s = split.lower()
    if s in ("train", "training", "learn", "in-bag"):
        return "train"
    if s.startswith(("val", "valid", "eval", "test", "out-of-bag", "oob")):
        return "validation"
    return None
