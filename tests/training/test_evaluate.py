"""Plant- and plot-level scoring on hand-made cases with known answers; reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rasters import squares, write_raster

from detector.detections import Detection
from detector.georef import Georeferencer
from detector.plots import group_into_plots
from detector.raster import inspect_raster
from training.evaluate import (
    EvaluationError,
    EvaluationSettings,
    FlightScan,
    FlightSource,
    PlotScore,
    Truth,
    TruthPlant,
    TruthPlot,
    evaluate_model,
    match_plants,
    score_flights,
    score_plant_matches,
    score_plot_matches,
    score_plots,
    write_comparison,
    write_evaluation_report,
)


@pytest.fixture
def geo(tmp_path):
    raster = write_raster(tmp_path / "r.tif", width=1000, height=1000, crs="EPSG:32648")
    return Georeferencer(inspect_raster(raster))


def square(geo: Georeferencer, col: float, row: float, side_px: float) -> tuple:
    xs, ys = geo.pixel_to_map(
        [col, col + side_px, col + side_px, col], [row, row, row + side_px, row + side_px]
    )
    return tuple(zip(xs.tolist(), ys.tolist(), strict=True))


def test_found_missed_and_false_plots(geo: Georeferencer) -> None:
    gsd = 0.02
    truth = [
        TruthPlot("poppy", "flowering", square(geo, 100, 100, 50)),  # found by overlap
        TruthPlot("poppy", "seedling", square(geo, 500, 500, 20)),  # missed
        TruthPlot("cannabis", "vegetative", square(geo, 800, 100, 40)),  # found by centroid
    ]
    detections = [
        Detection(110, 110, 130, 130, 0.9, "poppy", 0),
        # 50 px = 1 m below the cannabis plot: no overlap, centroids 1.8 m apart (< 2 m).
        Detection(800, 190, 840, 230, 0.8, "cannabis", 0),
        Detection(300, 800, 320, 820, 0.7, "poppy", 0),  # nowhere near a true plot
        Detection(500, 500, 520, 520, 0.6, "cannabis", 0),  # right place, wrong class
    ]
    plots = group_into_plots(detections, geo, max_gap_m=0.5)
    score = score_plots(truth, plots, geo, area_ha=(1000 * gsd) ** 2 / 10_000)
    assert (score.true_plots, score.found_plots) == (3, 2)
    assert (score.predicted_plots, score.false_plots) == (4, 2)
    assert score.recall == pytest.approx(2 / 3)
    assert score.precision == pytest.approx(0.5)
    assert score.false_plots_per_ha == pytest.approx(2 / 0.04)
    assert score.by_stage == {
        "poppy/flowering": [1, 1],
        "poppy/seedling": [0, 1],
        "cannabis/vegetative": [1, 1],
    }


def test_scores_add_up_over_flights() -> None:
    a = PlotScore(
        true_plots=4,
        found_plots=3,
        predicted_plots=5,
        false_plots=2,
        area_ha=1.0,
        by_stage={"poppy/capsule": [3, 4]},
    )
    b = PlotScore(
        true_plots=1,
        found_plots=1,
        predicted_plots=1,
        false_plots=0,
        area_ha=3.0,
        by_stage={"poppy/capsule": [1, 1], "cannabis/flowering": [0, 0]},
    )
    a.add(b)
    assert a.recall == pytest.approx(4 / 5) and a.false_plots_per_ha == pytest.approx(0.5)
    assert a.to_dict()["recall_by_stage"] == {"cannabis/flowering": None, "poppy/capsule": 0.8}


def test_empty_cases_are_defined() -> None:
    empty = PlotScore()
    assert empty.recall == 1.0 and empty.precision == 1.0 and empty.false_plots_per_ha == 0.0


# --- plant level -------------------------------------------------------------------------


def plant(col: float, row: float, width: float, height: float | None = None, **kw) -> TruthPlant:
    height = width if height is None else height
    return TruthPlant(
        kw.get("cls", "poppy"), kw.get("stage", "flowering"), (col, row, col + width, row + height)
    )


def det(
    col: float,
    row: float,
    width: float,
    height: float | None = None,
    conf: float = 0.9,
    cls: str = "poppy",
) -> Detection:
    height = width if height is None else height
    return Detection(col, row, col + width, row + height, conf, cls, 0)


def test_two_of_three_plants_matched_with_one_false(geo: Georeferencer) -> None:
    truth = [plant(100, 100, 100), plant(400, 100, 100), plant(700, 700, 100)]
    detections = [
        det(100, 100, 100, 50, conf=0.8),  # half of the first plant: IoU 0.5
        det(400, 150, 100, 50, conf=0.7),  # lower half of the second: IoU 0.5
        det(300, 800, 60, conf=0.6),  # nothing there
    ]
    matches = match_plants(truth, detections, geo)
    assert [m.truth for m in matches] == [0, 1, -1]
    assert [m.iou for m in matches[:2]] == pytest.approx([0.5, 0.5])
    score = score_plant_matches(truth, matches, area_ha=0.04)
    counts = score.overall
    assert (counts.truths, counts.found, counts.predictions, counts.false) == (3, 2, 3, 1)
    assert counts.precision == pytest.approx(2 / 3) and counts.recall == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(2 / 3)
    assert score.false_per_ha == pytest.approx(1 / 0.04)


@pytest.mark.parametrize(("height_px", "matched"), [(39, False), (40, True), (41, True)])
def test_plant_iou_threshold_is_inclusive_at_0_4(
    geo: Georeferencer, height_px: int, matched: bool
) -> None:
    truth = [plant(100, 100, 100)]
    (match,) = match_plants(truth, [det(100, 100, 100, height_px)], geo)
    assert (match.truth == 0) is matched
    assert match.iou == (pytest.approx(height_px / 100) if matched else 0.0)


def test_plant_centroid_error_is_ground_metres(geo: Georeferencer) -> None:
    # 2 cm pixels: 50 px east is 1 m on the ground; the 4 m boxes still overlap at IoU 0.6.
    (match,) = match_plants([plant(300, 300, 200)], [det(350, 300, 200)], geo)
    assert match.iou == pytest.approx(0.6)
    assert match.error_m == pytest.approx(1.0, abs=1e-3)
    score = score_plant_matches([plant(300, 300, 200)], [match], area_ha=1.0)
    assert score.overall.mean_error_m == pytest.approx(1.0, abs=1e-3)
    assert score.overall.p90_error_m == pytest.approx(1.0, abs=1e-3)


def test_greedy_matching_is_by_confidence_one_to_one_and_same_class(geo: Georeferencer) -> None:
    truth = [plant(100, 100, 100), plant(500, 500, 100, cls="cannabis", stage="vegetative")]
    detections = [
        det(100, 100, 100, conf=0.5),  # perfect box, but weaker
        det(100, 130, 100, conf=0.9),  # IoU 0.54, strongest: it takes the plant
        det(500, 500, 100, conf=0.8),  # a poppy box on a cannabis plant: wrong class
    ]
    matches = match_plants(truth, detections, geo)
    assert [(m.confidence, m.truth) for m in matches] == [(0.9, 0), (0.8, -1), (0.5, -1)]
    score = score_plant_matches(truth, matches, area_ha=1.0)
    assert score.by_class["poppy"].to_dict()["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert score.by_class["cannabis"].found == 0 and score.by_class["cannabis"].truths == 1
    assert score.by_stage["cannabis/vegetative"].recall == 0.0
    assert score.by_stage["poppy/flowering"].recall == 1.0
    # Above 0.85 only the strongest prediction counts: a prefix of the same matching.
    high = score_plant_matches(truth, matches, area_ha=1.0, threshold=0.85).overall
    assert (high.predictions, high.false, high.found) == (1, 0, 1)


def test_plot_centroid_error_and_stage_counts(geo: Georeferencer) -> None:
    truth = [TruthPlot("poppy", "capsule", square(geo, 100, 100, 100))]
    plots = group_into_plots([det(150, 100, 100)], geo)  # 50 px = 1 m east
    score = score_plot_matches(truth, plots, geo, area_ha=1.0)
    assert score.overall.found == 1 and score.overall.errors_m == [pytest.approx(1.0, abs=1e-3)]
    assert score.to_dict()["by_stage"]["poppy/capsule"]["recall"] == 1.0


def test_curve_regroups_plots_at_every_threshold(geo: Georeferencer) -> None:
    # Three plants in a row, 2 m apart; the middle one is weak. Above its confidence the
    # other two are 6 m apart: two plots, not one.
    detections = [
        det(100, 100, 50, conf=0.9),
        det(250, 100, 50, conf=0.2),
        det(400, 100, 50, conf=0.9),
    ]
    truth = Truth((), (TruthPlot("poppy", "flowering", square(geo, 100, 100, 350)),))
    flight = FlightScan(
        "r.tif", "r.geojson", geo, 1.0, truth, tuple(detections), match_plants([], detections, geo)
    )
    settings = EvaluationSettings(thresholds=(0.1, 0.5))
    evaluation = score_flights([flight], 0.5, {"name": "m", "version": "1"}, settings)
    by_threshold = {p.threshold: p for p in evaluation.curve}
    assert sorted(by_threshold) == [0.1, 0.5]
    assert evaluation.plots.overall.predictions == 2 and evaluation.plots.overall.false == 0
    _, low_plots = flight.score(0.1, settings)
    assert low_plots.overall.predictions == 1
    assert by_threshold[0.1].plot_recall == by_threshold[0.5].plot_recall == 1.0


# --- whole flights through the scanner ---------------------------------------------------


def _labels(raster: Path, path: Path, features: list[tuple[str, str, str, tuple]]) -> Path:
    """GeoJSON in WGS84 of (kind, class, stage, (col0, row0, col1, row1)) pixel boxes."""
    g = Georeferencer(inspect_raster(raster))
    out = []
    for kind, cls, stage, (c0, r0, c1, r1) in features:
        lon, lat = g.pixel_to_lonlat(np.array([c0, c1, c1, c0, c0]), np.array([r0, r0, r1, r1, r0]))
        ring = [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]
        out.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"kind": kind, "class": cls, "stage": stage},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": out}))
    return path


def _flight(folder: Path, name: str) -> FlightSource:
    raster = write_raster(
        folder / f"{name}.tif",
        width=512,
        height=512,
        paint=squares((100, 100, 24), (100, 140, 24), (400, 400, 30)),
    )
    labels = _labels(
        raster,
        folder / f"{name}.geojson",
        [
            ("plant", "poppy", "flowering", (100, 100, 124, 124)),
            ("plant", "poppy", "flowering", (140, 100, 164, 124)),
            ("plant", "poppy", "capsule", (400, 400, 430, 430)),
            ("plant", "cannabis", "vegetative", (50, 300, 90, 340)),  # not painted: missed
            ("plot", "poppy", "flowering", (95, 95, 170, 130)),
            ("plot", "poppy", "capsule", (395, 395, 435, 435)),
            ("plot", "cannabis", "vegetative", (45, 295, 95, 345)),
        ],
    )
    return FlightSource(raster, labels)


def test_flights_are_scanned_scored_and_reported(fake, tmp_path: Path) -> None:
    flights = [_flight(tmp_path, "a"), _flight(tmp_path, "b")]
    seen: set[str] = set()
    evaluation = evaluate_model(fake, flights, progress=lambda name, done, total: seen.add(name))
    assert seen == {"a.tif", "b.tif"}
    assert evaluation.conf == 0.25  # the card's
    plants, plots = evaluation.plants.overall, evaluation.plots.overall
    assert (plants.truths, plants.found, plants.predictions, plants.false) == (8, 6, 6, 0)
    assert (plots.truths, plots.found, plots.predictions, plots.false) == (6, 4, 4, 0)
    assert plants.p90_error_m == pytest.approx(0.0, abs=1e-6)
    assert evaluation.plots.area_ha == pytest.approx(2 * (512 * 0.02) ** 2 / 1e4, rel=1e-4)
    assert [f["plots"]["recall"] for f in evaluation.flights] == [0.6667, 0.6667]

    paths = write_evaluation_report(evaluation, tmp_path / "report")
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(paths["json"].read_text())
    stages = {"cannabis/vegetative", "poppy/capsule", "poppy/flowering"}
    assert set(data["plots"]["by_stage"]) == set(data["plants"]["by_stage"]) == stages
    assert data["plots"]["by_stage"]["cannabis/vegetative"]["recall"] == 0.0
    assert data["plants"]["by_class"]["poppy"]["recall"] == 1.0
    assert data["flight_count"] == 2 and data["curve"][0]["threshold"] == 0.01
    md = paths["markdown"].read_text()
    assert "**Plot recall 0.667**" in md and "pr_curve.png" in md and "poppy/capsule" in md

    other = score_flights([], 0.5, {"name": "old", "version": "0"})
    compared = write_comparison(evaluation, other, tmp_path / "report")
    rows = {r["metric"]: r for r in json.loads(compared["json"].read_text())["metrics"]}
    assert rows["plot recall"]["candidate"] == pytest.approx(0.6667)
    assert rows["plot recall"]["current"] is None
    assert compared["png"].read_bytes()[:4] == b"\x89PNG"


def test_a_missing_label_file_fails_before_scanning(fake, tmp_path: Path) -> None:
    flight = _flight(tmp_path, "a")
    bad = FlightSource(flight.raster, tmp_path / "nope.geojson")
    with pytest.raises(EvaluationError, match="no such label file"):
        evaluate_model(fake, [flight, bad])
    assert fake.tiles_seen == 0
