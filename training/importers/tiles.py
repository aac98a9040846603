"""Imported images -> YOLO tiles at the model card's GSD and tile size, in train/val.

A georeferenced image (a GeoTIFF such as a NEON plot) is cut exactly like a flight, by
:func:`training.dataset.cut_raster`: the scanner's own window plan at the card's GSD, read
through :class:`detector.raster.RasterReader`, so the pixel size comes from the file's
transform. An image without georeferencing (a plain JPEG/PNG tile) has no ground size of its
own: the caller must say its GSD (``image_gsd_m``); it is then cut with the same window plan
(:func:`detector.tiling.plan_windows`) and resampled with OpenCV. Every image is checked
(georeferencing, GSD, size) before the first tile is written; only a split that turns out to
leave train or val empty is found after cutting (the CLI then removes the folder).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector.card import ModelCard
from detector.errors import RasterError
from detector.raster import RasterInfo, inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE
from detector.tiling import plan_windows
from training.dataset import DatasetError, cut_raster
from training.importers.labels import ImageLabels, fit_to_image
from training.importers.split import LEFT_OUT, ImportSplit
from training.split import block_splitter, constant_splitter, require_both_splits
from training.yolo_tiles import DatasetCounts, write_dataset_files, write_tile, yolo_rows


@dataclass(frozen=True)
class _Job:
    item: ImageLabels
    info: RasterInfo | None  # None: not georeferenced
    split: str | None  # None: per tile (blocks)
    stem: str


def georeference_of(item: ImageLabels) -> tuple[ImageLabels, RasterInfo | None]:
    """The item fitted to its image, and the image's raster description (None: no georef).

    Raises:
        DatasetError: the image is georeferenced but unusable (corrupt, too few bands), or a
            box lies outside the image's real size.
    """
    try:
        info = inspect_raster(item.image)
    except RasterError as exc:
        if "has no georeferencing" in str(exc):
            return item, None
        raise DatasetError(f"{item.label_file}: {exc}") from exc
    return fit_to_image(item, (info.width_px, info.height_px)), info


def _plan(
    items: Sequence[ImageLabels], split: ImportSplit, image_gsd_m: float | None
) -> list[_Job]:
    jobs, stems = [], set()
    for original in items:
        item, info = georeference_of(original)
        if info is None and image_gsd_m is None:
            raise DatasetError(
                f"{item.image} is not georeferenced, so its ground sample distance is unknown; "
                "give it (metres per pixel, e.g. --image-gsd 0.02)"
            )
        image_split = split.for_image(item)
        if image_split is None and info is None:
            raise DatasetError(
                f"{item.image} is not georeferenced: the blocks split needs GeoTIFFs; split "
                "by image instead"
            )
        if image_split == LEFT_OUT:
            continue
        stem = item.image.stem
        if stem in stems:
            stem = f"{stem}_{hashlib.sha1(str(item.image).encode()).hexdigest()[:8]}"
        stems.add(stem)
        jobs.append(_Job(item, info, image_split, stem))
    if not jobs:
        raise DatasetError("no images to import")
    return jobs


def cut_plain_image(
    item: ImageLabels,
    image_gsd_m: float,
    card: ModelCard,
    out_dir: Path,
    stem: str,
    split: str,
    counts: DatasetCounts,
    *,
    background_keep: float,
    rng: np.random.Generator,
) -> set[str]:
    """Cut an image without georeferencing into tiles at the card's GSD.

    Args:
        item: The image and its pixel boxes.
        image_gsd_m: The image's ground sample distance, metres per pixel.
        card: Target GSD, tile size, overlap and classes.
        out_dir: Dataset root.
        stem: File name prefix of its tiles.
        split: ``"train"`` or ``"val"``.
        counts: Accumulates what was written.
        background_keep: Share of plant-free tiles kept.
        rng: Decides which background tiles are kept.
    """
    bgr = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{item.label_file}: image {item.image} is not readable")
    height, width = bgr.shape[:2]
    item = fit_to_image(item, (width, height))
    scale = card.gsd_m / image_gsd_m
    if abs(scale - 1) <= DEFAULT_GSD_TOLERANCE:  # as the scanner: no resampling within 5 %
        scale = 1.0
    plan = plan_windows(
        height,
        width,
        tile_size_px=card.tile_size_px,
        overlap_px=card.overlap_px,
        scale_row=scale,
        scale_col=scale,
    )
    touched: set[str] = set()
    for window in plan:
        rows = yolo_rows(item.boxes, window, card.classes, card.tile_size_px)
        if not rows and rng.random() >= background_keep:
            continue
        crop = bgr[
            window.row_px : window.row_px + window.height_px,
            window.col_px : window.col_px + window.width_px,
        ]
        out_size = (window.out_width_px, window.out_height_px)
        if out_size != (window.width_px, window.height_px):
            shrink = window.width_px > window.out_width_px
            crop = cv2.resize(
                crop, out_size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        tile = np.zeros((card.tile_size_px, card.tile_size_px, 3), np.uint8)
        tile[: window.out_height_px, : window.out_width_px] = crop[..., ::-1]
        write_tile(out_dir, split, f"{stem}_{window.index:05d}", tile, rows)
        counts.add_tile(split, len(rows))
        touched.add(split)
    return touched


def build_from_images(
    items: Sequence[ImageLabels],
    card: ModelCard,
    out_dir: Path,
    *,
    split: ImportSplit,
    name: str,
    source: str = "",
    licence: str = "",
    image_gsd_m: float | None = None,
    background_keep: float = 1.0,
    details: dict[str, Any] | None = None,
) -> tuple[Path, DatasetCounts]:
    """Cut imported images into a YOLO dataset for ``card``; return ``data.yaml`` and counts.

    Args:
        items: Imported images with boxes whose classes are the card's (see
            :func:`training.importers.classmap.apply_class_map`).
        card: Target GSD, tile size, overlap and classes.
        out_dir: Dataset root.
        split: How images or tiles go to train and val.
        name: Dataset name for the card.
        source: Where the images and labels came from.
        licence: Their licence.
        image_gsd_m: Ground sample distance of images without georeferencing, metres per
            pixel; georeferenced images use their own.
        background_keep: Share of tiles without boxes kept (all by default: an imported set
            chose its images on purpose).
        details: Further dataset card entries (inputs, class remapping).

    Raises:
        DatasetError: an image without georeferencing and no ``image_gsd_m``, the blocks
            split on such an image, or a split that leaves train or val empty.
    """
    if image_gsd_m is not None and not 0.001 <= image_gsd_m <= 1.0:
        raise DatasetError(f"image GSD {image_gsd_m} m/px is not 0.001..1 m/px")
    jobs = _plan(items, split, image_gsd_m)
    counts = DatasetCounts(unit="images")
    for i, job in enumerate(jobs):
        rng = np.random.default_rng(split.seed + i)
        if job.info is None:
            assert image_gsd_m is not None and job.split is not None  # checked in _plan
            touched = cut_plain_image(
                job.item,
                image_gsd_m,
                card,
                out_dir,
                job.stem,
                job.split,
                counts,
                background_keep=background_keep,
                rng=rng,
            )
        else:
            splitter = (
                block_splitter(
                    job.info,
                    block_m=split.block_m,
                    val_fraction=split.val_fraction,
                    seed=split.seed,
                )
                if job.split is None
                else constant_splitter(job.split)
            )
            touched = cut_raster(
                job.info,
                job.item.boxes,
                card,
                out_dir,
                job.stem,
                splitter,
                counts,
                background_keep=background_keep,
                rng=rng,
            )
        counts.add_source(touched)
    require_both_splits(counts, "change the split (val patterns, fraction, seed or block size)")
    label, params = split.card_entries()
    if split.mode == "blocks":
        params["guard_tiles"] = counts.guard_tiles
    entries: dict[str, Any] = {"split_params": params} if params else {}
    if image_gsd_m is not None:
        entries["image_gsd_m"] = image_gsd_m
    entries.update(details or {})
    data_yaml = write_dataset_files(
        out_dir,
        card,
        counts,
        name=name,
        source=source,
        licence=licence,
        split=label,
        details=entries,
    )
    return data_yaml, counts
