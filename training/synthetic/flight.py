"""Generate one synthetic flight: validate, compose, georeference, write raster and labels."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer
from rasterio.transform import Affine

from training.synthetic.compose import compose_scene
from training.synthetic.scene import WINDOW_PX, SyntheticFlight
from training.synthetic.writer import write_labels, write_raster

log = logging.getLogger(__name__)


def _default_origin(crs: CRS, seed: int) -> tuple[float, float]:
    """An upper-left corner inside the CRS's area of use, near 20.5 N where that is inside."""
    lon, lat = 105.0, 20.5
    if crs.area_of_use is not None:
        w, s, e, n = crs.area_of_use.bounds
        lon = (w + e) / 2
        lat = 20.5 if s <= 20.5 <= n else (s + n) / 2
    x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    jitter = np.random.default_rng([seed % 2**32, 0x0816]).uniform(-2000, 2000, 2)
    return float(round(x + jitter[0])), float(round(y + jitter[1]))


def generate_flight(
    out_dir: Path,
    *,
    seed: int,
    width_px: int = 4096,
    height_px: int = 4096,
    gsd_m: float = 0.02,
    crs: str = "EPSG:32648",
    origin_xy: tuple[float, float] | None = None,
    name: str = "flight",
    nodata_border: bool = True,
    block_px: int = 512,
) -> SyntheticFlight:
    """Compose, render and write one synthetic flight with its labels.

    Args:
        out_dir: Folder for ``<name>.tif`` and ``<name>.labels.geojson`` (created if missing).
        seed: Same seed and arguments give identical pixels and labels.
        width_px: Raster width, pixels.
        height_px: Raster height, pixels.
        gsd_m: Ground sample distance, metres per pixel (square pixels, north up).
        crs: A projected CRS in metres, e.g. ``"EPSG:32648"`` (UTM 48N).
        origin_xy: Upper-left corner (x, y) in ``crs`` units; default: inside the CRS's area
            of use, jittered by seed.
        name: File stem.
        nodata_border: Give the flight an irregular outline; outside it pixels are 0 and the
            file's nodata is 0 (valid pixels are never 0,0,0).
        block_px: Internal tile edge, pixels (a multiple of 16).

    Returns:
        The written paths and the labels (plant boxes and plot rings in raster pixels).

    Raises:
        ValueError: on sizes, block size or a CRS that is not projected in metres.
    """
    if width_px < 64 or height_px < 64:
        raise ValueError("width_px and height_px must be at least 64")
    if block_px < 16 or block_px % 16:
        raise ValueError("block_px must be a positive multiple of 16")
    if not 0.002 <= gsd_m <= 0.5:
        raise ValueError("gsd_m must be between 0.002 and 0.5 metres per pixel")
    crs_obj = CRS.from_user_input(crs)
    unit = crs_obj.axis_info[0].unit_name if crs_obj.axis_info else ""
    if not crs_obj.is_projected or unit not in ("metre", "meter"):
        raise ValueError(f"crs must be a projected CRS in metres, got {crs!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    win = block_px * max(1, WINDOW_PX // block_px)
    t0 = time.perf_counter()
    sc = compose_scene(seed, width_px, height_px, gsd_m, nodata_border, win)
    log.debug(
        "composed %d plants, %d sprites in %.1f s",
        len(sc.plants),
        len(sc.sprites),
        time.perf_counter() - t0,
    )
    x0, y0 = origin_xy if origin_xy is not None else _default_origin(crs_obj, seed)
    transform = Affine(gsd_m, 0.0, x0, 0.0, -gsd_m, y0)
    raster_path = out_dir / f"{name}.tif"
    labels_path = out_dir / f"{name}.labels.geojson"
    tmp = out_dir / f".{name}.{os.getpid()}.tif.tmp"
    workers = min(os.cpu_count() or 1, 4)
    try:
        write_raster(tmp, sc, transform, crs_obj, block_px, nodata_border, workers)
        os.replace(tmp, raster_path)
    finally:
        tmp.unlink(missing_ok=True)
    flight = SyntheticFlight(
        raster_path, labels_path, tuple(sc.plants), tuple(sc.plots), gsd_m, crs_obj.to_string()
    )
    write_labels(labels_path, flight, transform, crs_obj, raster_path.name)
    return flight
