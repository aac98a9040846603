"""Labels in any CRS -> YOLO tiles cut like the scanner; a tiny training run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pyproj import Transformer
from rasters import write_raster

from detector.card import ModelCard
from detector.raster import inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for
from detector.tiling import TileWindow
from training.dataset import (
    DatasetError,
    FlightSource,
    build_dataset,
    read_vector_labels,
)
from training.yolo_tiles import LabelBox, yolo_rows

CARD = ModelCard(
    name="t",
    version="0",
    classes=("poppy", "cannabis"),
    gsd_m=0.04,
    tile_size_px=320,
    overlap_px=64,
)


def _labels(raster: Path, path: Path) -> Path:
    """GeoJSON (WGS84) with a point plant, a polygon plant and a plot outline to ignore."""
    info = inspect_raster(raster)
    to_wgs84 = Transformer.from_crs(info.crs_wkt, "EPSG:4326", always_xy=True)
    a, _, c, _, e, f = info.transform

    def lonlat(col: float, row: float) -> list[float]:
        lon, lat = to_wgs84.transform(c + a * col, f + e * row)
        return [lon, lat]

    ring = [lonlat(600, 200), lonlat(650, 200), lonlat(650, 260), lonlat(600, 260)]
    features = [
        {
            "type": "Feature",
            "properties": {"class": "poppy", "kind": "plant"},
            "geometry": {"type": "Point", "coordinates": lonlat(100, 100)},
        },
        {
            "type": "Feature",
            "properties": {"class": "cannabis", "kind": "plant"},
            "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        },
        {
            "type": "Feature",
            "properties": {"class": "poppy", "kind": "plot"},
            "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
        },
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.fixture
def flights(tmp_path: Path) -> list[FlightSource]:
    out = []
    for i in range(2):
        raster = write_raster(tmp_path / f"f{i}.tif", width=1000, height=800, seed=i)
        out.append(FlightSource(raster, _labels(raster, tmp_path / f"f{i}.geojson")))
    return out


def test_labels_in_wgs84_land_on_the_right_pixels(flights: list[FlightSource]) -> None:
    info = inspect_raster(flights[0].raster)
    boxes = read_vector_labels(flights[0].labels, info, point_size_m=0.4)
    assert [b.class_name for b in boxes] == ["poppy", "cannabis"]  # the plot outline is skipped
    point, polygon = boxes
    assert (point.col0_px, point.row0_px, point.col1_px, point.row1_px) == pytest.approx(
        (90, 90, 110, 110), abs=0.01
    )  # 0.4 m square at 2 cm/px around (100, 100)
    assert (polygon.col0_px, polygon.row0_px, polygon.col1_px, polygon.row1_px) == pytest.approx(
        (600, 200, 650, 260), abs=0.01
    )


def test_yolo_rows_are_normalised_and_clipped() -> None:
    # A window of 640 source px read to 320 model px (4 cm model, 2 cm raster).
    window = TileWindow(
        0, row_px=0, col_px=0, height_px=640, width_px=640, out_height_px=320, out_width_px=320
    )
    inside = LabelBox(100, 200, 140, 260, "poppy")
    half_out = LabelBox(620, 0, 660, 40, "cannabis")  # 50% inside: kept, clipped
    mostly_out = LabelBox(630, 0, 670, 40, "poppy")  # 25% inside: dropped
    unknown = LabelBox(10, 10, 20, 20, "coca")
    rows = yolo_rows([inside, half_out, mostly_out, unknown], window, CARD.classes, 320)
    assert len(rows) == 2
    cls, cx, cy, w, h = (float(v) for v in rows[0].split())
    assert (cls, cx, cy, w, h) == pytest.approx((0, 120 / 640, 230 / 640, 40 / 640, 60 / 640))
    cls, cx, cy, w, h = (float(v) for v in rows[1].split())
    assert (cls, cx, w) == pytest.approx((1, 630 / 640, 20 / 640))


def test_build_refuses_a_flight_in_both_splits(flights: list[FlightSource], tmp_path) -> None:
    with pytest.raises(DatasetError, match="both train and val"):
        build_dataset([flights[0]], [flights[0]], CARD, tmp_path / "ds", name="leak")


def test_negative_rasters_add_background_tiles_to_training_only(
    flights: list[FlightSource], tmp_path: Path
) -> None:
    (tmp_path / "elsewhere").mkdir()
    negative = write_raster(tmp_path / "elsewhere" / "trees.tif", width=700, height=700, seed=9)
    build_dataset(
        [flights[0]], [flights[1]], CARD, tmp_path / "ds", name="neg", negatives=[negative]
    )
    card = yaml.safe_load((tmp_path / "ds" / "dataset-card.yaml").read_text())
    assert card["negatives"] == [str(negative)]
    train_labels = sorted((tmp_path / "ds" / "labels" / "train").glob("neg_elsewhere_trees_*.txt"))
    info = inspect_raster(negative)
    windows = list(plan_for(info, CARD, DEFAULT_GSD_TOLERANCE))
    assert len(train_labels) == len(windows)  # every tile of the negative raster, all empty
    assert all(p.read_text() == "" for p in train_labels)
    assert not list((tmp_path / "ds" / "labels" / "val").glob("neg_*"))


def test_build_and_train_two_epochs(flights: list[FlightSource], tmp_path: Path) -> None:
    data_yaml = build_dataset([flights[0]], [flights[1]], CARD, tmp_path / "ds", name="tiny")
    card = yaml.safe_load((tmp_path / "ds" / "dataset-card.yaml").read_text())
    # Overlapping windows each carry the plants they hold, so there are more rows than plants.
    assert card["counts"]["train"]["boxes"] >= 2 and card["split"] == "by flight"
    labels = sorted((tmp_path / "ds" / "labels" / "train").glob("*.txt"))
    images = sorted((tmp_path / "ds" / "images" / "train").glob("*.jpg"))
    assert [p.stem for p in labels] == [p.stem for p in images] and images
    tiles = {p.stem: p.read_text().split() for p in labels}
    assert any(v and v[0] == "0" for v in tiles.values())

    from training.train import TrainConfig, train

    weights = train(
        TrainConfig(
            data=data_yaml,
            out_dir=tmp_path / "run",
            name="tiny",
            epochs=2,
            batch=2,
            workers=0,
            gsd_m=0.04,
            tile_size_px=320,
            overlap_px=64,
        )
    )
    trained = ModelCard.load(weights)
    assert trained.classes == ("poppy", "cannabis") and trained.gsd_m == 0.04
    assert trained.data_fingerprint == card["fingerprint"]
    assert trained.training["epochs_run"] == 2 and trained.training["device"] == "cpu"

    from detector.backends import load_detector

    detector = load_detector(weights, device="cpu")
    (boxes,) = detector.predict([np.zeros((320, 320, 3), np.uint8)])
    assert boxes.shape[1] == 6
