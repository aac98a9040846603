"""Orthomosaics + vector labels -> YOLO tiles at the model's ground sample distance.

Tiles are cut with the scanner's own window plan and reader (:func:`detector.scan.plan_for`,
:class:`detector.raster.RasterReader`), so a model is trained on exactly what it will see
when scanning: same GSD resampling, same overlap, same padding and masking of invalid pixels.
The split is spatial — whole flights go to validation, or whole ground blocks with a guard
band between them (``split="blocks"``) — never random tiles of one area in both sets; which
split a window goes to is decided in :mod:`training.split`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from detector.card import ModelCard
from detector.georef import Georeferencer
from detector.raster import RasterInfo, RasterReader, inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for
from training.errors import DatasetError
from training.split import (
    DEFAULT_BLOCK_M,
    DEFAULT_VAL_FRACTION,
    WindowSplitter,
    block_splitter,
    constant_splitter,
    require_both_splits,
)
from training.yolo_tiles import (
    DatasetCounts,
    LabelBox,
    TileCounts,
    write_dataset_files,
    write_tile,
    yolo_rows,
)

# Default box edge for point labels, metres (one mature poppy plant).
DEFAULT_POINT_SIZE_M = 0.4


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
