"""Ledger and statistics as files: CSV, XLSX and printable, self-contained HTML.

Everything is first laid out as a :class:`Table` of plain values, so the CSV and the XLSX of
one thing hold the same rows. Text a person typed (notes, names) can never become a
spreadsheet formula: CSV cells starting with ``= + - @`` get a leading apostrophe, XLSX cells
are stored as text. HTML reports carry their CSS inline and reference nothing outside the
file (evidence chips, when asked for, are embedded as ``data:`` URIs), so they print and
archive as they are; every value is HTML-escaped.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Final

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from serving.campaigns.ledger import (
    CellLedger,
    CellState,
    LedgerPlot,
    StatusEvent,
    TownLedger,
    TownState,
)
from serving.campaigns.statistics import METRICS, Counts, ModelRate, Statistics, YearOnYear

Value = str | int | float | None

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HTML_MEDIA_TYPE: Final = "text/html; charset=utf-8"
MEDIA_TYPES: Final = {"csv": CSV_MEDIA_TYPE, "xlsx": XLSX_MEDIA_TYPE, "html": HTML_MEDIA_TYPE}
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_CHIP_TYPES: Final = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MAX_CHIP_BYTES: Final = 512 * 1024


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


def chip_data_uris(
    plots: Sequence[LedgerPlot], storage_root: Path, max_bytes: int = MAX_CHIP_BYTES
) -> dict[int, str]:
    """Evidence chips of ``plots`` as ``data:`` URIs, by plot id (missing, odd or big ones
    are left out); only files inside ``storage_root`` are read."""
    root = storage_root.resolve()
    out = {}
    for plot in plots:
        if not plot.chip_path:
            continue
        path = (root / plot.chip_path).resolve()
        media = _CHIP_TYPES.get(path.suffix.lower())
        if media is None or not path.is_relative_to(root) or not path.is_file():
            continue
        if path.stat().st_size > max_bytes:
            continue
        out[plot.id] = f"data:{media};base64,{base64.b64encode(path.read_bytes()).decode()}"
    return out


_CSS: Final = """
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
color:#111;margin:24px;max-width:1100px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 6px;border-bottom:2px solid #333}
h3{font-size:14px;margin:14px 0 4px}.meta{color:#555;margin:0 0 10px}
table{border-collapse:collapse;width:100%;margin:4px 0 10px}
th,td{border:1px solid #bbb;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right}
.state{display:inline-block;padding:3px 10px;border-radius:3px;font-weight:600}
.done{background:#d7f0d7;color:#135c13}.open{background:#fde2c8;color:#7a3a00}
.plot{break-inside:avoid;page-break-inside:avoid}
.chip{float:right;width:120px;height:120px;object-fit:cover;margin:0 0 6px 10px;
border:1px solid #999}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:6px 0}
dt{color:#555}dd{margin:0}
.cell{break-before:auto}
@page{size:A4;margin:12mm}
@media print{body{margin:0;max-width:none;font-size:10.5px}th{background:#eee!important}
.cell{break-before:page}.cell:first-of-type{break-before:auto}
.state{border:1px solid #333}}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _unit_label(kind: str, code: str, name: str) -> str:
    """``kind code``, with the unit's name when it says more than the code."""
    return f"{kind} {code}" if not name or code in name else f"{kind} {code} {name}"


def _state(closed_out: bool, blockers: Sequence[str]) -> str:
    if closed_out:
        return '<span class="state done">CLOSED OUT</span>'
    return f'<span class="state open">OPEN</span> {_e("; ".join(blockers))}'


def _table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_e(v)}</td>' if isinstance(v, int | float) else f"<td>{_e(v)}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _plot_section(plot: LedgerPlot, chip: str | None) -> str:
    o = plot.outcome
    image = f'<img class="chip" alt="evidence chip of plot {plot.id}" src="{chip}">' if chip else ""
    facts = [
        ("Found", f"{when(plot.found_on)} by flight {plot.flight_id} (plot no. {plot.seq})"),
        ("Where", f"{plot.centroid_lat:.6f}, {plot.centroid_lon:.6f} (lat, lon WGS84)"),
        ("Class / model", f"{plot.class_name} / {plot.model_version or 'unknown'}"),
        ("Area", f"{plot.area_m2:,.1f} m²"),
        ("Plants", f"{plot.plant_count} detected; {plot.reported_plant_count or '-'} reported"),
        ("Verdict", o.verdict or "-"),
        (
            "Eradicated",
            f"{when(o.eradicated_at)} ({o.plants_eradicated} plants)" if o.eradicated else "-",
        ),
        ("Closed", when(o.closed_at) or "-"),
        ("Patrol unit", plot.assigned_unit or "-"),
        ("Revisit due", when(plot.revisit_due) or "-"),
    ]
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    events = [
        (
            *(when(e.at), e.username, e.from_status, e.to_status, e.plant_count, e.note),
            "" if e.lat is None or e.lon is None else f"{e.lat:.6f}, {e.lon:.6f}",
        )
        for e in plot.history
    ]
    history = (
        _table(("when (UTC)", "who", "from", "to", "plants", "note", "where"), events)
        if events
        else "<p>No status changes recorded.</p>"
    )
    return (
        f'<div class="plot" id="plot-{plot.id}"><h3>Plot {plot.id} — {_e(plot.status)}</h3>'
        f"{image}<dl>{facts_html}</dl>{history}</div>"
    )


def _plots_html(plots: Sequence[LedgerPlot], chips: Mapping[int, str]) -> str:
    if not plots:
        return "<p>No plots found.</p>"
    summary = _table(
        ("plot", "found", "class", "status", "verdict", "area m²", "plants", "eradicated"),
        [
            (
                *(p.id, when(p.found_on), p.class_name, p.status, p.verdict or ""),
                *(round(p.area_m2, 1), p.plant_count, p.plants_eradicated),
            )
            for p in plots
        ],
    )
    return summary + "".join(_plot_section(p, chips.get(p.id)) for p in plots)


def _cell_html(cell: CellState, plots: Sequence[LedgerPlot], chips: Mapping[int, str]) -> str:
    people = "".join(
        f"<dt>{_e(k.replace('_', ' '))}</dt><dd>{_e(v)}</dd>" for k, v in cell.responsible.items()
    )
    facts = [
        ("Area", f"{cell.area_m2 / 1e4:,.2f} ha"),
        ("Surveyed", f"{cell.covered_share:.1%} ({'enough' if cell.surveyed else 'not enough'})"),
        ("Flights", ", ".join(map(str, cell.flight_ids)) or "none"),
        ("Plots", f"{cell.plots} ({cell.open_plots} not closed)"),
    ]
    facts_html = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    return (
        f'<section class="cell" id="cell-{_e(cell.code)}">'
        f"<h2>{_e(_unit_label('Cell', cell.code, cell.name))}</h2>"
        f"<p>{_state(cell.closed_out, cell.blockers)}</p>"
        f"<dl>{facts_html}{people}</dl>{_plots_html(plots, chips)}</section>"
    )


def cell_report_html(
    ledger: CellLedger, scope_label: str, generated_at: datetime, chips: Mapping[int, str]
) -> str:
    """A printable close-out report of one cell: state, responsible people, every plot and
    its history.

    Args:
        scope_label: What the report covers (campaign, season), for the header.
        generated_at: When the report was made, UTC.
        chips: Embedded evidence chips by plot id (``data:`` URIs), possibly empty.
    """
    cell = ledger.cell
    town = _unit_label("town", cell.town_code, cell.town_name) if cell.town_code else "no town"
    header = (
        f"<h1>Close-out ledger — cell {_e(cell.code)}</h1>"
        f'<p class="meta">{_e(town)} · {_e(scope_label)} · '
        f"generated {_e(when(generated_at))} UTC</p>"
    )
    return _page(f"Ledger {cell.code}", header + _cell_html(cell, ledger.plots, chips))


def town_report_html(
    ledger: TownLedger, scope_label: str, generated_at: datetime, chips: Mapping[int, str]
) -> str:
    """A printable close-out report of one town: roll-up, a table of its cells, then each cell
    that has plots or is not closed out, with every plot and its history (a page each)."""
    town = ledger.town
    header = (
        f"<h1>Close-out ledger — {_e(_unit_label('town', town.code, town.name))}</h1>"
        f'<p class="meta">{_e(scope_label)} · generated {_e(when(generated_at))} UTC</p>'
        f"<p>{_state(town.closed_out, town.blockers)}</p>"
        f"<dl><dt>Cells</dt><dd>{town.cells} ({town.cells_surveyed} surveyed, "
        f"{town.cells_closed_out} closed out)</dd><dt>Plots</dt><dd>{town.plots} "
        f"({town.open_plots} not closed)</dd></dl>"
    )
    cells = cells_table(ledger.cells)
    overview = "<h2>Cells</h2>" + _table(cells.columns, cells.rows)
    by_cell: dict[str, list[LedgerPlot]] = {}
    for plot in ledger.plots:
        by_cell.setdefault(plot.cell_code or "", []).append(plot)
    sections = "".join(
        _cell_html(c, by_cell.get(c.code, []), chips)
        for c in ledger.cells
        if c.plots or not c.closed_out
    )
    return _page(f"Ledger town {town.code}", header + overview + sections)


def plots_report_html(
    title: str, plots: Sequence[LedgerPlot], generated_at: datetime, chips: Mapping[int, str]
) -> str:
    """A printable list of plots with their histories (plots outside every cell, say)."""
    header = f'<h1>{_e(title)}</h1><p class="meta">generated {_e(when(generated_at))} UTC</p>'
    return _page(title, header + _plots_html(plots, chips))
