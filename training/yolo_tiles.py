"""The YOLO tile dataset on disk: label rows, tile files, counts, ``data.yaml`` and the card.

What every producer of training tiles shares — :mod:`training.dataset` (orthomosaics and
vector labels, cut with the scanner's reader), :mod:`training.importers` (YOLO, COCO and VOC
tile sets) and :mod:`training.synthetic.tiles` (synthetic flights rendered straight to
tiles). No raster I/O here: a tile arrives as a uint8 RGB array, a plant as a box in the
source raster's pixel-corner coordinates.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from detector.card import ModelCard
from detector.tiling import TileWindow

SPLITS = ("train", "val")

# A label clipped by a tile edge is kept when at least this share of its box is inside.
MIN_VISIBLE_FRACTION = 0.4


@dataclass(frozen=True)
class LabelBox:
    """A labelled plant as a box in raster pixel-corner coordinates."""

    col0_px: float
    row0_px: float
    col1_px: float
    row1_px: float
    class_name: str


def yolo_rows(
    labels: Sequence[LabelBox], window: TileWindow, classes: tuple[str, ...], tile_size_px: int
) -> list[str]:
    """YOLO label lines (class cx cy w h, normalised to the tile) of boxes inside ``window``."""
    lines = []
    right, bottom = window.col_px + window.width_px, window.row_px + window.height_px
    for box in labels:
        c0, r0 = max(box.col0_px, window.col_px), max(box.row0_px, window.row_px)
        c1, r1 = min(box.col1_px, right), min(box.row1_px, bottom)
        if c1 <= c0 or r1 <= r0 or box.class_name not in classes:
            continue
        full = (box.col1_px - box.col0_px) * (box.row1_px - box.row0_px)
        if (c1 - c0) * (r1 - r0) < MIN_VISIBLE_FRACTION * full:
            continue
        x0, x1 = (c0 - window.col_px) / window.col_scale, (c1 - window.col_px) / window.col_scale
        y0, y1 = (r0 - window.row_px) / window.row_scale, (r1 - window.row_px) / window.row_scale
        cx, cy = (x0 + x1) / 2 / tile_size_px, (y0 + y1) / 2 / tile_size_px
        w, h = (x1 - x0) / tile_size_px, (y1 - y0) / tile_size_px
        lines.append(f"{classes.index(box.class_name)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


@dataclass(frozen=True)
class TileCounts:
    """What one flight contributed: tiles with plants, background tiles, plant boxes."""

    positive: int
    background: int
    boxes: int


@dataclass
class DatasetCounts:
    """Tiles and boxes written per split while cutting, and guard tiles left out.

    Attributes:
        unit: What a source is called in the counts (``"flights"`` or ``"images"``).
        splits: Per split: ``positive_tiles``, ``background_tiles``, ``boxes`` and the number
            of sources that gave it at least one tile.
        guard_tiles: Windows left out because they straddle blocks of both splits.
    """

    unit: str = "flights"
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    guard_tiles: int = 0

    def __post_init__(self) -> None:
        for split in SPLITS:
            self.splits.setdefault(
                split, {"positive_tiles": 0, "background_tiles": 0, "boxes": 0, self.unit: 0}
            )

    def add_tile(self, split: str, boxes: int) -> None:
        """Count one written tile holding ``boxes`` label rows."""
        totals = self.splits[split]
        totals["positive_tiles" if boxes else "background_tiles"] += 1
        totals["boxes"] += boxes

    def add_source(self, splits: set[str]) -> None:
        """Count one source (flight, image) in every split it gave tiles to."""
        for split in splits:
            self.splits[split][self.unit] += 1

    def tiles(self, split: str) -> int:
        """Tiles written to ``split``."""
        return self.splits[split]["positive_tiles"] + self.splits[split]["background_tiles"]

    def to_dict(self) -> dict[str, dict[str, int]]:
        """JSON-ready copy of the per-split counts."""
        return {split: dict(totals) for split, totals in self.splits.items()}


def write_tile(out_dir: Path, split: str, stem: str, rgb: np.ndarray, rows: Sequence[str]) -> None:
    """Write one tile as ``images/<split>/<stem>.jpg`` and its ``labels/<split>/<stem>.txt``."""
    images, label_dir = out_dir / "images" / split, out_dir / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(images / f"{stem}.jpg"), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    (label_dir / f"{stem}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))


def fingerprint(paths: Sequence[Path]) -> str:
    """sha256 over the names and bytes of a dataset's label files (images are derived)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def write_dataset_files(
    out_dir: Path,
    card: ModelCard,
    counts: DatasetCounts,
    *,
    name: str,
    source: str,
    licence: str,
    split: str,
    details: dict[str, Any],
) -> Path:
    """Write ``data.yaml``, ``dataset-card.yaml`` and ``counts.json``; return ``data.yaml``.

    Args:
        out_dir: Dataset root holding ``images/`` and ``labels/``.
        card: The target model's classes, GSD, tile size and overlap.
        counts: What was written.
        name: Dataset name.
        source: Where the imagery and labels came from.
        licence: Their licence.
        split: How train and val were separated (``"by flight"``, ``"blocks"``, ...).
        details: Further card entries (split parameters, inputs, class remapping).
    """
    for split_name in SPLITS:
        (out_dir / "images" / split_name).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split_name).mkdir(parents=True, exist_ok=True)
    label_files = list((out_dir / "labels").rglob("*.txt"))
    data_yaml = out_dir / "data.yaml"
    data = {
        "path": str(out_dir.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(card.classes)),
    }
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    dataset_card = {
        "name": name,
        "source": source,
        "licence": licence,
        "classes": list(card.classes),
        "gsd_m": card.gsd_m,
        "tile_size_px": card.tile_size_px,
        "overlap_px": card.overlap_px,
        "split": split,
        "counts": counts.to_dict(),
        "fingerprint": fingerprint(label_files),
        **details,
    }
    tmp = out_dir / ".dataset-card.yaml.tmp"
    tmp.write_text(yaml.safe_dump(dataset_card, sort_keys=False))
    os.replace(tmp, out_dir / "dataset-card.yaml")
    (out_dir / "counts.json").write_text(json.dumps(counts.to_dict(), indent=2))
    return data_yaml
