"""Write an evaluation as JSON (every number) and markdown (for people), with its PR curve.

``report.json`` holds everything :meth:`Evaluation.to_dict` knows; ``report.md`` leads with
plot recall (a missed plot is a harvest), then plants, per class, per growth stage, per
flight and a sampled curve table; ``pr_curve.png`` draws the curves. A comparison of two
models on the same flights adds ``comparison.md`` / ``comparison.json`` side by side, and one
PNG with both curves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.evaluation.counts import LevelScore, MatchCounts
from training.evaluation.curve import LabelledCurve, write_pr_curve
from training.evaluation.runner import Evaluation

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PR_CURVE_PNG = "pr_curve.png"
COMPARISON_JSON = "comparison.json"
COMPARISON_MD = "comparison.md"
COMPARISON_PNG = "pr_curve_comparison.png"
# Thresholds shown in the markdown curve table (the JSON has every point).
_TABLE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_fmt(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return [_row(header), "|" + " --- |" * len(header), *(_row(r) for r in rows), ""]


def _counts_row(counts: MatchCounts, area_ha: float) -> list[object]:
    return [
        counts.recall,
        counts.precision,
        counts.f1,
        counts.false / area_ha if area_ha else None,
        counts.mean_error_m,
        counts.p90_error_m,
        counts.truths,
        counts.found,
        counts.predictions,
        counts.false,
    ]


_COUNT_HEADER = (
    "recall",
    "precision",
    "F1",
    "false / ha",
    "centroid error mean (m)",
    "p90 (m)",
    "true",
    "found",
    "predicted",
    "false",
)


def _level_rows(levels: Sequence[tuple[str, LevelScore]]) -> list[str]:
    overall = [[name, *_counts_row(s.overall, s.area_ha)] for name, s in levels]
    by_class = [
        [name, cls, *_counts_row(c, s.area_ha)]
        for name, s in levels
        for cls, c in sorted(s.by_class.items())
    ]
    by_stage = [
        [name, key, c.recall, c.truths, c.found, c.mean_error_m, c.p90_error_m]
        for name, s in levels
        for key, c in sorted(s.by_stage.items())
    ]
    return [
        *_table(("level", *_COUNT_HEADER), overall),
        "## By class",
        "",
        *_table(("level", "class", *_COUNT_HEADER), by_class),
        "## By growth stage",
        "",
        "Stages belong to the labels (the model predicts none): recall and centroid error.",
        "",
        *_table(
            ("level", "class/stage", "recall", "true", "found", "error mean (m)", "p90 (m)"),
            by_stage,
        ),
    ]


def _curve_rows(evaluation: Evaluation) -> list[list[object]]:
    wanted = {*_TABLE_THRESHOLDS, evaluation.conf}
    return [
        [
            f"{p.threshold:g}" + (" (operating)" if p.threshold == evaluation.conf else ""),
            p.plot_recall,
            p.plot_precision,
            p.false_plots_per_ha,
            p.plant_recall,
            p.plant_precision,
        ]
        for p in evaluation.curve
        if any(abs(p.threshold - t) < 1e-9 for t in wanted)
    ]


def markdown(evaluation: Evaluation, title: str | None = None) -> str:
    """The human-readable report of one evaluation."""
    s = evaluation.settings
    plots = evaluation.plots.overall
    lines = [
        f"# {title or 'Evaluation of ' + evaluation.label}",
        "",
        f"**Plot recall {_fmt(plots.recall)}** ({plots.found} of {plots.truths} plots found), "
        f"plot precision {_fmt(plots.precision)}, "
        f"{_fmt(evaluation.plots.false_per_ha, 2)} false plots per hectare, "
        f"at confidence {evaluation.conf:g}, on {len(evaluation.flights)} flight(s) "
        f"covering {evaluation.plots.area_ha:.2f} ha.",
        "",
        f"Model: {evaluation.label}, sha256 `{str(evaluation.model.get('sha256', ''))[:16]}`, "
        f"runtime {evaluation.model.get('runtime', '')}.",
        f"Matching: a predicted plot matches a true plot of its class when their outlines "
        f"overlap or their centroids are within {s.plot_max_centroid_m:g} m (plants within "
        f"{s.plot_max_gap_m:g} m share a plot); a predicted plant matches one true plant of "
        f"its class at IoU >= {s.plant_min_iou:g}, highest confidence first. Centroid errors "
        "are ground distances in metres. Each flight was scanned once at confidence "
        f"{s.scan_conf:g} and re-thresholded for the curve.",
        "",
        "## Overall",
        "",
        *_level_rows((("plots", evaluation.plots), ("plants", evaluation.plants))),
        "## Flights",
        "",
        *_table(
            (
                "raster",
                "area (ha)",
                "plot recall",
                "plot precision",
                "false plots / ha",
                "plant recall",
                "plant precision",
            ),
            [
                [
                    Path(f["raster"]).name,
                    f["area_ha"],
                    f["plots"]["recall"],
                    f["plots"]["precision"],
                    f["plots"].get("false_per_ha"),
                    f["plants"]["recall"],
                    f["plants"]["precision"],
                ]
                for f in evaluation.flights
            ],
        ),
        "## Precision-recall over confidence",
        "",
        f"![precision-recall curves]({PR_CURVE_PNG})",
        "",
        *_table(
            (
                "confidence",
                "plot recall",
                "plot precision",
                "false plots / ha",
                "plant recall",
                "plant precision",
            ),
            _curve_rows(evaluation),
        ),
    ]
    return "\n".join(lines)


def write_evaluation_report(
    evaluation: Evaluation, out_dir: Path, title: str | None = None
) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``pr_curve.png`` into ``out_dir``.

    Returns:
        The written paths by kind (``json``, ``markdown``, ``png``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / REPORT_JSON,
        "markdown": out_dir / REPORT_MD,
        "png": out_dir / PR_CURVE_PNG,
    }
    paths["json"].write_text(json.dumps(evaluation.to_dict(), indent=2))
    paths["markdown"].write_text(markdown(evaluation, title))
    curve = LabelledCurve(evaluation.label, evaluation.curve, evaluation.conf)
    write_pr_curve([curve], paths["png"])
    return paths


def _headline(evaluation: Evaluation) -> dict[str, float | int | None]:
    """The numbers a comparison puts side by side, by name."""
    plots, plants = evaluation.plots, evaluation.plants
    numbers: dict[str, float | int | None] = {
        "plot recall": plots.overall.recall,
        "plot precision": plots.overall.precision,
        "plot F1": plots.overall.f1,
        "false plots / ha": plots.false_per_ha,
        "plot centroid error mean (m)": plots.overall.mean_error_m,
        "plot centroid error p90 (m)": plots.overall.p90_error_m,
        "plant recall": plants.overall.recall,
        "plant precision": plants.overall.precision,
        "plant F1": plants.overall.f1,
        "false plants / ha": plants.false_per_ha,
        "plant centroid error mean (m)": plants.overall.mean_error_m,
        "plant centroid error p90 (m)": plants.overall.p90_error_m,
    }
    for key, counts in sorted(plots.by_stage.items()):
        numbers[f"plot recall {key}"] = counts.recall
    for key, counts in sorted(plants.by_stage.items()):
        numbers[f"plant recall {key}"] = counts.recall
    return numbers


def comparison(candidate: Evaluation, current: Evaluation) -> dict[str, Any]:
    """Side-by-side numbers of two models on the same flights (``change`` = candidate - current).

    The operating point of each model is its own confidence threshold.
    """
    mine, theirs = _headline(candidate), _headline(current)
    rows = []
    for name in [*mine, *(k for k in theirs if k not in mine)]:
        a, b = mine.get(name), theirs.get(name)
        change = round(a - b, 4) if a is not None and b is not None else None
        rows.append(
            {
                "metric": name,
                "candidate": None if a is None else round(a, 4),
                "current": None if b is None else round(b, 4),
                "change": change,
            }
        )
    return {
        "candidate": {"model": candidate.model, "operating_conf": candidate.conf},
        "current": {"model": current.model, "operating_conf": current.conf},
        "flights": [f["raster"] for f in candidate.flights],
        "metrics": rows,
    }


def write_comparison(candidate: Evaluation, current: Evaluation, out_dir: Path) -> dict[str, Path]:
    """Write ``comparison.json``, ``comparison.md`` and a PNG with both models' curves.

    Returns:
        The written paths by kind (``json``, ``markdown``, ``png``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    data = comparison(candidate, current)
    paths = {
        "json": out_dir / COMPARISON_JSON,
        "markdown": out_dir / COMPARISON_MD,
        "png": out_dir / COMPARISON_PNG,
    }
    paths["json"].write_text(json.dumps(data, indent=2))
    a, b = f"candidate: {candidate.label}", f"current: {current.label}"
    lines = [
        f"# {candidate.label} vs {current.label}",
        "",
        f"Same {len(candidate.flights)} flight(s); each model at its own operating confidence "
        f"({candidate.conf:g} and {current.conf:g}). Change is candidate minus current; for "
        "false detections per hectare and centroid errors, lower is better.",
        "",
        *_table(
            ("metric", a, b, "change"),
            [[r["metric"], r["candidate"], r["current"], r["change"]] for r in data["metrics"]],
        ),
        f"![precision-recall curves of both models]({COMPARISON_PNG})",
        "",
    ]
    paths["markdown"].write_text("\n".join(lines))
    write_pr_curve(
        [
            LabelledCurve(a, candidate.curve, candidate.conf),
            LabelledCurve(b, current.curve, current.conf),
        ],
        paths["png"],
    )
    return paths
