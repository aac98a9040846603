"""Suspect (plot) bodies: GeoJSON features, filters, lifecycle transitions, photos, audit.

Coordinates are WGS84 degrees, longitude first (RFC 7946). Times are UTC; a naive time read
back from SQLite is UTC too and is returned with its offset, like PostgreSQL's.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from serving.lifecycle import Evidence

Status = Literal[
    "new",
    "suspect",
    "dismissed",
    "dispatched",
    "positive",
    "false_alarm",
    "eradicated",
    "closed",
]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, description="WGS84 longitude, degrees")]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, description="WGS84 latitude, degrees")]


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time (as SQLite returns it) is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


class ExportFormat(StrEnum):
    """File formats of an export."""

    geojson = "geojson"
    kml = "kml"
    gpx = "gpx"
    csv = "csv"


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"minlon,minlat,maxlon,maxlat"`` (WGS84 degrees) as four floats.

    A box whose west edge is east of its east edge crosses the antimeridian (RFC 7946 5.2).

    Raises:
        ValueError: not four finite numbers, outside lon/lat ranges, or south above north.
    """
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("bbox must be minlon,minlat,maxlon,maxlat (four numbers)")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ValueError("bbox must be minlon,minlat,maxlon,maxlat (four numbers)") from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ValueError("bbox values must be finite numbers")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise ValueError("bbox longitudes must be within -180..180 degrees")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise ValueError("bbox latitudes must be within -90..90 degrees")
    if south > north:
        raise ValueError("bbox minlat is north of maxlat: use minlon,minlat,maxlon,maxlat")
    return west, south, east, north


class SuspectFilter(BaseModel):
    """Which suspects to list or export (all filters combine with AND)."""

    model_config = ConfigDict(extra="forbid")

    flight_id: int | None = Field(default=None, description="only plots of this flight")
    campaign_id: int | None = Field(
        default=None, description="only plots of flights assigned to this campaign"
    )
    season_id: int | None = Field(
        default=None, description="only plots of flights assigned to this season"
    )
    status: list[Status] = Field(default_factory=list, description="any of these (repeatable)")
    class_name: str | None = Field(default=None, max_length=32, description="e.g. poppy")
    min_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="plot confidence at least this, 0..1"
    )
    bbox: str | None = Field(
        default=None,
        description="minlon,minlat,maxlon,maxlat, WGS84 degrees: plots whose bounding box "
        "intersects it",
        examples=["104.49,20.49,104.51,20.51"],
    )
    since: date | None = Field(default=None, description="found on or after (UTC date)")
    until: date | None = Field(default=None, description="found on or before (UTC date)")
    assigned_unit: str | None = Field(default=None, max_length=100)

    @field_validator("bbox")
    @classmethod
    def _valid_bbox(cls, value: str | None) -> str | None:
        if value is not None:
            parse_bbox(value)
        return value

    @model_validator(mode="after")
    def _ordered_dates(self) -> SuspectFilter:
        if self.since and self.until and self.since > self.until:
            raise ValueError("since is after until")
        return self

    def bounds(self) -> tuple[float, float, float, float] | None:
        """The bbox filter as ``(west, south, east, north)`` degrees, or None."""
        return parse_bbox(self.bbox) if self.bbox is not None else None


class SuspectPage(SuspectFilter):
    """A filter and one page of its results."""

    limit: int = Field(default=500, ge=1, le=5000, description="plots per page")
    offset: int = Field(default=0, ge=0, description="plots to skip")


class PolygonGeometry(BaseModel):
    """A GeoJSON Polygon: closed rings of ``[lon, lat]`` positions, exterior first."""

    type: Literal["Polygon"] = "Polygon"
    coordinates: list[list[list[float]]]


class SuspectProperties(BaseModel):
    """What a map shows about a plot.

    ``plant_count`` is what the model detected; ``reported_plant_count`` what the patrol
    counted on the ground (at verification, then at eradication).
    """

    model_config = ConfigDict(from_attributes=True)

    id: int
    flight_id: int
    job_id: int
    seq: int = Field(description="the plot's number within its scan")
    class_name: str
    status: Status
    confidence: float = Field(description="highest plant confidence, 0..1")
    mean_confidence: float
    plant_count: int
    reported_plant_count: int | None
    area_m2: float = Field(description="outline area on the ground, square metres")
    centroid_lon: float
    centroid_lat: float
    assigned_unit: str
    revisit_due: date | None
    model_version: str
    created_at: UtcDatetime
    updated_at: UtcDatetime
    chip_url: str | None = Field(description="evidence chip (JPEG), None when there is none")


class SuspectFeature(BaseModel):
    """One plot as an RFC 7946 Feature."""

    type: Literal["Feature"] = "Feature"
    id: int
    geometry: PolygonGeometry
    properties: SuspectProperties


class AllowedMove(BaseModel):
    """A move the requesting user may make on the plot now (``serving.lifecycle.RULES``
    for the user's role and unit), and the evidence the move must carry.

    ``requires`` names request fields: ``assigned_unit``, ``plant_count``, and
    ``position`` for ``lon`` and ``lat`` together.
    """

    to_status: Status
    requires: list[Evidence]


class SuspectSummary(SuspectFeature):
    """A plot as the suspect list returns it: the Feature, plus ``allowed_moves`` (a
    foreign member) for the user who asked."""

    allowed_moves: list[AllowedMove] = Field(
        description="statuses this user may move the plot to now, in lifecycle order"
    )


class SuspectsPublic(BaseModel):
    """One page of plots as an RFC 7946 FeatureCollection (with paging members)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[SuspectSummary]
    count: int = Field(description="features on this page")
    total: int = Field(description="plots matching the filter")
    limit: int
    offset: int


class DetectionPublic(BaseModel):
    """One plant of a plot: WGS84 centre and raster pixel corners of its box."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    class_name: str
    confidence: float
    lon: float
    lat: float
    col0_px: float
    row0_px: float
    col1_px: float
    row1_px: float


class PhotoPublic(BaseModel):
    """A field photo of a plot."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    plot_id: int
    content_type: str
    sha256: str
    uploaded_by: int | None
    created_at: UtcDatetime
    url: str


class AuditEventPublic(BaseModel):
    """One audit record: who did what, when, where, with which evidence."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: UtcDatetime
    user_id: int | None
    username: str
    action: str
    plot_id: int | None
    flight_id: int | None
    job_id: int | None
    from_status: str
    to_status: str
    lon: float | None
    lat: float | None
    details: dict[str, Any]


class AuditEventsPublic(BaseModel):
    """A page of audit records, oldest first."""

    data: list[AuditEventPublic]
    count: int


class AuditFilter(BaseModel):
    """Which audit records to list."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=64, examples=["plot.transition"])
    plot_id: int | None = None
    since: UtcDatetime | None = Field(default=None, description="at or after this time")
    limit: int = Field(default=500, ge=1, le=5000)
    offset: int = Field(default=0, ge=0)


class SuspectPublic(SuspectSummary):
    """A plot with its plants, field photos, history and the moves the requesting user may
    make (foreign members of the Feature)."""

    detections: list[DetectionPublic]
    photos: list[PhotoPublic]
    history: list[AuditEventPublic]


class TransitionCreate(BaseModel):
    """Move a plot to its next status, with the evidence the move needs.

    Which fields a move needs is in :mod:`serving.lifecycle`: a dispatch needs
    ``assigned_unit``; a patrol report needs the position and, for a positive or an
    eradication, ``plant_count``.
    """

    model_config = ConfigDict(extra="forbid")

    to_status: Status
    note: str = Field(default="", max_length=4000)
    plant_count: int | None = Field(default=None, ge=0, le=10_000_000)
    lon: Longitude | None = None
    lat: Latitude | None = None
    assigned_unit: str | None = Field(default=None, min_length=1, max_length=100)
    photo_ids: list[int] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _both_or_no_coordinates(self) -> TransitionCreate:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither")
        return self
