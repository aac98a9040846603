"""Close-out ledger bodies: cells and towns with their close-out state, plots with histories."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from serving.campaigns.ledger import LedgerPlot


class StatusEventPublic(BaseModel):
    """One status change of a plot, from the audit log."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime = Field(description="when, UTC")
    username: str
    from_status: str
    to_status: str
    note: str
    plant_count: int | None = Field(description="plants the person counted, if any")
    lon: float | None = Field(description="where the person was, WGS84 degrees")
    lat: float | None = Field(description="where the person was, WGS84 degrees")


class LedgerPlotPublic(BaseModel):
    """A plot in the ledger: where it is, where it got to and when, and its full history."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    cell_code: str | None = Field(description="None: outside every cell")
    town_code: str | None
    flight_id: int
    job_id: int
    seq: int = Field(description="the plot's number within its scan")
    class_name: str
    status: str
    found_on: date = Field(description="capture date of its flight (else when stored), UTC")
    model_version: str
    centroid_lon: float
    centroid_lat: float
    area_m2: float = Field(description="outline area, square metres")
    plant_count: int = Field(description="plants the scan found")
    reported_plant_count: int | None = Field(description="plants the patrol reported")
    plants_eradicated: int | None = Field(description="plants reported at eradication")
    assigned_unit: str
    verdict: str | None = Field(description="positive or false_alarm; None before the field")
    revisit_due: date | None
    reviewed_at: datetime | None = None
    dispatched_at: datetime | None = None
    verified_at: datetime | None = None
    eradicated_at: datetime | None = None
    closed_at: datetime | None = None
    history: list[StatusEventPublic]

    @classmethod
    def of(cls, plot: LedgerPlot) -> LedgerPlotPublic:
        """From a ledger row (its milestone times come from its outcome)."""
        public = cls.model_validate(plot)
        outcome = plot.outcome
        return public.model_copy(
            update={
                "reviewed_at": outcome.reviewed_at,
                "dispatched_at": outcome.dispatched_at,
                "verified_at": outcome.verified_at,
                "eradicated_at": outcome.eradicated_at,
                "closed_at": outcome.closed_at,
            }
        )


class CellStatePublic(BaseModel):
    """A cell's close-out state: closed out when every plot is closed and it is surveyed."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    village_code: str | None
    town_code: str | None
    town_name: str
    area_m2: float = Field(description="cell area, square metres")
    covered_share: float = Field(description="share flown and scanned, 0..1")
    surveyed: bool
    flight_ids: list[int]
    plots: int
    open_plots: int = Field(description="plots not closed")
    closed_out: bool
    blockers: list[str] = Field(description="why it is not closed out, for people")
    responsible: dict[str, str]


class CellsLedgerPublic(BaseModel):
    """Cells with their close-out state, and how many plots lie outside every cell."""

    data: list[CellStatePublic]
    count: int
    surveyed: int = Field(description="cells surveyed")
    closed_out: int = Field(description="cells closed out")
    outside_grid: int = Field(description="plots in scope outside every cell")


class CellLedgerPublic(BaseModel):
    """One cell's state and every plot found in it, with histories."""

    cell: CellStatePublic
    plots: list[LedgerPlotPublic]
    count: int


class TownStatePublic(BaseModel):
    """A town's roll-up: closed out when every one of its cells is."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    cells: int
    cells_surveyed: int
    cells_closed_out: int
    plots: int
    open_plots: int
    closed_out: bool
    blockers: list[str]


class TownsLedgerPublic(BaseModel):
    """Every town's roll-up."""

    data: list[TownStatePublic]
    count: int
    closed_out: int = Field(description="towns closed out")


class TownLedgerPublic(BaseModel):
    """One town: roll-up, its cells' states, every plot in its cells with histories."""

    town: TownStatePublic
    cells: list[CellStatePublic]
    plots: list[LedgerPlotPublic]


class LedgerPlotsPublic(BaseModel):
    """A list of ledger plots (those outside every cell, say)."""

    data: list[LedgerPlotPublic]
    count: int
