"""The spatial-block split: whole ground blocks per split, a guard band, no shared ground."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import shapely
import yaml
from affine import Affine
from pyproj import Transformer
from rasters import write_raster

from detector.card import ModelCard
from detector.raster import inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for
from training.dataset import DatasetError, FlightSource, build_dataset
from training.split import block_splitter

# 64 px tiles at 4 cm (2.56 m on the ground, 128 px of the 2 cm flights), 16 px overlap.
CARD = ModelCard(
    name="t", version="0", classes=("poppy",), gsd_m=0.04, tile_size_px=64, overlap_px=16
)
BLOCK_M = 4.0


def _flight(folder: Path, crs: str = "EPSG:32648", seed: int = 0) -> FlightSource:
    """A 1000 x 800 px flight at 2 cm (20 x 16 m) with a point plant every 2 m."""
    raster = write_raster(folder / f"f{seed}.tif", crs=crs, width=1000, height=800, seed=seed)
    info = inspect_raster(raster)
    to_wgs84 = Transformer.from_crs(info.crs_wkt, "EPSG:4326", always_xy=True)
    features = []
    for col in range(50, 1000, 100):
        for row in range(50, 800, 100):
            x, y = Affine(*info.transform) @ (col, row)
            lon, lat = to_wgs84.transform(x, y)
            features.append(
                {
                    "type": "Feature",
                    "properties": {"class": "poppy", "kind": "plant"},
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                }
            )
    labels = folder / f"f{seed}.geojson"
    labels.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return FlightSource(raster, labels)


def _footprints(ds: Path, flight: FlightSource, split: str) -> list[shapely.Polygon]:
    """Ground footprints (raster CRS) of the tiles written to ``split``, from their windows."""
    info = inspect_raster(flight.raster)
    windows = {w.index: w for w in plan_for(info, CARD, DEFAULT_GSD_TOLERANCE)}
    out = []
    for path in sorted((ds / "images" / split).glob(f"{flight.raster.stem}_*.jpg")):
        w = windows[int(path.stem.rsplit("_", 1)[1])]
        corners = [
            (w.col_px, w.row_px),
            (w.col_px + w.width_px, w.row_px),
            (w.col_px + w.width_px, w.row_px + w.height_px),
            (w.col_px, w.row_px + w.height_px),
        ]
        out.append(shapely.Polygon([info.affine @ c for c in corners]))
    return out


@pytest.mark.parametrize("crs", ["EPSG:32648", "EPSG:4326"])
def test_blocks_split_leaks_no_area(tmp_path: Path, crs: str) -> None:
    flight = _flight(tmp_path, crs)
    ds = tmp_path / "ds"
    build_dataset(
        [flight], [], CARD, ds, name="blocks", split="blocks", block_m=BLOCK_M, val_fraction=0.5
    )
    train, val = _footprints(ds, flight, "train"), _footprints(ds, flight, "val")
    assert len(train) >= 5 and len(val) >= 5
    tile_area = train[0].area
    tree = shapely.STRtree(val)
    for tile in train:
        for j in tree.query(tile):
            assert tile.intersection(val[j]).area <= 1e-9 * tile_area, "a train tile shares ground"

    card = yaml.safe_load((ds / "dataset-card.yaml").read_text())
    assert card["split"] == "blocks"
    assert card["split_params"]["block_m"] == BLOCK_M
    assert card["split_params"]["guard_tiles"] > 0
    # The guard band is what keeps them apart: the windows left out do straddle both sets.
    info = inspect_raster(flight.raster)
    splitter = block_splitter(info, block_m=BLOCK_M, val_fraction=0.5)
    plan = plan_for(info, CARD, DEFAULT_GSD_TOLERANCE)
    guards = [w for w in plan if splitter(w) is None]
    assert len(guards) == card["split_params"]["guard_tiles"]
    everything = train + val
    straddling = 0
    for w in guards:
        x0, y0 = info.affine @ (w.col_px, w.row_px)
        x1, y1 = info.affine @ (w.col_px + w.width_px, w.row_px + w.height_px)
        box = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        hits = {s for s, tiles in (("t", train), ("v", val)) if any(
            box.intersection(t).area > 1e-6 * tile_area for t in tiles)}  # fmt: skip
        straddling += hits == {"t", "v"}
    assert straddling > 0
    assert len(everything) + len(guards) <= len(plan)


def test_block_assignment_is_seeded(tmp_path: Path) -> None:
    info = inspect_raster(_flight(tmp_path).raster)
    plan = plan_for(info, CARD, DEFAULT_GSD_TOLERANCE)

    def splits(seed: int) -> list[str | None]:
        splitter = block_splitter(info, block_m=BLOCK_M, val_fraction=0.5, seed=seed)
        return [splitter(w) for w in plan]

    assert splits(0) == splits(0)
    assert splits(0) != splits(1)


def test_blocks_split_refuses_a_one_sided_split(tmp_path: Path) -> None:
    flight = _flight(tmp_path)
    with pytest.raises(DatasetError, match="no tile in"):
        build_dataset([flight], [], CARD, tmp_path / "ds", name="x", split="blocks", block_m=5000)
    with pytest.raises(DatasetError, match="every flight as a training flight"):
        build_dataset([flight], [flight], CARD, tmp_path / "ds2", name="x", split="blocks")
    with pytest.raises(DatasetError, match="unknown split"):
        build_dataset([flight], [flight], CARD, tmp_path / "ds3", name="x", split="random")


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "serving.cli", "dataset", "build", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(repo)},
        timeout=120,
        check=False,
    )


def test_cli_blocks_split_of_a_flight(tmp_path: Path) -> None:
    flight = _flight(tmp_path)
    card_path = tmp_path / "model.pt.card.json"
    card_path.write_text(json.dumps(CARD.to_dict()))
    common = ["--split", "blocks", "--block-m", str(BLOCK_M), "--val-fraction", "0.5"]
    good = _cli(
        ["--flight", str(flight.raster), str(flight.labels), *common,
         "--card", str(card_path), "-o", str(tmp_path / "ds"), "--name", "tiny-blocks"],
        tmp_path,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "guard band:" in good.stdout and "train:" in good.stdout and "val:" in good.stdout
    card = yaml.safe_load((tmp_path / "ds" / "dataset-card.yaml").read_text())
    assert card["name"] == "tiny-blocks" and card["split"] == "blocks"
    assert card["counts"]["val"]["positive_tiles"] > 0

    out = tmp_path / "never"
    bad = _cli(
        ["--flight", str(tmp_path / "gone.tif"), str(flight.labels), *common,
         "--card", str(card_path), "-o", str(out)],
        tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2
    lines = bad.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("poppyscan: error:"), bad.stderr
    assert "gone.tif: no such file" in lines[0] and "Traceback" not in bad.stderr
    assert not out.exists(), "no half-written dataset is left"
