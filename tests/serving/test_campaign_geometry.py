"""Grid import, coverage, routes and rebound matching against hand-computed answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from serving.campaigns.coverage import CellArea, Footprint, cell_coverage
from serving.campaigns.geodesy import area_m2, distance_m
from serving.campaigns.grid import GridError, read_grid
from serving.campaigns.rebound import Site, find_rebounds
from serving.campaigns.routing import Stop, plan_route, route_length_m
from serving.campaigns.sample_grid import grid_units, write_grid

UTM48N = "EPSG:32648"
ORIGIN = (500_000.0, 2_500_000.0)  # on UTM 48N's central meridian (105 E), metres


def _to_wgs84(geometry: shapely.Geometry, crs: str = UTM48N) -> shapely.Geometry:
    t = Transformer.from_crs(crs, 4326, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _to_wgs84_inverse(geometry: shapely.Geometry, crs: str) -> shapely.Geometry:
    t = Transformer.from_crs(4326, crs, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _geojson(path: Path, features: list[dict], crs: str | None = "EPSG:4326") -> Path:
    doc: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        doc["crs"] = {
            "type": "name",
            "properties": {"name": crs.replace("EPSG:", "urn:ogc:def:crs:EPSG::")},
        }
    path.write_text(json.dumps(doc))
    return path


def _feature(code: str, ring: list[list[float]], **props: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, **props},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def test_sample_grid_reads_with_hierarchy_and_true_areas(tmp_path: Path) -> None:
    path = write_grid(tmp_path / "grid.geojson", grid_units(10, 20, 500.0, ORIGIN), UTM48N)
    units = read_grid(path)
    cells = [u for u in units if u.level == "cell"]
    assert len(cells) == 200
    by_code = {u.code: u for u in units}
    # G03-05 sits in village V01-02 (2x2 cells), which sits in town T00-01 (2x2 villages).
    assert by_code["G03-05"].parent_code == "V01-02"
    assert by_code["V01-02"].parent_code == "T00-01"
    assert by_code["T00-01"].parent_code == "C1"
    assert by_code["G03-05"].responsible["grid_worker"] == "Worker G03-05"
    # 500 m squares on the central meridian: UTM's 0.9996 scale makes the true area 1/0.9996^2
    # of the grid's 250,000 m2.
    assert by_code["G00-00"].area_m2 == pytest.approx(250_000 / 0.9996**2, rel=2e-4)


def test_parents_are_found_by_containment_when_not_given(tmp_path: Path) -> None:
    town = _feature("T1", [[0, 0], [0.02, 0], [0.02, 0.02], [0, 0.02], [0, 0]], level="town")
    cell = _feature(
        "c1", [[0.001, 0.001], [0.005, 0.001], [0.005, 0.005], [0.001, 0.005], [0.001, 0.001]]
    )
    units = {u.code: u for u in read_grid(_geojson(tmp_path / "g.geojson", [town, cell]))}
    assert units["c1"].parent_code == "T1"


def test_bad_grids_fail_with_the_cells_named(tmp_path: Path) -> None:
    square = [[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]]
    bowtie = [[0.02, 0], [0.03, 0.01], [0.03, 0], [0.02, 0.01], [0.02, 0]]
    overlapping = [[0.005, 0], [0.015, 0], [0.015, 0.01], [0.005, 0.01], [0.005, 0]]

    # GeoJSON is WGS84 by definition; a shapefile without its .prj has no CRS at all.
    from pyogrio.raw import write

    shp = tmp_path / "nocrs.shp"
    geometry = np.array([shapely.to_wkb(shapely.box(0, 0, 1000, 1000))], dtype=np.object_)
    with pytest.warns(UserWarning, match="crs"):
        write(
            str(shp),
            geometry,
            [np.array(["a"], dtype=np.object_)],
            fields=["code"],
            geometry_type="Polygon",
            driver="ESRI Shapefile",
        )
    assert not shp.with_suffix(".prj").exists()
    with pytest.raises(GridError, match="no coordinate reference system"):
        read_grid(shp)
    with pytest.raises(GridError, match=r"bowtie.*Self-intersection"):
        read_grid(_geojson(tmp_path / "bow.geojson", [_feature("bowtie", bowtie)]))
    with pytest.raises(GridError, match=r"cells a and b overlap \(50\.0%"):
        read_grid(
            _geojson(tmp_path / "ov.geojson", [_feature("a", square), _feature("b", overlapping)])
        )
    with pytest.raises(GridError, match="code 'a' used twice"):
        read_grid(
            _geojson(tmp_path / "dup.geojson", [_feature("a", square), _feature("a", bowtie)])
        )
    with pytest.raises(GridError, match="parent 'X9' is not in the file"):
        read_grid(_geojson(tmp_path / "par.geojson", [_feature("a", square, parent="X9")]))
    with pytest.raises(GridError, match="cannot read grid"):
        read_grid(tmp_path / "missing.geojson")


def test_repair_makes_polygons_valid_and_cuts_overlaps_from_the_later_cell(tmp_path: Path) -> None:
    square = [[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]]
    overlapping = [[0.005, 0], [0.015, 0], [0.015, 0.01], [0.005, 0.01], [0.005, 0]]
    bowtie = [[0.02, 0], [0.03, 0.01], [0.03, 0], [0.02, 0.01], [0.02, 0]]
    path = _geojson(
        tmp_path / "fix.geojson",
        [_feature("a", square), _feature("b", overlapping), _feature("bowtie", bowtie)],
    )
    units = {u.code: u for u in read_grid(path, repair=True)}
    assert units["b"].geometry.area == pytest.approx(0.005 * 0.01)
    assert "overlap with a (50.0%) removed" in units["b"].repaired
    assert units["bowtie"].geometry.is_valid
    assert units["bowtie"].geometry.area == pytest.approx(2 * 0.5 * 0.01 * 0.005)
    assert units["bowtie"].repaired.startswith("made valid")


def test_coverage_matches_hand_computed_shares() -> None:
    # Four 1 km cells in a row; flight 1 covers cell 0 and the left half of cell 1, flight 2
    # overlaps flight 1 and covers the rest of cell 1 and a quarter of cell 2; cell 3 unflown.
    x0, y0 = ORIGIN
    cells = []
    for i in range(4):
        geometry = _to_wgs84(shapely.box(x0 + i * 1000, y0, x0 + (i + 1) * 1000, y0 + 1000))
        cells.append(CellArea(f"c{i}", geometry, area_m2(geometry)))
    flights = [
        Footprint(1, _to_wgs84(shapely.box(x0 - 100, y0 - 100, x0 + 1500, y0 + 1100))),
        Footprint(2, _to_wgs84(shapely.box(x0 + 1200, y0, x0 + 2250, y0 + 1000))),
    ]
    got = {c.code: c for c in cell_coverage(cells, flights)}
    assert got["c0"].share == pytest.approx(1.0, abs=1e-4)
    assert got["c1"].share == pytest.approx(1.0, abs=1e-4)
    assert got["c2"].share == pytest.approx(0.25, abs=1e-3)
    assert got["c3"].share == 0.0
    assert got["c3"].flight_ids == ()
    assert set(got["c1"].flight_ids) == {1, 2}
    assert area_m2(got["c2"].gap) == pytest.approx(0.75 * got["c2"].area_m2, rel=1e-3)
    assert got["c0"].surveyed() and not got["c2"].surveyed()


def test_coverage_of_cells_across_a_utm_zone_boundary() -> None:
    # A cell straddling 108 E (UTM 48/49) and a flight footprint described in UTM 49N: areas
    # are geodesic, so the answer does not depend on either zone.
    # The expected share is computed independently, in an equal-area projection centred there.
    cell = shapely.box(107.99, 22.0, 108.01, 22.02)
    x0, y0, _, _ = Transformer.from_crs(4326, "EPSG:32649", always_xy=True).transform_bounds(
        107.99, 22.0, 108.0, 22.02
    )
    flight = _to_wgs84(shapely.box(x0, y0, x0 + 1500, y0 + 3000), "EPSG:32649").segmentize(1e-4)
    got = cell_coverage([CellArea("x", cell, area_m2(cell))], [Footprint(7, flight)])[0]
    laea = "+proj=laea +lat_0=22.01 +lon_0=108 +ellps=WGS84"
    cell_laea = _to_wgs84_inverse(cell.segmentize(1e-4), laea)
    flight_laea = _to_wgs84_inverse(flight, laea)
    expected = cell_laea.intersection(flight_laea).area / cell_laea.area
    assert 0.3 < expected < 0.8
    assert got.share == pytest.approx(expected, abs=1e-3)


def test_route_visits_every_stop_and_beats_the_given_order() -> None:
    rng = np.random.default_rng(3)
    stops = [Stop(i, 105 + rng.uniform(0, 0.05), 22 + rng.uniform(0, 0.05)) for i in range(40)]
    route = plan_route(105.0, 22.0, stops)
    assert sorted(s.stop_id for s in route.stops) == list(range(40))
    assert route.total_m == pytest.approx(route_length_m(105.0, 22.0, route.stops))
    assert route.total_m < 0.5 * route_length_m(105.0, 22.0, stops)


def test_route_on_a_line_is_optimal() -> None:
    # Stops on a meridian, shuffled: the best open route walks them in order.
    stops = [Stop(i, 105.0, 22.0 + 0.001 * k) for i, k in enumerate([5, 1, 9, 3, 7, 2, 8, 4, 6])]
    route = plan_route(105.0, 22.0, stops)
    assert [round((s.lat - 22.0) / 0.001) for s in route.stops] == list(range(1, 10))
    assert route.total_m == pytest.approx(distance_m(105.0, 22.0, 105.0, 22.009), rel=1e-9)


def test_rebound_pairs_new_plots_within_the_distance() -> None:
    lat_step = 10 / 110_760  # about 10 m of latitude at 22 N, degrees
    eradicated = [Site(1, 105.0, 22.0), Site(2, 105.1, 22.1)]
    new = [
        Site(10, 105.0, 22.0 + lat_step),
        Site(11, 105.0, 22.0 + 5 * lat_step),
        Site(12, 105.1, 22.1),
    ]
    found = find_rebounds(eradicated, new, max_distance_m=30.0)
    assert [(r.eradicated_plot_id, r.new_plot_id) for r in found] == [(1, 10), (2, 12)]
    assert found[0].distance_m == pytest.approx(10.0, rel=0.01)
    assert found[1].distance_m == pytest.approx(0.0, abs=1e-6)
