"""The Slices section: a forest plot per slicing, the gaps that survive Holm, fairness and
confirmed weak segments.

Findings come only from confirmed, multiple-testing-adjusted gaps: a slice whose
Holm-adjusted p-value is below ``1 - confidence``, a weak segment confirmed on the rows
the search never saw. Untested slices are listed with the reason, never flagged.
"""

from __future__ import annotations

from typing import Any

from afterfit.report.page import Figure, Finding, Note, Section, Table

#: The per-slice metrics the section's table shows (the CSV holds every metric).
SHOWN_METRICS = {
    "binary": ("roc_auc", "accuracy", "recall", "precision", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "roc_auc_ovr_macro", "log_loss"),
    "regression": ("mae", "rmse", "r2"),
}


def slices_section(result: Any) -> Section:
    """A :class:`~afterfit.slices.SliceResult` as a report section."""
    metric = result.primary_metric
    conf = result.settings.confidence
    blocks: list[Any] = []
    if result.metrics:
        blocks.append(
            Figure(
                "slices-forest",
                f"{metric} by slice",
                result.figure(metric),
                caption=f"{metric} on each slice with its {conf:.0%} interval; the dashed "
                "line is all rows. Coloured: the gap to the rest of the rows survives Holm's "
                "adjustment over every slice and metric (orange worse, green better); grey: "
                "too small to test.",
                png=lambda: result.plot(metric),
            )
        )
        frame = result.frame()
        shown = [m for m in SHOWN_METRICS.get(result.task, ()) if m in result.metric_names]
        # The page shows the first rows: the headline metrics first, every metric in the CSV.
        rank = {m: i for i, m in enumerate(shown)}
        key = frame.metric.map(lambda m: rank.get(m, len(rank)))
        frame = frame.assign(_k=key).sort_values("_k", kind="stable").drop(columns="_k")
        blocks.append(
            Table(
                "slices-metrics",
                "Metrics by slice",
                frame.reset_index(drop=True),
                caption="Each metric on each slice: value and interval, the gap to the rest of "
                "the rows with its interval, the raw and the Holm-adjusted p-value (flagged "
                f"where p_holm < {1 - conf:.2g}). The page shows {', '.join(shown)} first; "
                "the CSV holds every metric.",
                max_rows=60,
            )
        )
        blocks.append(
            Table(
                "slices-sizes",
                "Slices",
                result.slices_frame(),
                caption=f"Slices under min_size={result.settings.min_size} rows, or with "
                f"fewer than min_class_count={result.settings.min_class_count} rows of a "
                "class, are listed but not tested.",
            )
        )
    if result.fairness is not None:
        f = result.fairness
        blocks.append(
            Table(
                "slices-fairness",
                f"Fairness across {f.sensitive}",
                f.frame(),
                caption=f"At the operating threshold {f.threshold:g}; {conf:.0%} bootstrap "
                "intervals (stratified by group). Differences are max - min over "
                "the groups; the ratio is min / max.",
            )
        )
    if result.segments is not None:
        s = result.segments
        blocks.append(
            Table(
                "slices-segments",
                "Weak segments",
                s.frame(),
                caption=f"Candidates searched on {s.n_search:,} rows, tested on the other "
                f"{s.n_confirm:,} ({s.loss_name}; one-sided Welch test, Holm over the "
                "candidates). Only 'confirmed' ones are findings.",
            )
        )
    for note in result.notes:
        blocks.append(Note(note))
    findings = tuple(Finding(f"Slices: {text}", section="slices") for text in result.findings())
    n_flag = len(result.flagged())
    intro = (
        f"{len(result.slices)} slices from {', '.join(result.slicings) or 'no slicing'}; "
        f"{n_flag} slice-metric gap(s) to the rest survive Holm's adjustment."
    )
    if result.segments is not None:
        intro += f" {len(result.segments.confirmed)} weak segment(s) confirmed."
    return Section(
        id="slices",
        title="Slices",
        blocks=tuple(blocks),
        data=result.to_dict(),
        intro=intro,
        warnings=findings,
    )
