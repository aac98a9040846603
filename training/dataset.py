"""Orthomosaics + vector labels -> YOLO tiles at the model's ground sample distance.

Tiles are cut with the scanner's own window plan and reader (:func:`detector.scan.plan_for`,
:class:`detector.raster.RasterReader`), so a model is trained on exactly what it will see
when scanning: same GSD resampling, same overlap, same padding and masking of invalid pixels.
The split is spatial — whole flights go to validation, or whole ground blocks with a guard
band between them (``split="blocks"``) — never random tiles of one area in both sets; which
split a window goes to is decided in :mod:`training.split`.
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
import shapely
import yaml
from pyproj import CRS, Transformer

from detector.card import ModelCard
from detector.georef import Georeferencer
from detector.raster import RasterInfo, RasterReader, inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for
from detector.tiling import TileWindow
from training.errors import DatasetError
from training.split import (
    DEFAULT_BLOCK_M,
    DEFAULT_VAL_FRACTION,
    SPLITS,
    WindowSplitter,
    block_splitter,
    constant_splitter,
    require_both_splits,
)

# A label clipped by a tile edge is kept when at least this share of its box is inside.
MIN_VISIBLE_FRACTION = 0.4
# Default box edge for point labels, metres (one mature poppy plant).
DEFAULT_POINT_SIZE_M = 0.4


@dataclass(frozen=True)
class LabelBox:
    """A labelled plant as a box in raster pixel-corner coordinates."""

    col0_px: float
    row0_px: float
    col1_px: float
    row1_px: float
    class_name: str


@dataclass(frozen=True)
class FlightSource:
    """One orthomosaic with its label file (GeoJSON, GeoPackage or shapefile, any CRS)."""

    raster: Path
    labels: Path


def read_vector_labels(
    labels_path: Path,
    info: RasterInfo,
    *,
    class_field: str = "class",
    point_size_m: float = DEFAULT_POINT_SIZE_M,
) -> list[LabelBox]:
    """Read plant labels (points, boxes or polygons) into raster pixel boxes.

    Features with a ``kind`` property other than ``"plant"`` (e.g. plot outlines) are ignored.
    Points become squares of ``point_size_m``; polygons become their bounding boxes.
    """
    from pyogrio.raw import read

    try:
        meta, _, geometries, fields = read(str(labels_path))
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise DatasetError(f"cannot read labels {labels_path}: {exc}") from exc
    names = list(meta["fields"])
    if class_field not in names:
        raise DatasetError(f"{labels_path} has no {class_field!r} attribute on its features")
    classes = fields[names.index(class_field)]
    kinds = fields[names.index("kind")] if "kind" in names else [None] * len(classes)
    source_crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else CRS.from_epsg(4326)
    to_raster = Transformer.from_crs(source_crs, CRS.from_wkt(info.crs_wkt), always_xy=True)
    geo = Georeferencer(info)
    half_px = point_size_m / info.gsd_m / 2
    boxes = []
    for wkb, cls, kind in zip(geometries, classes, kinds, strict=True):
        if wkb is None or (kind is not None and kind != "plant"):
            continue
        geom = shapely.transform(
            shapely.from_wkb(wkb),
            lambda xy: np.column_stack(to_raster.transform(xy[:, 0], xy[:, 1])),
        )
        xs, ys = shapely.get_coordinates(geom).T
        cols, rows = geo.map_to_pixel(xs, ys)
        if isinstance(geom, shapely.Point):
            c, r = float(cols[0]), float(rows[0])
            boxes.append(LabelBox(c - half_px, r - half_px, c + half_px, r + half_px, str(cls)))
        else:
            boxes.append(
                LabelBox(
                    float(cols.min()),
                    float(rows.min()),
                    float(cols.max()),
                    float(rows.max()),
                    str(cls),
                )
            )
    return boxes


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


def cut_raster(
    info: RasterInfo,
    labels: Sequence[LabelBox],
    card: ModelCard,
    out_dir: Path,
    stem: str,
    splitter: WindowSplitter,
    counts: DatasetCounts,
    *,
    background_keep: float,
    rng: np.random.Generator,
) -> set[str]:
    """Cut one georeferenced raster into YOLO tiles with the scanner's window plan.

    Args:
        info: The raster.
        labels: Its plant boxes, raster pixels.
        card: Target GSD, tile size, overlap and classes of the model to train.
        out_dir: Dataset root.
        stem: File name prefix of its tiles (``<stem>_<window index>``).
        splitter: The split of each window; None leaves the window out (guard band).
        counts: Accumulates what was written.
        background_keep: Share of plant-free tiles kept (hard negatives: look-alikes, roofs).
        rng: Decides which background tiles are kept.

    Returns:
        The splits this raster gave tiles to.
    """
    touched: set[str] = set()
    with RasterReader(info, card.tile_size_px) as reader:
        for window in plan_for(info, card, DEFAULT_GSD_TOLERANCE):
            split = splitter(window)
            if split is None:
                counts.guard_tiles += 1
                continue
            rows = yolo_rows(labels, window, card.classes, card.tile_size_px)
            if not rows and rng.random() >= background_keep:
                continue
            tile = reader.read_tile(window)
            if tile is None:
                continue
            write_tile(out_dir, split, f"{stem}_{window.index:05d}", tile.rgb, rows)
            counts.add_tile(split, len(rows))
            touched.add(split)
    return touched


def cut_flight(
    source: FlightSource,
    card: ModelCard,
    out_dir: Path,
    split: str,
    *,
    background_keep: float = 0.35,
    seed: int = 0,
) -> TileCounts:
    """Cut one flight into ``out_dir/images/<split>`` and ``out_dir/labels/<split>``.

    Args:
        source: Raster and labels.
        card: Target GSD, tile size, overlap and classes of the model to train.
        out_dir: Dataset root.
        split: ``"train"`` or ``"val"``.
        background_keep: Share of plant-free tiles kept (hard negatives: look-alikes, roofs).
        seed: Seeds which background tiles are kept.
    """
    info = inspect_raster(source.raster)
    labels = read_vector_labels(source.labels, info)
    counts = DatasetCounts()
    rng = np.random.default_rng(seed)
    cut_raster(
        info,
        labels,
        card,
        out_dir,
        source.raster.stem,
        constant_splitter(split),
        counts,
        background_keep=background_keep,
        rng=rng,
    )
    totals = counts.splits[split]
    return TileCounts(totals["positive_tiles"], totals["background_tiles"], totals["boxes"])


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


def build_dataset(
    train: Sequence[FlightSource],
    val: Sequence[FlightSource],
    card: ModelCard,
    out_dir: Path,
    *,
    name: str,
    source: str = "",
    licence: str = "",
    split: str = "flight",
    block_m: float = DEFAULT_BLOCK_M,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    negatives: Sequence[Path] = (),
) -> Path:
    """Cut flights into a YOLO dataset with a spatial split; return its ``data.yaml``.

    Also writes ``dataset-card.yaml`` beside it: source, licence, classes, GSD, split mode,
    tile counts and the fingerprint that model cards record.

    Args:
        train: Training flights (with ``split="blocks"``: every flight).
        val: Validation flights (with ``split="blocks"``: must be empty).
        card: Target GSD, tile size, overlap and classes of the model to train.
        out_dir: Dataset root.
        name: Dataset name for the card.
        source: Where the flights and labels came from.
        licence: Their licence.
        split: ``"flight"``: whole flights go to train or val. ``"blocks"``: every flight is
            cut into ``block_m`` ground blocks assigned by a seeded hash, with a guard band
            between blocks of different splits (see :func:`block_splitter`).
        block_m: Block edge on the ground, metres (``split="blocks"``).
        val_fraction: Share of blocks sent to val (``split="blocks"``).
        seed: Seeds the block assignment and which background tiles are kept.
        negatives: Georeferenced rasters known to hold none of the classes (real imagery of
            other places: trees, fields, roofs); every one of their tiles goes to the
            training split as a background tile, to teach the model what is not a target.
            Keep the places you will measure false alarms on out of this list.
    """
    if split == "flight":
        if not train or not val:
            raise DatasetError("a dataset needs at least one training and one validation flight")
        overlap = {f.raster.resolve() for f in train} & {f.raster.resolve() for f in val}
        if overlap:
            raise DatasetError(f"flights in both train and val: {sorted(map(str, overlap))}")
    elif split == "blocks":
        if val:
            raise DatasetError(
                "with the blocks split give every flight as a training flight: blocks of "
                "each flight decide train and val"
            )
        if not train:
            raise DatasetError("a dataset needs at least one flight")
    else:
        raise DatasetError(f"unknown split {split!r}; choose 'flight' or 'blocks'")
    counts = DatasetCounts()
    # Background tiles are seeded by a flight's position in its own list (as before blocks).
    jobs = [(i, f, "train") for i, f in enumerate(train)] + [
        (i, f, "val") for i, f in enumerate(val)
    ]
    for i, flight, flight_split in jobs:
        info = inspect_raster(flight.raster)
        labels = read_vector_labels(flight.labels, info)
        splitter = (
            block_splitter(info, block_m=block_m, val_fraction=val_fraction, seed=seed)
            if split == "blocks"
            else constant_splitter(flight_split)
        )
        rng = np.random.default_rng(seed + i)
        touched = cut_raster(
            info,
            labels,
            card,
            out_dir,
            flight.raster.stem,
            splitter,
            counts,
            background_keep=0.35,
            rng=rng,
        )
        counts.add_source(touched)
    for raster in negatives:
        touched = cut_raster(
            inspect_raster(raster),
            [],
            card,
            out_dir,
            f"neg_{Path(raster).parent.name}_{Path(raster).stem}",
            constant_splitter("train"),
            counts,
            background_keep=1.0,
            rng=np.random.default_rng(seed),
        )
        counts.add_source(touched)
    details: dict[str, Any]
    if split == "blocks":
        require_both_splits(
            counts, "use a smaller block size, another seed or more flights for the blocks split"
        )
        details = {
            "split_params": {
                "block_m": block_m,
                "val_fraction": val_fraction,
                "seed": seed,
                "grid": "UTM zone of each flight's centre",
                "guard_tiles": counts.guard_tiles,
            },
            "flights": [str(f.raster) for f in train],
        }
    else:
        details = {
            "flights": {
                "train": [str(f.raster) for f in train],
                "val": [str(f.raster) for f in val],
            }
        }
    if negatives:
        details["negatives"] = [str(p) for p in negatives]
    return write_dataset_files(
        out_dir,
        card,
        counts,
        name=name,
        source=source,
        licence=licence,
        split="blocks" if split == "blocks" else "by flight",
        details=details,
    )
