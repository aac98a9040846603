"""Printable, self-contained HTML close-out reports of cells, towns and lists of plots.

The reports carry their CSS inline and reference nothing outside the file (evidence chips,
when asked for, are embedded as ``data:`` URIs), so they print and archive as they are; every
value is HTML-escaped. Tables of plain values and their CSV/XLSX files are in
:mod:`serving.campaigns.reports`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

from serving.campaigns.ledger import CellLedger, CellState, LedgerPlot, TownLedger
from serving.campaigns.reports import cells_table, when
from serving.photos import image_data_uri

MAX_CHIP_BYTES: Final = 512 * 1024


def chip_data_uris(
    plots: Sequence[LedgerPlot], storage_root: Path, max_bytes: int = MAX_CHIP_BYTES
) -> dict[int, str]:
    """Evidence chips of ``plots`` as ``data:`` URIs, by plot id (missing, odd or big ones
    are left out); only files inside ``storage_root`` are read."""
    uris = {p.id: image_data_uri(storage_root, p.chip_path, max_bytes) for p in plots}
    return {plot_id: uri for plot_id, uri in uris.items() if uri is not None}


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
