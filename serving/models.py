"""Database tables (SQLAlchemy 2), the same on SQLite and PostgreSQL.

Geometry is stored as GeoJSON text in WGS84 with its bounding box in plain float columns, so
both databases filter by bounding box with ordinary indexes and no spatial extension is
needed. Times are timezone-aware UTC. The audit log is append-only: the migration installs
triggers that refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class User(Base):
    """A person with one role; patrols and pilots belong to a unit."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Flight(Base):
    """An orthomosaic on the server's storage, validated by ``detector.raster``.

    Attributes:
        storage_path: Path relative to the storage root.
        footprint_geojson: Outline of the valid data, WGS84 GeoJSON geometry.
        gsd_m: Ground sample distance, metres per pixel.
    """

    __tablename__ = "flights"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    storage_path: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    captured_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    area_name: Mapped[str] = mapped_column(String(200), default="")
    pilot: Mapped[str] = mapped_column(String(200), default="")
    altitude_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    camera: Mapped[str] = mapped_column(String(200), default="")
    crs: Mapped[str] = mapped_column(String(200), default="")
    gsd_m: Mapped[float] = mapped_column(Float)
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    area_ha: Mapped[float] = mapped_column(Float)
    footprint_geojson: Mapped[str] = mapped_column(Text)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id"), nullable=True, index=True
    )
    season_id: Mapped[int | None] = mapped_column(ForeignKey("seasons.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    jobs: Mapped[list[Job]] = relationship(back_populates="flight")


class Upload(Base):
    """A resumable upload in progress: bytes land in ``<storage>/uploads/<id>.part``.

    Attributes:
        size_bytes: Total size the client announced, bytes.
        received_bytes: Bytes safely on disk; the next chunk must start here.
        flight_id: Set when the upload completed and became a flight.
    """

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flight_id: Mapped[int | None] = mapped_column(ForeignKey("flights.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A durable scan job: queued -> running -> done | failed | cancelled.

    Attributes:
        tiles_done: Tiles scanned or skipped so far (of ``tiles_total``).
        heartbeat_at: Last progress report of the worker holding the job; a stale heartbeat
            means the worker died and the job is requeued.
        attempts: How many times a worker has started the job.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    flight_id: Mapped[int] = mapped_column(ForeignKey("flights.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    tiles_done: Mapped[int] = mapped_column(Integer, default=0)
    tiles_total: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str] = mapped_column(String(100), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    model_name: Mapped[str] = mapped_column(String(200), default="")
    model_version: Mapped[str] = mapped_column(String(100), default="")
    model_sha256: Mapped[str] = mapped_column(String(64), default="")
    plots_found: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)

    flight: Mapped[Flight] = relationship(back_populates="jobs")


class Plot(Base):
    """A suspected plot found by a scan, and where it is in its lifecycle.

    Attributes:
        seq: The plot's number within its job (the scan's plot id); unique per job, so a
            job's results can never be stored twice.
        geometry_geojson: Plot outline, WGS84 GeoJSON polygon.
        area_m2: Outline area on the ground, square metres.
        assigned_unit: Patrol unit the plot is dispatched to.
        chip_path: Evidence chip, relative to the storage root.
    """

    __tablename__ = "plots"
    __table_args__ = (
        UniqueConstraint("job_id", "seq", name="uq_plots_job_seq"),
        # The suspect list pages by confidence (highest first, then id), unfiltered or within
        # its most common filters; these serve the page without sorting every matching row
        # (20 ms -> 1 ms on 100k plots, benchmarks/api_load.py). The bounding boxes have a
        # spatial index per database (R*Tree table on SQLite, GiST on PostgreSQL), made by
        # migration 0003 because neither is a plain column index.
        Index("ix_plots_conf", text("confidence DESC"), "id"),
        Index("ix_plots_status_conf", "status", text("confidence DESC"), "id"),
        Index("ix_plots_class_conf", "class_name", text("confidence DESC"), "id"),
        # It also serves every lookup by flight alone; a plain flight_id index beside it
        # made PostgreSQL sort a flight's 5,000 plots for each page (migration 0007).
        Index("ix_plots_flight_conf", "flight_id", text("confidence DESC"), "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    flight_id: Mapped[int] = mapped_column(ForeignKey("flights.id"))
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    class_name: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    confidence: Mapped[float] = mapped_column(Float)
    mean_confidence: Mapped[float] = mapped_column(Float)
    plant_count: Mapped[int] = mapped_column(Integer)
    area_m2: Mapped[float] = mapped_column(Float)
    centroid_lon: Mapped[float] = mapped_column(Float)
    centroid_lat: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    geometry_geojson: Mapped[str] = mapped_column(Text)
    chip_path: Mapped[str] = mapped_column(String(1024), default="")
    model_version: Mapped[str] = mapped_column(String(100), default="")
    assigned_unit: Mapped[str] = mapped_column(String(100), default="", index=True)
    reported_plant_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cell_id: Mapped[int | None] = mapped_column(
        ForeignKey("grid_units.id"), nullable=True, index=True
    )
    revisit_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    detections: Mapped[list[Detection]] = relationship(
        back_populates="plot", cascade="all, delete-orphan", order_by="Detection.id"
    )


class PlotRevision(Base):
    """One row whose ``n`` the database bumps on every change of the plots (and of a
    flight's campaign or season): the suspect list's cached totals are valid while it
    stays the same (triggers of migration 0004; :mod:`serving.plot_counts`)."""

    __tablename__ = "plot_revision"

    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class Detection(Base):
    """One plant box of a plot: WGS84 centre and outline, raster pixel corners."""

    __tablename__ = "detections"

    id: Mapped[int] = mapped_column(primary_key=True)
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id", ondelete="CASCADE"), index=True)
    class_name: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    geometry_geojson: Mapped[str] = mapped_column(Text)
    col0_px: Mapped[float] = mapped_column(Float)
    row0_px: Mapped[float] = mapped_column(Float)
    col1_px: Mapped[float] = mapped_column(Float)
    row1_px: Mapped[float] = mapped_column(Float)

    plot: Mapped[Plot] = relationship(back_populates="detections")


class Photo(Base):
    """A field photo attached to a plot by a patrol report (checked to be an image)."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"), index=True)
    storage_path: Mapped[str] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One append-only record of who did what, when and where.

    Attributes:
        action: What happened, e.g. ``plot.transition``, ``flight.upload``, ``job.cancel``.
        lon, lat: Where the user was (the phone's GPS for patrol reports), WGS84 degrees.
        details: Evidence and context: note, plant count, photo ids, previous values.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    # Plain ids, not foreign keys: the log outlives what it describes (a deleted flight's
    # history stays readable), and an append-only table could never let them be cleared.
    plot_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    flight_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    from_status: Mapped[str] = mapped_column(String(16), default="")
    to_status: Mapped[str] = mapped_column(String(16), default="")
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Campaign(Base):
    """An eradication campaign (usually one per year and territory)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    seasons: Mapped[list[Season]] = relationship(
        back_populates="campaign", order_by="Season.starts_on"
    )


class Season(Base):
    """A campaign period timed to a growth stage: seedling, flowering or capsule."""

    __tablename__ = "seasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(16))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)

    campaign: Mapped[Campaign] = relationship(back_populates="seasons")


class GridUnit(Base):
    """A unit of the territory's grid (county > town > village > cell) and who answers for it.

    Attributes:
        geometry_geojson: Outline, WGS84 GeoJSON polygon or multipolygon.
        area_m2: Geodesic area, square metres.
        responsible: Named people / units by role (police station, cadres, grid worker).
        repaired: What the import's repair changed, if anything.
    """

    __tablename__ = "grid_units"
    __table_args__ = (Index("ix_grid_units_bbox", "min_lon", "min_lat", "max_lon", "max_lat"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grid_units.id"), nullable=True)
    geometry_geojson: Mapped[str] = mapped_column(Text)
    area_m2: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    responsible: Mapped[dict[str, Any]] = mapped_column(default=dict)
    repaired: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReboundAlert(Base):
    """Plants found again near an eradicated plot by a later flight.

    Attributes:
        plot_id: The eradicated plot.
        new_plot_id: The later plot found near it.
        distance_m: Centroid-to-centroid geodesic distance, metres.
        status: ``open`` until someone checks it, then ``checked``.
    """

    __tablename__ = "rebound_alerts"
    __table_args__ = (UniqueConstraint("plot_id", "new_plot_id", name="uq_rebound_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"), index=True)
    new_plot_id: Mapped[int] = mapped_column(ForeignKey("plots.id"))
    flight_id: Mapped[int] = mapped_column(ForeignKey("flights.id"))
    distance_m: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
