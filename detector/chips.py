"""Evidence chips: one JPEG per plot, showing the plants and their surroundings.

A patrol recognises a place by its context — a wall, a path, a roof — so a chip shows the
plot with a margin at native resolution (downsampled only when the plot is large), with every
detected plant boxed and the plot outlined.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from detector.errors import OutputError
from detector.plots import Plot
from detector.raster import RasterInfo, RasterReader

# Ground margin around a plot's plants, metres; and the smallest chip side, metres.
CHIP_MARGIN_M = 3.0
CHIP_MIN_SIDE_M = 8.0
CHIP_MAX_SIDE_PX = 1024
JPEG_QUALITY = 90
_CLASS_COLOURS_BGR = {"poppy": (40, 40, 255), "cannabis": (0, 200, 255)}


def chip_filename(plot_id: int) -> str:
    """File name of a plot's chip."""
    return f"plot_{plot_id:05d}.jpg"


def write_chips(info: RasterInfo, plots: list[Plot], out_dir: Path) -> dict[int, Path]:
    """Write one JPEG chip per plot into ``out_dir``.

    Each file is written under a temporary name and renamed, so a failed run leaves no
    half-written JPEG.

    Returns:
        Chip path by plot id.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create chip directory {out_dir}: {exc.strerror}") from exc
    chips: dict[int, Path] = {}
    margin_px = CHIP_MARGIN_M / info.gsd_m
    min_side_px = CHIP_MIN_SIDE_M / info.gsd_m
    with RasterReader(info, tile_size_px=1) as reader:
        for plot in plots:
            col0, row0, col1, row1 = plot.bbox_px
            side_w = max(col1 - col0 + 2 * margin_px, min_side_px)
            side_h = max(row1 - row0 + 2 * margin_px, min_side_px)
            c_col, c_row = (col0 + col1) / 2, (row0 + row1) / 2
            top, left = int(c_row - side_h / 2), int(c_col - side_w / 2)
            top, left = max(0, top), max(0, left)
            rgb = reader.read_region_rgb(top, left, int(side_h), int(side_w), CHIP_MAX_SIDE_PX)
            scale = rgb.shape[1] / max(1, min(int(side_w), info.width_px - left))
            image = np.ascontiguousarray(rgb[..., ::-1])
            colour = _CLASS_COLOURS_BGR.get(plot.class_name, (255, 255, 255))
            for det in plot.detections:
                p0 = (round((det.col0_px - left) * scale), round((det.row0_px - top) * scale))
                p1 = (round((det.col1_px - left) * scale), round((det.row1_px - top) * scale))
                cv2.rectangle(image, p0, p1, colour, 2)
            path = out_dir / chip_filename(plot.plot_id)
            tmp = path.with_name(f".{path.name}.tmp.jpg")
            if not cv2.imwrite(str(tmp), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                tmp.unlink(missing_ok=True)
                raise OutputError(f"cannot write chip {path}")
            os.replace(tmp, path)
            chips[plot.plot_id] = path
    return chips
