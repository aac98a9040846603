"""The close-out ledger: per grid cell, every plot with its status history, and close-out.

A plot's history and the outcome it reached are read from the audit log
(:mod:`serving.campaigns.history`); which plots and cells a ledger covers is chosen by a
:class:`~serving.campaigns.ledger_scope.Scope` (:mod:`serving.campaigns.ledger_scope`).

A cell is *closed out* when every plot found in it is ``closed`` and the cell counts as
surveyed (:meth:`serving.campaigns.coverage.CellCoverage.surveyed`) by the scanned flights of
the campaign or season asked about; a surveyed cell without plots is closed out too. Towns
roll their cells up through ``GridUnit.parent_id``. Plots outside every cell are listed on
their own, never dropped.

Dates: a plot is *found* on its flight's capture date, or the day it was stored when the flight
has none (UTC). All times are timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.campaigns.coverage import DEFAULT_SURVEYED_SHARE, CellArea, CellCoverage, cell_coverage
from serving.campaigns.grid_store import geometry_of
from serving.campaigns.history import (
    CLOSED,
    IDS_PER_QUERY,
    Outcome,
    StatusEvent,
    histories,
    outcome,
)
from serving.campaigns.ledger_scope import Hierarchy, Scope, scoped_plots, scoped_select
from serving.campaigns.survey import footprints, scanned_flights
from serving.models import GridUnit, Plot, Season

# Group keys of plots without a cell / cells without a town (codes never look like this).
OUTSIDE_GRID = "(outside grid)"
NO_TOWN = "(no town)"


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
    for start in range(0, len(ids), IDS_PER_QUERY):
        query = scoped_select(scope).where(Plot.cell_id.in_(ids[start : start + IDS_PER_QUERY]))
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
