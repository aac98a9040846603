"""Campaign statistics: counts per cell, town, month, year or model version; year-on-year
change; false-alarm rate per model version. JSON, or CSV / XLSX with ``format``.

Every plot counts once, in the period it was found, with the outcome it has reached by now.
Admins, analysts and researchers read them; patrols and pilots do not.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from serving.auth import ADMIN, ANALYST, RESEARCHER
from serving.campaigns import reports
from serving.campaigns.ledger_scope import Scope
from serving.campaigns.statistics import false_alarm_rates, statistics, year_on_year
from serving.deps import SessionDep, require_roles
from serving.models import User
from serving.routes.ledger import TableFormatQuery, check_scope, file_response
from serving.schemas.stats import (
    ChangePublic,
    CountsPublic,
    FalseAlarmRatesPublic,
    GroupBy,
    ModelRatePublic,
    Stage,
    StatsPublic,
    StatsRowPublic,
    YearGroupBy,
    YearOnYearPublic,
)

router = APIRouter(prefix="/api/stats", tags=["statistics"])
Reader = Annotated[User, Depends(require_roles(ADMIN, ANALYST, RESEARCHER))]
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {}, reports.XLSX_MEDIA_TYPE: {}},
        "description": "JSON, or the file asked for with `format`",
    },
    404: {"description": "No such campaign or season"},
}
StageQuery = Annotated[Stage | None, Query(description="only flights of this growth stage")]


def stats_scope(
    session: SessionDep,
    campaign_id: Annotated[int | None, Query(description="only this campaign's flights")] = None,
    season_id: Annotated[int | None, Query(description="only this season's flights")] = None,
    stage: StageQuery = None,
    since: Annotated[date | None, Query(description="found on or after, YYYY-MM-DD")] = None,
    until: Annotated[date | None, Query(description="found on or before, YYYY-MM-DD")] = None,
) -> Scope:
    """Which plots to count (404 for an unknown campaign or season, 422 for since > until)."""
    scope = Scope(campaign_id, season_id, stage, since, until)
    check_scope(session, scope)
    return scope


ScopeDep = Annotated[Scope, Depends(stats_scope)]


@router.get("", response_model=StatsPublic, responses=FILES, summary="Counts per group")
def get_statistics(
    session: SessionDep,
    _reader: Reader,
    scope: ScopeDep,
    group_by: Annotated[GroupBy, Query(description="what to count per")] = "cell",
    fmt: TableFormatQuery = "json",
) -> StatsPublic | Response:
    """Plots found, dismissed, verified (positive / false alarm), eradicated, closed; plants
    eradicated; area found and eradicated (m²) — per cell, town, month (`YYYY-MM`), year or
    model version, and in total. Plots outside every cell group under `(outside grid)`."""
    stats = statistics(session, group_by, scope)
    if fmt != "json":
        table = reports.statistics_table(stats)
        body = reports.to_csv(table) if fmt == "csv" else reports.to_xlsx([table])
        return file_response(body, fmt, f"statistics-by-{group_by}")
    return StatsPublic(
        group_by=group_by,
        data=[
            StatsRowPublic(key=g.key, name=g.name, **CountsPublic.of(g.counts).model_dump())
            for g in stats.groups
        ],
        count=len(stats.groups),
        total=CountsPublic.of(stats.total),
    )


@router.get(
    "/year-on-year", response_model=YearOnYearPublic, responses=FILES, summary="Year on year"
)
def get_year_on_year(
    session: SessionDep,
    _reader: Reader,
    year: Annotated[
        int | None, Query(ge=1900, le=2999, description="the year to report; this year if unset")
    ] = None,
    previous: Annotated[
        int | None, Query(ge=1900, le=2999, description="compared with; the year before if unset")
    ] = None,
    group_by: Annotated[YearGroupBy, Query(description="month compares MM with MM")] = "town",
    stage: StageQuery = None,
    fmt: TableFormatQuery = "json",
) -> YearOnYearPublic | Response:
    """Every count for plots found in `year` against those found in `previous`, per group and
    in total, with the change and the change in percent (None where the earlier count is 0)."""
    year = year if year is not None else datetime.now(UTC).year
    yoy = year_on_year(session, year, group_by, Scope(stage=stage), previous)
    if fmt != "json":
        table = reports.year_on_year_table(yoy)
        body = reports.to_csv(table) if fmt == "csv" else reports.to_xlsx([table])
        return file_response(body, fmt, f"year-on-year-{yoy.year}-{yoy.previous}-by-{group_by}")
    return YearOnYearPublic(
        year=yoy.year,
        previous=yoy.previous,
        group_by=group_by,
        data=[ChangePublic.of(g) for g in yoy.groups],
        count=len(yoy.groups),
        total=ChangePublic.of(yoy.total),
    )


@router.get(
    "/false-alarm-rate",
    response_model=FalseAlarmRatesPublic,
    responses=FILES,
    summary="False-alarm rate per model version",
)
def get_false_alarm_rate(
    session: SessionDep, _reader: Reader, scope: ScopeDep, fmt: TableFormatQuery = "json"
) -> FalseAlarmRatesPublic | Response:
    """Per model version: plots found, verified, positive, false alarms, and the false-alarm
    rate `false_alarm / (positive + false_alarm)` with its Wilson 95 % interval — which model
    does better in the field, and how sure that is."""
    rates = false_alarm_rates(session, scope)
    if fmt != "json":
        table = reports.false_alarm_table(rates)
        body = reports.to_csv(table) if fmt == "csv" else reports.to_xlsx([table])
        return file_response(body, fmt, "false-alarm-rate")
    return FalseAlarmRatesPublic(data=[ModelRatePublic.of(r) for r in rates], count=len(rates))
