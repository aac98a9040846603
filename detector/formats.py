"""Text formats for plots as plain records: GeoJSON features, KML, GPX and CSV.

These functions know nothing about scans or databases: a caller turns its own plot objects
(a scan's :class:`detector.plots.Plot`, a server's database rows) into :class:`Place` records
or flat dicts and gets the document back as a string. Coordinates are WGS84 ``(lon, lat)``
degrees throughout (RFC 7946 / KML 2.2 / GPX 1.1 all use WGS84).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

Ring = tuple[tuple[float, float], ...]

KML_NS = "http://www.opengis.net/kml/2.2"
GPX_NS = "http://www.topografix.com/GPX/1/1"
# Line and fill colours (KML aabbggrr) per class; other classes get the default style.
_KML_STYLES = {
    "poppy": ("ff0000ff", "400000ff"),
    "cannabis": ("ff00c8ff", "4000c8ff"),
}


@dataclass(frozen=True)
class Place:
    """One plot as the placemark and waypoint formats write it.

    Attributes:
        name: Short label a GPS or map shows, e.g. ``"Plot 3"``.
        description: One line for people.
        category: The plot's class: KML style and GPX ``<type>``.
        lon: The plot's point (its centroid), WGS84 longitude, degrees.
        lat: WGS84 latitude, degrees.
        ring: Closed outline, WGS84 ``(lon, lat)`` degrees; empty for a point only.
        time: When the plot was found (GPX ``<time>``, KML ``<TimeStamp>``); None omits it.
        extended: Extra attributes, written as KML ``<ExtendedData>``; empty omits it.
        kml_name: Placemark name in KML when it differs from ``name``.
    """

    name: str
    description: str
    category: str
    lon: float
    lat: float
    ring: Ring = ()
    time: datetime | None = None
    extended: Mapping[str, Any] = field(default_factory=dict)
    kml_name: str | None = None


def ring_coordinates(ring: Ring, decimals: int) -> list[list[float]]:
    """A ring as GeoJSON positions, rounded to ``decimals`` (8 is about 1 mm)."""
    return [[round(x, decimals), round(y, decimals)] for x, y in ring]


def polygon_feature(
    feature_id: int | str, ring: Ring, properties: dict[str, Any], decimals: int = 8
) -> dict[str, Any]:
    """An RFC 7946 Feature with a one-ring Polygon (``ring`` closed, counter-clockwise)."""
    return {
        "type": "Feature",
        "id": feature_id,
        "geometry": {"type": "Polygon", "coordinates": [ring_coordinates(ring, decimals)]},
        "properties": properties,
    }


def _utc(time: datetime) -> str:
    """ISO 8601 UTC with a ``Z``, as GPX and KML expect (naive times are taken as UTC)."""
    if time.tzinfo is not None:
        time = time.astimezone(UTC)
    return time.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _kml_style(category: str, colours: tuple[str, str]) -> str:
    line, fill = colours
    return (
        f'<Style id="{escape(category)}"><LineStyle><color>{line}</color><width>2</width>'
        f"</LineStyle><PolyStyle><color>{fill}</color></PolyStyle></Style>"
    )


def _kml_placemark(place: Place, decimals: int) -> str:
    digits = f".{decimals}f"
    point = f"{place.lon:{digits}},{place.lat:{digits}}"
    parts = [
        f"<Placemark><name>{escape(place.kml_name or place.name)}</name>"
        f"<description>{escape(place.description)}</description>"
    ]
    if place.time is not None:
        parts.append(f"<TimeStamp><when>{_utc(place.time)}</when></TimeStamp>")
    parts.append(f"<styleUrl>#{escape(place.category)}</styleUrl>")
    if place.extended:
        data = "".join(
            f"<Data name={quoteattr(str(key))}><value>{escape(_text(value))}</value></Data>"
            for key, value in place.extended.items()
        )
        parts.append(f"<ExtendedData>{data}</ExtendedData>")
    geometry = f"<Point><coordinates>{point}</coordinates></Point>"
    if place.ring:
        ring = " ".join(f"{x:{digits}},{y:{digits}}" for x, y in place.ring)
        geometry = (
            f"<MultiGeometry>{geometry}<Polygon><outerBoundaryIs><LinearRing><coordinates>"
            f"{ring}</coordinates></LinearRing></outerBoundaryIs></Polygon></MultiGeometry>"
        )
    parts.append(f"{geometry}</Placemark>")
    return "".join(parts)


def kml_document(title: str, description: str, places: Iterable[Place], decimals: int = 8) -> str:
    """A KML 2.2 document: one placemark per place with its point and outline.

    Args:
        title: Document name.
        description: Document description (provenance, filters), plain text.
        places: The plots.
        decimals: Decimals of a degree written (8 is about 1 mm).
    """
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<kml xmlns="{KML_NS}"><Document>',
        f"<name>{escape(title)}</name>",
        f"<description>{escape(description)}</description>",
        *(_kml_style(category, colours) for category, colours in _KML_STYLES.items()),
    ]
    parts.extend(_kml_placemark(place, decimals) for place in places)
    parts.append("</Document></kml>")
    return "\n".join(parts) + "\n"


def gpx_document(name: str, description: str, places: Iterable[Place], decimals: int = 8) -> str:
    """GPX 1.1 with one waypoint per place (what a handheld GPS or phone app imports).

    Args:
        name: Metadata name.
        description: Metadata description, plain text.
        places: The plots; each becomes a ``<wpt>`` at its point.
        decimals: Decimals of a degree written (8 is about 1 mm).
    """
    digits = f".{decimals}f"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<gpx version="1.1" creator="poppyscan" xmlns="{GPX_NS}">',
        f"<metadata><name>{escape(name)}</name><desc>{escape(description)}</desc></metadata>",
    ]
    for place in places:
        # GPX 1.1 fixes the child order: time before name, desc, type.
        time = f"<time>{_utc(place.time)}</time>" if place.time is not None else ""
        parts.append(
            f'<wpt lat="{place.lat:{digits}}" lon="{place.lon:{digits}}">{time}'
            f"<name>{escape(place.name)}</name><desc>{escape(place.description)}</desc>"
            f"<type>{escape(place.category)}</type></wpt>"
        )
    parts.append("</gpx>")
    return "\n".join(parts) + "\n"


def csv_text(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """CSV with a header of ``fields`` and one line per row (``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
