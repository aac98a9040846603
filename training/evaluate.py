"""Plot-level evaluation of a model on whole held-out orthomosaics, through ``detector.scan``.

A predicted plot matches a true plot when their outlines overlap or their centroids are within
``max_centroid_m`` (2 m) of each other, with the same class. Plot recall is the number that
matters most: a missed plot is a harvest. False plots per hectare measure the analysts' and
patrols' wasted time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import shapely
from pyproj import CRS, Transformer

from detector.georef import Georeferencer
from detector.plots import Plot
from detector.scan import ScanResult

# Centroid distance under which a predicted and a true plot are the same plot, metres.
MAX_CENTROID_M = 2.0


@dataclass(frozen=True)
class TruthPlot:
    """A labelled plot: class, growth stage and outline in the raster's CRS."""

    cls: str
    stage: str
    ring_map: tuple[tuple[float, float], ...]


@dataclass
class PlotScore:
    """Plot-level counts; add them up over flights with :meth:`add`."""

    true_plots: int = 0
    found_plots: int = 0
    predicted_plots: int = 0
    false_plots: int = 0
    area_ha: float = 0.0
    by_stage: dict[str, list[int]] = field(default_factory=dict)  # stage -> [found, total]

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


def read_truth_plots(labels_path: Path, raster_crs_wkt: str) -> list[TruthPlot]:
    """Read ``kind == "plot"`` features of a label file into the raster's CRS."""
    from pyogrio.raw import read

    meta, _, geometries, fields = read(str(labels_path))
    names = list(meta["fields"])
    column = {n: fields[i] for i, n in enumerate(names)}
    source = CRS.from_user_input(meta["crs"]) if meta.get("crs") else CRS.from_epsg(4326)
    to_raster = Transformer.from_crs(source, CRS.from_wkt(raster_crs_wkt), always_xy=True)
    plots = []
    for i, wkb in enumerate(geometries):
        if wkb is None or column.get("kind", [None] * len(geometries))[i] != "plot":
            continue
        ring = shapely.get_coordinates(shapely.from_wkb(wkb))
        xs, ys = to_raster.transform(ring[:, 0], ring[:, 1])
        stage = str(column["stage"][i]) if "stage" in column else ""
        plots.append(
            TruthPlot(
                str(column["class"][i]),
                stage,
                tuple(zip(np.asarray(xs).tolist(), np.asarray(ys).tolist(), strict=True)),
            )
        )
    return plots


def score_plots(
    truth: Sequence[TruthPlot],
    predicted: Sequence[Plot],
    geo: Georeferencer,
    area_ha: float,
    max_centroid_m: float = MAX_CENTROID_M,
) -> PlotScore:
    """Match predicted plots to true plots (same class; overlap or centroids within reach)."""

    def metric(ring: Sequence[tuple[float, float]]) -> shapely.Polygon:
        xy = np.asarray(ring, dtype=float)
        xs, ys = geo.map_to_metric(xy[:, 0], xy[:, 1])
        return shapely.Polygon(np.column_stack([xs, ys])).buffer(0)

    true_shapes = [metric(t.ring_map) for t in truth]
    pred_shapes = [metric(p.ring_map) for p in predicted]
    matched_pred: set[int] = set()
    score = PlotScore(true_plots=len(truth), predicted_plots=len(predicted), area_ha=area_ha)
    for plot, shape in zip(truth, true_shapes, strict=True):
        hit = False
        for p_index, (pred, pred_shape) in enumerate(zip(predicted, pred_shapes, strict=True)):
            if pred.class_name != plot.cls:
                continue
            near = shape.centroid.distance(pred_shape.centroid) <= max_centroid_m
            if near or shape.intersects(pred_shape):
                matched_pred.add(p_index)
                hit = True
        score.found_plots += hit
        stage = score.by_stage.setdefault(f"{plot.cls}/{plot.stage}", [0, 0])
        stage[0] += hit
        stage[1] += 1
    score.false_plots = len(predicted) - len(matched_pred)
    return score


def score_scan(result: ScanResult, labels_path: Path) -> PlotScore:
    """Score one scan against the plot labels of its raster."""
    truth = read_truth_plots(labels_path, result.info.crs_wkt)
    return score_plots(truth, result.plots, Georeferencer(result.info), result.info.area_ha)


def write_report(score: PlotScore, path: Path, title: str) -> None:
    """Write ``score`` as JSON (``path``) and markdown (same stem, ``.md``)."""
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
