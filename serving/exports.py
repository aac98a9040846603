"""Plots from the database as GeoJSON, KML, GPX and CSV (for maps, GPS units and sheets).

The GeoJSON feature built here is also what the suspect list returns, so a map shows the
same properties whichever way it got them. KML, GPX and CSV go through the record writers
of :mod:`detector.formats`, shared with the command-line scanner's outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from detector.formats import Place, csv_text, gpx_document, kml_document
from serving.models import Plot
from serving.schemas.plots import (
    ExportFormat,
    PolygonGeometry,
    SuspectFeature,
    SuspectProperties,
)

# The map properties that are plot columns of the same name (all but ``chip_url``).
PROPERTY_COLUMNS: Final = tuple(
    name for name in SuspectProperties.model_fields if name != "chip_url"
)
# CSV columns: the map properties, then the bounding box, WGS84 degrees.
CSV_FIELDS: Final = (*PROPERTY_COLUMNS, "chip_url", "min_lon", "min_lat", "max_lon", "max_lat")


def chip_url_of(plot_id: int, chip_path: str) -> str | None:
    """API path of plot ``plot_id``'s evidence chip, None when it has none (no
    ``chip_path``)."""
    return f"/api/suspects/{plot_id}/chip" if chip_path else None


def chip_url(plot: Plot) -> str | None:
    """API path of the plot's evidence chip, None when it has none."""
    return chip_url_of(plot.id, plot.chip_path)


def plot_feature(plot: Plot) -> SuspectFeature:
    """One plot as an RFC 7946 Feature (WGS84 lon/lat polygon, map properties)."""
    properties = SuspectProperties.model_validate(
        {**{name: getattr(plot, name) for name in PROPERTY_COLUMNS}, "chip_url": chip_url(plot)}
    )
    geometry = PolygonGeometry.model_validate(json.loads(plot.geometry_geojson))
    return SuspectFeature(id=plot.id, geometry=geometry, properties=properties)


@dataclass(frozen=True)
class Export:
    """A rendered export.

    Attributes:
        content: The document.
        media_type: Its MIME type.
        filename: A file name to save it as.
    """

    content: str
    media_type: str
    filename: str


def _description(plot: Plot) -> str:
    unit = f", unit {plot.assigned_unit}" if plot.assigned_unit else ""
    return (
        f"{plot.class_name}, {plot.status}, {plot.plant_count} plant(s) detected, "
        f"{plot.area_m2:.1f} m², confidence {plot.confidence:.2f}, flight {plot.flight_id}{unit}"
    )


def _place(plot: Plot) -> Place:
    ring = json.loads(plot.geometry_geojson)["coordinates"][0]
    return Place(
        name=f"Plot {plot.id}",
        description=_description(plot),
        category=plot.class_name,
        lon=plot.centroid_lon,
        lat=plot.centroid_lat,
        ring=tuple((float(x), float(y)) for x, y in ring),
        time=plot.created_at,
        extended={
            "id": plot.id,
            "status": plot.status,
            "flight_id": plot.flight_id,
            "confidence": round(plot.confidence, 4),
            "plant_count": plot.plant_count,
            "area_m2": round(plot.area_m2, 2),
            "assigned_unit": plot.assigned_unit,
            "chip_url": chip_url(plot),
        },
    )


def _csv_row(plot: Plot) -> dict[str, Any]:
    properties = plot_feature(plot).properties.model_dump(mode="json")
    bounds = {name: getattr(plot, name) for name in ("min_lon", "min_lat", "max_lon", "max_lat")}
    return properties | bounds


def render_geojson(plots: Sequence[Plot], title: str) -> str:
    """RFC 7946 FeatureCollection of the plots' outlines."""
    features = [plot_feature(plot).model_dump(mode="json") for plot in plots]
    return json.dumps({"type": "FeatureCollection", "name": title, "features": features})


def render_kml(plots: Sequence[Plot], title: str) -> str:
    """KML 2.2: one placemark (point and outline) per plot."""
    return kml_document(title, _summary(plots), (_place(p) for p in plots))


def render_gpx(plots: Sequence[Plot], title: str) -> str:
    """GPX 1.1: one waypoint per plot, with name, description and time found."""
    return gpx_document(title, _summary(plots), (_place(p) for p in plots))


def render_csv(plots: Sequence[Plot], title: str) -> str:
    """One row per plot, with a header."""
    return csv_text((_csv_row(p) for p in plots), CSV_FIELDS)


def _summary(plots: Sequence[Plot]) -> str:
    return f"{len(plots)} plot(s) exported by poppyscan"


_RENDERERS: Final[dict[ExportFormat, tuple[str, Callable[[Sequence[Plot], str], str]]]] = {
    ExportFormat.geojson: ("application/geo+json", render_geojson),
    ExportFormat.kml: ("application/vnd.google-earth.kml+xml", render_kml),
    ExportFormat.gpx: ("application/gpx+xml", render_gpx),
    ExportFormat.csv: ("text/csv; charset=utf-8", render_csv),
}


def export(plots: Sequence[Plot], fmt: ExportFormat, title: str, stem: str) -> Export:
    """Render ``plots`` in ``fmt``.

    Args:
        plots: The plots, in the order they are written.
        fmt: The format.
        title: Document title (KML name, GPX metadata name).
        stem: File name without extension, e.g. ``"suspects"``.
    """
    media_type, render = _RENDERERS[fmt]
    return Export(render(plots, title), media_type, f"{stem}.{fmt.value}")
