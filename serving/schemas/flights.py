"""Flight and upload bodies: metadata a drone team sends, what the server reports back."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from serving.models import Flight, Job, Upload
from serving.schemas.jobs import JobPublic, as_utc
from serving.storage import StorageError, check_filename


class FlightMetadata(BaseModel):
    """What the drone team knows about a flight (all optional).

    Attributes:
        name: Display name; the file name without extension when empty.
        captured_on: Date of the flight.
        area_name: Survey area or grid cell the flight covers.
        pilot: Who flew it.
        altitude_m: Flight altitude above ground, metres.
        camera: Camera or drone model.
    """

    name: str = Field(default="", max_length=200)
    captured_on: date | None = None
    area_name: str = Field(default="", max_length=200)
    pilot: str = Field(default="", max_length=200)
    altitude_m: float | None = Field(default=None, ge=0, le=10_000)
    camera: str = Field(default="", max_length=200)


def _plain_filename(value: str) -> str:
    try:
        return check_filename(value)
    except StorageError as exc:
        raise ValueError(str(exc)) from exc


class UploadCreate(BaseModel):
    """Start a resumable upload: the file's name and exact size, and its metadata."""

    filename: str = Field(max_length=255, examples=["flight.tif"])
    size_bytes: int = Field(gt=0, description="exact size of the whole file, bytes")
    metadata: FlightMetadata = Field(default_factory=FlightMetadata)

    _check_filename = field_validator("filename")(_plain_filename)


class FlightRegister(BaseModel):
    """Register a file that is already on the server's storage."""

    path: str = Field(
        min_length=1,
        max_length=1024,
        description="path relative to the storage root (or absolute, inside it)",
        examples=["incoming/2024-03-02/flight.tif"],
    )
    metadata: FlightMetadata = Field(default_factory=FlightMetadata)


class FlightPublic(BaseModel):
    """A flight on the server.

    Attributes:
        storage_path: File path relative to the storage root.
        crs: The raster's CRS, ``EPSG:<code>`` where one exists.
        gsd_m: Ground sample distance, metres per pixel.
        area_ha: Area of the valid data (the footprint), hectares.
        footprint: Outline of the valid data, GeoJSON geometry in WGS84.
        bbox: ``[min_lon, min_lat, max_lon, max_lat]`` of the footprint, degrees.
        campaign_id: The campaign the flight is assigned to; None when unassigned.
        season_id: The campaign's season it counts for; None when unassigned or when its
            capture date falls in no season.
        latest_job: The most recent scan job of the flight.
    """

    id: int
    name: str
    filename: str
    storage_path: str
    size_bytes: int
    sha256: str
    captured_on: date | None
    area_name: str
    pilot: str
    altitude_m: float | None
    camera: str
    crs: str
    gsd_m: float
    width_px: int
    height_px: int
    area_ha: float
    footprint: dict[str, Any]
    bbox: list[float]
    campaign_id: int | None = None
    season_id: int | None = None
    created_by: int | None
    created_at: datetime
    latest_job: JobPublic | None = None

    @classmethod
    def from_flight(cls, flight: Flight, latest_job: Job | None = None) -> FlightPublic:
        """Describe ``flight`` (and its latest job, when given)."""
        return cls(
            id=flight.id,
            name=flight.name,
            filename=flight.filename,
            storage_path=flight.storage_path,
            size_bytes=flight.size_bytes,
            sha256=flight.sha256,
            captured_on=flight.captured_on,
            area_name=flight.area_name,
            pilot=flight.pilot,
            altitude_m=flight.altitude_m,
            camera=flight.camera,
            crs=flight.crs,
            gsd_m=flight.gsd_m,
            width_px=flight.width_px,
            height_px=flight.height_px,
            area_ha=flight.area_ha,
            footprint=json.loads(flight.footprint_geojson),
            bbox=[flight.min_lon, flight.min_lat, flight.max_lon, flight.max_lat],
            campaign_id=flight.campaign_id,
            season_id=flight.season_id,
            created_by=flight.created_by,
            created_at=as_utc(flight.created_at) or flight.created_at,
            latest_job=JobPublic.from_job(latest_job) if latest_job is not None else None,
        )


class FlightsPublic(BaseModel):
    """A page of flights, newest first."""

    data: list[FlightPublic]
    count: int = Field(description="flights matching the filter, all pages")


class FlightCreated(BaseModel):
    """A new flight and the scan job queued for it."""

    flight: FlightPublic
    job: JobPublic


class UploadPublic(BaseModel):
    """A resumable upload and how far it has got.

    Attributes:
        offset: Bytes the server holds; the next chunk must start at this byte.
        complete: All bytes arrived and the file became a flight.
        flight: The flight, once complete.
        job: The scan job queued for the flight, in the response that completes the upload.
    """

    id: str
    filename: str
    size_bytes: int
    offset: int
    complete: bool
    flight_id: int | None
    created_at: datetime
    updated_at: datetime
    flight: FlightPublic | None = None
    job: JobPublic | None = None

    @classmethod
    def from_upload(
        cls, upload: Upload, flight: Flight | None = None, job: Job | None = None
    ) -> UploadPublic:
        """Describe ``upload`` (with the flight and job it became, when given)."""
        return cls(
            id=upload.id,
            filename=upload.filename,
            size_bytes=upload.size_bytes,
            offset=upload.received_bytes,
            complete=upload.flight_id is not None,
            flight_id=upload.flight_id,
            created_at=as_utc(upload.created_at) or upload.created_at,
            updated_at=as_utc(upload.updated_at) or upload.updated_at,
            flight=FlightPublic.from_flight(flight) if flight is not None else None,
            job=JobPublic.from_job(job) if job is not None else None,
        )
