"""A planned patrol route as GPX 1.1, KML 2.2 and a printable HTML dispatch sheet.

GPX carries one ``<wpt>`` per suspect (what a handheld GPS lists) and one ``<rte>`` whose
``<rtept>`` go from the start point through the stops in visiting order. KML draws the
route as a ``LineString`` with a ``Placemark`` per stop. Every stop says its task: verify
a dispatched plot, or eradicate a positive one. The dispatch sheet is a single,
self-contained HTML page — inline CSS, evidence chips embedded as ``data:`` URIs, no
external resources — so it prints and opens offline in the field. Coordinates are WGS84
degrees throughout.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from typing import Final

from detector.formats import GPX_NS, KML_NS
from serving.auth import PATROL
from serving.campaigns.dispatch import PatrolRoute, RouteStop, Site
from serving.lifecycle import allowed_moves
from serving.photos import image_data_uri

_COORD_DECIMALS: Final = 7  # as stored in the database, about 1 cm
# A chip larger than this is not embedded (the sheet would become unprintably heavy), bytes.
MAX_CHIP_BYTES: Final = 5 * 1024 * 1024


def stop_label(stop: RouteStop, count: int) -> str:
    """Short name of a stop, e.g. ``"03 Plot 17"``: zero-padded so GPS lists sort in order."""
    width = max(2, len(str(count)))
    return f"{stop.number:0{width}d} Plot {stop.site.plot_id}"


def site_summary(site: Site) -> str:
    """One line about a suspect: task, class, plant count, area (m²) and confidence."""
    return (
        f"to {site.task}: {site.class_name}, {site.plant_count} plant(s), "
        f"{site.area_m2:.1f} m², confidence {site.confidence:.2f}"
    )


def field_outcomes(site: Site) -> tuple[str, ...]:
    """What the unit's patrol may report at the stop (from the lifecycle), for people:
    ``("Positive", "False alarm")`` for a plot to verify, ``("Eradicated",)`` for one to
    eradicate."""
    rules = allowed_moves(site.status, site.unit, PATROL, site.unit)
    return tuple(rule.target.replace("_", " ").capitalize() for rule in rules)


def format_distance(metres: float) -> str:
    """A distance for people: ``"850 m"`` below a kilometre, ``"12.35 km"`` above."""
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.2f} km"


def dms(value: float, positive: str, negative: str) -> str:
    """Degrees as degrees-minutes-seconds, e.g. ``22°30'15.25" N`` (0.01" is about 30 cm)."""
    hundredths = round(abs(value) * 360_000)
    degrees, rest = divmod(hundredths, 360_000)
    minutes, seconds = divmod(rest, 6_000)
    hemisphere = positive if value >= 0 else negative
    return f"{degrees}°{minutes:02d}'{seconds / 100:05.2f}\" {hemisphere}"


def lon_lat_dms(lon: float, lat: float) -> str:
    """A position as ``lat, lon`` in degrees-minutes-seconds (the order maps and GPS use)."""
    return f"{dms(lat, 'N', 'S')}, {dms(lon, 'E', 'W')}"


def _coord(value: float) -> str:
    return f"{value:.{_COORD_DECIMALS}f}"


def _route_description(route: PatrolRoute) -> str:
    return (
        f"unit {route.unit or '-'}; start {route.start_lat:.6f}, {route.start_lon:.6f}; "
        f"{len(route.stops)} stop(s); total {route.total_m:.0f} m; "
        f"planned {route.planned_at:%Y-%m-%d %H:%M} UTC"
    )


def _xml(root: ET.Element) -> str:
    ET.indent(root, space=" ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def render_gpx(route: PatrolRoute) -> str:
    """GPX 1.1: a ``<wpt>`` per stop, then a ``<rte>`` from the start through every stop."""
    root = ET.Element("gpx", {"version": "1.1", "creator": "poppyscan", "xmlns": GPX_NS})
    metadata = _sub(root, "metadata")
    _sub(metadata, "name", f"Patrol route {route.unit}".strip())
    _sub(metadata, "desc", _route_description(route))
    _sub(metadata, "time", route.planned_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    count = len(route.stops)
    # GPX 1.1 fixes the order of children: all wpt, then rte; name, cmt, desc, ..., type.
    for stop in route.stops:
        wpt = _sub(root, "wpt", lat=_coord(stop.site.lat), lon=_coord(stop.site.lon))
        _sub(wpt, "name", stop_label(stop, count))
        _sub(wpt, "desc", site_summary(stop.site))
        _sub(wpt, "type", stop.site.class_name)
    rte = _sub(root, "rte")
    _sub(rte, "name", f"Patrol route {route.unit}".strip())
    _sub(rte, "desc", _route_description(route))
    start = _sub(rte, "rtept", lat=_coord(route.start_lat), lon=_coord(route.start_lon))
    _sub(start, "name", "Start")
    for stop in route.stops:
        point = _sub(rte, "rtept", lat=_coord(stop.site.lat), lon=_coord(stop.site.lon))
        _sub(point, "name", stop_label(stop, count))
        _sub(point, "desc", site_summary(stop.site))
        _sub(point, "type", stop.site.class_name)
    return _xml(root)


def _kml_style(document: ET.Element, style_id: str, colour: str, line: bool) -> None:
    """A shared style; KML colours are ``aabbggrr``."""
    style = _sub(document, "Style", id=style_id)
    if line:
        line_style = _sub(style, "LineStyle")
        _sub(line_style, "color", colour)
        _sub(line_style, "width", "3")
    else:
        icon_style = _sub(style, "IconStyle")
        _sub(icon_style, "color", colour)


def render_kml(route: PatrolRoute) -> str:
    """KML 2.2: the route as a ``LineString`` (start, then stops) and a placemark per stop."""
    root = ET.Element("kml", {"xmlns": KML_NS})
    document = _sub(root, "Document")
    _sub(document, "name", f"Patrol route {route.unit}".strip())
    _sub(document, "description", _route_description(route))
    _kml_style(document, "route", "ff00a5ff", line=True)
    _kml_style(document, "start", "ff00ff00", line=False)
    _kml_style(document, "stop", "ff0000ff", line=False)
    points = [(route.start_lon, route.start_lat), *((s.site.lon, s.site.lat) for s in route.stops)]
    line = _sub(document, "Placemark")
    _sub(line, "name", f"Route, {format_distance(route.total_m)}")
    _sub(line, "styleUrl", "#route")
    line_string = _sub(line, "LineString")
    _sub(line_string, "tessellate", "1")
    _sub(line_string, "coordinates", " ".join(f"{_coord(x)},{_coord(y)}" for x, y in points))
    start = _sub(document, "Placemark")
    _sub(start, "name", "Start")
    _sub(start, "styleUrl", "#start")
    _sub(
        _sub(start, "Point"), "coordinates", f"{_coord(route.start_lon)},{_coord(route.start_lat)}"
    )
    count = len(route.stops)
    for stop in route.stops:
        site = stop.site
        placemark = _sub(document, "Placemark")
        _sub(placemark, "name", stop_label(stop, count))
        _sub(
            placemark,
            "description",
            f"{site_summary(site)}; leg {stop.leg_m:.0f} m, {stop.cumulative_m:.0f} m from start",
        )
        _sub(placemark, "styleUrl", "#stop")
        extended = _sub(placemark, "ExtendedData")
        values = {
            "stop": stop.number,
            "plot_id": site.plot_id,
            "status": site.status,
            "task": site.task,
            "class": site.class_name,
            "plant_count": site.plant_count,
            "area_m2": round(site.area_m2, 2),
            "confidence": round(site.confidence, 4),
            "leg_m": round(stop.leg_m, 1),
            "cumulative_m": round(stop.cumulative_m, 1),
        }
        for key, value in values.items():
            _sub(_sub(extended, "Data", name=key), "value", str(value))
        _sub(_sub(placemark, "Point"), "coordinates", f"{_coord(site.lon)},{_coord(site.lat)}")
    return _xml(root)


def chip_data_uri(storage_root: Path, chip_path: str) -> str | None:
    """The chip at ``chip_path`` as a ``data:`` URI (None: no chip, missing, outside the
    storage root, not JPEG/PNG or over :data:`MAX_CHIP_BYTES`)."""
    return image_data_uri(storage_root, chip_path, MAX_CHIP_BYTES)


_CSS: Final = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; font-size: 11pt; color: #111; margin: 1.5em; }
h1 { font-size: 18pt; margin: 0 0 0.3em; }
h2 { font-size: 13pt; margin: 0 0 0.4em; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.15em 0.6em 0.15em 0; vertical-align: top; }
.summary th { color: #555; font-weight: normal; }
.overview { width: 100%; margin-top: 1em; font-size: 10pt; }
.overview th, .overview td { border-bottom: 1px solid #ccc; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.stop { border: 1px solid #888; padding: 0.8em; margin: 1em 0; display: flex; gap: 1em; }
.chip { flex: 0 0 6.5cm; }
.chip img { width: 6.5cm; height: auto; border: 1px solid #444; }
.nochip { width: 6.5cm; height: 4cm; border: 1px dashed #888; color: #666;
  display: flex; align-items: center; justify-content: center; text-align: center; }
.facts { flex: 1; }
.result { margin-top: 0.6em; line-height: 2; }
.box { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #111;
  vertical-align: middle; margin: 0 0.3em 0 0.9em; }
.box:first-child { margin-left: 0; }
.line { display: inline-block; border-bottom: 1px solid #111; min-width: 7em; }
.line.wide { min-width: 22em; }
.empty { margin-top: 2em; font-style: italic; }
.signature { margin-top: 2em; }
@media print {
  body { margin: 0; font-size: 10pt; }
  .front { break-after: page; page-break-after: always; }
  .stop { break-inside: avoid; page-break-inside: avoid; }
  @page { size: A4; margin: 12mm; }
}
"""


def _summary_html(route: PatrolRoute) -> str:
    rows = [
        ("Unit", route.unit or "—"),
        ("Date", f"{route.planned_at:%Y-%m-%d %H:%M} UTC"),
        (
            "Start point (lat, lon)",
            f"{route.start_lat:.6f}, {route.start_lon:.6f} "
            f"({lon_lat_dms(route.start_lon, route.start_lat)})",
        ),
        ("Stops", str(len(route.stops))),
        ("Total distance", f"{format_distance(route.total_m)}, one way (ends at the last stop)"),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="summary">{cells}</table>'


def _overview_html(route: PatrolRoute) -> str:
    head = (
        "<tr><th>Stop</th><th>Plot</th><th>Task</th><th>Class</th><th>Latitude</th>"
        '<th>Longitude</th><th class="num">Leg</th><th class="num">From start</th></tr>'
    )
    rows = "".join(
        f"<tr><td>{s.number}</td><td>{s.site.plot_id}</td><td>{escape(s.site.task)}</td>"
        f"<td>{escape(s.site.class_name)}</td>"
        f"<td>{s.site.lat:.6f}</td><td>{s.site.lon:.6f}</td>"
        f'<td class="num">{escape(format_distance(s.leg_m))}</td>'
        f'<td class="num">{escape(format_distance(s.cumulative_m))}</td></tr>'
        for s in route.stops
    )
    return f'<table class="overview">{head}{rows}</table>'


def _chip_html(stop: RouteStop, storage_root: Path) -> str:
    uri = chip_data_uri(storage_root, stop.site.chip_path)
    if uri is None:
        why = "chip file missing" if stop.site.chip_path else "no evidence chip"
        return f'<div class="nochip">{escape(why)}</div>'
    alt = f"Evidence chip of plot {stop.site.plot_id}"
    return f'<img src="{escape(uri)}" alt="{escape(alt)}">'


def _stop_html(stop: RouteStop, count: int, storage_root: Path) -> str:
    site = stop.site
    reported = site.reported_plant_count
    facts = [
        ("Task", "eradicate (confirmed positive)" if site.task == "eradicate" else site.task),
        ("Lat, lon", f"{site.lat:.6f}, {site.lon:.6f}"),
        ("", lon_lat_dms(site.lon, site.lat)),
        ("Class", site.class_name),
        ("Area", f"{site.area_m2:,.1f} m²"),
        ("Plants (estimate)", f"{site.plant_count}"),
        *([("Plants (counted)", f"{reported}")] if reported is not None else []),
        ("Confidence", f"{site.confidence:.2f}"),
        ("Leg", f"{format_distance(stop.leg_m)} (from start {format_distance(stop.cumulative_m)})"),
        ("Found on", f"flight {site.flight_id}, scan plot {site.seq}"),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    outcomes = (*field_outcomes(site), "Not reached")
    boxes = "".join(f'<span class="box"></span>{escape(o)}' for o in outcomes)
    result = (
        f'<div class="result">{boxes}<br>'
        'Plants counted <span class="line"></span> Time <span class="line"></span><br>'
        'Note <span class="line wide"></span></div>'
    )
    title = f"Stop {stop.number} of {count} — Plot {site.plot_id}"
    return (
        f'<section class="stop" id="plot-{site.plot_id}">'
        f'<div class="chip">{_chip_html(stop, storage_root)}</div>'
        f'<div class="facts"><h2>{escape(title)}</h2><table>{rows}</table>{result}</div>'
        "</section>"
    )


def render_dispatch_sheet(route: PatrolRoute, storage_root: Path) -> str:
    """A printable, self-contained HTML dispatch sheet for the patrol.

    A front page with the unit, date, start point, total distance and an overview table,
    then one block per stop in route order: the evidence chip (embedded), the position in
    decimal degrees (6 decimals, about 10 cm) and degrees-minutes-seconds, the task (verify
    or eradicate), area (m²), plant count estimate, confidence, class, and boxes for the
    patrol to record the result the lifecycle allows there.

    Args:
        route: The planned route.
        storage_root: The server's storage root, where chip paths point.
    """
    title = f"Dispatch sheet — {route.unit}" if route.unit else "Dispatch sheet"
    count = len(route.stops)
    if route.stops:
        body = "".join(_stop_html(stop, count, storage_root) for stop in route.stops)
        overview = _overview_html(route)
    else:
        body = ""
        overview = '<p class="empty">No plots to verify or eradicate: nothing to visit.</p>'
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<div class="front"><h1>{escape(title)}</h1>{_summary_html(route)}{overview}'
        '<p class="signature">Patrol leader <span class="line wide"></span></p></div>'
        f"{body}</body></html>\n"
    )
