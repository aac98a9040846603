"""Ledger and statistics as tables and table files: CSV and XLSX.

Everything is first laid out as a :class:`Table` of plain values, so the CSV and the XLSX of
one thing hold the same rows. Text a person typed (notes, names) can never become a
spreadsheet formula: CSV cells starting with ``= + - @`` get a leading apostrophe, XLSX cells
are stored as text. The printable HTML reports are in :mod:`serving.campaigns.report_html`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from serving.campaigns.history import StatusEvent
from serving.campaigns.ledger import CellState, LedgerPlot, TownState
from serving.campaigns.statistics import METRICS, Counts, ModelRate, Statistics, YearOnYear

Value = str | int | float | None

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML_MEDIA_TYPE: Final = "text/html; charset=utf-8"
MEDIA_TYPES: Final = {"csv": CSV_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE, "html": HTML_MEDIA_TYPE}
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    """Rows of plain values under named columns; ``title`` names the XLSX sheet."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Value, ...]]


def download_headers(fmt: str, stem: str) -> dict[str, str]:
    """``Content-Disposition`` for a ``fmt`` file named after ``stem`` (HTML opens inline)."""
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in stem)
    disposition = "inline" if fmt == "html" else "attachment"
    return {"Content-Disposition": f'{disposition}; filename="{safe or "report"}.{fmt}"'}


def when(at: datetime | date | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM`` (UTC), a date as ``YYYY-MM-DD``; '' for None."""
    if at is None:
        return ""
    if isinstance(at, datetime):
        return at.strftime("%Y-%m-%d %H:%M")
    return at.isoformat()


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _history_text(events: Sequence[StatusEvent]) -> str:
    return " | ".join(f"{when(e.at)} {e.username}: {e.to_status}" for e in events)


PLOT_COLUMNS: Final = (
    "cell",
    "town",
    "plot_id",
    "flight_id",
    "job_id",
    "plot_no",
    "found_on",
    "class",
    "status",
    "verdict",
    "model_version",
    "lon",
    "lat",
    "area_m2",
    "plants_detected",
    "plants_reported",
    "plants_eradicated",
    "unit",
    "reviewed_at",
    "dispatched_at",
    "verified_at",
    "eradicated_at",
    "closed_at",
    "revisit_due",
    "history",
)


def plots_table(plots: Sequence[LedgerPlot], title: str = "Plots") -> Table:
    """One row per plot: where, what, where it got to and when, its history in one cell."""
    rows: list[tuple[Value, ...]] = []
    for p in plots:
        o = p.outcome
        rows.append(
            (
                p.cell_code or "",
                p.town_code or "",
                p.id,
                p.flight_id,
                p.job_id,
                p.seq,
                when(p.found_on),
                p.class_name,
                p.status,
                p.verdict or "",
                p.model_version,
                round(p.centroid_lon, 7),
                round(p.centroid_lat, 7),
                round(p.area_m2, 1),
                p.plant_count,
                p.reported_plant_count,
                p.plants_eradicated,
                p.assigned_unit,
                when(o.reviewed_at),
                when(o.dispatched_at),
                when(o.verified_at),
                when(o.eradicated_at),
                when(o.closed_at),
                when(p.revisit_due),
                _history_text(p.history),
            )
        )
    return Table(title, PLOT_COLUMNS, rows)


def history_table(plots: Sequence[LedgerPlot], title: str = "History") -> Table:
    """One row per status change of every plot, in plot order then time order."""
    columns: tuple[str, ...] = ("plot_id", "cell", "at", "user", "from_status", "to_status")
    columns += ("note", "plant_count", "lon", "lat")
    rows: list[tuple[Value, ...]] = [
        (
            *(p.id, p.cell_code or "", when(e.at), e.username, e.from_status, e.to_status),
            *(e.note, e.plant_count, e.lon, e.lat),
        )
        for p in plots
        for e in p.history
    ]
    return Table(title, columns, rows)


def cells_table(cells: Sequence[CellState], title: str = "Cells") -> Table:
    """One row per cell: coverage, plots and close-out."""
    columns: tuple[str, ...] = ("cell", "name", "village", "town", "area_ha", "covered_pct")
    columns += ("surveyed", "plots", "open_plots", "closed_out", "blockers", "flights")
    rows: list[tuple[Value, ...]] = [
        (
            *(c.code, c.name, c.village_code or "", c.town_code or ""),
            *(round(c.area_m2 / 1e4, 2), round(100 * c.covered_share, 1), _yes(c.surveyed)),
            *(c.plots, c.open_plots, _yes(c.closed_out), "; ".join(c.blockers)),
            " ".join(map(str, c.flight_ids)),
        )
        for c in cells
    ]
    return Table(title, columns, rows)


def towns_table(towns: Sequence[TownState], title: str = "Towns") -> Table:
    """One row per town: its cells surveyed and closed out, its plots."""
    columns: tuple[str, ...] = ("town", "name", "cells", "cells_surveyed", "cells_closed_out")
    columns += ("plots", "open_plots", "closed_out", "blockers")
    rows: list[tuple[Value, ...]] = [
        (
            *(t.code, t.name, t.cells, t.cells_surveyed, t.cells_closed_out, t.plots),
            *(t.open_plots, _yes(t.closed_out), "; ".join(t.blockers)),
        )
        for t in towns
    ]
    return Table(title, columns, rows)


def _metric_values(counts: Counts) -> tuple[Value, ...]:
    values: list[Value] = []
    for metric in METRICS:
        value = getattr(counts, metric)
        values.append(round(value, 1) if isinstance(value, float) else value)
    rate = counts.false_alarm_rate
    return (*values, None if rate is None else round(rate, 4))


def statistics_table(stats: Statistics) -> Table:
    """One row per group plus a ``total`` row, every metric as a column."""
    rows: list[tuple[Value, ...]] = [
        (g.key, g.name, *_metric_values(g.counts)) for g in stats.groups
    ]
    rows.append(("total", "", *_metric_values(stats.total)))
    return Table("Statistics", (stats.group_by, "name", *METRICS, "false_alarm_rate"), rows)


def year_on_year_table(yoy: YearOnYear) -> Table:
    """One row per group plus ``total``: each metric in both years, change and change %."""
    columns: list[str] = [yoy.group_by, "name"]
    for m in METRICS:
        columns += [f"{m}_{yoy.year}", f"{m}_{yoy.previous}", f"{m}_change", f"{m}_change_pct"]
    rows: list[tuple[Value, ...]] = []
    for g in [*yoy.groups, yoy.total]:
        row: list[Value] = [g.key, g.name]
        for m in METRICS:
            now, before, delta = getattr(g.current, m), getattr(g.previous, m), g.change[m]
            row += [
                round(now, 1) if isinstance(now, float) else now,
                round(before, 1) if isinstance(before, float) else before,
                round(delta, 1) if isinstance(delta, float) else delta,
                g.change_pct[m],
            ]
        rows.append(tuple(row))
    return Table("Year on year", tuple(columns), rows)


def false_alarm_table(rates: Sequence[ModelRate]) -> Table:
    """One row per model version: verdicts, false-alarm rate and its 95 % interval."""
    columns: tuple[str, ...] = ("model_version", "found", "verified", "positive")
    columns += ("false_alarm", "false_alarm_rate", "ci_low", "ci_high")

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    rows: list[tuple[Value, ...]] = [
        (
            *(m.model_version, m.found, m.verified, m.positive, m.false_alarm),
            *(r(m.false_alarm_rate), r(m.ci_low), r(m.ci_high)),
        )
        for m in rates
    ]
    return Table("False alarms", columns, rows)


def _csv_safe(value: Value) -> Value:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    """``table`` as UTF-8 CSV with a byte-order mark (so spreadsheet programs read the
    encoding right) and a header row; None becomes an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else _csv_safe(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """``tables`` as one workbook, a sheet each, header bold and frozen; text stays text."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for table in tables:
        sheet = workbook.create_sheet(table.title[:31])
        for col, name in enumerate(table.columns, start=1):
            sheet.cell(row=1, column=col, value=name).font = Font(bold=True)
        for r, row in enumerate(table.rows, start=2):
            for col, value in enumerate(row, start=1):
                if isinstance(value, str):
                    value = ILLEGAL_CHARACTERS_RE.sub("", value)
                cell = sheet.cell(row=r, column=col, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # never a formula, whatever the text starts with
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
