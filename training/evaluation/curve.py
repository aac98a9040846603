"""Precision-recall curves over confidence thresholds, and their PNG.

Every point is a whole evaluation at one threshold (plants re-matched by prefix, plots
re-grouped), so the plot curve shows what analysts would really receive at that setting.
The PNG is drawn with Matplotlib's Agg canvas directly: no display, no global backend switch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from training.evaluation.counts import LevelScore


@dataclass(frozen=True)
class CurvePoint:
    """Plant and plot precision / recall at one confidence threshold (None: undefined).

    Attributes:
        threshold: Lowest confidence kept, 0..1.
        plant_precision: Share of predicted plants that are real.
        plant_recall: Share of true plants found.
        plot_precision: Share of predicted plots that are real.
        plot_recall: Share of true plots found.
        false_plots_per_ha: False plots per hectare scanned.
    """

    threshold: float
    plant_precision: float | None
    plant_recall: float | None
    plot_precision: float | None
    plot_recall: float | None
    false_plots_per_ha: float | None

    @classmethod
    def from_scores(cls, threshold: float, plants: LevelScore, plots: LevelScore) -> CurvePoint:
        """The point of an evaluation at ``threshold``."""
        return cls(
            threshold,
            plants.overall.precision,
            plants.overall.recall,
            plots.overall.precision,
            plots.overall.recall,
            plots.false_per_ha,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, rounded to 1e-4."""
        return {k: None if v is None else round(v, 4) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class LabelledCurve:
    """One model's curve for the PNG.

    Attributes:
        label: Legend text, e.g. ``"poppyscan-default 0.1.0"``.
        points: The curve, any threshold order.
        operating_conf: Threshold marked as the operating point.
    """

    label: str
    points: Sequence[CurvePoint]
    operating_conf: float


def _panel(axes: Any, curves: Sequence[LabelledCurve], level: str, title: str) -> None:
    for index, curve in enumerate(curves):
        colour = f"C{index}"
        points = sorted(curve.points, key=lambda p: p.threshold)
        xy = [
            (getattr(p, f"{level}_recall"), getattr(p, f"{level}_precision"), p.threshold)
            for p in points
        ]
        xy = [(r, p, t) for r, p, t in xy if r is not None and p is not None]
        if not xy:
            continue
        recall = [r for r, _, _ in xy]
        precision = [p for _, p, _ in xy]
        axes.plot(recall, precision, "-", color=colour, label=curve.label, linewidth=1.5)
        at = [(r, p) for r, p, t in xy if abs(t - curve.operating_conf) < 1e-9]
        if at:
            r, p = at[0]
            axes.plot([r], [p], "*", color=colour, markersize=14, markeredgecolor="black")
            label = f"conf {curve.operating_conf:g}"
            axes.annotate(label, (r, p), textcoords="offset points", xytext=(6, -12), fontsize=8)
    axes.set_title(title)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize=8)


def write_pr_curve(curves: Sequence[LabelledCurve], path: Path) -> Path:
    """Draw plot-level and plant-level precision-recall curves into a PNG.

    Args:
        curves: One or more models' curves (several for a comparison).
        path: Output ``.png``.

    Returns:
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    _panel(left, curves, "plot", "plots")
    _panel(right, curves, "plant", "plants")
    figure.suptitle("precision-recall over confidence thresholds (star: operating point)")
    figure.savefig(path, dpi=100)
    return path
