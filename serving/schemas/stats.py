"""Statistics bodies: counts per group, year-on-year change, false-alarm rate per model."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, Field

from serving.campaigns.statistics import Change, Counts, ModelRate

GroupBy = Literal["cell", "town", "month", "year", "model_version"]
YearGroupBy = Literal["cell", "town", "month", "model_version"]
Stage = Literal["seedling", "flowering", "capsule"]


class CountsPublic(BaseModel):
    """What happened to a set of plots, each counted in the period it was found."""

    found: int = Field(description="plots found")
    dismissed: int = Field(description="dismissed by an analyst, never verified")
    verified: int = Field(description="reached a field verdict (positive or false_alarm)")
    positive: int
    false_alarm: int
    eradicated: int
    closed: int
    plants_eradicated: int = Field(description="plants reported at eradication")
    area_found_m2: float = Field(description="outline area of the plots found, m²")
    area_eradicated_m2: float = Field(description="outline area of the plots eradicated, m²")
    false_alarm_rate: float | None = Field(
        description="false_alarm / (positive + false_alarm), 0..1; None without verdicts"
    )

    @classmethod
    def of(cls, counts: Counts) -> CountsPublic:
        """From :class:`serving.campaigns.statistics.Counts`."""
        return cls(**asdict(counts), false_alarm_rate=counts.false_alarm_rate)


class StatsRowPublic(CountsPublic):
    """The counts of one group."""

    key: str = Field(description="cell or town code, YYYY-MM, YYYY or model version")
    name: str = Field(description="the cell's or town's name ('' for other groupings)")


class StatsPublic(BaseModel):
    """Counts per group (by key) and in total."""

    group_by: GroupBy
    data: list[StatsRowPublic]
    count: int
    total: CountsPublic


class ChangePublic(BaseModel):
    """One group in two years and the change of every count."""

    key: str = Field(description="cell or town code, month MM, model version, or 'total'")
    name: str
    current: CountsPublic
    previous: CountsPublic
    change: dict[str, float] = Field(description="current - previous, per count")
    change_pct: dict[str, float | None] = Field(
        description="change in percent of previous; None where previous is 0"
    )

    @classmethod
    def of(cls, change: Change) -> ChangePublic:
        """From :class:`serving.campaigns.statistics.Change`."""
        return cls(
            key=change.key,
            name=change.name,
            current=CountsPublic.of(change.current),
            previous=CountsPublic.of(change.previous),
            change=change.change,
            change_pct=change.change_pct,
        )


class YearOnYearPublic(BaseModel):
    """Plots found in ``year`` against those found in ``previous``, per group."""

    year: int
    previous: int
    group_by: YearGroupBy
    data: list[ChangePublic]
    count: int
    total: ChangePublic


class ModelRatePublic(BaseModel):
    """How one model version fared in the field."""

    model_version: str
    found: int
    verified: int
    positive: int
    false_alarm: int
    false_alarm_rate: float | None = Field(
        description="false_alarm / (positive + false_alarm), 0..1; None without verdicts"
    )
    ci_low: float | None = Field(description="Wilson 95 % interval of the rate, low end")
    ci_high: float | None = Field(description="Wilson 95 % interval of the rate, high end")

    @classmethod
    def of(cls, rate: ModelRate) -> ModelRatePublic:
        """From :class:`serving.campaigns.statistics.ModelRate`."""
        return cls(**asdict(rate))


class FalseAlarmRatesPublic(BaseModel):
    """False-alarm rate of every model version that found plots, by version."""

    data: list[ModelRatePublic]
    count: int
