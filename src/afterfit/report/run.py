"""``afterfit run``: every applicable step on a model and its data, one report folder.

The folder holds ``index.html`` (self-contained), ``results.json`` (every section's data,
versioned schema), ``tables/*.csv`` and ``figures/*.png``. It is built beside the target in
a temporary folder and published at the end, so an interrupted run leaves the previous
report as it was; files in the folder that afterfit did not write are never removed
(:mod:`afterfit.outdir`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from afterfit.data import Dataset
from afterfit.errors import AfterfitError, AfterfitWarning, InvalidInputError
from afterfit.io import atomic_write, atomic_write_text
from afterfit.outdir import Staging, writing
from afterfit.predictions import Predictions
from afterfit.report.files import SCHEMA_NAME, document
from afterfit.report.page import Section
from afterfit.report.steps import (
    SALIENCY_METHODS,
    STEP_NAMES,
    STEPS,
    ProgressFactory,
    RunContext,
    no_progress,
)

#: Steps ``afterfit run`` runs unless told otherwise: all of them (each skips itself where
#: it does not apply).
DEFAULT_STEPS = STEP_NAMES


@dataclass
class RunOptions:
    """Every option of a run; ``afterfit run --config`` reads the same names from TOML."""

    steps: Sequence[str] = DEFAULT_STEPS
    confidence: float = 0.95
    n_resamples: int = 1000
    seed: int = 0
    threshold_objective: str = "f1"
    #: The threshold objective's parameters (None: not given), as
    #: :func:`afterfit.select_threshold_predictions` takes them.
    beta: float | None = None
    fp_cost: float | None = None
    fn_cost: float | None = None
    tp_gain: float | None = None
    tn_gain: float | None = None
    min_precision: float | None = None
    min_recall: float | None = None
    positive_rate: float | None = None
    top_k: int | None = None
    #: Multiclass ``cost``: ``[true][predicted]`` costs (and gains) in class order.
    cost_matrix: Sequence[Sequence[float]] | None = None
    gain_matrix: Sequence[Sequence[float]] | None = None
    #: The steps were named by the user (``--steps``): one that cannot run is an error
    #: rather than a line under "Steps not run".
    require_steps: bool = False
    explain_methods: Sequence[str] = ("permutation", "shap", "lime", "anchors", "pdp")
    #: Columns whose partial dependence is drawn, before the most important ones.
    pdp_features: Sequence[str] = ()
    n_repeats: int = 5
    explain_time_budget: float | None = 60.0
    #: Explanations use at most this many test rows (a seeded sample): permutation
    #: importance and SHAP converge long before a million rows.
    explain_max_rows: int = 5_000
    learning_curve: bool = True
    history: str | None = None
    #: Image models: the saliency methods and how many images they explain.
    saliency_methods: Sequence[str] = SALIENCY_METHODS
    saliency_max_images: int = 64
    model_name: str = "model"
    title: str | None = None
    figures: bool = True
    #: Slicings of the Slices step (``"region"``, ``"age:quantiles=4"``, ``"region*plan"``)
    #: and the column its fairness metrics compare; columns need not be model features.
    slices: Sequence[str] = ()
    sensitive: str | None = None

    def __post_init__(self) -> None:
        unknown = [s for s in self.steps if s not in STEP_NAMES]
        if unknown:
            raise InvalidInputError(
                f"unknown step(s) {', '.join(map(repr, unknown))}.",
                fix=f"choose among: {', '.join(STEP_NAMES)}.",
            )
        if not 0 < self.confidence < 1:
            raise InvalidInputError(
                f"confidence must lie between 0 and 1; got {self.confidence}.",
                fix="pass e.g. 0.95 for 95% intervals.",
            )
        if self.n_resamples < 0:
            raise InvalidInputError(
                f"n_resamples must be >= 0; got {self.n_resamples}.",
                fix="pass 1000 (the default), or 0 for no intervals.",
            )
        if "thresholds" in self.steps and self.cost_matrix is None and self.gain_matrix is None:
            from afterfit.thresholds import make_objective
            from afterfit.thresholds._core import canonical_objective

            # A missing or misplaced objective parameter fails now, not after the
            # evaluation's bootstrap (the multiclass matrices are checked against the
            # classes when the step runs).
            make_objective(
                canonical_objective(self.threshold_objective), beta=self.beta,
                fp_cost=self.fp_cost, fn_cost=self.fn_cost, tp_gain=self.tp_gain,
                tn_gain=self.tn_gain, min_precision=self.min_precision,
                min_recall=self.min_recall, positive_rate=self.positive_rate, top_k=self.top_k,
            )  # fmt: skip


@dataclass
class Report:
    """What a run produced: the sections, the ``results.json`` document, the files."""

    sections: list[Section]
    doc: dict[str, Any]
    skipped: list[str]
    timings: dict[str, float]
    out: Path | None = None
    written: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.id == name:
                return s
        raise KeyError(name)


def describe_model(model: Any) -> str:
    """The model's type as a reader knows it: the estimator's class, a pipeline's steps."""
    estimator = getattr(model, "estimator", model)
    steps = getattr(estimator, "steps", None)
    if steps:
        return "Pipeline(" + " → ".join(type(s).__name__ for _, s in steps) + ")"
    return type(estimator).__name__


def run_report(
    model: Any,
    test: Dataset | None = None,
    *,
    images: Any = None,
    options: RunOptions | None = None,
    train: Dataset | None = None,
    valid: Dataset | None = None,
    others: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    progress: ProgressFactory = no_progress,
    pos_label: Any = None,
    threshold: float | None = None,
) -> Report:
    """Run every applicable step and build the report's sections (nothing is written).

    Parameters
    ----------
    model : object
        Anything :func:`afterfit.models.as_model` takes.
    test : Dataset
        The test rows with their target (see :func:`afterfit.load_dataset`).
    images : afterfit.saliency.ImageSet, optional
        Instead of ``test``, for a PyTorch image classifier: labelled test images
        (:func:`afterfit.saliency.load_images`). The report then has saliency maps and no
        tabular steps.
    options : RunOptions, optional
    train : Dataset, optional
        Training rows: LIME and anchors sample from them, the learning curve refits on them.
    valid : Dataset, optional
        Held-out rows to choose the threshold on (otherwise it is chosen on the test rows,
        and the report warns that its metrics are then optimistic).
    others : dict of str to model, optional
        Models to compare with ``model`` on the same test rows.
    """
    from afterfit.models import as_model

    options = options or RunOptions()
    if (test is None) == (images is None):
        raise InvalidInputError(
            "run_report needs test rows (a Dataset) or labelled images, one of the two.",
            fix="pass test=load_dataset(...) for a tabular model, or "
            "images=load_images(...) (from afterfit.saliency) for an image model.",
        )
    slice_frame = None
    if images is None:
        model = as_model(model)
        if options.slices or options.sensitive:
            import dataclasses

            from afterfit.slices.api import set_aside

            # Slice columns the model does not take are kept for the Slices step only.
            slice_frame = test.X
            test = dataclasses.replace(
                test, X=set_aside(test.X, model, [*options.slices, options.sensitive])
            )
        preds = Predictions.from_model(
            model, test.X, test.y, pos_label=pos_label, threshold=threshold
        )
    else:
        preds = _image_predictions(model, images, pos_label=pos_label, threshold=threshold)
    ctx = RunContext(
        model=model, test=test, options=options, preds=preds, train=train, valid=valid,
        images=images, others={name: as_model(m) for name, m in (others or {}).items()},
        progress=progress, slice_frame=slice_frame,
    )  # fmt: skip
    sections: list[Section] = []
    skipped: list[str] = []
    timings: dict[str, float] = {}
    for step in STEPS:
        if step.name not in options.steps:
            continue
        reason = step.applies(ctx)
        if reason is not None:
            if options.require_steps:
                raise _cannot_run(step.name, reason)
            skipped.append(reason)
            continue
        start = time.perf_counter()
        try:
            section = step.run(ctx)
        except AfterfitError as exc:
            if step.name == "evaluation":
                raise
            if options.require_steps:
                raise _cannot_run(step.name, str(exc)) from exc
            skipped.append(f"{step.name}: {exc}")
            continue
        except Exception as exc:
            if step.name == "evaluation":
                raise
            # One step's failure (a library that cannot explain this model, say) should
            # not cost the user the rest of the report; it is named on the page and warned.
            reason = f"{step.name}: failed with {type(exc).__name__}: {exc}"
            warnings.warn(reason, AfterfitWarning, stacklevel=2)
            skipped.append(reason)
            continue
        finally:
            timings[step.name] = time.perf_counter() - start
        if section is None:
            if options.require_steps:
                raise _cannot_run(step.name, "nothing to show for this model and data.")
            skipped.append(f"{step.name}: nothing to show for this model and data.")
        else:
            sections.append(section)
    skipped += ctx.skipped
    operating = ctx.results.get("operating_point")
    if operating is not None:
        import dataclasses

        from afterfit.report.sections.thresholds import operating_headline

        sections = [
            dataclasses.replace(s, headline=operating_headline(s.headline, operating))
            if s.id == "evaluation" else s
            for s in sections
        ]  # fmt: skip
    summary = {
        "task": preds.task,
        "n_rows": preds.n,
        "model": describe_model(model),
        "data": "table" if images is None else "images",
        "classes": None if preds.classes is None else preds.class_names,
        "sections": [s.id for s in sections],
        "skipped": skipped,
        "findings": [asdict(f) for s in sections for f in s.warnings],
        "headline": [asdict(h) for s in sections for h in s.headline],
        "options": _jsonable(asdict(options)),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    doc = document(
        SCHEMA_NAME, {"report": summary, **{s.id: s.data for s in sections}}, source=source
    )
    return Report(sections, doc, skipped, timings, results=ctx.results)


def _cannot_run(step: str, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"step {step!r} was asked for (--steps) but cannot run: {reason}",
        fix=f"give it what it needs, or leave {step!r} out of --steps.",
    )


def _image_predictions(module: Any, images: Any, **decision: Any) -> Predictions:
    """Class probabilities of an image classifier on labelled images."""
    from afterfit.models._common import softmax
    from afterfit.saliency.methods import predict_logits

    if images.labels is None:
        raise InvalidInputError(
            f"the images in {images.source} have no labels, so the model cannot be evaluated.",
            fix="use a folder with one subfolder per class, or an .npz with 'labels'; "
            "for maps alone run `afterfit saliency`.",
        )
    logits = predict_logits(module, images.inputs, rows=256)
    proba = softmax(logits)
    k = proba.shape[1]
    names = images.classes if images.classes and len(images.classes) == k else list(range(k))
    y = np.asarray(names, dtype=object)[np.asarray(images.labels)]
    score = proba[:, 1] if k == 2 else proba
    return Predictions.from_arrays(
        y, score, classes=names, scores_are_probabilities=True, **decision
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def write_report(
    report: Report,
    out: str | Path,
    *,
    title: str | None = None,
    figures: bool = True,
    inline_plotly: bool = True,
    overwrite: bool = False,
) -> Report:
    """Write ``index.html``, ``results.json``, ``tables/`` and ``figures/`` to ``out``.

    Everything is written to a new folder beside ``out`` first; only a complete report
    replaces the old one, so an interrupted or failed write leaves it untouched. ``out``
    must be new, empty or a folder afterfit wrote, unless ``overwrite``; files afterfit
    did not write are kept either way (:func:`afterfit.outdir.prepare_out`).
    """
    summary = report.doc["report"]
    evaluation = report.doc.get("evaluation") or {}
    facts = [
        ("task", summary["task"]),
        ("images" if summary.get("data") == "images" else "rows", f"{summary['n_rows']:,}"),
        ("model", summary["model"]),
    ]
    if summary["classes"]:
        shown = ", ".join(summary["classes"][:8]) + (" …" if len(summary["classes"]) > 8 else "")
        facts.append(("classes", shown))
    if evaluation.get("positive_label") is not None:
        facts.append(("positive class", evaluation["positive_label"]))
        op = (report.doc.get("thresholds") or {}).get("operating_point")
        if op:
            default = evaluation["threshold"]
            text = f"{op['threshold']:.4g} (chosen on {op['chosen_on']}; default {default:g})"
            facts.append(("threshold", text))
        else:
            facts.append(("threshold", f"{evaluation['threshold']:g}"))
    source = report.doc.get("source") or {}
    source_text = " · ".join(f"{k}: {v}" for k, v in source.items() if isinstance(v, str))
    report.written = write_page(
        out,
        report.sections,
        report.doc,
        title=title or "afterfit report",
        facts=facts,
        source_text=source_text,
        skipped=report.skipped,
        confidence=summary["options"]["confidence"],
        figures=figures,
        inline_plotly=inline_plotly,
        overwrite=overwrite,
        command="run",
    )
    report.out = Path(out)
    return report


def write_page(
    out: str | Path | Staging,
    sections: Sequence[Section],
    doc: dict[str, Any],
    *,
    title: str,
    facts: Sequence[tuple[str, str]] = (),
    source_text: str = "",
    skipped: Sequence[str] = (),
    confidence: float | None = None,
    figures: bool = True,
    inline_plotly: bool = True,
    overwrite: bool = False,
    command: str = "report",
) -> list[str]:
    """Write a report folder from ``sections``: ``index.html``, ``results.json`` (``doc``,
    normally built with :func:`afterfit.report.files.document`), ``tables/*.csv`` and
    ``figures/*.png``. Every command with a page (run, cv, tune, ensemble, monitor) writes
    through here.

    The folder is built beside ``out`` and published only when complete, so an
    interrupted or failed write leaves the old folder untouched; ``out`` must be new,
    empty or afterfit's own unless ``overwrite``, and files afterfit did not write are
    kept (see :mod:`afterfit.outdir`). ``out`` may be the :class:`~afterfit.outdir.Staging`
    of a bigger writer. ``command`` names the writer in the folder's marker. Returns the
    files written, relative to ``out``.
    """
    with writing(out, command=command, overwrite=overwrite) as stage:
        return _write_all(
            sections,
            doc,
            stage.path,
            title=title,
            facts=facts,
            source_text=source_text,
            skipped=skipped,
            confidence=confidence,
            figures=figures,
            inline_plotly=inline_plotly,
        )


def _write_all(
    sections: Sequence[Section],
    doc: dict[str, Any],
    folder: Path,
    *,
    title: str,
    facts: Sequence[tuple[str, str]],
    source_text: str,
    skipped: Sequence[str],
    confidence: float | None,
    figures: bool,
    inline_plotly: bool,
) -> list[str]:
    from afterfit.report.html import render_page

    written: list[str] = []
    for section in sections:
        for table in section.tables():
            if table.csv:
                name = f"tables/{table.id}.csv"
                atomic_write(folder / name, lambda t, f=table.frame: f.to_csv(t, index=False))
                written.append(name)
    figure_files: set[str] = set()
    if figures:
        for section in sections:
            for fig in section.figures():
                if fig.png is None:
                    continue
                drawn = fig.png()
                name = f"figures/{fig.id}.png"
                atomic_write(folder / name, lambda t, d=drawn: d.savefig(t, format="png", dpi=110))
                figure_files.add(fig.id)
                written.append(name)
    text = json.dumps(doc, indent=1, allow_nan=False)
    atomic_write_text(folder / "results.json", text + "\n")
    written.append("results.json")
    html = render_page(
        sections,
        title=title,
        created=doc.get("created", ""),
        facts=facts,
        source_text=source_text,
        skipped=skipped,
        confidence=confidence,
        figure_files=figure_files,
        inline_plotly=inline_plotly,
    )
    atomic_write_text(folder / "index.html", html)
    written.append("index.html")
    return written
