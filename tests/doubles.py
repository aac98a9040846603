"""Test doubles shared by test modules (``from doubles import ...``): a model card and a
recording fake detector. They live here, not in a conftest, because ``conftest`` is not a
unique module name once sub-folders have their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.backends import FakeDetector
from detector.card import ModelCard


def make_card(**overrides: Any) -> ModelCard:
    """A model card for the fake detector: 2 cm/px, 128 px tiles, 32 px overlap."""
    values: dict[str, Any] = {
        "name": "fake-test",
        "version": "0.0",
        "classes": ("poppy", "cannabis"),
        "gsd_m": 0.02,
        "tile_size_px": 128,
        "overlap_px": 32,
        "conf_threshold": 0.25,
        "iou_threshold": 0.5,
    }
    values.update(overrides)
    return ModelCard(**values)


class RecordingDetector(FakeDetector):
    """The project's fake detector, also recording what it was given.

    Attributes:
        tiles_seen: Number of tiles received over all batches.
        blank_tiles: Tiles whose every pixel was 0 (what a skipped window would look like).
        shapes: Shape of every tile received.
    """

    def __init__(self, card: ModelCard, **kwargs: Any) -> None:
        super().__init__(card, **kwargs)
        self.tiles_seen = 0
        self.blank_tiles = 0
        self.shapes: list[tuple[int, ...]] = []

    def predict(self, tiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        for tile in tiles:
            self.tiles_seen += 1
            self.shapes.append(tile.shape)
            if not tile.any():
                self.blank_tiles += 1
        return super().predict(tiles)
