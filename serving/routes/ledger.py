"""The close-out ledger per cell and town, as JSON, CSV, XLSX or a printable HTML report.

Admins, analysts and researchers read it; patrols and pilots do not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import Response
from sqlalchemy.orm import Session

from serving.auth import ADMIN, ANALYST, RESEARCHER
from serving.campaigns import report_html, reports
from serving.campaigns.ledger import (
    LedgerPlot,
    cell_ledger,
    cell_states,
    count_outside,
    outside_plots,
    town_ledger,
    town_states,
)
from serving.campaigns.ledger_scope import (
    Scope,
    UnknownScopeError,
    UnknownUnitError,
    describe_scope,
)
from serving.deps import SessionDep, SettingsDep, require_roles
from serving.models import User
from serving.schemas.ledger import (
    CellLedgerPublic,
    CellsLedgerPublic,
    CellStatePublic,
    LedgerPlotPublic,
    LedgerPlotsPublic,
    TownLedgerPublic,
    TownsLedgerPublic,
    TownStatePublic,
)

router = APIRouter(prefix="/api/ledger", tags=["ledger"])
Reader = Annotated[User, Depends(require_roles(ADMIN, ANALYST, RESEARCHER))]
TableFormat = Literal["json", "csv", "xlsx"]
ReportFormat = Literal["json", "csv", "xlsx", "html"]
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {},
            reports.XLSX_MEDIA_TYPE: {},
            "text/html": {},
        },
        "description": "JSON, or the file asked for with `format`",
    },
    404: {"description": "No such cell, town, campaign or season"},
}


def ledger_scope(
    session: SessionDep,
    campaign_id: Annotated[int | None, Query(description="only this campaign's flights")] = None,
    season_id: Annotated[int | None, Query(description="only this season's flights")] = None,
) -> Scope:
    """The campaign / season a ledger request is about (404 when either does not exist)."""
    scope = Scope(campaign_id=campaign_id, season_id=season_id)
    check_scope(session, scope)
    return scope


def check_scope(session: Session, scope: Scope) -> str:
    """``scope`` described for people; 404 for unknown campaigns / seasons, 422 for nonsense."""
    try:
        return describe_scope(session, scope)
    except UnknownScopeError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


ScopeDep = Annotated[Scope, Depends(ledger_scope)]
FormatQuery = Annotated[
    ReportFormat, Query(alias="format", description="json, csv, xlsx or printable html")
]
TableFormatQuery = Annotated[TableFormat, Query(alias="format", description="json, csv or xlsx")]
ChipsQuery = Annotated[
    bool, Query(description="embed the evidence chips in the HTML report (bigger file)")
]


def file_response(body: bytes | str, fmt: str, stem: str) -> Response:
    """A CSV / XLSX download or an HTML page named after ``stem``."""
    return Response(
        body, media_type=reports.MEDIA_TYPES[fmt], headers=reports.download_headers(fmt, stem)
    )


def _not_found(exc: UnknownUnitError) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))


def _chips(plots: list[LedgerPlot], wanted: bool, settings: SettingsDep) -> dict[int, str]:
    return report_html.chip_data_uris(plots, settings.storage_root()) if wanted else {}


def _now() -> datetime:
    return datetime.now(UTC)


@router.get(
    "/cells", response_model=CellsLedgerPublic, responses=FILES, summary="Cells and close-out"
)
def list_cells(
    session: SessionDep,
    _reader: Reader,
    scope: ScopeDep,
    town: Annotated[str | None, Query(description="only this town's cells (code)")] = None,
    closed_out: Annotated[bool | None, Query(description="only cells (not) closed out")] = None,
    fmt: TableFormatQuery = "json",
) -> CellsLedgerPublic | Response:
    """Every cell with its coverage, plots and close-out state, by code.

    A cell is closed out when all its plots are closed and it is surveyed (flown and scanned
    over the survey threshold) by the campaign's / season's flights.
    """
    try:
        states = cell_states(session, scope, town)
    except UnknownUnitError as exc:
        raise _not_found(exc) from exc
    if closed_out is not None:
        states = [s for s in states if s.closed_out == closed_out]
    if fmt == "csv":
        return file_response(reports.to_csv(reports.cells_table(states)), fmt, "ledger-cells")
    if fmt == "xlsx":
        return file_response(reports.to_xlsx([reports.cells_table(states)]), fmt, "ledger-cells")
    return CellsLedgerPublic(
        data=[CellStatePublic.model_validate(s) for s in states],
        count=len(states),
        surveyed=sum(1 for s in states if s.surveyed),
        closed_out=sum(1 for s in states if s.closed_out),
        outside_grid=count_outside(session, scope),
    )


@router.get(
    "/cells/{code}",
    response_model=CellLedgerPublic,
    responses=FILES,
    summary="One cell's ledger",
)
def get_cell(
    code: str,
    session: SessionDep,
    settings: SettingsDep,
    _reader: Reader,
    scope: ScopeDep,
    fmt: FormatQuery = "json",
    chips: ChipsQuery = False,
) -> CellLedgerPublic | Response:
    """Every plot found in the cell with its full status history, from detection to closure.

    `format=csv` gives one row per plot (history in one column), `xlsx` sheets of the cell,
    its plots and every status change, `html` a printable report.
    """
    try:
        ledger = cell_ledger(session, code, scope)
    except UnknownUnitError as exc:
        raise _not_found(exc) from exc
    stem = f"ledger-{code}"
    if fmt == "csv":
        return file_response(reports.to_csv(reports.plots_table(ledger.plots)), fmt, stem)
    if fmt == "xlsx":
        tables = [
            reports.cells_table([ledger.cell], "Cell"),
            reports.plots_table(ledger.plots),
            reports.history_table(ledger.plots),
        ]
        return file_response(reports.to_xlsx(tables), fmt, stem)
    if fmt == "html":
        page = report_html.cell_report_html(
            ledger,
            check_scope(session, scope),
            _now(),
            _chips(ledger.plots, chips, settings),
        )
        return file_response(page, fmt, stem)
    return CellLedgerPublic(
        cell=CellStatePublic.model_validate(ledger.cell),
        plots=[LedgerPlotPublic.of(p) for p in ledger.plots],
        count=len(ledger.plots),
    )


@router.get(
    "/towns", response_model=TownsLedgerPublic, responses=FILES, summary="Towns and close-out"
)
def list_towns(
    session: SessionDep, _reader: Reader, scope: ScopeDep, fmt: TableFormatQuery = "json"
) -> TownsLedgerPublic | Response:
    """Every town's roll-up: cells surveyed and closed out, plots open; by code."""
    towns = town_states(session, scope)
    if fmt == "csv":
        return file_response(reports.to_csv(reports.towns_table(towns)), fmt, "ledger-towns")
    if fmt == "xlsx":
        return file_response(reports.to_xlsx([reports.towns_table(towns)]), fmt, "ledger-towns")
    return TownsLedgerPublic(
        data=[TownStatePublic.model_validate(t) for t in towns],
        count=len(towns),
        closed_out=sum(1 for t in towns if t.closed_out),
    )


@router.get(
    "/towns/{code}",
    response_model=TownLedgerPublic,
    responses=FILES,
    summary="One town's ledger",
)
def get_town(
    code: str,
    session: SessionDep,
    settings: SettingsDep,
    _reader: Reader,
    scope: ScopeDep,
    fmt: FormatQuery = "json",
    chips: ChipsQuery = False,
) -> TownLedgerPublic | Response:
    """The town's roll-up, every cell's state, and every plot in its cells with its history.

    `format=csv` gives one row per plot, `xlsx` sheets of cells, plots and status changes,
    `html` a printable report (a page per cell that has plots or is not closed out).
    """
    try:
        ledger = town_ledger(session, code, scope)
    except UnknownUnitError as exc:
        raise _not_found(exc) from exc
    stem = f"ledger-town-{code}"
    if fmt == "csv":
        return file_response(reports.to_csv(reports.plots_table(ledger.plots)), fmt, stem)
    if fmt == "xlsx":
        tables = [
            reports.towns_table([ledger.town], "Town"),
            reports.cells_table(ledger.cells),
            reports.plots_table(ledger.plots),
            reports.history_table(ledger.plots),
        ]
        return file_response(reports.to_xlsx(tables), fmt, stem)
    if fmt == "html":
        page = report_html.town_report_html(
            ledger,
            check_scope(session, scope),
            _now(),
            _chips(ledger.plots, chips, settings),
        )
        return file_response(page, fmt, stem)
    return TownLedgerPublic(
        town=TownStatePublic.model_validate(ledger.town),
        cells=[CellStatePublic.model_validate(c) for c in ledger.cells],
        plots=[LedgerPlotPublic.of(p) for p in ledger.plots],
    )


@router.get(
    "/outside",
    response_model=LedgerPlotsPublic,
    responses=FILES,
    summary="Plots outside every cell",
)
def get_outside(
    session: SessionDep,
    settings: SettingsDep,
    _reader: Reader,
    scope: ScopeDep,
    fmt: FormatQuery = "json",
    chips: ChipsQuery = False,
) -> LedgerPlotsPublic | Response:
    """Plots whose centroid lies in no grid cell, with histories: the grid may need a cell
    there, and until then nobody answers for them."""
    plots = outside_plots(session, scope)
    stem = "ledger-outside-grid"
    if fmt == "csv":
        return file_response(reports.to_csv(reports.plots_table(plots)), fmt, stem)
    if fmt == "xlsx":
        tables = [reports.plots_table(plots), reports.history_table(plots)]
        return file_response(reports.to_xlsx(tables), fmt, stem)
    if fmt == "html":
        title = f"Plots outside every cell — {check_scope(session, scope)}"
        page = report_html.plots_report_html(title, plots, _now(), _chips(plots, chips, settings))
        return file_response(page, fmt, stem)
    return LedgerPlotsPublic(data=[LedgerPlotPublic.of(p) for p in plots], count=len(plots))
