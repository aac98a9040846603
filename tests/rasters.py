"""Synthetic test rasters with real CRSs and transforms.

Tests build the rasters they need with :func:`write_raster`: a textured green "field" in a
real CRS at a known ground sample distance, with marker blobs painted at known pixels. The
marker colour is what :class:`detector.backends.FakeDetector` reports, so every test knows the
exact answer a scan must give. The background never comes near the marker colour (green is
always the brightest band), so it never produces a detection, before or after a 16-bit
percentile stretch.

Run as a script to write a sample set for eyeballing in a GIS::

    python tests/rasters.py OUT_DIR
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS, Geod, Transformer
from rasterio.enums import ColorInterp

MAGENTA = (255, 0, 255)
# Marker for 16-bit rasters whose values span 0..4095 (12-bit sensors).
MAGENTA_12BIT = (4095, 0, 4095)
# A place where poppy is grown, inside UTM zone 48N (EPSG:32648): northern Laos.
SITE_LON, SITE_LAT = 104.5, 20.5

Painter = Callable[[np.ndarray], None]
_GEOD = Geod(ellps="WGS84")


def crs_units_per_metre(crs: CRS | str | int, lon: float, lat: float) -> tuple[float, float]:
    """CRS units per ground metre ``(east, north)`` at ``(lon, lat)``.

    Measured by stepping 1 m east and north on the WGS84 ellipsoid, so it is right for
    projected CRSs, geographic CRSs (degrees) and Web Mercator (whose units grow with 1/cos φ).
    """
    to_crs = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)
    x0, y0 = to_crs.transform(lon, lat)
    lon_e, lat_e, _ = _GEOD.fwd(lon, lat, 90.0, 1.0)
    lon_n, lat_n, _ = _GEOD.fwd(lon, lat, 0.0, 1.0)
    x_e, _ = to_crs.transform(lon_e, lat_e)
    _, y_n = to_crs.transform(lon_n, lat_n)
    return abs(x_e - x0), abs(y_n - y0)


def transform_at(
    crs: CRS | str | int, gsd_m: float, lon: float = SITE_LON, lat: float = SITE_LAT
) -> Affine:
    """North-up pixel-corner transform with its top-left corner at ``(lon, lat)``.

    Pixels are ``gsd_m`` metres on the ground along both axes, whatever the CRS's units.
    """
    to_crs = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_user_input(crs), always_xy=True)
    x0, y0 = to_crs.transform(lon, lat)
    per_m_x, per_m_y = crs_units_per_metre(crs, lon, lat)
    return Affine(gsd_m * per_m_x, 0.0, x0, 0.0, -gsd_m * per_m_y, y0)


def field_background(height: int, width: int, *, value_max: int = 255, seed: int = 0) -> np.ndarray:
    """A textured green field, ``(3, height, width)`` float32 in ``0..value_max``.

    The three bands are one smooth brightness field times fixed ratios (plus a little noise),
    so green is always clearly the brightest band: no pixel is near magenta, before or after
    a per-band percentile stretch.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.random((max(2, height // 32), max(2, width // 32)), dtype=np.float32)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    brightness = 0.35 + 0.4 * np.clip(smooth, 0.0, 1.0)  # 0.35..0.75 of value_max
    noise = rng.standard_normal(size=(3, height, width), dtype=np.float32) * 0.01
    ratios = np.array([0.55, 1.0, 0.4], dtype=np.float32)[:, None, None]
    return np.clip((brightness[None] * ratios + noise) * value_max, 0, value_max)


def square(
    data: np.ndarray,
    row: int,
    col: int,
    height: int,
    width: int | None = None,
    rgb: Sequence[int] = MAGENTA,
    bands: Sequence[int] = (0, 1, 2),
) -> None:
    """Paint an axis-aligned rectangle of colour ``rgb`` (pixel rows ``row..row+height``)."""
    width = height if width is None else width
    for band, value in zip(bands, rgb, strict=True):
        data[band, row : row + height, col : col + width] = value


def disc(
    data: np.ndarray,
    row: float,
    col: float,
    radius: float,
    rgb: Sequence[int] = MAGENTA,
    bands: Sequence[int] = (0, 1, 2),
) -> None:
    """Paint a filled disc centred on pixel-corner coordinate ``(row, col)``."""
    rows, cols = np.ogrid[: data.shape[1], : data.shape[2]]
    inside = (rows + 0.5 - row) ** 2 + (cols + 0.5 - col) ** 2 <= radius**2
    for band, value in zip(bands, rgb, strict=True):
        data[band][inside] = value


def squares(*boxes: tuple[int, int, int], rgb: Sequence[int] = MAGENTA) -> Painter:
    """A painter of square marker blobs given as ``(row, col, size)``."""

    def paint(data: np.ndarray) -> None:
        for row, col, size in boxes:
            square(data, row, col, size, rgb=rgb)

    return paint


def write_raster(
    path: str | Path,
    *,
    crs: CRS | str | int = "EPSG:32648",
    transform: Affine | None = None,
    gsd_m: float = 0.02,
    width: int = 512,
    height: int = 512,
    dtype: str = "uint8",
    count: int = 3,
    tiled: bool = True,
    block: int = 256,
    striped: bool = False,
    rows_per_strip: int = 16,
    nodata: float | None = None,
    alpha: bool = False,
    photometric: str | None = None,
    colorinterp: Sequence[ColorInterp] | None = None,
    compress: str | None = "deflate",
    value_max: int | None = None,
    paint: Painter | None = None,
    valid_mask: np.ndarray | None = None,
    seed: int = 0,
    overviews: Sequence[int] = (),
) -> Path:
    """Write a synthetic GeoTIFF and return its path.

    Args:
        path: Output file.
        crs: Any CRS pyproj understands.
        transform: Pixel-corner affine transform; default: north-up at the test site with
            ``gsd_m`` metres per pixel on the ground.
        gsd_m: Ground sample distance used when ``transform`` is None.
        width: Width, pixels.
        height: Height, pixels.
        dtype: Band data type.
        count: Number of bands, alpha included.
        tiled: Internally tiled (``block`` x ``block``); ignored when ``striped``.
        block: Tile edge, pixels (multiple of 16).
        striped: Strip layout with ``rows_per_strip`` rows per strip.
        rows_per_strip: Strip height when ``striped``.
        nodata: Nodata value recorded in the file.
        alpha: Make the last band an alpha band (initialised fully opaque).
        photometric: GeoTIFF PHOTOMETRIC creation option (e.g. ``"RGB"``, ``"MINISBLACK"``).
        colorinterp: Colour interpretation of every band, set after writing.
        compress: Compression (None for uncompressed).
        value_max: Brightest background value; default 255 for uint8, 4095 otherwise.
        paint: Called with the ``(count, height, width)`` array to paint markers, holes, ...
        valid_mask: ``(height, width)`` bools written as the file's internal mask band
            (GDAL's per-dataset mask: no nodata value, no alpha band).
        seed: Background texture seed.
        overviews: Overview factors to build (e.g. ``(2, 4)``).
    """
    path = Path(path)
    if transform is None:
        transform = transform_at(crs, gsd_m)
    if value_max is None:
        value_max = 255 if dtype == "uint8" else 4095
    data = np.zeros((count, height, width), dtype=np.float32)
    colour = field_background(height, width, value_max=value_max, seed=seed)
    for band in range(count - (1 if alpha else 0)):
        data[band] = colour[band % 3]
    if alpha:
        data[count - 1] = value_max
    if paint is not None:
        paint(data)
    profile: dict[str, object] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": dtype,
        "crs": CRS.from_user_input(crs).to_wkt(),
        "transform": transform,
    }
    if striped:
        profile.update(tiled=False, blockysize=rows_per_strip)
    elif tiled:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    if compress:
        profile["compress"] = compress
    if nodata is not None:
        profile["nodata"] = nodata
    if photometric:
        profile["photometric"] = photometric
    if alpha:
        profile["alpha"] = "YES" if count == 4 else "UNSPECIFIED"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.rint(data).astype(dtype))
        if valid_mask is not None:
            dst.write_mask(np.where(valid_mask, 255, 0).astype(np.uint8))
        if colorinterp is not None:
            dst.colorinterp = list(colorinterp)
        elif alpha:
            interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue][: count - 1]
            interp += [ColorInterp.undefined] * (count - 1 - len(interp))
            dst.colorinterp = [*interp, ColorInterp.alpha]
        if overviews:
            dst.build_overviews(list(overviews))
    return path


def truncate(path: str | Path, keep_fraction: float) -> Path:
    """Cut a file to ``keep_fraction`` of its size (a copy interrupted mid-transfer)."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(int(size * keep_fraction))
    return path


def _write_samples(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    plants = squares((100, 100, 24), (240, 300, 16))
    return [
        write_raster(out_dir / "utm48n_rgb.tif", paint=plants),
        write_raster(out_dir / "utm48n_rgba.tif", count=4, alpha=True, paint=plants),
        write_raster(
            out_dir / "utm48n_uint16.tif",
            dtype="uint16",
            paint=squares((100, 100, 24), rgb=MAGENTA_12BIT),
        ),
        write_raster(out_dir / "utm48n_striped.tif", striped=True, paint=plants),
        write_raster(out_dir / "wgs84.tif", crs="EPSG:4326", paint=plants),
        write_raster(out_dir / "cgcs2000.tif", crs="EPSG:4490", paint=plants),
        write_raster(
            out_dir / "webmercator_lat30.tif",
            crs="EPSG:3857",
            transform=transform_at("EPSG:3857", 0.02, lon=104.5, lat=30.0),
            paint=plants,
        ),
    ]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/rasters.py OUT_DIR")
    for written in _write_samples(Path(sys.argv[1])):
        print(written)
