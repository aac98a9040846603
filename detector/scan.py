"""Scan an orthomosaic: raster in, georeferenced suspected plots out.

The hot path (see DESIGN.md): validate the raster, plan tile windows at the model's ground
sample distance, drop windows with no valid pixels using the overview mask, decode tiles on
reader threads into a bounded queue, run the model in batches on this thread, shift boxes to
raster pixels, merge across seams, group plants into plots with real-world coordinates and
optionally cut evidence chips. Memory does not grow with the raster's size.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.backends import Detector, detect_stream, load_detector
from detector.card import ModelCard
from detector.chips import write_chips
from detector.detections import Detection, tile_boxes_to_detections
from detector.errors import RasterError, ScanCancelled
from detector.feeder import SkippedWindow, TileFeeder
from detector.georef import Georeferencer
from detector.merge import DEFAULT_MIN_OVERLAP, merge_detections
from detector.openvino_detector import DEFAULT_PRECISION
from detector.plots import DEFAULT_MAX_GAP_M, Plot, group_into_plots
from detector.provenance import raster_fingerprint, software_version, utc_now
from detector.raster import (
    RasterInfo,
    coarse_valid_mask,
    inspect_raster,
    window_may_be_valid,
)
from detector.tiling import TilePlan, TileWindow, plan_windows

log = logging.getLogger(__name__)

# A raster whose GSD is within this fraction of the model's is read at its native resolution:
# a 5% scale difference does not change what the model sees, and resampling costs CPU.
DEFAULT_GSD_TOLERANCE = 0.05

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class ScanStats:
    """Counters of one scan.

    Attributes:
        tiles_total: Windows planned over the raster.
        tiles_skipped: Windows with no valid pixel (never sent to the model).
        tiles_scanned: Tiles the model ran on.
        detections_raw: Boxes before the cross-tile merge.
        elapsed_s: Wall time of the whole scan, seconds.
        model_s: Time the scan's thread waited on the model, seconds (tiles stream through
            it: the model also runs while the thread merges and waits for tiles).
        wait_s: Time the scan's thread waited for decoded tiles, seconds.
    """

    tiles_total: int
    tiles_skipped: int
    tiles_scanned: int
    detections_raw: int
    elapsed_s: float
    model_s: float
    wait_s: float


@dataclass(frozen=True)
class ScanResult:
    """Everything a scan found, with what is needed to trust it.

    Attributes:
        info: The scanned raster.
        card: The model's card.
        detections: One detection per plant, raster pixels.
        plots: Suspected plots, highest confidence first.
        provenance: Model, raster fingerprint, thresholds, software version, time.
        stats: Tile and timing counters.
        chips: Evidence chip path by plot id (empty when no chip directory was given).
    """

    info: RasterInfo
    card: ModelCard
    detections: tuple[Detection, ...]
    plots: tuple[Plot, ...]
    provenance: dict[str, Any]
    stats: ScanStats
    chips: dict[int, Path] = field(default_factory=dict)


def plan_for(info: RasterInfo, card: ModelCard, gsd_tolerance: float) -> TilePlan:
    """Plan the tile windows of ``info`` at the model card's GSD."""
    scale_col = card.gsd_m / info.gsd_col_m
    scale_row = card.gsd_m / info.gsd_row_m
    if abs(scale_col - 1) <= gsd_tolerance and abs(scale_row - 1) <= gsd_tolerance:
        scale_col = scale_row = 1.0
    if min(scale_col, scale_row) < 0.25:
        log.warning(
            "raster GSD %.3f m is over 4x coarser than the model's %.3f m: small plants will "
            "be missed; fly lower for this model",
            info.gsd_m,
            card.gsd_m,
        )
    return plan_windows(
        info.height_px,
        info.width_px,
        tile_size_px=card.tile_size_px,
        overlap_px=card.overlap_px,
        scale_row=scale_row,
        scale_col=scale_col,
        block_shape_px=info.block_shape_px,
    )


def scan(
    path: str | os.PathLike[str],
    model: str | os.PathLike[str] | Detector | None = None,
    *,
    conf: float | None = None,
    device: str = "auto",
    backend: str = "auto",
    precision: str = DEFAULT_PRECISION,
    bands: tuple[int, int, int] | None = None,
    chips_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
    batch_size: int = 4,
    reader_threads: int = 1,
    plot_max_gap_m: float = DEFAULT_MAX_GAP_M,
    merge_min_overlap: float = DEFAULT_MIN_OVERLAP,
    gsd_tolerance: float = DEFAULT_GSD_TOLERANCE,
) -> ScanResult:
    """Scan one orthomosaic for suspected poppy and cannabis plots.

    Args:
        path: The raster (GeoTIFF or anything GDAL reads), georeferenced, RGB(A), 8/16-bit.
        model: Weights path (``.pt``, ``.onnx``, OpenVINO folder), a ready detector, or None
            for the shipped default model.
        conf: Confidence threshold, 0..1; the model card's when None.
        device: ``"auto"``, ``"cpu"`` or ``"cuda:N"``.
        backend: ``"auto"``, ``"pytorch"``, ``"onnx"`` or ``"openvino"``.
        precision: OpenVINO precision: ``"fast"`` (default: bfloat16 where the CPU has it,
            1.6-2.4x faster than f32, boxes within a few pixels), ``"f32"`` (the same boxes
            on every machine) or ``"int8"`` (the model's quantised export).
        bands: 1-based (red, green, blue) band indexes, overriding colour interpretation.
        chips_dir: Write one JPEG evidence chip per plot here.
        progress: Called as ``progress(tiles_done, tiles_total)`` after every batch.
        cancel: Polled between batches; returning True stops the scan with ScanCancelled.
        batch_size: Tiles per model call.
        reader_threads: Threads decoding tiles ahead of the model. One is the default: it
            reads windows in row-major order through one dataset handle, so every file
            block is decoded once (GDAL's block cache is per handle; two handles would
            decode the blocks shared by overlapping windows twice), and on a CPU the model
            needs the cores more. More threads help with slow storage or heavy compression
            on machines with spare cores.
        plot_max_gap_m: Plants closer than this (metres) share a plot.
        merge_min_overlap: Overlap (of the smaller box) at which boxes from neighbouring
            tiles are one plant.
        gsd_tolerance: Relative GSD difference under which tiles are read unresampled.

    Raises:
        RasterError: bad raster (unreadable, corrupt, not georeferenced, no valid pixels).
        ModelError: bad model file or card.
        ScanCancelled: ``cancel`` returned True.
    """
    started = time.perf_counter()
    info = inspect_raster(path, bands=bands)
    # Before the model loads (seconds, or minutes for a first OpenVINO export): an all-nodata
    # raster fails here at once.
    coarse = coarse_valid_mask(info)
    detector = load_detector(model, device=device, backend=backend, conf=conf, precision=precision)
    card = detector.card
    threshold = card.conf_threshold if conf is None else conf
    plan = plan_for(info, card, gsd_tolerance)
    windows = [w for w in plan if coarse is None or window_may_be_valid(w, coarse)]
    skipped = len(plan) - len(windows)
    total = len(plan)
    done = skipped
    scanned = 0
    wait_s = 0.0
    raw: list[Detection] = []
    if progress:
        progress(done, total)

    with TileFeeder(
        info, windows, card.tile_size_px, threads=reader_threads, queue_tiles=2 * batch_size + 2
    ) as feeder:

        def decoded_tiles() -> Iterator[tuple[TileWindow, np.ndarray]]:
            """The feeder's tiles for the model; windows found empty are counted done."""
            nonlocal wait_s, skipped, done
            t_wait = time.perf_counter()
            for item in feeder:
                wait_s += time.perf_counter() - t_wait
                if isinstance(item, SkippedWindow):
                    skipped += 1
                    done += 1
                else:
                    yield item.window, item.rgb
                t_wait = time.perf_counter()

        t_stream = time.perf_counter()
        for window, boxes in detect_stream(detector, decoded_tiles(), batch_size):
            raw.extend(tile_boxes_to_detections(boxes, window, card.classes, threshold))
            scanned += 1
            done += 1
            if scanned % batch_size == 0:
                if progress:
                    progress(done, total)
                if cancel and cancel():
                    raise ScanCancelled(f"scan of {info.path} cancelled at {done}/{total} tiles")
        model_s = time.perf_counter() - t_stream - wait_s
    if progress:
        progress(done, total)
    if scanned == 0:
        raise RasterError(f"{info.path} has no valid pixels (all nodata or transparent)")

    raw.sort(key=lambda d: (d.tile_index, d.row0_px, d.col0_px))
    merged = merge_detections(raw, merge_min_overlap)
    plots = group_into_plots(merged, Georeferencer(info), plot_max_gap_m)
    chips = write_chips(info, plots, Path(chips_dir)) if chips_dir is not None and plots else {}
    stats = ScanStats(
        tiles_total=total,
        tiles_skipped=skipped,
        tiles_scanned=scanned,
        detections_raw=len(raw),
        elapsed_s=time.perf_counter() - started,
        model_s=model_s,
        wait_s=wait_s,
    )
    provenance = {
        "software": f"poppyscan {software_version()}",
        "created_utc": utc_now(),
        "model": {
            "name": card.name,
            "version": card.version,
            "sha256": detector.sha256,
            "runtime": detector.name,
            "classes": list(card.classes),
            "gsd_m": card.gsd_m,
            "tile_size_px": card.tile_size_px,
            "overlap_px": card.overlap_px,
        },
        "raster": {
            "path": info.path,
            "fingerprint": raster_fingerprint(info.path),
            "crs": info.crs_label,
            "gsd_m": round(info.gsd_m, 5),
            "width_px": info.width_px,
            "height_px": info.height_px,
            "bands": list(info.rgb_bands),
        },
        "thresholds": {
            "confidence": threshold,
            "nms_iou": card.iou_threshold,
            "merge_min_overlap": merge_min_overlap,
            "plot_max_gap_m": plot_max_gap_m,
        },
        "stats": {
            "tiles_total": total,
            "tiles_skipped": skipped,
            "tiles_scanned": scanned,
            "elapsed_s": round(stats.elapsed_s, 2),
        },
    }
    return ScanResult(info, card, tuple(merged), tuple(plots), provenance, stats, chips)
