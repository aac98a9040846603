"""Evaluate a model on whole held-out orthomosaics, through ``detector.scan``.

The work lives in :mod:`training.evaluation`; this module is its public face:

* :func:`evaluate_model` scans each flight once at low confidence and scores plots and
  plants at the operating threshold and along a precision-recall curve, per class and per
  growth stage, adding up the flights; :func:`write_evaluation_report` writes JSON,
  markdown and the PR curve PNG; :func:`write_comparison` puts two models side by side.
* :class:`PlotScore` and :func:`score_scan` are the compact plot-only summary used by the
  default-model recipe (:mod:`training.default_model`) to choose a threshold.

A predicted plot matches a true plot when their outlines overlap or their centroids are
within ``MAX_CENTROID_M`` (2 m) of each other, with the same class. Plot recall is the number
that matters most: a missed plot is a harvest. False plots per hectare measure the analysts'
and patrols' wasted time.

    from training.evaluate import evaluate_model, write_evaluation_report
    evaluation = evaluate_model("model.pt", [FlightSource(raster, labels)])
    write_evaluation_report(evaluation, Path("eval/"))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from detector.georef import Georeferencer
from detector.plots import Plot
from detector.scan import ScanResult
from training.dataset import FlightSource
from training.evaluation.counts import LevelScore, MatchCounts
from training.evaluation.curve import CurvePoint, LabelledCurve, write_pr_curve
from training.evaluation.matching import (
    PLANT_MIN_IOU,
    PLOT_MAX_CENTROID_M,
    PlantMatch,
    match_plants,
    score_plant_matches,
    score_plot_matches,
)
from training.evaluation.report import comparison, write_comparison, write_evaluation_report
from training.evaluation.runner import (
    DEFAULT_THRESHOLDS,
    SCAN_CONF,
    Evaluation,
    EvaluationSettings,
    FlightScan,
    evaluate_model,
    score_flights,
)
from training.evaluation.truth import EvaluationError, Truth, TruthPlant, TruthPlot, read_truth

__all__ = [
    "DEFAULT_THRESHOLDS",
    "MAX_CENTROID_M",
    "PLANT_MIN_IOU",
    "SCAN_CONF",
    "CurvePoint",
    "Evaluation",
    "EvaluationError",
    "EvaluationSettings",
    "FlightScan",
    "FlightSource",
    "LabelledCurve",
    "LevelScore",
    "MatchCounts",
    "PlantMatch",
    "PlotScore",
    "Truth",
    "TruthPlant",
    "TruthPlot",
    "comparison",
    "evaluate_model",
    "match_plants",
    "read_truth",
    "score_flights",
    "score_plant_matches",
    "score_plot_matches",
    "score_plots",
    "score_scan",
    "write_comparison",
    "write_evaluation_report",
    "write_pr_curve",
    "write_report",
]

# Centroid distance under which a predicted and a true plot are the same plot, metres.
MAX_CENTROID_M = PLOT_MAX_CENTROID_M


@dataclass
class PlotScore:
    """Plot-level counts; add them up over flights with :meth:`add`."""

    true_plots: int = 0
    found_plots: int = 0
    predicted_plots: int = 0
    false_plots: int = 0
    area_ha: float = 0.0
    by_stage: dict[str, list[int]] = field(default_factory=dict)  # stage -> [found, total]

    @classmethod
    def from_level(cls, level: LevelScore) -> PlotScore:
        """The compact summary of a plot-level :class:`LevelScore`."""
        return cls(
            true_plots=level.overall.truths,
            found_plots=level.overall.found,
            predicted_plots=level.overall.predictions,
            false_plots=level.overall.false,
            area_ha=level.area_ha,
            by_stage={k: [c.found, c.truths] for k, c in level.by_stage.items()},
        )

    def add(self, other: PlotScore) -> None:
        """Accumulate another flight's counts."""
        self.true_plots += other.true_plots
        self.found_plots += other.found_plots
        self.predicted_plots += other.predicted_plots
        self.false_plots += other.false_plots
        self.area_ha += other.area_ha
        for stage, (found, total) in other.by_stage.items():
            mine = self.by_stage.setdefault(stage, [0, 0])
            mine[0] += found
            mine[1] += total

    @property
    def recall(self) -> float:
        """Share of true plots found (1.0 when there were none)."""
        return self.found_plots / self.true_plots if self.true_plots else 1.0

    @property
    def precision(self) -> float:
        """Share of predicted plots that are real (1.0 when nothing was predicted)."""
        real = self.predicted_plots - self.false_plots
        return real / self.predicted_plots if self.predicted_plots else 1.0

    @property
    def false_plots_per_ha(self) -> float:
        """False plots per hectare of scanned area."""
        return self.false_plots / self.area_ha if self.area_ha else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary with the derived rates."""
        return asdict(self) | {
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "false_plots_per_ha": round(self.false_plots_per_ha, 4),
            "recall_by_stage": {
                s: round(f / t, 4) if t else None for s, (f, t) in sorted(self.by_stage.items())
            },
        }


def score_plots(
    truth: Sequence[TruthPlot],
    predicted: Sequence[Plot],
    geo: Georeferencer,
    area_ha: float,
    max_centroid_m: float = MAX_CENTROID_M,
) -> PlotScore:
    """Match predicted plots to true plots (same class; overlap or centroids within reach)."""
    return PlotScore.from_level(score_plot_matches(truth, predicted, geo, area_ha, max_centroid_m))


def score_scan(result: ScanResult, labels_path: Path) -> PlotScore:
    """Score one scan's plots against the plot labels of its raster."""
    truth = read_truth(labels_path, result.info)
    geo = Georeferencer(result.info)
    return score_plots(truth.plots, result.plots, geo, result.info.area_ha)


def write_report(score: PlotScore, path: Path, title: str) -> None:
    """Write a plot-only ``score`` as JSON (``path``) and markdown (same stem, ``.md``)."""
    data = score.to_dict()
    path.write_text(json.dumps(data, indent=2))
    lines = [f"# {title}", "", "| metric | value |", "| --- | --- |"]
    for key in (
        "true_plots",
        "found_plots",
        "recall",
        "predicted_plots",
        "false_plots",
        "precision",
        "false_plots_per_ha",
        "area_ha",
    ):
        lines.append(f"| {key} | {data[key]} |")
    lines += ["", "| class / stage | recall |", "| --- | --- |"]
    recall_by_stage = data["recall_by_stage"]
    assert isinstance(recall_by_stage, dict)
    lines += [f"| {stage} | {value} |" for stage, value in recall_by_stage.items()]
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
