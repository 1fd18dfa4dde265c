"""The options the commands share, declared once so that each flag has one help text.

A command annotates its parameter with the type here (``quiet: QuietOpt = False``); the
default stays in the command. A flag whose help says what this command does with it (most
``--out``, ``--data``, ``--model`` and ``--seed``) keeps its own declaration in the command.
Imports nothing of the CLI (``_app`` and ``_inputs`` import this module, not each other).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


class TaskOption(StrEnum):
    binary = "binary"
    multiclass = "multiclass"
    regression = "regression"


class CIOption(StrEnum):
    auto = "auto"
    bootstrap = "bootstrap"
    none = "none"


class BootstrapMethod(StrEnum):
    bca = "bca"
    percentile = "percentile"


class ScoreKind(StrEnum):
    auto = "auto"
    proba = "proba"
    decision = "decision"


ModelOpt = Annotated[
    Path | None,
    typer.Option(help="Model file: .skops, .onnx, XGBoost/LightGBM, .pkl (with --trust)."),
]

DataOpt = Annotated[
    Path | None, typer.Option(help="Test data (CSV or Parquet) with the target column.")
]

ScoreKindOpt = Annotated[
    ScoreKind,
    typer.Option(help="Scores are probabilities (proba), decision scores, or guess."),
]

ClassesOpt = Annotated[
    str | None,
    typer.Option(help="With --predictions: class labels of the score columns, a,b,c."),
]

TaskOpt = Annotated[TaskOption | None, typer.Option(help="Task; inferred from the model or data.")]

PosLabelOpt = Annotated[
    str | None, typer.Option(help="Binary: the positive class (default: the second).")
]

WeightOpt = Annotated[
    str | None, typer.Option(help="Column of sample weights (left out of the features).")
]

DropOpt = Annotated[
    list[str] | None, typer.Option(help="Column to leave out of the features; repeat.")
]

TrustOpt = Annotated[
    bool,
    typer.Option(
        help="Trust the model file's source: allows pickle/joblib and every type in a "
        "skops file. Unpickling runs arbitrary code: use only for files you trust."
    ),
]

TrustedTypeOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="A type to trust when loading a .skops file; repeat. scikit-learn's tree, "
        "boosting and neighbour internals need none: they load after validation."
    ),
]

OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Write into an --out folder that holds files afterfit did not write. Those "
        "files are kept (a file of yours named like one afterfit writes stops the command, "
        "naming it); afterfit replaces only the files its marker (.afterfit.json) lists. "
        "Without it, --out must be new, empty or a folder afterfit wrote. Also replace an "
        "existing output file (--save-model, a file --out); an input file is never replaced.",
    ),
]

StratifyOpt = Annotated[bool, typer.Option(help="Resample within each class (classification).")]

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]

FiguresOpt = Annotated[bool, typer.Option(help="Write PNG figures.")]

TargetOpt = Annotated[str, typer.Option(help="Name of the target (true label) column.")]

OptionalTargetOpt = Annotated[
    str | None, typer.Option(help="Name of the target (true label) column.")
]

# -- intervals -------------------------------------------------------------------------
ConfidenceOpt = Annotated[float, typer.Option(help="Confidence level of intervals.")]

NResamplesOpt = Annotated[int, typer.Option(help="Bootstrap resamples.")]

BootstrapMethodOpt = Annotated[BootstrapMethod, typer.Option()]

SeedOpt = Annotated[int, typer.Option(help="Random seed of the bootstrap.", min=0)]

# -- model inputs ----------------------------------------------------------------------
ThresholdOpt = Annotated[
    float | None, typer.Option(help="Binary decision threshold (default 0.5 for proba).")
]

ModelNameOpt = Annotated[
    str | None,
    typer.Option(
        help="With --predictions holding several models (a 'model' column, as afterfit cv "
        "--compare writes): the model whose rows to use."
    ),
]

TrustModelsOpt = Annotated[
    bool,
    typer.Option(
        help="Trust the model files' source: allows pickle/joblib and every type in a "
        "skops file. Unpickling runs arbitrary code: use only for files you trust."
    ),
]

BundleArg = Annotated[Path, typer.Argument(help="The bundle folder (or .zip).")]

SchedulerOpt = Annotated[
    str | None, typer.Option(help="With --backend dask: the scheduler, tcp://HOST:8786.")
]

# -- the threshold policies (afterfit threshold, afterfit run) --------------------------
BetaOpt = Annotated[float | None, typer.Option(help="Beta of F-beta (fbeta).")]
FpCostOpt = Annotated[float | None, typer.Option(help="Cost of a false positive (>= 0).")]
FnCostOpt = Annotated[float | None, typer.Option(help="Cost of a false negative (>= 0).")]
TpGainOpt = Annotated[float | None, typer.Option(help="Gain of a true positive.")]
TnGainOpt = Annotated[float | None, typer.Option(help="Gain of a true negative.")]
MinPrecisionOpt = Annotated[
    float | None, typer.Option(help="precision-at: the precision to reach.")
]
MinRecallOpt = Annotated[float | None, typer.Option(help="recall-at: the recall to reach.")]
PositiveRateOpt = Annotated[
    float | None, typer.Option(help="positive-rate: the share of rows to flag at most.")
]
TopKOpt = Annotated[int | None, typer.Option(help="top-k: the rows to flag at most.")]


def out_folder(what: str) -> Any:
    """The ``--out`` folder option of a command, its help naming what is written there:
    ``OutOpt = out_folder("results.json, tables and figures")``."""
    return Annotated[Path, typer.Option(help=f"Folder for {what}.")]
