"""Plot-level scoring on hand-made cases with known answers."""

from __future__ import annotations

import pytest
from rasters import write_raster

from detector.detections import Detection
from detector.georef import Georeferencer
from detector.plots import group_into_plots
from detector.raster import inspect_raster
from training.evaluate import PlotScore, TruthPlot, score_plots


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
