"""Campaign, season, grid and coverage bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Stage = Literal["seedling", "flowering", "capsule"]


class SeasonCreate(BaseModel):
    """A campaign period timed to a growth stage."""

    name: str = Field(min_length=1, max_length=200)
    stage: Stage
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _ordered(self) -> SeasonCreate:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class SeasonPublic(SeasonCreate):
    """A season as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int


class CampaignCreate(BaseModel):
    """A new campaign, optionally with its seasons."""

    name: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=2000, le=2100)
    description: str = ""
    seasons: list[SeasonCreate] = []


class CampaignPublic(BaseModel):
    """A campaign with its seasons."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    year: int
    description: str
    created_at: datetime
    seasons: list[SeasonPublic]


class CampaignsPublic(BaseModel):
    """A list of campaigns."""

    data: list[CampaignPublic]
    count: int


class FlightAssignment(BaseModel):
    """Put a flight in a campaign (and season); the season is found from the capture date
    when not given."""

    season_id: int | None = None


class GridImportPublic(BaseModel):
    """What a grid import changed."""

    added: int
    updated: int
    plots_assigned: int
    repaired: dict[str, str]


class CellCoveragePublic(BaseModel):
    """Coverage of one cell: share flown and scanned, 0..1, and who answers for it."""

    code: str
    name: str
    parent_code: str
    area_m2: float
    covered_m2: float
    share: float
    surveyed: bool
    flight_ids: list[int]
    responsible: dict[str, Any]


class CoveragePublic(BaseModel):
    """Coverage of every cell; ``unsurveyed`` is the "zero omission" list."""

    campaign_id: int | None
    season_id: int | None
    threshold: float
    cells: list[CellCoveragePublic]
    surveyed: int
    unsurveyed: list[str]


class RevisitPublic(BaseModel):
    """An eradicated plot's revisit."""

    plot_id: int
    cell_id: int | None
    centroid_lon: float
    centroid_lat: float
    eradicated_at: datetime
    due: date | None
    overdue: bool
    flown_by_flight_id: int | None


class ReboundPublic(BaseModel):
    """A rebound alert: a new plot near an eradicated one."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    plot_id: int
    new_plot_id: int
    flight_id: int
    distance_m: float
    status: str
    created_at: datetime
