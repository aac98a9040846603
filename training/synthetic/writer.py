"""Write a composed flight: the GeoTIFF, rendered window by window, and its GeoJSON labels.

The raster is tiled (``block_px``), DEFLATE-compressed with a horizontal predictor, with
internal overviews (average) down to one block; nodata is 0 when the flight has an outline.
Windows are rendered in worker processes started from a forkserver (each gets the scene once),
at most ``2 * workers`` ahead of the writer, so memory does not grow with the raster. Labels
are RFC 7946 GeoJSON in WGS84 lon/lat: one Polygon per plant box and per plot, with the
raster pixel box in the properties.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window

from training.synthetic.render import render_window
from training.synthetic.scene import Scene, SyntheticFlight

log = logging.getLogger(__name__)

_SCENE: Scene | None = None  # the scene a worker process renders (sent once per worker)


def _worker_render(r0: int, c0: int, h: int, w: int) -> np.ndarray:
    """Render one window of the worker's scene (in a worker process)."""
    assert _SCENE is not None
    return render_window(_SCENE, r0, c0, h, w)


def _worker_init(scene: Scene) -> None:
    """Keep the scene; one OpenCV thread per worker (the workers are the parallelism)."""
    global _SCENE
    _SCENE = scene
    cv2.setNumThreads(1)


def write_raster(
    path: Path,
    sc: Scene,
    transform: Affine,
    crs: CRS,
    block_px: int,
    nodata_border: bool,
    workers: int,
) -> None:
    """Render ``sc`` window by window into a tiled GeoTIFF at ``path``, then add overviews.

    Args:
        path: Output file (written in place; the caller renames it when done).
        sc: The composed scene.
        transform: Affine of raster pixel corners to ``crs`` coordinates.
        crs: Projected CRS of the raster.
        block_px: Internal tile edge, pixels.
        nodata_border: Set nodata 0 (the flight has an outline).
        workers: Render processes; 1 renders in this process.
    """
    width, height, win = sc.width_px, sc.height_px, sc.win
    windows = [
        (r, c, min(win, height - r), min(win, width - c))
        for r in range(0, height, win)
        for c in range(0, width, win)
    ]
    factors, f = [], 2
    while True:
        factors.append(f)
        if max(width, height) / f <= block_px:
            break
        f *= 2
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs=crs,
        transform=transform,
        tiled=True,
        blockxsize=block_px,
        blockysize=block_px,
        compress="deflate",
        predictor=2,
        interleave="pixel",
        photometric="RGB",
        BIGTIFF="IF_SAFER",
        nodata=0 if nodata_border else None,
    )
    pool = None
    if workers > 1 and len(windows) > 2:
        # Workers come from a fresh forkserver process, never forked from this one: a fork
        # after OpenCV, OpenVINO, PyTorch or GDAL started their native thread pools (which
        # ``threading`` cannot see) can leave the child waiting on a lock forever.
        pool = ProcessPoolExecutor(
            workers,
            multiprocessing.get_context("forkserver"),
            initializer=_worker_init,
            initargs=(sc,),
        )
    t0 = time.perf_counter()
    try:
        pending: deque[Future] = deque()
        with rasterio.Env(
            GDAL_CACHEMAX=256,
            GDAL_NUM_THREADS="ALL_CPUS",
            COMPRESS_OVERVIEW="DEFLATE",
            PREDICTOR_OVERVIEW=2,
            GDAL_TIFF_OVR_BLOCKSIZE=block_px,
        ):
            with rasterio.open(path, "w", **profile) as dst:
                for i, (r, c, h, w) in enumerate(windows):
                    if pool is None:
                        arr = render_window(sc, r, c, h, w)
                    else:
                        while len(pending) < 2 * workers and i + len(pending) < len(windows):
                            pending.append(pool.submit(_worker_render, *windows[i + len(pending)]))
                        arr = pending.popleft().result()
                    dst.write(arr.transpose(2, 0, 1), window=Window(c, r, w, h))
                dst.update_tags(POPPYSCAN_SYNTHETIC=f"seed={sc.seed}", GSD_M=f"{1 / sc.ppm:g}")
            log.debug("rendered %d windows in %.1f s", len(windows), time.perf_counter() - t0)
            t0 = time.perf_counter()
            with rasterio.open(path, "r+") as dst:
                dst.build_overviews(factors, Resampling.average)
                dst.update_tags(ns="rio_overview", resampling="average")
            log.debug("overviews %s in %.1f s", factors, time.perf_counter() - t0)
    finally:
        if pool is not None:
            pool.shutdown()


def _ring_lonlat(ring_px: np.ndarray, transform: Affine, to_wgs: Transformer) -> list:
    """Closed, counterclockwise lon/lat ring (rounded to 1e-9 degrees) of a pixel ring."""
    xs = transform.c + ring_px[:, 0] * transform.a
    ys = transform.f + ring_px[:, 1] * transform.e
    lon, lat = to_wgs.transform(xs, ys)
    pts = np.round(np.column_stack([lon, lat]), 9)
    area = np.sum(pts[:, 0] * np.roll(pts[:, 1], -1) - np.roll(pts[:, 0], -1) * pts[:, 1])
    if area < 0:  # RFC 7946: exterior rings counterclockwise
        pts = pts[::-1]
    return [*pts.tolist(), pts[0].tolist()]


def write_labels(
    path: Path, flight: SyntheticFlight, transform: Affine, crs: CRS, raster_name: str
) -> None:
    """Write the flight's plant boxes and plot rings as GeoJSON at ``path`` (atomically).

    Args:
        path: Output ``.labels.geojson`` file.
        flight: The flight's labels (raster pixels), GSD and CRS.
        transform: Affine of raster pixel corners to ``crs`` coordinates.
        crs: Projected CRS of the raster.
        raster_name: File name of the raster, recorded in the document.
    """
    to_wgs = Transformer.from_crs(crs, 4326, always_xy=True)
    feats = []
    for p in flight.plants:
        ring = np.array(
            [
                [p.col0_px, p.row0_px],
                [p.col1_px, p.row0_px],
                [p.col1_px, p.row1_px],
                [p.col0_px, p.row1_px],
            ]
        )
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [_ring_lonlat(ring, transform, to_wgs)],
                },
                "properties": {
                    "kind": "plant",
                    "class": p.cls,
                    "stage": p.stage,
                    "plot_id": p.plot_id,
                    "bbox_px": [round(v, 3) for v in (p.col0_px, p.row0_px, p.col1_px, p.row1_px)],
                },
            }
        )
    for q in flight.plots:
        ring = np.asarray(q.polygon_px, float)
        feats.append(
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [_ring_lonlat(ring, transform, to_wgs)],
                },
                "properties": {
                    "kind": "plot",
                    "class": q.cls,
                    "stage": q.stage,
                    "plot_id": q.plot_id,
                    "plant_count": q.plant_count,
                },
            }
        )
    doc = {
        "type": "FeatureCollection",
        "features": feats,
        "poppyscan": {
            "synthetic": True,
            "raster": raster_name,
            "gsd_m": flight.gsd_m,
            "crs": flight.crs,
        },
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    os.replace(tmp, path)
