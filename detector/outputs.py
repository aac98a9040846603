"""Write scan results: GeoJSON, GeoPackage, KML, GPX, CSV — each with provenance.

Every writer renders to a temporary file beside the target and renames it into place, so an
interrupted or failed run never leaves a half-written output. GeoJSON, KML and GPX are in
WGS84 lon/lat (RFC 7946 / KML 2.2 / GPX 1.1); the GeoPackage keeps the raster's own CRS.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from detector.errors import OutputError
from detector.formats import Place, csv_text, gpx_document, kml_document, polygon_feature
from detector.georef import Georeferencer
from detector.plots import Plot
from detector.scan import ScanResult

FORMATS = ("geojson", "gpkg", "kml", "gpx", "csv")
_SUFFIXES = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".kml": "kml",
    ".gpx": "gpx",
    ".csv": "csv",
}
_COORD_DECIMALS = 8  # about 1 mm at the equator


def format_for(path: Path, fmt: str | None = None) -> str:
    """Return the output format named by ``fmt`` or, if None, by the file suffix."""
    chosen = fmt or _SUFFIXES.get(path.suffix.lower())
    if chosen not in FORMATS:
        raise OutputError(
            f"cannot tell the output format of {path.name}; use --format with one of "
            f"{', '.join(FORMATS)}"
        )
    return chosen


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path, start)
    except ValueError:  # different drives
        return str(path)


PLOT_FIELDS = (
    "plot_id",
    "class",
    "plant_count",
    "area_m2",
    "max_confidence",
    "mean_confidence",
    "centroid_lon",
    "centroid_lat",
    "centroid_x",
    "centroid_y",
    "crs",
    "chip",
)


def plot_properties(plot: Plot, result: ScanResult, out_dir: Path) -> dict[str, Any]:
    """Flat, user-facing attributes of a plot (shared by every format)."""
    chip = result.chips.get(plot.plot_id)
    return {
        "plot_id": plot.plot_id,
        "class": plot.class_name,
        "plant_count": plot.plant_count,
        "area_m2": round(plot.area_m2, 2),
        "max_confidence": round(plot.max_confidence, 4),
        "mean_confidence": round(plot.mean_confidence, 4),
        "centroid_lon": round(plot.centroid_lon, _COORD_DECIMALS),
        "centroid_lat": round(plot.centroid_lat, _COORD_DECIMALS),
        "centroid_x": round(plot.centroid_x, 3),
        "centroid_y": round(plot.centroid_y, 3),
        "crs": result.info.crs_label,
        "chip": _relative(chip, out_dir) if chip else None,
    }


def _plants(plot: Plot, geo: Georeferencer) -> list[dict[str, Any]]:
    cols = np.array([d.centre_px[0] for d in plot.detections])
    rows = np.array([d.centre_px[1] for d in plot.detections])
    lons, lats = geo.pixel_to_lonlat(cols, rows)
    return [
        {
            "lon": round(float(lon), _COORD_DECIMALS),
            "lat": round(float(lat), _COORD_DECIMALS),
            "confidence": round(d.confidence, 4),
            "box_px": [round(v, 2) for v in (d.col0_px, d.row0_px, d.col1_px, d.row1_px)],
        }
        for d, lon, lat in zip(plot.detections, lons.tolist(), lats.tolist(), strict=True)
    ]


def render_geojson(result: ScanResult, out_dir: Path) -> str:
    """RFC 7946 FeatureCollection of plot polygons with members and provenance."""
    geo = Georeferencer(result.info)
    features = []
    for plot in result.plots:
        props = plot_properties(plot, result, out_dir)
        props["plants"] = _plants(plot, geo)
        features.append(polygon_feature(plot.plot_id, plot.ring_lonlat, props, _COORD_DECIMALS))
    collection = {
        "type": "FeatureCollection",
        "provenance": result.provenance,
        "features": features,
    }
    return json.dumps(collection, indent=1)


def render_csv(result: ScanResult, out_dir: Path) -> str:
    """One row per plot; provenance repeated in columns so every row stands alone."""
    prov = result.provenance
    extra = {
        "model": f"{prov['model']['name']} {prov['model']['version']}",
        "model_sha256": prov["model"]["sha256"],
        "raster_fingerprint": prov["raster"]["fingerprint"],
        "raster_gsd_m": prov["raster"]["gsd_m"],
        "model_gsd_m": prov["model"]["gsd_m"],
        "conf_threshold": prov["thresholds"]["confidence"],
        "plot_max_gap_m": prov["thresholds"]["plot_max_gap_m"],
        "scanned_utc": prov["created_utc"],
        "software": prov["software"],
    }
    rows = [plot_properties(p, result, out_dir) | extra for p in result.plots]
    return csv_text(rows, [*PLOT_FIELDS, *extra])


def _description(plot: Plot) -> str:
    return (
        f"{plot.class_name}, {plot.plant_count} plant(s), {plot.area_m2:.1f} m², "
        f"confidence max {plot.max_confidence:.2f} / mean {plot.mean_confidence:.2f}"
    )


def _place(plot: Plot) -> Place:
    return Place(
        name=f"Plot {plot.plot_id}",
        kml_name=f"Plot {plot.plot_id} ({plot.class_name})",
        description=_description(plot),
        category=plot.class_name,
        lon=plot.centroid_lon,
        lat=plot.centroid_lat,
        ring=plot.ring_lonlat,
    )


def render_kml(result: ScanResult, out_dir: Path) -> str:
    """KML 2.2 document: a placemark per plot with its point and outline."""
    return kml_document(
        f"poppyscan suspects — {Path(result.info.path).name}",
        json.dumps(result.provenance),
        (_place(plot) for plot in result.plots),
    )


def render_gpx(result: ScanResult, out_dir: Path) -> str:
    """GPX 1.1 with one waypoint per plot (what a handheld GPS or phone app imports)."""
    return gpx_document(
        "poppyscan suspects",
        json.dumps(result.provenance),
        (_place(plot) for plot in result.plots),
    )


def _write_gpkg(result: ScanResult, path: Path, out_dir: Path) -> None:
    """GeoPackage in the raster's CRS: layer ``plots`` (outlines) and ``plants`` (boxes)."""
    from pyogrio.raw import write

    geo = Georeferencer(result.info)
    crs = result.info.crs_wkt
    meta = {"poppyscan_provenance": json.dumps(result.provenance)}
    props = [plot_properties(p, result, out_dir) for p in result.plots]
    # The layer's geometry is already in the raster's CRS; its x/y/crs columns would repeat it.
    names = [n for n in PLOT_FIELDS if n not in ("centroid_x", "centroid_y", "crs")]
    polygons = shapely.to_wkb([shapely.Polygon(p.ring_map) for p in result.plots])
    # Explicit types: an empty scan must still write text columns as text, not as REAL.
    text = {"class", "chip"}
    columns = [
        np.array(
            [row[n] if row[n] is not None else "" for row in props],
            dtype=str if n in text else np.int64 if n in ("plot_id", "plant_count") else float,
        )
        for n in names
    ]
    write(
        str(path),
        np.asarray(polygons, dtype=object),
        columns,
        names,
        layer="plots",
        driver="GPKG",
        geometry_type="Polygon",
        crs=crs,
        dataset_metadata=meta,
    )
    plants = [(p.plot_id, d) for p in result.plots for d in p.detections]
    boxes = []
    for _, d in plants:
        xs, ys = geo.pixel_to_map(
            [d.col0_px, d.col1_px, d.col1_px, d.col0_px],
            [d.row0_px, d.row0_px, d.row1_px, d.row1_px],
        )
        boxes.append(shapely.Polygon(zip(xs, ys, strict=True)))
    write(
        str(path),
        np.asarray(shapely.to_wkb(boxes), dtype=object),
        [
            np.array([pid for pid, _ in plants], dtype=np.int64),
            np.array([d.class_name for _, d in plants], dtype=str),
            np.array([d.confidence for _, d in plants], dtype=np.float64),
        ],
        ["plot_id", "class", "confidence"],
        layer="plants",
        driver="GPKG",
        geometry_type="Polygon",
        crs=crs,
        append=True,
    )


_TEXT_RENDERERS: dict[str, Callable[[ScanResult, Path], str]] = {
    "geojson": render_geojson,
    "kml": render_kml,
    "gpx": render_gpx,
    "csv": render_csv,
}


def write_output(result: ScanResult, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``result`` to ``path`` atomically in ``fmt`` (or the format its suffix names).

    Raises:
        OutputError: unknown format or unwritable location.
    """
    target = Path(path)
    chosen = format_for(target, fmt)
    out_dir = target.parent.resolve()
    if not out_dir.is_dir():
        raise OutputError(f"output directory {target.parent} does not exist")
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    try:
        if chosen == "gpkg":
            _write_gpkg(result, tmp, out_dir)
        else:
            tmp.write_text(_TEXT_RENDERERS[chosen](result, out_dir), encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
