"""The steps of ``afterfit run``: each decides whether it applies and returns a Section.

A step is a name, a title, a test of whether it applies to the run (task, data given,
extras installed) and a function that computes its result and builds its section. Adding
a step to the report is adding one entry to :data:`STEPS`; the page, ``results.json``,
tables and figures follow from its section.

A step that cannot run on this input raises :class:`~afterfit.errors.AfterfitError`; the
run records why in the summary ("Steps not run") and goes on with the others. Evaluation
is the exception: without it there is no report, so its errors stop the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from afterfit.data import Dataset
from afterfit.errors import InvalidInputError, ModelError
from afterfit.predictions import Predictions
from afterfit.report.page import Section

#: The saliency methods the report runs by default (``RunOptions.saliency_methods``).
SALIENCY_METHODS: tuple[str, ...] = ("gradients", "integrated_gradients", "smoothgrad", "gradcam")

#: ``progress(step_title, total)`` is a context manager yielding ``advance(n)`` (or None).
ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Any]]


@contextlib.contextmanager
def no_progress(_title: str, _total: int) -> Iterator[None]:
    yield None


@dataclass
class RunContext:
    """What the steps share: the model, the data and what earlier steps computed."""

    model: Any
    test: Dataset | None  # None for an image model (then ``images`` is set)
    options: Any  # RunOptions (afterfit.report.run); typed loosely to avoid a cycle
    preds: Predictions
    train: Dataset | None = None
    valid: Dataset | None = None
    images: Any = None  # afterfit.saliency.ImageSet of an image model
    others: dict[str, Any] = field(default_factory=dict)
    progress: ProgressFactory = no_progress
    results: dict[str, Any] = field(default_factory=dict)
    #: Parts of a step that could not run, with the reason ("Steps not run" on the page).
    skipped: list[str] = field(default_factory=list)
    #: The test table with the slice columns the model does not take (Slices step).
    slice_frame: Any = None

    @property
    def task(self) -> str:
        return self.preds.task


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    applies: Callable[[RunContext], str | None]
    """None when the step runs; otherwise why it does not (shown in the summary)."""
    run: Callable[[RunContext], Section | None]


def _stage_bars(
    ctx: RunContext, stack: contextlib.ExitStack, prefix: str, *, cumulative: bool
) -> Callable[[str, int, int], None]:
    """A ``progress(stage, done, total)`` callback opening one of the run's bars per stage;
    ``done`` is all work so far (``cumulative``) or the work just finished."""
    bars: dict[str, list[Any]] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = [stack.enter_context(ctx.progress(f"{prefix}: {stage}", total)), 0]
        advance, seen = bars[stage]
        step = done - seen if cumulative else done
        if advance is not None and step > 0:
            advance(step)
        bars[stage][1] = done if cumulative else seen + done

    return progress


def _always(_ctx: RunContext) -> str | None:
    return None


def _evaluation(ctx: RunContext) -> Section:
    from afterfit.evaluation import evaluate_predictions
    from afterfit.report.sections.evaluation import evaluation_section

    o = ctx.options
    with ctx.progress("evaluation", o.n_resamples) as advance:
        ev = evaluate_predictions(
            ctx.preds,
            ci="none" if o.n_resamples == 0 else "auto",
            confidence=o.confidence,
            n_resamples=o.n_resamples,
            random_state=o.seed,
            progress=advance,
        )
    ctx.results["evaluation"] = ev
    calibration_step_runs = _calibration_applies(ctx) is None and "calibration" in o.steps
    return evaluation_section(ev, calibration=not calibration_step_runs)


def _thresholds_applies(ctx: RunContext) -> str | None:
    from afterfit.thresholds._core import canonical_objective

    o = ctx.options
    cost = canonical_objective(o.threshold_objective) == "cost"
    if ctx.task == "multiclass" and cost and o.cost_matrix:
        return None  # minimum expected cost decisions under the cost matrix
    if ctx.task != "binary":
        return (
            f"thresholds: the model is {ctx.task}; threshold selection is for binary models "
            "(multiclass: pass --threshold-objective cost --cost-matrix FILE)."
        )
    return None


def _thresholds(ctx: RunContext) -> Section:
    from afterfit.report.sections.thresholds import thresholds_section
    from afterfit.thresholds import operating_point, select_threshold_predictions

    o = ctx.options
    preds, split = ctx.preds, "test"
    if ctx.valid is not None:
        preds = Predictions.from_model(
            ctx.model, ctx.valid.X, ctx.valid.y, pos_label=ctx.preds.positive_label
        )
        split = "validation"
    with ctx.progress("thresholds", o.n_resamples) as advance:
        selection = select_threshold_predictions(
            preds,
            objective=o.threshold_objective,
            **objective_parameters(o),
            split=split,
            n_resamples=o.n_resamples,
            confidence=o.confidence,
            random_state=o.seed,
            progress=advance,
        )
    ctx.results["thresholds"] = selection
    if ctx.task != "binary":
        from afterfit.report.sections.thresholds import cost_decision_section

        return cost_decision_section(selection)
    # The chosen threshold judged on the test rows (at the default too): what a reader
    # deploys, not the validation figure it was chosen by.
    op = operating_point(
        ctx.preds, selection, default=ctx.results.get("evaluation"),
        n_resamples=o.n_resamples, confidence=o.confidence, random_state=o.seed,
    )  # fmt: skip
    ctx.results["operating_point"] = op
    return thresholds_section(selection, op)


#: The threshold objectives' parameters: RunOptions fields of the same names.
OBJECTIVE_PARAMETERS = (
    "beta", "fp_cost", "fn_cost", "tp_gain", "tn_gain", "min_precision", "min_recall",
    "positive_rate", "top_k", "cost_matrix", "gain_matrix",
)  # fmt: skip


def objective_parameters(options: Any) -> dict[str, Any]:
    """The threshold objective's parameters the run was given (those not None)."""
    out = {}
    for name in OBJECTIVE_PARAMETERS:
        value = getattr(options, name, None)
        if value is not None:
            out[name] = value
    return out


def _calibration_applies(ctx: RunContext) -> str | None:
    if ctx.task == "regression":
        return "calibration: regression models have no class probabilities."
    if not ctx.preds.scores_are_probabilities:
        return "calibration: the model gives decision scores, not probabilities."
    return None


def _calibration(ctx: RunContext) -> Section:
    from afterfit.calibration import evaluate_calibration
    from afterfit.report.sections.calibration import calibration_section

    o = ctx.options
    with ctx.progress("calibration", o.n_resamples) as advance:
        report = evaluate_calibration(
            ctx.preds,
            n_resamples=o.n_resamples,
            confidence=o.confidence,
            random_state=o.seed,
            progress=advance,
        )
    ctx.results["calibration"] = report
    return calibration_section(report)


def _tabular(step: str) -> str | None:
    return f"{step}: for tabular models; image models get saliency maps."


def _comparison_applies(ctx: RunContext) -> str | None:
    if ctx.test is None:
        return _tabular("comparison")
    return None if ctx.others else "comparison: pass --compare with other models to compare."


def _explanations_applies(ctx: RunContext) -> str | None:
    return _tabular("explanations") if ctx.test is None else None


def _comparison(ctx: RunContext) -> Section:
    from afterfit.comparison import compare_models
    from afterfit.report.sections.comparison import comparison_section

    o = ctx.options
    models = {o.model_name: ctx.model, **ctx.others}
    with ctx.progress("comparison", o.n_resamples) as advance:
        comparison = compare_models(
            models,
            ctx.test.X,
            ctx.test.y,
            pos_label=ctx.preds.positive_label,
            n_resamples=o.n_resamples,
            confidence=o.confidence,
            random_state=o.seed,
            progress=advance,
        )
    ctx.results["comparison"] = comparison
    return comparison_section(comparison)


def _explanations(ctx: RunContext) -> Section:
    from afterfit.explain.explain import explain_model
    from afterfit.report.sections.explanations import explanations_section

    o = ctx.options
    train = None if ctx.train is None else ctx.train.X
    methods = tuple(o.explain_methods)
    if ctx.preds.task == "regression":  # anchors explain a label: not for a regression
        methods = tuple(m for m in methods if m != "anchors")
    with contextlib.ExitStack() as stack:
        progress = _stage_bars(ctx, stack, "explanations", cumulative=True)
        expl = explain_model(
            ctx.model, ctx.test.X, ctx.test.y, train=train, methods=methods,
            n_repeats=o.n_repeats, permutation_max_rows=o.explain_max_rows,
            time_budget=o.explain_time_budget, random_state=o.seed, progress=progress,
            pdp_features=list(o.pdp_features) or None,
        )  # fmt: skip
    ctx.results["explanations"] = expl
    return explanations_section(expl)


def _training_applies(ctx: RunContext) -> str | None:
    return None


def _saliency_applies(ctx: RunContext) -> str | None:
    return None if ctx.images is not None else "saliency: for image models (--images)."


def _saliency(ctx: RunContext) -> Section:
    from afterfit.report.sections.saliency import saliency_section
    from afterfit.saliency import compute_saliency

    o = ctx.options
    methods, note = _saliency_methods(ctx.model, tuple(o.saliency_methods))
    with contextlib.ExitStack() as stack:
        progress = _stage_bars(ctx, stack, "saliency", cumulative=False)
        maps = compute_saliency(
            ctx.model, ctx.images, methods=methods,
            max_images=o.saliency_max_images, random_state=o.seed, progress=progress,
        )  # fmt: skip
    ctx.results["saliency"] = maps
    section = saliency_section(maps)
    if note is not None:
        from dataclasses import replace

        from afterfit.report.page import Note

        section = replace(section, blocks=(Note(note), *section.blocks))
    return section


def _saliency_methods(module: Any, methods: tuple[str, ...]) -> tuple[tuple[str, ...], str | None]:
    """The default methods without Grad-CAM for a TorchScript module, with a note (as
    ``afterfit saliency`` does): Grad-CAM needs forward hooks, which TorchScript lacks.
    Methods the user chose are kept as they are (an explicit Grad-CAM is an error there)."""
    if "gradcam" not in methods or tuple(methods) != SALIENCY_METHODS:
        return methods, None
    try:
        from afterfit.saliency.loading import is_torchscript

        scripted = is_torchscript(module)
    except Exception:  # not a torch module: saliency itself will say what is wrong
        return methods, None
    if not scripted:
        return methods, None
    return tuple(m for m in methods if m != "gradcam"), (
        "Grad-CAM is left out: it needs forward hooks, which TorchScript modules do not "
        "support (load a state dict with --module-class to include it)."
    )


def _training(ctx: RunContext) -> Section | None:
    from afterfit.report.sections.training import training_section
    from afterfit.training import learning_curve, read_history, training_curves

    o = ctx.options
    curves = training_curves(ctx.model)
    history = read_history(o.history) if o.history else None
    learning = None
    if ctx.train is not None and o.learning_curve:
        with ctx.progress("learning curve", 0):
            try:
                learning = learning_curve(ctx.model, ctx.train.X, ctx.train.y, random_state=o.seed)
            except (ModelError, InvalidInputError) as exc:
                # An ONNX file or a torch module cannot be refitted: the rest still shows.
                ctx.skipped.append(f"learning curve: {exc}")
    if curves is None and history is None and learning is None:
        return None
    ctx.results["training"] = {"curves": curves, "history": history, "learning": learning}
    return training_section(curves=curves, history=history, learning=learning)


def _slices_applies(ctx: RunContext) -> str | None:
    if ctx.test is None:
        return _tabular("slices")
    o = ctx.options
    if not o.slices and not o.sensitive:
        return "slices: pass --slice COL (repeat) to compare the model across slices of rows."
    return None


def _slices(ctx: RunContext) -> Section:
    from afterfit.report.sections.slices import slices_section
    from afterfit.slices import evaluate_slices_predictions

    o = ctx.options
    frame = ctx.test.X if ctx.slice_frame is None else ctx.slice_frame
    with ctx.progress("slices", 0) as advance:
        result = evaluate_slices_predictions(
            ctx.preds, frame, by=list(o.slices), sensitive=o.sensitive,
            ci="none" if o.n_resamples == 0 else "auto", confidence=o.confidence,
            n_resamples=o.n_resamples, random_state=o.seed, progress=advance,
        )  # fmt: skip
    ctx.results["slices"] = result
    return slices_section(result)


#: Every step, in page order. ``afterfit run --steps`` picks among their names.
STEPS: tuple[Step, ...] = (
    Step("evaluation", "Evaluation", _always, _evaluation),
    Step("thresholds", "Decision threshold", _thresholds_applies, _thresholds),
    Step("calibration", "Calibration", _calibration_applies, _calibration),
    Step("comparison", "Model comparison", _comparison_applies, _comparison),
    Step("slices", "Slices", _slices_applies, _slices),
    Step("explanations", "Explanations", _explanations_applies, _explanations),
    Step("training", "Training", _training_applies, _training),
    Step("saliency", "Saliency", _saliency_applies, _saliency),
)
STEP_NAMES = tuple(s.name for s in STEPS)
