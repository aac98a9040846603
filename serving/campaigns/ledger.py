"""The close-out ledger: per grid cell, every plot with its status history, and close-out.

A plot's history is read from the append-only audit log: every audit event on the plot that
changed its status (``to_status`` set), oldest first, with who, when, where and the evidence
the person gave (note, plant count). The lifecycle rules themselves live elsewhere; the ledger
only reads what happened.

A cell is *closed out* when every plot found in it is ``closed`` and the cell counts as
surveyed (:meth:`serving.campaigns.coverage.CellCoverage.surveyed`) by the scanned flights of
the campaign or season asked about; a surveyed cell without plots is closed out too. Towns
roll their cells up through ``GridUnit.parent_id``. Plots outside every cell are listed on
their own, never dropped.

Dates: a plot is *found* on its flight's capture date, or the day it was stored when the flight
has none (UTC). All times are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from serving.campaigns.coverage import DEFAULT_SURVEYED_SHARE, CellArea, CellCoverage, cell_coverage
from serving.campaigns.grid_store import geometry_of
from serving.campaigns.survey import footprints, scanned_flights
from serving.models import AuditEvent, Campaign, Flight, GridUnit, Plot, Season

CLOSED = "closed"
DISMISSED = "dismissed"
DISPATCHED = "dispatched"
ERADICATED = "eradicated"
POSITIVE = "positive"
FALSE_ALARM = "false_alarm"
VERDICTS = (POSITIVE, FALSE_ALARM)
REVIEWS = ("suspect", DISMISSED)

# Group keys of plots without a cell / cells without a town (codes never look like this).
OUTSIDE_GRID = "(outside grid)"
NO_TOWN = "(no town)"

_CHUNK = 500  # ids per IN (...) query: far below SQLite's and PostgreSQL's parameter limits


class UnknownUnitError(LookupError):
    """No grid unit of the asked level has this code."""


class UnknownScopeError(LookupError):
    """A scope names a campaign or season that does not exist."""


@dataclass(frozen=True)
class Scope:
    """Which plots (and, for coverage, which flights) to look at; every filter is optional.

    Attributes:
        campaign_id: Only flights of this campaign.
        season_id: Only flights of this season.
        stage: Only flights of seasons at this growth stage (seedling, flowering, capsule).
        since: Only plots found on or after this date (UTC).
        until: Only plots found on or before this date (UTC).
    """

    campaign_id: int | None = None
    season_id: int | None = None
    stage: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class StatusEvent:
    """One status change of a plot, from the audit log.

    Attributes:
        at: When, UTC.
        lon, lat: Where the person was (a patrol's phone GPS), WGS84 degrees; None if unknown.
        plant_count: Plants the person counted (patrol reports), or None.
    """

    at: datetime
    username: str
    from_status: str
    to_status: str
    note: str = ""
    plant_count: int | None = None
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class Outcome:
    """Where a plot got to, read from its history and its current status.

    Attributes:
        verdict: The latest field verdict, ``positive`` or ``false_alarm`` (an eradicated plot
            without a recorded verdict counts as positive); None before verification.
        dismissed: An analyst dismissed it and it was never verified.
        eradicated: It was reported eradicated.
        closed: Its status is ``closed`` now.
        plants_eradicated: Plants reported at eradication (the eradication report's plant
            count, else the plot's reported count, else the detected count); 0 if not
            eradicated.
    """

    verdict: str | None
    dismissed: bool
    eradicated: bool
    closed: bool
    plants_eradicated: int
    reviewed_at: datetime | None = None
    dispatched_at: datetime | None = None
    verified_at: datetime | None = None
    eradicated_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class LedgerPlot:
    """One ledger row: a plot, where it is, where it got to, and its full status history.

    Attributes:
        cell_code: The cell holding its centroid; None outside every cell.
        found_on: Capture date of its flight (else the day it was stored), UTC.
        area_m2: Outline area, square metres.
        plant_count: Plants the scan found.
        reported_plant_count: Plants the patrol reported, if any.
        centroid_lon, centroid_lat: WGS84 degrees.
    """

    id: int
    cell_code: str | None
    town_code: str | None
    flight_id: int
    job_id: int
    seq: int
    class_name: str
    status: str
    found_on: date
    model_version: str
    centroid_lon: float
    centroid_lat: float
    area_m2: float
    plant_count: int
    reported_plant_count: int | None
    assigned_unit: str
    revisit_due: date | None
    chip_path: str
    outcome: Outcome
    history: tuple[StatusEvent, ...]

    @property
    def verdict(self) -> str | None:
        """The field verdict (see :class:`Outcome`)."""
        return self.outcome.verdict

    @property
    def plants_eradicated(self) -> int | None:
        """Plants reported at eradication; None when not eradicated."""
        return self.outcome.plants_eradicated if self.outcome.eradicated else None


@dataclass(frozen=True)
class CellState:
    """Close-out state of one cell.

    Attributes:
        area_m2: Cell area, square metres.
        covered_share: Share of the cell flown and scanned, 0..1.
        surveyed: ``covered_share`` reaches the survey threshold.
        plots: Plots found in the cell (in scope); ``open_plots`` of them not closed.
        blockers: Why the cell is not closed out, for people (empty when it is).
    """

    code: str
    name: str
    village_code: str | None
    town_code: str | None
    town_name: str
    area_m2: float
    covered_share: float
    surveyed: bool
    flight_ids: tuple[int, ...]
    plots: int
    open_plots: int
    closed_out: bool
    blockers: tuple[str, ...]
    responsible: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CellLedger:
    """A cell's state and every plot found in it (in scope), oldest first."""

    cell: CellState
    plots: list[LedgerPlot]


@dataclass(frozen=True)
class TownState:
    """Close-out roll-up of one town: closed out when every one of its cells is."""

    code: str
    name: str
    cells: int
    cells_surveyed: int
    cells_closed_out: int
    plots: int
    open_plots: int
    closed_out: bool
    blockers: tuple[str, ...]


@dataclass(frozen=True)
class TownLedger:
    """A town's roll-up, its cells' states and every plot found in its cells."""

    town: TownState
    cells: list[CellState]
    plots: list[LedgerPlot]


class Hierarchy:
    """The grid units, with lookups up (cell -> town) and down (town -> cells) the tree."""

    def __init__(self, units: Iterable[GridUnit]) -> None:
        self.by_id = {u.id: u for u in units}
        self.by_code = {u.code: u for u in self.by_id.values()}

    @classmethod
    def load(cls, session: Session) -> Hierarchy:
        """Every grid unit in the database."""
        return cls(session.scalars(select(GridUnit)))

    def ancestor(self, unit_id: int | None, level: str) -> GridUnit | None:
        """The unit of ``level`` above ``unit_id`` (itself if it is of that level)."""
        seen: set[int] = set()
        while unit_id is not None and unit_id not in seen:
            seen.add(unit_id)
            unit = self.by_id.get(unit_id)
            if unit is None:
                return None
            if unit.level == level:
                return unit
            unit_id = unit.parent_id
        return None

    def cells(self, town_code: str | None = None) -> list[GridUnit]:
        """All cells, or those of one town, by code."""
        out = [u for u in self.by_id.values() if u.level == "cell"]
        if town_code is not None:
            out = [c for c in out if (t := self.ancestor(c.id, "town")) and t.code == town_code]
        return sorted(out, key=lambda c: c.code)

    def unit(self, code: str, level: str) -> GridUnit:
        """The unit of ``level`` with ``code``.

        Raises:
            UnknownUnitError: when there is none.
        """
        unit = self.by_code.get(code)
        if unit is None or unit.level != level:
            raise UnknownUnitError(f"no {level} with code {code!r}")
        return unit


def describe_scope(session: Session, scope: Scope) -> str:
    """What ``scope`` covers, for report headers: ``campaign X, season Y (flowering), ...``.

    Raises:
        UnknownScopeError: the campaign or season does not exist.
        ValueError: the season is not part of the campaign, or ``since`` is after ``until``.
    """
    parts = []
    if scope.campaign_id is not None:
        campaign = session.get(Campaign, scope.campaign_id)
        if campaign is None:
            raise UnknownScopeError(f"no campaign {scope.campaign_id}")
        parts.append(f"campaign {campaign.name}")
    if scope.season_id is not None:
        season = session.get(Season, scope.season_id)
        if season is None:
            raise UnknownScopeError(f"no season {scope.season_id}")
        if scope.campaign_id is not None and season.campaign_id != scope.campaign_id:
            raise ValueError(f"season {season.id} is not part of campaign {scope.campaign_id}")
        parts.append(f"season {season.name} ({season.stage})")
    if scope.stage is not None:
        parts.append(f"{scope.stage} stage")
    if scope.since is not None and scope.until is not None and scope.since > scope.until:
        raise ValueError(f"since ({scope.since}) is after until ({scope.until})")
    if scope.since is not None or scope.until is not None:
        parts.append(f"found {scope.since or '…'} to {scope.until or '…'}")
    return ", ".join(parts) or "all campaigns"


def utc(at: datetime) -> datetime:
    """A database time as aware UTC (SQLite hands back naive UTC times)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def found_on(plot: Plot, captured_on: date | None) -> date:
    """The day a plot was found: its flight's capture date, else the day it was stored (UTC)."""
    return captured_on if captured_on is not None else utc(plot.created_at).date()


def scoped_select(scope: Scope) -> Select[Plot, date | None]:
    """Plots (with their flight's capture date) of the scope's campaign / season / stage."""
    query = select(Plot, Flight.captured_on).join(Flight, Plot.flight_id == Flight.id)
    if scope.campaign_id is not None:
        query = query.where(Flight.campaign_id == scope.campaign_id)
    if scope.season_id is not None:
        query = query.where(Flight.season_id == scope.season_id)
    if scope.stage is not None:
        query = query.join(Season, Flight.season_id == Season.id).where(Season.stage == scope.stage)
    return query.order_by(Plot.id)


def scoped_plots(
    session: Session, scope: Scope, query: Select[Plot, date | None] | None = None
) -> list[tuple[Plot, date]]:
    """Plots in ``scope`` with the day each was found, by id.

    Args:
        query: :func:`scoped_select` narrowed further (to some cells, say); that of
            ``scope`` when None.
    """
    rows = session.execute(query if query is not None else scoped_select(scope)).all()
    out = []
    for plot, captured_on in rows:
        day = found_on(plot, captured_on)
        if (scope.since is None or day >= scope.since) and (
            scope.until is None or day <= scope.until
        ):
            out.append((plot, day))
    return out


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def histories(session: Session, plot_ids: Sequence[int]) -> dict[int, list[StatusEvent]]:
    """Every status change of each plot, oldest first (plots without changes get [])."""
    out: dict[int, list[StatusEvent]] = {pid: [] for pid in plot_ids}
    ids = list(out)
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(AuditEvent)
            .where(AuditEvent.plot_id.in_(ids[start : start + _CHUNK]), AuditEvent.to_status != "")
            .order_by(AuditEvent.at, AuditEvent.id)
        )
        for event in session.scalars(query):
            details = event.details or {}
            out[int(event.plot_id or 0)].append(
                StatusEvent(
                    at=utc(event.at),
                    username=event.username,
                    from_status=event.from_status,
                    to_status=event.to_status,
                    note=str(details.get("note") or ""),
                    plant_count=_int_or_none(details.get("plant_count")),
                    lon=event.lon,
                    lat=event.lat,
                )
            )
    return out


def outcome(plot: Plot, history: Sequence[StatusEvent]) -> Outcome:
    """Where ``plot`` got to: verdict, eradication, closure and their times."""

    def first(*statuses: str) -> StatusEvent | None:
        return next((e for e in history if e.to_status in statuses), None)

    def last(*statuses: str) -> StatusEvent | None:
        return next((e for e in reversed(history) if e.to_status in statuses), None)

    verdict_event = last(*VERDICTS)
    verdict = verdict_event.to_status if verdict_event else None
    if plot.status in VERDICTS:
        verdict = plot.status
    erased = last(ERADICATED)
    eradicated = erased is not None or plot.status == ERADICATED
    if verdict is None and eradicated:
        verdict = POSITIVE
    plants = 0
    if eradicated:
        counts = (erased.plant_count if erased else None, plot.reported_plant_count)
        plants = next((c for c in counts if c is not None), plot.plant_count)
    closed = plot.status == CLOSED
    closed_event = last(CLOSED) if closed else None
    reviewed = first(*REVIEWS)
    dispatched = first(DISPATCHED)
    return Outcome(
        verdict=verdict,
        dismissed=verdict is None and (plot.status == DISMISSED or first(DISMISSED) is not None),
        eradicated=eradicated,
        closed=closed,
        plants_eradicated=plants,
        reviewed_at=reviewed.at if reviewed else None,
        dispatched_at=dispatched.at if dispatched else None,
        verified_at=verdict_event.at if verdict_event else None,
        eradicated_at=erased.at if erased else None,
        closed_at=closed_event.at if closed_event else None,
    )


def ledger_plots(
    session: Session, rows: Sequence[tuple[Plot, date]], hierarchy: Hierarchy
) -> list[LedgerPlot]:
    """Ledger rows for ``rows`` (plots with the day each was found), in the given order."""
    history = histories(session, [p.id for p, _ in rows])
    out = []
    for plot, day in rows:
        cell = hierarchy.by_id.get(plot.cell_id) if plot.cell_id is not None else None
        town = hierarchy.ancestor(plot.cell_id, "town")
        events = tuple(history[plot.id])
        out.append(
            LedgerPlot(
                id=plot.id,
                cell_code=cell.code if cell else None,
                town_code=town.code if town else None,
                flight_id=plot.flight_id,
                job_id=plot.job_id,
                seq=plot.seq,
                class_name=plot.class_name,
                status=plot.status,
                found_on=day,
                model_version=plot.model_version,
                centroid_lon=plot.centroid_lon,
                centroid_lat=plot.centroid_lat,
                area_m2=plot.area_m2,
                plant_count=plot.plant_count,
                reported_plant_count=plot.reported_plant_count,
                assigned_unit=plot.assigned_unit,
                revisit_due=plot.revisit_due,
                chip_path=plot.chip_path,
                outcome=outcome(plot, events),
                history=events,
            )
        )
    return out


def coverage_of(
    session: Session, cells: Sequence[GridUnit], scope: Scope
) -> dict[str, CellCoverage]:
    """Coverage of ``cells`` by the scope's scanned flights (campaign and season), by code."""
    flights = scanned_flights(session, scope.campaign_id, scope.season_id)
    if scope.stage is not None:
        stages = dict(session.execute(select(Season.id, Season.stage)).tuples().all())
        flights = [f for f in flights if stages.get(f.season_id or 0) == scope.stage]
    areas = [CellArea(c.code, geometry_of(c), c.area_m2) for c in cells]
    return {c.code: c for c in cell_coverage(areas, footprints(flights))}


def cell_state(
    cell: GridUnit,
    hierarchy: Hierarchy,
    coverage: CellCoverage,
    statuses: Sequence[str],
    threshold: float = DEFAULT_SURVEYED_SHARE,
) -> CellState:
    """Close-out state of ``cell`` given its coverage and the statuses of its plots."""
    open_plots = sum(1 for s in statuses if s != CLOSED)
    surveyed = coverage.surveyed(threshold)
    blockers = []
    if open_plots:
        blockers.append(f"{open_plots} of {len(statuses)} plot(s) not closed")
    if not surveyed:
        blockers.append(f"{coverage.share:.0%} surveyed (needs {threshold:.0%})")
    village = hierarchy.ancestor(cell.parent_id, "village")
    town = hierarchy.ancestor(cell.id, "town")
    return CellState(
        code=cell.code,
        name=cell.name,
        village_code=village.code if village else None,
        town_code=town.code if town else None,
        town_name=town.name if town else "",
        area_m2=cell.area_m2,
        covered_share=coverage.share,
        surveyed=surveyed,
        flight_ids=coverage.flight_ids,
        plots=len(statuses),
        open_plots=open_plots,
        closed_out=not blockers,
        blockers=tuple(blockers),
        responsible={str(k): str(v) for k, v in (cell.responsible or {}).items()},
    )


def cell_states(
    session: Session,
    scope: Scope,
    town_code: str | None = None,
    hierarchy: Hierarchy | None = None,
) -> list[CellState]:
    """Close-out state of every cell (or every cell of one town), by code.

    Raises:
        UnknownUnitError: ``town_code`` names no town.
    """
    hierarchy = hierarchy or Hierarchy.load(session)
    if town_code is not None:
        hierarchy.unit(town_code, "town")
    cells = hierarchy.cells(town_code)
    coverage = coverage_of(session, cells, scope)
    statuses: dict[int, list[str]] = {c.id: [] for c in cells}
    for plot, _day in scoped_plots(session, scope):
        if plot.cell_id in statuses:
            statuses[plot.cell_id].append(plot.status)
    return [cell_state(c, hierarchy, coverage[c.code], statuses[c.id]) for c in cells]


def cell_ledger(session: Session, code: str, scope: Scope) -> CellLedger:
    """One cell's close-out state and every plot found in it, with histories.

    Raises:
        UnknownUnitError: ``code`` names no cell.
    """
    hierarchy = Hierarchy.load(session)
    cell = hierarchy.unit(code, "cell")
    rows = scoped_plots(session, scope, scoped_select(scope).where(Plot.cell_id == cell.id))
    coverage = coverage_of(session, [cell], scope)[cell.code]
    state = cell_state(cell, hierarchy, coverage, [p.status for p, _ in rows])
    return CellLedger(state, ledger_plots(session, rows, hierarchy))


def town_state(code: str, name: str, cells: Sequence[CellState]) -> TownState:
    """Roll ``cells`` up into their town's state."""
    closed_out = sum(1 for c in cells if c.closed_out)
    blockers = []
    if not cells:
        blockers.append("no cells")
    elif closed_out < len(cells):
        blockers.append(f"{len(cells) - closed_out} of {len(cells)} cell(s) not closed out")
    return TownState(
        code=code,
        name=name,
        cells=len(cells),
        cells_surveyed=sum(1 for c in cells if c.surveyed),
        cells_closed_out=closed_out,
        plots=sum(c.plots for c in cells),
        open_plots=sum(c.open_plots for c in cells),
        closed_out=not blockers,
        blockers=tuple(blockers),
    )


def town_states(session: Session, scope: Scope) -> list[TownState]:
    """Roll-up of every town, by code (cells without a town are left out here)."""
    hierarchy = Hierarchy.load(session)
    by_town: dict[str, list[CellState]] = {}
    for state in cell_states(session, scope, hierarchy=hierarchy):
        if state.town_code is not None:
            by_town.setdefault(state.town_code, []).append(state)
    towns = sorted((u for u in hierarchy.by_id.values() if u.level == "town"), key=lambda u: u.code)
    return [town_state(t.code, t.name, by_town.get(t.code, [])) for t in towns]


def town_ledger(session: Session, code: str, scope: Scope) -> TownLedger:
    """One town's roll-up, its cells' states and every plot in its cells, with histories.

    Raises:
        UnknownUnitError: ``code`` names no town.
    """
    hierarchy = Hierarchy.load(session)
    town = hierarchy.unit(code, "town")
    cells = cell_states(session, scope, town.code, hierarchy)
    ids = [hierarchy.by_code[c.code].id for c in cells]
    rows = []
    for start in range(0, len(ids), _CHUNK):
        query = scoped_select(scope).where(Plot.cell_id.in_(ids[start : start + _CHUNK]))
        rows.extend(scoped_plots(session, scope, query))
    order = {cell_id: i for i, cell_id in enumerate(ids)}
    rows.sort(key=lambda r: (order[r[0].cell_id or 0], r[0].id))
    return TownLedger(
        town_state(town.code, town.name, cells), cells, ledger_plots(session, rows, hierarchy)
    )


def outside_plots(session: Session, scope: Scope) -> list[LedgerPlot]:
    """Plots whose centroid lies in no cell (or found before any grid was imported)."""
    rows = scoped_plots(session, scope, scoped_select(scope).where(Plot.cell_id.is_(None)))
    return ledger_plots(session, rows, Hierarchy.load(session))


def count_outside(session: Session, scope: Scope) -> int:
    """How many plots in scope lie in no cell."""
    query = scoped_select(scope).where(Plot.cell_id.is_(None))
    return len(scoped_plots(session, scope, query))
