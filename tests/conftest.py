"""Fixtures shared by the test suite: synthetic rasters, a recording fake detector, real data.

``tests/`` is on ``sys.path`` while the suite runs (pytest puts a rootless conftest's folder
there), so test modules import the raster generator as ``import rasters``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from doubles import RecordingDetector, make_card
from rasters import disc, field_background, write_raster


def pytest_configure(config: pytest.Config) -> None:
    """Keep the developer's model registry out of the tests: an empty one for this run, so
    every scan (in this process and in the servers and workers it starts) uses the shipped
    model unless a test registers another."""
    os.environ["POPPYSCAN_MODELS"] = tempfile.mkdtemp(prefix="poppyscan-test-registry-")


# Real imagery beside the project (never inside it): <repo>/../shared/data.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def fake_factory() -> Callable[..., RecordingDetector]:
    """Build a recording fake detector; keyword arguments override the card's fields."""

    def build(**card_overrides: Any) -> RecordingDetector:
        return RecordingDetector(make_card(**card_overrides))

    return build


@pytest.fixture
def fake(fake_factory: Callable[..., RecordingDetector]) -> RecordingDetector:
    """A fake detector at 2 cm/px with 128 px tiles and 32 px overlap."""
    return fake_factory()


@pytest.fixture
def raster_dir(tmp_path: Path) -> Path:
    """Folder for a test's input rasters (kept apart from outputs)."""
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Empty folder for a test's outputs."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def make_raster(raster_dir: Path) -> Callable[..., Path]:
    """Write a synthetic GeoTIFF into the test's input folder (see ``rasters.write_raster``)."""

    def build(name: str = "flight.tif", **kwargs: Any) -> Path:
        return write_raster(raster_dir / name, **kwargs)

    return build


def _textured_tiles(count: int, size: int, seed: int) -> list[np.ndarray]:
    """uint8 RGB field tiles with coloured discs of many sizes (something for a model to see)."""
    tiles = []
    for i in range(count):
        data = field_background(size, size, seed=seed + i)
        rng = np.random.default_rng(seed + i)
        for _ in range(8):
            row, col = rng.uniform(0, size, 2)
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            disc(data, row, col, rng.uniform(size / 60, size / 10), rgb=colour)
        tiles.append(np.ascontiguousarray(np.rint(data).astype(np.uint8).transpose(1, 2, 0)))
    return tiles


@pytest.fixture(scope="session")
def textured_tiles() -> Callable[[int, int, int], list[np.ndarray]]:
    """Make ``count`` textured ``size`` px RGB tiles from ``seed``."""
    return _textured_tiles


@pytest.fixture(scope="session")
def tiny_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real YOLO11n detector with 2 classes and random weights, saved with its card.

    Built from Ultralytics' packaged ``yolo11n.yaml`` (nothing is downloaded) with a fixed seed.
    Its batch-norm statistics are calibrated on textured tiles so activations keep their
    scale through the network and the boxes and scores depend on the image, as a trained
    model's do. The card asks for 320 px tiles at 2 cm/px, and pins the scan's windows to
    them (``scan_tile_px``) so tests stay quick; the default window size has its own test.
    """
    import torch

    from detector.offline import configure_ultralytics

    configure_ultralytics()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    net = DetectionModel("yolo11n.yaml", nc=2, verbose=False)
    net.names = {0: "poppy", 1: "cannabis"}
    images = np.stack(_textured_tiles(8, 320, seed=100)).transpose(0, 3, 1, 2) / 255.0
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batch
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(images).float())
    net.eval()
    yolo = YOLO("yolo11n.yaml", task="detect")
    yolo.model = net
    weights = tmp_path_factory.mktemp("tiny-yolo") / "tiny.pt"
    yolo.save(str(weights))
    make_card(name="tiny-random", tile_size_px=320, overlap_px=64, scan_tile_px=320).save(weights)
    return weights


@pytest.fixture
def shared_data() -> Path:
    """The real data beside the project; skips the test when it is absent (a fresh clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not present at {SHARED_DATA} (only beside the dev checkout)")
    return SHARED_DATA
