"""Evaluate a model on whole held-out flights: scan once, score at every threshold.

Each flight is scanned once through :func:`detector.scan.scan` at a low confidence
(``scan_conf``, 0.01); every threshold of the precision-recall curve is then applied in
memory. Plant matches at a threshold are a prefix of the full greedy matching; plots are
re-grouped with :func:`detector.plots.group_into_plots` at every threshold, since dropping a
plant can split a plot or remove it. Scores of several flights add up.

One approximation: seam merging ran on the low-confidence boxes, so a plant cut by a tile
seam may keep a box merged with a weak duplicate that a scan at the higher threshold would
have dropped first. Boxes of one plant agree closely, so the effect on IoU is small.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from detector.backends import Detector, load_detector
from detector.detections import Detection
from detector.georef import Georeferencer
from detector.openvino_detector import DEFAULT_PRECISION
from detector.plots import DEFAULT_MAX_GAP_M, group_into_plots
from detector.raster import inspect_raster
from detector.scan import ScanResult, scan
from training.dataset import FlightSource
from training.evaluation.counts import LevelScore
from training.evaluation.curve import CurvePoint
from training.evaluation.matching import (
    PLANT_MIN_IOU,
    PLOT_MAX_CENTROID_M,
    PlantMatch,
    match_plants,
    score_plant_matches,
    score_plot_matches,
)
from training.evaluation.truth import EvaluationError, Truth, read_truth

log = logging.getLogger(__name__)

# Confidence of the single scan per flight; every curve threshold is applied afterwards.
SCAN_CONF = 0.01
# Thresholds of the precision-recall curve (the operating point is always added).
DEFAULT_THRESHOLDS: tuple[float, ...] = (
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    *(round(0.1 + 0.025 * i, 3) for i in range(35)),  # 0.1 .. 0.95
)

# progress(flight name, tiles done, tiles total)
FlightProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class EvaluationSettings:
    """How predictions are matched and the curve is sampled.

    Attributes:
        plant_min_iou: Lowest IoU of a plant match.
        plot_max_centroid_m: Centroid distance under which plots match, metres.
        plot_max_gap_m: Plants closer than this share a plot when re-grouping, metres.
        scan_conf: Confidence of the one scan per flight, 0..1.
        thresholds: Confidence thresholds of the precision-recall curve.
    """

    plant_min_iou: float = PLANT_MIN_IOU
    plot_max_centroid_m: float = PLOT_MAX_CENTROID_M
    plot_max_gap_m: float = DEFAULT_MAX_GAP_M
    scan_conf: float = SCAN_CONF
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS


@dataclass
class FlightScan:
    """One scanned flight, kept in memory to be scored at any threshold.

    Attributes:
        raster: Raster path.
        labels: Label file path.
        geo: The raster's coordinate conversions.
        area_ha: Scanned area, hectares (the raster's full extent).
        truth: Labelled plants and plots.
        detections: Every merged detection at the scan confidence, highest first.
        plant_matches: Greedy plant matching of ``detections``.
    """

    raster: str
    labels: str
    geo: Georeferencer
    area_ha: float
    truth: Truth
    detections: tuple[Detection, ...]
    plant_matches: list[PlantMatch]

    @classmethod
    def from_scan(
        cls, result: ScanResult, labels: Path, truth: Truth, settings: EvaluationSettings
    ) -> FlightScan:
        """Match a scan's detections to the labels of its raster."""
        geo = Georeferencer(result.info)
        detections = tuple(sorted(result.detections, key=lambda d: -d.confidence))
        matches = match_plants(truth.plants, detections, geo, settings.plant_min_iou)
        return cls(
            result.info.path, str(labels), geo, result.info.area_ha, truth, detections, matches
        )

    def score(
        self, threshold: float, settings: EvaluationSettings
    ) -> tuple[LevelScore, LevelScore]:
        """Plant-level and plot-level scores of the detections at or above ``threshold``."""
        plants = score_plant_matches(self.truth.plants, self.plant_matches, self.area_ha, threshold)
        kept = [d for d in self.detections if d.confidence >= threshold]
        plots = group_into_plots(kept, self.geo, settings.plot_max_gap_m)
        plot_score = score_plot_matches(
            self.truth.plots, plots, self.geo, self.area_ha, settings.plot_max_centroid_m
        )
        return plants, plot_score


@dataclass
class Evaluation:
    """A model's scores on a set of flights.

    Attributes:
        model: Name, version, sha256 and runtime of the model.
        conf: Operating confidence threshold, 0..1.
        plants: Plant-level score at ``conf``, all flights.
        plots: Plot-level score at ``conf``, all flights.
        flights: Per-flight summaries at ``conf``.
        curve: Precision-recall points, ascending threshold, all flights.
        settings: Matching and sampling settings.
    """

    model: dict[str, Any]
    conf: float
    plants: LevelScore
    plots: LevelScore
    flights: list[dict[str, Any]] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)
    settings: EvaluationSettings = field(default_factory=EvaluationSettings)

    @property
    def label(self) -> str:
        """``"<name> <version>"`` of the model."""
        return f"{self.model.get('name', '?')} {self.model.get('version', '?')}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report: every number of the evaluation."""
        return {
            "model": self.model,
            "operating_conf": self.conf,
            "settings": asdict(self.settings),
            "flight_count": len(self.flights),
            "area_ha": round(self.plots.area_ha, 4),
            "plots": self.plots.to_dict(),
            "plants": self.plants.to_dict(),
            "flights": self.flights,
            "curve": [p.to_dict() for p in self.curve],
        }


def score_flights(
    flights: Sequence[FlightScan],
    conf: float,
    model: dict[str, Any],
    settings: EvaluationSettings | None = None,
) -> Evaluation:
    """Score scanned flights at ``conf`` and along the curve, adding up the flights.

    Args:
        flights: Scanned flights (at a confidence no higher than any threshold used).
        conf: Operating confidence threshold, 0..1.
        model: Model description recorded in the report.
        settings: Matching and curve settings (the defaults when None).
    """
    settings = settings or EvaluationSettings()
    thresholds = sorted({t for t in settings.thresholds if t >= settings.scan_conf} | {conf})
    totals = {t: (LevelScore(), LevelScore()) for t in thresholds}
    summaries = []
    for flight in flights:
        previous: tuple[int, tuple[LevelScore, LevelScore]] | None = None
        for t in thresholds:
            kept = sum(d.confidence >= t for d in flight.detections)
            # Same detections as at the previous threshold: same scores, skip the re-grouping.
            if previous is None or previous[0] != kept:
                previous = (kept, flight.score(t, settings))
            plants, plots = previous[1]
            totals[t][0].add(plants)
            totals[t][1].add(plots)
            if t == conf:
                summaries.append(
                    {
                        "raster": flight.raster,
                        "labels": flight.labels,
                        "area_ha": round(flight.area_ha, 4),
                        "plots": plots.overall.to_dict(flight.area_ha),
                        "plants": plants.overall.to_dict(flight.area_ha),
                    }
                )
    curve = [CurvePoint.from_scores(t, *totals[t]) for t in thresholds]
    plants, plots = totals[conf]
    return Evaluation(model, conf, plants, plots, summaries, curve, settings)


def _model_summary(detector: Detector, model: object) -> dict[str, Any]:
    card = detector.card
    summary: dict[str, Any] = {
        "name": card.name,
        "version": card.version,
        "sha256": detector.sha256,
        "runtime": detector.name,
        "classes": list(card.classes),
        "gsd_m": card.gsd_m,
    }
    if isinstance(model, str | os.PathLike):
        summary["path"] = str(model)
    return summary


def evaluate_model(
    model: str | os.PathLike[str] | Detector | None,
    flights: Sequence[FlightSource],
    *,
    conf: float | None = None,
    settings: EvaluationSettings | None = None,
    device: str = "auto",
    backend: str = "auto",
    precision: str = DEFAULT_PRECISION,
    progress: FlightProgress | None = None,
) -> Evaluation:
    """Scan every flight with ``model`` and score it against the flight's labels.

    All label files are read before the first scan, so a bad one fails at once.

    Args:
        model: Weights path with its card, a ready detector, or None for the shipped model.
        flights: Held-out rasters with their label files.
        conf: Operating confidence, 0..1; the model card's when None.
        settings: Matching and curve settings (the defaults when None).
        device: ``"auto"``, ``"cpu"`` or ``"cuda:N"``.
        backend: ``"auto"``, ``"pytorch"``, ``"onnx"`` or ``"openvino"``.
        precision: OpenVINO precision (``"fast"``, ``"f32"``, ``"int8"``).
        progress: Called with the flight's raster name, tiles done and tiles total.

    Raises:
        EvaluationError: no flights, or a missing or unreadable label file.
        RasterError, ModelError: from the scan.
    """
    if not flights:
        raise EvaluationError("evaluation needs at least one flight with labels")
    truths = []
    for flight in flights:
        if not Path(flight.labels).is_file():
            raise EvaluationError(f"{flight.labels}: no such label file")
        truths.append(read_truth(Path(flight.labels), inspect_raster(flight.raster)))
    settings = settings or EvaluationSettings()
    floor = settings.scan_conf if conf is None else min(settings.scan_conf, conf)
    detector = load_detector(model, device=device, backend=backend, conf=floor, precision=precision)
    operating = detector.card.conf_threshold if conf is None else conf
    settings = replace(settings, scan_conf=floor)
    unknown = {p.cls for t in truths for p in t.plants} - set(detector.card.classes)
    if unknown:
        log.warning("labels have classes the model cannot predict: %s", ", ".join(sorted(unknown)))
    scanned = []
    for flight, truth in zip(flights, truths, strict=True):
        name = Path(flight.raster).name

        def report(done: int, total: int, name: str = name) -> None:
            if progress is not None:
                progress(name, done, total)

        result = scan(flight.raster, detector, conf=floor, progress=report)
        scanned.append(FlightScan.from_scan(result, Path(flight.labels), truth, settings))
    return score_flights(scanned, operating, _model_summary(detector, model), settings)
