"""Orthomosaics + vector labels -> YOLO tiles at the model's ground sample distance.

Tiles are cut with the scanner's own window plan and reader (:func:`detector.scan.plan_for`,
:class:`detector.raster.RasterReader`), so a model is trained on exactly what it will see
when scanning: same GSD resampling, same overlap, same padding and masking of invalid pixels.
The split is spatial — whole flights go to validation — never random tiles of one area in
both sets.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import shapely
import yaml
from pyproj import CRS, Transformer

from detector.card import ModelCard
from detector.errors import PoppyscanError
from detector.georef import Georeferencer
from detector.raster import RasterInfo, RasterReader, inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for
from detector.tiling import TileWindow

# A label clipped by a tile edge is kept when at least this share of its box is inside.
MIN_VISIBLE_FRACTION = 0.4
# Default box edge for point labels, metres (one mature poppy plant).
DEFAULT_POINT_SIZE_M = 0.4


class DatasetError(PoppyscanError):
    """Labels or rasters cannot be turned into a training set."""


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
    images, label_dir = out_dir / "images" / split, out_dir / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    positive = background = boxes = 0
    with RasterReader(info, card.tile_size_px) as reader:
        for window in plan_for(info, card, DEFAULT_GSD_TOLERANCE):
            rows = yolo_rows(labels, window, card.classes, card.tile_size_px)
            if not rows and rng.random() >= background_keep:
                continue
            tile = reader.read_tile(window)
            if tile is None:
                continue
            stem = f"{source.raster.stem}_{window.index:05d}"
            cv2.imwrite(
                str(images / f"{stem}.jpg"), tile.rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95]
            )
            (label_dir / f"{stem}.txt").write_text("\n".join(rows) + ("\n" if rows else ""))
            positive += bool(rows)
            background += not rows
            boxes += len(rows)
    return TileCounts(positive, background, boxes)


def fingerprint(paths: Sequence[Path]) -> str:
    """sha256 over the names and bytes of a dataset's label files (images are derived)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build_dataset(
    train: Sequence[FlightSource],
    val: Sequence[FlightSource],
    card: ModelCard,
    out_dir: Path,
    *,
    name: str,
    source: str = "",
    licence: str = "",
) -> Path:
    """Cut train and validation flights into a YOLO dataset; return its ``data.yaml``.

    Also writes ``dataset-card.yaml`` beside it: source, licence, classes, GSD, tile counts
    and the fingerprint that model cards record.
    """
    if not train or not val:
        raise DatasetError("a dataset needs at least one training and one validation flight")
    overlap = {f.raster.resolve() for f in train} & {f.raster.resolve() for f in val}
    if overlap:
        raise DatasetError(f"flights in both train and val: {sorted(map(str, overlap))}")
    counts: dict[str, dict[str, int]] = {}
    for split, flights in (("train", train), ("val", val)):
        totals = {"positive_tiles": 0, "background_tiles": 0, "boxes": 0, "flights": len(flights)}
        for i, flight in enumerate(flights):
            got = cut_flight(flight, card, out_dir, split, seed=i)
            totals["positive_tiles"] += got.positive
            totals["background_tiles"] += got.background
            totals["boxes"] += got.boxes
        counts[split] = totals
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
        "split": "by flight",
        "counts": counts,
        "fingerprint": fingerprint(label_files),
        "flights": {"train": [str(f.raster) for f in train], "val": [str(f.raster) for f in val]},
    }
    tmp = out_dir / ".dataset-card.yaml.tmp"
    tmp.write_text(yaml.safe_dump(dataset_card, sort_keys=False))
    os.replace(tmp, out_dir / "dataset-card.yaml")
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=2))
    return data_yaml
