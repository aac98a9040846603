"""Synthetic flights rendered straight to YOLO tiles: the scanner's cut of the written flight."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from detector.card import ModelCard
from training.dataset import FlightSource, build_dataset
from training.synthetic import generate_flight
from training.synthetic.tiles import build_synthetic_dataset

REPO = Path(__file__).resolve().parents[2]
# 320 px tiles at 4 cm with 64 px overlap; flights of 1536 px (61 m) at that GSD.
CARD = ModelCard(
    name="t", version="0", classes=("poppy", "cannabis"), gsd_m=0.04, tile_size_px=320,
    overlap_px=64,
)  # fmt: skip
SIZE_PX = 1536
TRAIN_SEED, VAL_SEED = 10, 11  # 16 and 24 plants


def _labels(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_tiles_equal_the_scanners_cut_of_the_written_flight(tmp_path: Path) -> None:
    direct = tmp_path / "direct"
    data_yaml = build_synthetic_dataset(
        direct, [TRAIN_SEED], [VAL_SEED], CARD, size_px=SIZE_PX, background_keep=1.0, workers=2
    )
    flights = [
        generate_flight(
            tmp_path / "flights",
            seed=seed,
            width_px=SIZE_PX,
            height_px=SIZE_PX,
            gsd_m=CARD.gsd_m,
            name=f"flight-{seed}",
        )
        for seed in (TRAIN_SEED, VAL_SEED)
    ]
    cut = tmp_path / "cut"
    train, val = (FlightSource(f.raster_path, f.labels_path) for f in flights)
    build_dataset([train], [val], CARD, cut, name="cut")

    positives = 0
    for split in ("train", "val"):
        cut_images = sorted((cut / "images" / split).iterdir())
        direct_names = {p.name for p in (direct / "images" / split).iterdir()}
        # Every tile the reader cut (plants, and the background it kept) was rendered too.
        assert cut_images and {p.name for p in cut_images} <= direct_names
        for image in cut_images:
            assert filecmp.cmp(image, direct / "images" / split / image.name, shallow=False)
            label = Path("labels", split, f"{image.stem}.txt")
            ours, theirs = _labels(direct / label), _labels(cut / label)
            assert len(ours) == len(theirs)
            # The written labels went through WGS84 GeoJSON: equal within 1e-4 (0.03 px).
            for a, b in zip(ours, theirs, strict=True):
                assert a[0] == b[0] and max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-4
            positives += bool(ours)
    assert positives >= 2

    card = yaml.safe_load((direct / "dataset-card.yaml").read_text())
    assert card["gsd_m"] == CARD.gsd_m and card["tile_size_px"] == CARD.tile_size_px
    assert card["flights"]["train_seeds"] == [str(TRAIN_SEED)]
    assert card["counts"]["val"]["flights"] == 1 and card["fingerprint"]
    data = yaml.safe_load(data_yaml.read_text())
    assert data["names"] == {0: "poppy", 1: "cannabis"}


def test_background_share_and_extra_tiles(tmp_path: Path) -> None:
    extra = tmp_path / "neon"
    (extra / "images" / "train").mkdir(parents=True)
    (extra / "labels" / "train").mkdir(parents=True)
    (extra / "images" / "train" / "a.jpg").write_bytes(b"\xff\xd8 not decoded here")
    (extra / "images" / "train" / "b.jpg").write_bytes(b"\xff\xd8")
    (extra / "labels" / "train" / "b.txt").write_text("")
    out = tmp_path / "ds"
    build_synthetic_dataset(
        out,
        [TRAIN_SEED],
        [VAL_SEED],
        CARD,
        size_px=SIZE_PX,
        background_keep=0.0,
        workers=1,
        extra_train=[extra],
        extra_source="two background tiles",
    )
    labels = sorted((out / "labels" / "train").iterdir())
    synthetic = [p for p in labels if p.name.startswith("flight-")]
    # With no background kept, every synthetic tile holds a plant.
    assert synthetic and all(p.read_text().strip() for p in synthetic)
    extras = [p.name for p in labels if p.name.startswith("extra-")]
    assert extras == ["extra-neon_a.txt", "extra-neon_b.txt"]
    assert (out / "images" / "train" / "extra-neon_a.jpg").is_file()
    card = yaml.safe_load((out / "dataset-card.yaml").read_text())
    assert card["counts"]["train"]["background_tiles"] == 2
    assert card["counts"]["train"]["flights"] == 1  # the extra folder is tiles, not a flight
    assert card["source"].endswith("+ two background tiles")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-seeds", "1-3", "--val-seeds", "3"], "a seed is in both train and val"),
        (["--train-seeds", "1", "--val-seeds", "x"], "seeds are written like 1000-1299"),
        (["--train-seeds", "1", "--val-seeds", "2", "--tile", "0"], "is not usable"),
        (["--train-seeds", "1", "--val-seeds", "2", "--extra-train", "nowhere"], "no images/"),
    ],
)
def test_cli_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "ds"
    done = subprocess.run(
        [sys.executable, "-m", "training.synthetic.tiles", "--out", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_an_existing_dataset_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="already holds a dataset"):
        build_synthetic_dataset(tmp_path, [1], [2], CARD, size_px=SIZE_PX)
