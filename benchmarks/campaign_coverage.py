"""Campaign coverage benchmark: coverage of every grid cell, on this machine.

The issue's bar: on a synthetic campaign of 200 cells and 20 flights, the coverage computation
for all cells finishes in under 5 s. This builds that campaign in a fresh SQLite database
(the embedded default) — a 10 x 20 grid of 500 m cells in UTM 48N imported through
``serving.campaigns.grid``, and 20 scanned flights whose valid-data footprints are irregular
polygons of ~2,000 vertices each (as a raster mask outline is) — then times
``serving.campaigns.survey.coverage_by_cell`` end to end (database read, geometry parsing,
STRtree, unions, geodesic areas), best and median of repeated runs. A 10x larger grid
(2,000 cells, 200 flights) is timed alongside to show how it scales.

Usage::

    python benchmarks/campaign_coverage.py            # prints the table
    python benchmarks/campaign_coverage.py --repeat 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from serving.campaigns.grid import read_grid  # noqa: E402
from serving.campaigns.grid_store import import_grid  # noqa: E402
from serving.campaigns.sample_grid import grid_units, write_grid  # noqa: E402
from serving.campaigns.survey import coverage_by_cell  # noqa: E402
from serving.db import make_engine, migrate, session_factory, transaction  # noqa: E402
from serving.models import Flight, Job  # noqa: E402

BAR_S = 5.0
CRS = "EPSG:32648"
ORIGIN = (500_000.0, 2_500_000.0)
CELL_M = 500.0
FOOTPRINT_VERTICES = 2000


@dataclass(frozen=True)
class Case:
    """One measured campaign size."""

    label: str
    rows: int
    cols: int
    flights: int


def _footprint(
    rng: np.random.Generator, centre: tuple[float, float], radius_m: float
) -> shapely.Geometry:
    """An irregular closed outline around ``centre`` with :data:`FOOTPRINT_VERTICES` vertices."""
    angles = np.linspace(0, 2 * np.pi, FOOTPRINT_VERTICES, endpoint=False)
    wobble = np.convolve(rng.normal(0, 0.04, FOOTPRINT_VERTICES), np.ones(25) / 25, mode="same")
    radii = radius_m * (1 + wobble)
    xs = centre[0] + radii * np.cos(angles)
    ys = centre[1] + radii * np.sin(angles)
    return shapely.Polygon(np.column_stack([xs, ys])).buffer(0)


def build_campaign(workdir: Path, case: Case, seed: int = 1) -> str:
    """Create the database of ``case`` under ``workdir``; return its URL."""
    url = f"sqlite:///{workdir / f'{case.label}.db'}"
    engine = make_engine(url)
    migrate(engine)
    grid = write_grid(
        workdir / f"{case.label}.geojson", grid_units(case.rows, case.cols, CELL_M, ORIGIN), CRS
    )
    units = read_grid(grid)
    to_wgs84 = Transformer.from_crs(CRS, 4326, always_xy=True)
    rng = np.random.default_rng(seed)
    width_m, height_m = case.cols * CELL_M, case.rows * CELL_M
    # Flights tile the area in a rough grid with overlap, so most cells see several flights.
    per_row = int(np.ceil(np.sqrt(case.flights * width_m / height_m)))
    radius = 0.75 * max(width_m / per_row, height_m / int(np.ceil(case.flights / per_row)))
    with transaction(session_factory(engine)) as session:
        import_grid(session, units)
        for i in range(case.flights):
            r, c = divmod(i, per_row)
            centre = (
                ORIGIN[0] + (c + 0.5) * width_m / per_row,
                ORIGIN[1] - (r + 0.5) * height_m / int(np.ceil(case.flights / per_row)),
            )
            outline = _footprint(rng, centre, radius)
            wgs = shapely.transform(
                outline, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))
            )
            lon0, lat0, lon1, lat1 = wgs.bounds
            flight = Flight(
                name=f"f{i}",
                filename=f"f{i}.tif",
                storage_path=f"flights/f{i}.tif",
                size_bytes=1,
                sha256=f"{i:064d}",
                captured_on=date(2026, 4, 1),
                crs=CRS,
                gsd_m=0.02,
                width_px=1,
                height_px=1,
                area_ha=outline.area / 1e4,
                footprint_geojson=json.dumps(mapping(wgs)),
                min_lon=lon0,
                min_lat=lat0,
                max_lon=lon1,
                max_lat=lat1,
            )
            session.add(flight)
            session.flush()
            session.add(Job(flight_id=flight.id, status="done"))
    engine.dispose()
    return url


def time_coverage(url: str, repeat: int) -> tuple[list[float], int, int]:
    """Seconds of each ``coverage_by_cell`` run, cells measured, cells surveyed (>= 95 %)."""
    engine = make_engine(url)
    sessions = session_factory(engine)
    times = []
    cells = surveyed = 0
    for _ in range(repeat):
        with sessions() as session:
            started = time.perf_counter()
            rows, coverage = coverage_by_cell(session)
            times.append(time.perf_counter() - started)
        cells, surveyed = len(rows), sum(c.surveyed() for c in coverage)
    engine.dispose()
    return times, cells, surveyed


def main(argv: list[str] | None = None) -> int:
    """Build the campaigns, time their coverage, print the table; exit 1 if the bar fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (default 5)")
    args = parser.parse_args(argv)
    cases = [Case("bar", 10, 20, 20), Case("x10", 40, 50, 200)]
    print(f"| campaign | cells | flights | surveyed | best s | median s | bar (< {BAR_S:.0f} s) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    with tempfile.TemporaryDirectory(prefix="poppyscan-coverage-") as tmp:
        for case in cases:
            url = build_campaign(Path(tmp), case)
            times, cells, surveyed = time_coverage(url, args.repeat)
            best, median = min(times), statistics.median(times)
            verdict = "-"
            if case.label == "bar":
                verdict = "PASS" if median < BAR_S else "FAIL"
                ok = ok and median < BAR_S
            print(
                f"| {case.label} | {cells} | {case.flights} | {surveyed} | {best:.3f} | "
                f"{median:.3f} | {verdict} |"
            )
    print(
        f"\nfootprints: {FOOTPRINT_VERTICES} vertices each; SQLite; "
        "coverage_by_cell = read + parse + STRtree + union + geodesic area"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
