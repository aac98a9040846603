"""Web map tiles rendered on the fly from a flight's own GeoTIFF, so the map works offline.

Tiles are Web Mercator XYZ (256 px PNG with transparency outside the data), read through
rio-tiler, which uses the file's overviews at low zoom. Band choice and the 16-bit stretch are
the scanner's (:func:`detector.raster.inspect_raster`), so the map shows what the model saw.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

# rio-tiler is imported here, once, not inside render_tile: tiles render on worker threads,
# and concurrent first imports of rio_tiler race on its circular imports.
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader

from detector.raster import RasterInfo, inspect_raster

TILE_PX = 256
MAX_ZOOM = 24  # about 1 cm per pixel at the equator


@lru_cache(maxsize=64)
def _info(path: str, mtime_ns: int) -> RasterInfo:
    return inspect_raster(path)


def raster_info(path: Path) -> RasterInfo:
    """The validated raster description, cached per file version."""
    return _info(str(path), path.stat().st_mtime_ns)


def render_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """PNG bytes of XYZ tile ``z/x/y`` of the raster, or None where the raster has no data.

    Raises:
        detector.errors.RasterError: the file is not a readable georeferenced raster.
    """
    info = raster_info(path)
    with Reader(str(path)) as src:
        try:
            image = src.tile(x, y, z, tilesize=TILE_PX, indexes=list(info.rgb_bands))
        except TileOutsideBounds:
            return None
    if image.data.dtype != "uint8":
        ranges = tuple(zip(info.stretch_low, info.stretch_high, strict=True))
        image = image.rescale(in_range=ranges)
    if not image.mask.any():
        return None
    return image.render(img_format="PNG", add_mask=True)
