"""Store a finished scan's plots and plants in the database, exactly once per job.

The worker calls :func:`store_scan_result` in the same transaction that marks the job done,
so the database holds either all of a job's results or none of them; the unique
``(job_id, seq)`` constraint on plots makes a second store of the same job fail instead of
duplicating rows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from detector.georef import Georeferencer
from detector.plots import Plot as ScanPlot
from detector.scan import ScanResult
from serving.campaigns.grid_store import assign_cells
from serving.campaigns.survey import check_rebounds
from serving.models import Detection, Flight, Job, Plot

# Stored WGS84 coordinates keep 7 decimals (about 1 cm).
_DECIMALS = 7


def _polygon(ring: tuple[tuple[float, float], ...]) -> str:
    coords = [[round(x, _DECIMALS), round(y, _DECIMALS)] for x, y in ring]
    return json.dumps({"type": "Polygon", "coordinates": [coords]})


def _detections(plot: ScanPlot, geo: Georeferencer) -> list[Detection]:
    rows = []
    for d in plot.detections:
        cols = np.array([d.col0_px, d.col1_px, d.col1_px, d.col0_px, d.col0_px])
        rws = np.array([d.row0_px, d.row0_px, d.row1_px, d.row1_px, d.row0_px])
        lons, lats = geo.pixel_to_lonlat(cols, rws)
        centre_lon, centre_lat = geo.pixel_to_lonlat(
            np.array([d.centre_px[0]]), np.array([d.centre_px[1]])
        )
        ring = tuple(zip(lons.tolist(), lats.tolist(), strict=True))
        rows.append(
            Detection(
                class_name=d.class_name,
                confidence=float(d.confidence),
                lon=round(float(centre_lon[0]), _DECIMALS),
                lat=round(float(centre_lat[0]), _DECIMALS),
                geometry_geojson=_polygon(ring),
                col0_px=float(d.col0_px),
                row0_px=float(d.row0_px),
                col1_px=float(d.col1_px),
                row1_px=float(d.row1_px),
            )
        )
    return rows


def store_scan_result(
    session: Session, job: Job, result: ScanResult, storage_root: Path, chips_rel_dir: str
) -> list[Plot]:
    """Add one ``Plot`` (with its ``Detection`` rows) per scanned plot to ``session``.

    Args:
        session: The transaction that also marks ``job`` done.
        job: The job whose scan produced ``result``.
        result: The scan, with ``result.chips`` written anywhere on disk.
        storage_root: The server's storage root.
        chips_rel_dir: Where the chips go, relative to ``storage_root`` (moved there).

    Returns:
        The new plots, flushed (they have ids), each assigned to its grid cell; rebound
        alerts are raised for new plots near plots eradicated before this flight.
    """
    geo = Georeferencer(result.info)
    chip_dir = storage_root / chips_rel_dir
    chip_dir.mkdir(parents=True, exist_ok=True)
    plots = []
    for scan_plot in result.plots:
        lons = [x for x, _ in scan_plot.ring_lonlat]
        lats = [y for _, y in scan_plot.ring_lonlat]
        chip_rel = ""
        source = result.chips.get(scan_plot.plot_id)
        if source is not None:
            target = chip_dir / source.name
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
            chip_rel = f"{chips_rel_dir}/{source.name}"
        plot = Plot(
            flight_id=job.flight_id,
            job_id=job.id,
            seq=scan_plot.plot_id,
            class_name=scan_plot.class_name,
            status="new",
            confidence=float(scan_plot.max_confidence),
            mean_confidence=float(scan_plot.mean_confidence),
            plant_count=scan_plot.plant_count,
            area_m2=float(scan_plot.area_m2),
            centroid_lon=round(scan_plot.centroid_lon, _DECIMALS),
            centroid_lat=round(scan_plot.centroid_lat, _DECIMALS),
            min_lon=min(lons),
            min_lat=min(lats),
            max_lon=max(lons),
            max_lat=max(lats),
            geometry_geojson=_polygon(scan_plot.ring_lonlat),
            chip_path=chip_rel,
            model_version=f"{result.card.name}:{result.card.version}",
            detections=_detections(scan_plot, geo),
        )
        session.add(plot)
        plots.append(plot)
    session.flush()
    assign_cells(session, plots)
    flight = session.get(Flight, job.flight_id)
    if flight is not None:
        check_rebounds(session, flight, plots)
    return plots
