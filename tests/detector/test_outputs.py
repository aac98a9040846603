"""Every output format is valid, in the right coordinates, and carries its provenance."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyogrio
import pytest
import shapely
from doubles import RecordingDetector
from pyogrio.raw import read as ogr_read
from pyproj import Geod
from rasters import squares

from detector.errors import OutputError
from detector.georef import Georeferencer
from detector.outputs import PLOT_FIELDS, write_output
from detector.scan import ScanResult, scan

GSD_M = 0.02
GEOD = Geod(ellps="WGS84")
KML = "{http://www.opengis.net/kml/2.2}"
GPX = "{http://www.topografix.com/GPX/1/1}"
# Two plots: a cluster of two plants (1 m apart) and a lone plant far away.
PLANTS = ((100, 100, 20), (100, 170, 24), (400, 420, 30))
FORMATS = ("geojson", "gpkg", "kml", "gpx", "csv")


@pytest.fixture
def result(make_raster: Callable[..., Path], fake: RecordingDetector, out_dir: Path) -> ScanResult:
    path = make_raster(width=512, height=512, paint=squares(*PLANTS))
    return scan(path, fake, chips_dir=out_dir / "chips")


@pytest.fixture
def written(result: ScanResult, out_dir: Path) -> dict[str, Path]:
    return {fmt: write_output(result, out_dir / f"suspects.{fmt}") for fmt in FORMATS}


def _check_provenance(prov: dict[str, Any], result: ScanResult) -> None:
    assert prov["model"]["sha256"] == "fake"
    assert prov["model"]["gsd_m"] == 0.02
    assert prov["raster"]["fingerprint"].startswith("sha256s:")
    assert prov["raster"]["gsd_m"] == pytest.approx(GSD_M, rel=1e-3)
    assert prov["raster"]["crs"] == "EPSG:32648"
    assert prov["software"].startswith("poppyscan ")
    assert prov["thresholds"]["confidence"] == result.card.conf_threshold
    assert "plot_max_gap_m" in prov["thresholds"]
    assert prov["created_utc"] == result.provenance["created_utc"]


def _signed_area(ring: list[list[float]]) -> float:
    xs, ys = np.array(ring).T
    return 0.5 * float(np.sum(xs[:-1] * ys[1:] - xs[1:] * ys[:-1]))


def test_scan_finds_the_two_plots(result: ScanResult) -> None:
    assert sorted(p.plant_count for p in result.plots) == [1, 2]


def test_geojson_is_rfc7946(result: ScanResult, written: dict[str, Path], out_dir: Path) -> None:
    data = json.loads(written["geojson"].read_text(encoding="utf-8"))
    assert data["type"] == "FeatureCollection"
    assert "crs" not in data, "RFC 7946 has no crs member: coordinates are WGS84 lon/lat"
    assert len(data["features"]) == len(result.plots) == 2
    geo = Georeferencer(result.info)
    for feature, plot in zip(data["features"], result.plots, strict=True):
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Polygon"
        (ring,) = feature["geometry"]["coordinates"]
        assert len(ring) >= 4 and ring[0] == ring[-1], "linear rings are closed"
        assert all(len(pos) == 2 for pos in ring)
        lons, lats = np.array(ring).T
        assert (np.abs(lons) <= 180).all() and (np.abs(lats) <= 90).all()
        assert lons.min() > 104 and lats.min() > 20, "lon first, then lat"
        assert _signed_area(ring) > 0, "exterior ring is counter-clockwise"
        props = feature["properties"]
        assert props["plot_id"] == plot.plot_id == feature["id"]
        assert props["class"] == "poppy"
        assert props["plant_count"] == plot.plant_count == len(props["plants"])
        assert props["crs"] == "EPSG:32648"
        # The outline, back in pixels, spans exactly the painted plants (no half-pixel
        # shift); 8 decimals of a degree are about 1 mm, 0.05 px.
        cols, rows = geo.map_to_pixel(*geo.lonlat_to_map(lons, lats))
        assert (cols.min(), rows.min(), cols.max(), rows.max()) == pytest.approx(
            plot.bbox_px, abs=0.05
        )
        # The chip path is relative to the output and points at the JPEG.
        assert (out_dir / props["chip"]).is_file()
    _check_provenance(data["provenance"], result)


def test_geopackage_in_the_raster_crs(result: ScanResult, written: dict[str, Path]) -> None:
    path = written["gpkg"]
    layers = {name: kind for name, kind in pyogrio.list_layers(path)}
    assert layers == {"plots": "Polygon", "plants": "Polygon"}
    geo = Georeferencer(result.info)
    for layer in ("plots", "plants"):
        info = pyogrio.read_info(path, layer=layer)
        assert info["crs"] == "EPSG:32648"
        _check_provenance(json.loads(info["dataset_metadata"]["poppyscan_provenance"]), result)
    _, _, geoms, fields = ogr_read(path, layer="plots")
    info = pyogrio.read_info(path, layer="plots")
    columns = dict(zip(info["fields"], fields, strict=True))
    assert sorted(columns["plot_id"].tolist()) == [1, 2]
    assert set(columns["class"].tolist()) == {"poppy"}
    for wkb, plot in zip(geoms, result.plots, strict=True):
        polygon = shapely.from_wkb(wkb)
        assert polygon.equals_exact(shapely.Polygon(plot.ring_map), tolerance=1e-6)
        # Map coordinates, not degrees: the outline lands on the plants' pixels.
        cols, rows = geo.map_to_pixel(*np.array(polygon.exterior.coords).T)
        assert (cols.min(), rows.min(), cols.max(), rows.max()) == pytest.approx(
            plot.bbox_px, abs=0.01
        )
    _, _, geoms, fields = ogr_read(path, layer="plants")
    boxes = sorted(tuple(np.round(shapely.from_wkb(g).bounds, 6)) for g in geoms)
    want = []
    for row, col, size in PLANTS:
        xs, ys = geo.pixel_to_map([col, col + size], [row + size, row])
        want.append(tuple(np.round([xs[0], ys[0], xs[1], ys[1]], 6)))
    assert boxes == sorted(want)


def test_kml(result: ScanResult, written: dict[str, Path]) -> None:
    root = ET.parse(written["kml"]).getroot()
    assert root.tag == f"{KML}kml"
    document = root.find(f"{KML}Document")
    assert document is not None
    placemarks = document.findall(f"{KML}Placemark")
    assert len(placemarks) == len(result.plots)
    for placemark, plot in zip(placemarks, result.plots, strict=True):
        point = placemark.findtext(f".//{KML}Point/{KML}coordinates")
        assert point is not None
        lon, lat = (float(v) for v in point.split(","))
        assert (lon, lat) == pytest.approx((plot.centroid_lon, plot.centroid_lat), abs=1e-7)
        ring_text = placemark.findtext(f".//{KML}LinearRing/{KML}coordinates")
        assert ring_text is not None
        ring = [[float(v) for v in pos.split(",")] for pos in ring_text.split()]
        assert ring[0] == ring[-1]
        assert np.allclose(ring, plot.ring_lonlat, atol=1e-7)
    _check_provenance(json.loads(document.findtext(f"{KML}description") or ""), result)


def test_gpx(result: ScanResult, written: dict[str, Path]) -> None:
    root = ET.parse(written["gpx"]).getroot()
    assert root.tag == f"{GPX}gpx" and root.get("version") == "1.1"
    waypoints = root.findall(f"{GPX}wpt")
    assert len(waypoints) == len(result.plots)
    for wpt, plot in zip(waypoints, result.plots, strict=True):
        assert float(wpt.get("lat", "nan")) == pytest.approx(plot.centroid_lat, abs=1e-7)
        assert float(wpt.get("lon", "nan")) == pytest.approx(plot.centroid_lon, abs=1e-7)
        assert wpt.findtext(f"{GPX}name") == f"Plot {plot.plot_id}"
    desc = root.findtext(f"{GPX}metadata/{GPX}desc")
    _check_provenance(json.loads(desc or ""), result)


def test_csv(result: ScanResult, written: dict[str, Path]) -> None:
    with written["csv"].open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = reader.fieldnames or []
    assert header[: len(PLOT_FIELDS)] == list(PLOT_FIELDS)
    for column in (
        "model",
        "model_sha256",
        "raster_fingerprint",
        "raster_gsd_m",
        "model_gsd_m",
        "conf_threshold",
        "scanned_utc",
        "software",
    ):
        assert column in header
    assert len(rows) == len(result.plots)
    for row, plot in zip(rows, result.plots, strict=True):
        assert int(row["plot_id"]) == plot.plot_id
        assert int(row["plant_count"]) == plot.plant_count
        assert float(row["area_m2"]) == pytest.approx(plot.area_m2, abs=0.01)
        assert float(row["centroid_lon"]) == pytest.approx(plot.centroid_lon, abs=1e-7)
        assert float(row["centroid_lat"]) == pytest.approx(plot.centroid_lat, abs=1e-7)
        assert row["model_sha256"] == "fake"
        assert row["raster_fingerprint"].startswith("sha256s:")
        assert float(row["raster_gsd_m"]) == pytest.approx(GSD_M, rel=1e-3)
        assert float(row["conf_threshold"]) == result.card.conf_threshold
        assert row["software"].startswith("poppyscan ")
        assert row["scanned_utc"] == result.provenance["created_utc"]


def test_chips_are_real_jpegs(result: ScanResult, out_dir: Path) -> None:
    chips_dir = out_dir / "chips"
    assert set(result.chips) == {p.plot_id for p in result.plots}
    for plot_id, chip in result.chips.items():
        assert chip.parent == chips_dir and chip.name == f"plot_{plot_id:05d}.jpg"
        assert chip.stat().st_size > 0
        assert chip.read_bytes()[:3] == b"\xff\xd8\xff"
        image = cv2.imread(str(chip))
        assert image is not None and image.shape[0] > 0 and image.shape[1] > 0
        assert image.shape[2] == 3
    assert sorted(p.name for p in chips_dir.iterdir()) == sorted(
        c.name for c in result.chips.values()
    ), "no temporary files left beside the chips"


def test_chip_shows_the_plant(result: ScanResult) -> None:
    lone = next(p for p in result.plots if p.plant_count == 1)
    image = cv2.imread(str(result.chips[lone.plot_id]))
    assert image is not None
    # Magenta (BGR 255, 0, 255) is in the chip.
    magenta = (image[..., 0] > 200) & (image[..., 1] < 60) & (image[..., 2] > 200)
    assert magenta.sum() > 100


def test_only_the_outputs_are_left(written: dict[str, Path], out_dir: Path) -> None:
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(["chips", *(p.name for p in written.values())])


def test_empty_result_writes_valid_empty_outputs(
    make_raster: Callable[..., Path], fake: RecordingDetector, out_dir: Path
) -> None:
    result = scan(make_raster(width=256, height=256), fake)
    assert result.plots == ()
    paths = {fmt: write_output(result, out_dir / f"none.{fmt}") for fmt in FORMATS}
    data = json.loads(paths["geojson"].read_text())
    assert data["type"] == "FeatureCollection" and data["features"] == []
    assert {name for name, _ in pyogrio.list_layers(paths["gpkg"])} == {"plots", "plants"}
    # The same column types as a scan with finds: text stays text when there are no rows.
    plots = pyogrio.read_info(paths["gpkg"], layer="plots")
    types = dict(zip(plots["fields"], plots["dtypes"], strict=True))
    assert types["class"] == types["chip"] == "object"
    assert types["plot_id"] == types["plant_count"] == "int64"
    plants = pyogrio.read_info(paths["gpkg"], layer="plants")
    assert dict(zip(plants["fields"], plants["dtypes"], strict=True))["class"] == "object"
    assert ET.parse(paths["kml"]).getroot().find(f"{KML}Document") is not None
    assert ET.parse(paths["gpx"]).getroot().findall(f"{GPX}wpt") == []
    assert paths["csv"].read_text().splitlines()[0].startswith("plot_id,class,")


def test_format_from_suffix_or_flag(result: ScanResult, out_dir: Path) -> None:
    path = write_output(result, out_dir / "suspects.json")
    assert json.loads(path.read_text())["type"] == "FeatureCollection"
    path = write_output(result, out_dir / "suspects.txt", fmt="csv")
    assert path.read_text().startswith("plot_id,")
    with pytest.raises(OutputError, match="--format"):
        write_output(result, out_dir / "suspects.shp")
    with pytest.raises(OutputError, match="does not exist"):
        write_output(result, out_dir / "missing" / "suspects.geojson")
    leftovers = [p.name for p in out_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_plant_locations_in_geojson(result: ScanResult, written: dict[str, Path]) -> None:
    data = json.loads(written["geojson"].read_text())
    geo = Georeferencer(result.info)
    plants = [pl for f in data["features"] for pl in f["properties"]["plants"]]
    for row, col, size in PLANTS:
        want_lon, want_lat = geo.pixel_to_lonlat(
            np.array([col + size / 2]), np.array([row + size / 2])
        )
        dists = [GEOD.inv(p["lon"], p["lat"], want_lon[0], want_lat[0])[2] for p in plants]
        assert min(dists) < 0.5 * GSD_M
