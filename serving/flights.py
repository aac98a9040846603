"""Turning a file on the server's storage into a flight, and deleting flights.

Every way a flight arrives — the last chunk of a resumable upload, a one-shot multipart
upload, registration of a file already on the storage — ends in :func:`add_flight`: refuse
a duplicate (same sha256), validate the raster with ``detector.raster`` (nothing that
cannot be scanned is ever queued), outline its valid data, move an uploaded file into
``flights/<id>/``, and commit the flight, its queued scan job and the audit record together.
If anything fails, an uploaded file is removed, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from detector.errors import RasterError
from detector.footprint import raster_footprint
from detector.raster import inspect_raster
from serving.audit import record
from serving.jobs import RUNNING, enqueue
from serving.models import Detection, Flight, Job, Plot, ReboundAlert, Upload, User
from serving.schemas.flights import FlightMetadata
from serving.storage import (
    CHIPS,
    FLIGHTS,
    atomic_move,
    flight_path,
    relative_to_root,
    remove_tree,
)

# First bytes of classic TIFF and BigTIFF, little- and big-endian. Only (Geo)TIFFs are
# accepted: other GDAL formats (VRT above all) can make the server read files elsewhere.
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


class DuplicateFlightError(Exception):
    """The same file (by sha256) is already a flight.

    Attributes:
        flight_id: The existing flight.
    """

    def __init__(self, flight_id: int) -> None:
        super().__init__(f"this file is already flight {flight_id}")
        self.flight_id = flight_id


class FlightInUseError(Exception):
    """The flight cannot be deleted: its plots are being worked on or a scan is running."""


@dataclass(frozen=True)
class IncomingFile:
    """A complete file about to become a flight.

    Attributes:
        path: Where it is now.
        filename: The name the client gave it (already checked to be a plain name).
        size_bytes: Its size, bytes.
        sha256: Its hex sha256 (computed while it streamed in, or afterwards).
        owned: The server made this file (an upload): it is moved into ``flights/<id>/``
            and removed if refused. A registered file stays where it is, whatever happens.
    """

    path: Path
    filename: str
    size_bytes: int
    sha256: str
    owned: bool


def add_flight(
    session: Session,
    storage_root: Path,
    user: User,
    incoming: IncomingFile,
    meta: FlightMetadata,
    via: str,
    upload: Upload | None = None,
) -> tuple[Flight, Job]:
    """Validate ``incoming`` and commit it as a flight with a queued scan job.

    Args:
        session: Request session; committed here.
        storage_root: The server's storage root.
        user: Who uploaded or registered it.
        incoming: The file.
        meta: The drone team's metadata.
        via: How it arrived, for the audit log: ``resumable``, ``multipart`` or
            ``register``.
        upload: The resumable upload that delivered it, marked complete in the same
            transaction.

    Raises:
        DuplicateFlightError: a flight with the same sha256 exists.
        RasterError: not a GeoTIFF poppyscan can scan (message names the client's file).
    """
    moved_to: Path | None = None
    try:
        existing = session.scalar(select(Flight.id).where(Flight.sha256 == incoming.sha256))
        if existing is not None:
            raise DuplicateFlightError(existing)
        flight = _describe(incoming, meta, user)
        session.add(flight)
        session.flush()
        if incoming.owned:
            moved_to = flight_path(storage_root, flight.id, incoming.filename)
            atomic_move(incoming.path, moved_to)
            flight.storage_path = relative_to_root(storage_root, moved_to)
        else:
            flight.storage_path = relative_to_root(storage_root, incoming.path)
        job = enqueue(session, flight.id, user)
        if upload is not None:
            upload.flight_id = flight.id
        record(
            session,
            user,
            "flight.register" if via == "register" else "flight.upload",
            flight_id=flight.id,
            job_id=job.id,
            details={
                "filename": incoming.filename,
                "size_bytes": incoming.size_bytes,
                "sha256": incoming.sha256,
                "via": via,
            },
        )
        session.commit()
    except IntegrityError as exc:  # a concurrent upload of the same file won
        session.rollback()
        _discard(incoming, moved_to)
        existing = session.scalar(select(Flight.id).where(Flight.sha256 == incoming.sha256))
        if existing is None:
            raise
        raise DuplicateFlightError(existing) from exc
    except BaseException:
        session.rollback()
        _discard(incoming, moved_to)
        raise
    return flight, job


def _describe(incoming: IncomingFile, meta: FlightMetadata, user: User) -> Flight:
    """A Flight row for a validated raster (its storage path is set by the caller)."""
    _check_tiff(incoming)
    try:
        info = inspect_raster(incoming.path)
        footprint = raster_footprint(info)
    except RasterError as exc:
        raise RasterError(str(exc).replace(str(incoming.path), incoming.filename)) from exc
    min_lon, min_lat, max_lon, max_lat = footprint.bounds
    return Flight(
        name=meta.name or Path(incoming.filename).stem,
        filename=incoming.filename,
        storage_path="",
        size_bytes=incoming.size_bytes,
        sha256=incoming.sha256,
        captured_on=meta.captured_on,
        area_name=meta.area_name,
        pilot=meta.pilot,
        altitude_m=meta.altitude_m,
        camera=meta.camera,
        crs=info.crs_label[:200],
        gsd_m=info.gsd_m,
        width_px=info.width_px,
        height_px=info.height_px,
        area_ha=footprint.area_ha,
        footprint_geojson=json.dumps(footprint.geojson()),
        min_lon=min_lon,
        min_lat=min_lat,
        max_lon=max_lon,
        max_lat=max_lat,
        created_by=user.id,
    )


def _check_tiff(incoming: IncomingFile) -> None:
    with incoming.path.open("rb") as handle:
        magic = handle.read(4)
    if magic not in TIFF_MAGIC:
        raise RasterError(
            f"{incoming.filename} is not a GeoTIFF (poppyscan takes orthomosaics as GeoTIFF "
            "or Cloud-Optimized GeoTIFF; convert it with gdal_translate)"
        )


def _discard(incoming: IncomingFile, moved_to: Path | None) -> None:
    """Remove an uploaded file wherever it got to; never a registered one."""
    if not incoming.owned:
        return
    incoming.path.unlink(missing_ok=True)
    if moved_to is not None:
        moved_to.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty, or already gone
            moved_to.parent.rmdir()


def delete_flight(session: Session, storage_root: Path, flight: Flight, admin: User) -> None:
    """Delete a flight with its jobs and untouched plots, and the files the server made.

    A registered file stays on the storage (the server did not put it there); an uploaded
    one and the flight's evidence chips are removed. Committed with its audit record.

    Raises:
        FlightInUseError: a plot has left ``new`` (in review, dispatched, ...), a scan is
            running, or other records still point at the flight.
    """
    touched = session.scalar(
        select(func.count())
        .select_from(Plot)
        .where(Plot.flight_id == flight.id, Plot.status != "new")
    )
    if touched:
        raise FlightInUseError(
            f"flight {flight.id} has {touched} plot(s) in review, dispatch or later; "
            "it cannot be deleted"
        )
    running = session.scalar(
        select(Job.id).where(Job.flight_id == flight.id, Job.status == RUNNING).limit(1)
    )
    if running is not None:
        raise FlightInUseError(f"job {running} of flight {flight.id} is running: cancel it first")
    flight_id, storage_path = flight.id, flight.storage_path
    plot_ids = select(Plot.id).where(Plot.flight_id == flight_id).scalar_subquery()
    try:
        session.execute(delete(Detection).where(Detection.plot_id.in_(plot_ids)))
        session.execute(
            delete(ReboundAlert).where(
                ReboundAlert.plot_id.in_(plot_ids) | ReboundAlert.new_plot_id.in_(plot_ids)
            )
        )
        session.execute(delete(Plot).where(Plot.flight_id == flight_id))
        session.execute(delete(Upload).where(Upload.flight_id == flight_id))
        session.execute(delete(Job).where(Job.flight_id == flight_id))
        session.delete(flight)
        record(
            session,
            admin,
            "flight.delete",
            flight_id=flight_id,
            details={"storage_path": storage_path},
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise FlightInUseError(
            f"flight {flight_id} is still referenced by other records; it cannot be deleted"
        ) from exc
    if storage_path.startswith(f"{FLIGHTS}/{flight_id}/"):
        remove_tree(storage_root / FLIGHTS / str(flight_id))
    remove_tree(storage_root / CHIPS / f"flight-{flight_id}")
