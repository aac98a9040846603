"""Ledger, close-out and statistics on the synthetic campaign, against hand-computed values.

The campaign (``campaign_data``): 200 cells of 500 m in 15 towns of 4 x 4 cells, 20 flights,
15 plots. The numbers below are worked out from its docstring and :data:`PLOTS`:

    label cell    year flight model  path                area  plants reported eradicated
    P1    G00-00  2026  0 (Mar) v2   eradicated_closed    400  120    115      110
    P2    G00-00  2026  0 (Mar) v2   false_alarm_closed   150   30
    P3    G00-01  2026  0 (Mar) v2   dismissed_closed      80   10
    P4    G00-02  2026  0 (Mar) v3   eradicated           300   90    100       95
    P5    G01-00  2026  0 (Mar) v3   positive             200   60     58
    P6    G06-19  2026 15 (May) v3   eradicated_closed    250   70     66       64
    P7    G04-04  2026  8 (May) v3   dispatched           100   25
    P8    G04-04  2026  8 (May) v3   suspect              120   20
    P9    G04-04  2026  8 (May) v3   new                   50    8
    P10   G04-04  2026  8 (May) v2   false_alarm           60   12
    P11   outside 2026  0 (Mar) v2   new                   70   15
    Q1    G00-00  2025 16 (Mar) v1   eradicated_closed    500  150    150      140
    Q2    G00-05  2025 17 (Mar) v1   false_alarm_closed    90   20
    Q3    G02-02  2025 18 (Mar) v1   eradicated_closed    220   40     38       35
    Q4    G02-06  2025 19 (Mar) v1   false_alarm           40    5

Towns: G00-00..G03-03 are in T00-00, G00-05 and G02-06 in T00-01, G04-04 in T01-01, G06-19
in T01-04.
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import openpyxl
import pytest
from campaign_data import CHIP_BYTES, HOSTILE_NOTE, CampaignData, build_campaign
from fastapi.testclient import TestClient
from servers import Server, add_people, database, make_settings

from serving.app import create_app
from serving.campaigns.reports import Table, to_csv


@dataclass
class Site:
    """A server holding the synthetic campaign, with logins cached per person.

    Every test here only reads, so one server per database serves the whole module (building
    the campaign and hashing the people's passwords once, not once per test).
    """

    server: Server
    data: CampaignData
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        if who not in self._headers:
            self._headers[who] = self.server.headers(who)
        return self._headers[who]

    def get(self, path: str, who: str | None = "ana", **params: Any) -> httpx.Response:
        headers = self.headers(who) if who else {}
        return self.server.client.get(path, params=params, headers=headers)

    def json(self, path: str, who: str = "ana", **params: Any) -> dict[str, Any]:
        response = self.get(path, who, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """One server per database with the people of ``servers.PEOPLE`` and the campaign."""
    tmp = tmp_path_factory.mktemp(f"ledger-{request.param}")
    with database(request.param, tmp) as url:
        settings = make_settings(tmp, url)
        app = create_app(settings)
        add_people(settings)
        data = build_campaign(settings, tmp)
        with TestClient(app) as client:
            yield Site(Server(client, settings), data)


def _csv(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def _same(value: object) -> object:
    """A cell value as CSV and XLSX can both hold it (XLSX gives 400 back for 400.0)."""
    text = "" if value is None else str(value)
    try:
        return float(text)
    except ValueError:
        return text


def test_coverage_and_cell_close_out(site: Site) -> None:
    c26 = site.data.campaign_2026
    body = site.json("/api/ledger/cells", campaign_id=c26)
    cells = {c["code"]: c for c in body["data"]}
    assert body["count"] == 200
    # Rows 0-7 are flown (160 cells) except G06-19 and G07-19, half flown: 158 surveyed.
    assert body["surveyed"] == 158
    # Of those, G00-02 (P4 eradicated), G01-00 (P5 positive) and G04-04 (P7-P10) have open
    # plots: 158 - 3 = 155 closed out.
    assert body["closed_out"] == 155
    assert body["outside_grid"] == 1  # P11
    assert cells["G00-00"]["covered_share"] == pytest.approx(1.0, abs=1e-3)
    # G06-19: left half by flight 15, plus the top 20 m of the right half by flight 11's pad:
    # (250 x 500 + 250 x 20) / 250,000 = 0.52. G07-19: the left half only, 0.50.
    assert cells["G06-19"]["covered_share"] == pytest.approx(0.52, abs=0.01)
    assert cells["G07-19"]["covered_share"] == pytest.approx(0.50, abs=0.01)
    # Row 8 gets the 20 m pad of the row 6-7 flights: 20 / 500 = 0.04; row 9 nothing.
    assert cells["G08-00"]["covered_share"] == pytest.approx(0.04, abs=0.01)
    assert cells["G09-00"]["covered_share"] == 0.0
    flights = site.data.flights
    assert sorted(cells["G06-19"]["flight_ids"]) == [flights[11], flights[15]]

    g0000, g0002, g0619 = cells["G00-00"], cells["G00-02"], cells["G06-19"]
    assert (g0000["plots"], g0000["open_plots"], g0000["closed_out"]) == (2, 0, True)
    assert (g0002["plots"], g0002["open_plots"], g0002["closed_out"]) == (1, 1, False)
    assert g0002["blockers"] == ["1 of 1 plot(s) not closed"]
    # P6 is closed, but the cell is only half flown.
    assert (g0619["plots"], g0619["open_plots"], g0619["closed_out"]) == (1, 0, False)
    assert g0619["blockers"] == ["52% surveyed (needs 95%)"]
    assert cells["G00-03"]["plots"] == 0 and cells["G00-03"]["closed_out"]  # flown, no plots
    assert not cells["G08-00"]["closed_out"]
    assert g0000["town_code"] == "T00-00" and g0000["village_code"] == "V00-00"
    assert g0000["responsible"]["grid_worker"] == "Worker G00-00"

    still_open = site.json("/api/ledger/cells", campaign_id=c26, town="T00-00", closed_out=False)
    assert [c["code"] for c in still_open["data"]] == ["G00-02", "G01-00"]

    # Without a campaign, 2025's Q4 (G02-06, false alarm not closed) opens one more cell;
    # 2025's flights only cover cells 2026 covered already: 158 - 4 = 154.
    everything = site.json("/api/ledger/cells")
    assert (everything["surveyed"], everything["closed_out"]) == (158, 154)


def test_cell_ledger_lists_every_plot_with_its_history(site: Site) -> None:
    ids, c26 = site.data.plots, site.data.campaign_2026
    body = site.json("/api/ledger/cells/G00-00")
    assert body["cell"]["closed_out"] is True
    assert [p["id"] for p in body["plots"]] == [ids["P1"], ids["P2"], ids["Q1"]]
    assert body["count"] == 3
    p1 = body["plots"][0]
    steps = ["suspect", "dispatched", "positive", "eradicated", "closed"]
    assert [e["to_status"] for e in p1["history"]] == steps
    assert [e["from_status"] for e in p1["history"]] == ["new", *steps[:-1]]
    assert [e["username"] for e in p1["history"]] == ["ana", "ana", "pat", "pat", "ana"]
    assert [e["plant_count"] for e in p1["history"]] == [None, None, 115, 110, None]
    # Found 2026-03-10 (flight 0); step i at 09:00 UTC on day 10 + i.
    assert p1["found_on"] == "2026-03-10"
    assert p1["history"][0]["at"].startswith("2026-03-11T09:00:00")
    assert p1["eradicated_at"].startswith("2026-03-14T09:00:00")
    assert p1["closed_at"].startswith("2026-03-15T09:00:00")
    assert (p1["status"], p1["verdict"], p1["plants_eradicated"]) == ("closed", "positive", 110)
    assert p1["history"][2]["lat"] is not None  # the patrol's position at the report
    p2 = body["plots"][1]
    assert (p2["verdict"], p2["plants_eradicated"]) == ("false_alarm", None)
    assert p2["history"][2]["note"] == HOSTILE_NOTE

    only_2026 = site.json("/api/ledger/cells/G00-00", campaign_id=c26)
    assert [p["id"] for p in only_2026["plots"]] == [ids["P1"], ids["P2"]]

    g0404 = site.json("/api/ledger/cells/G04-04", campaign_id=c26)
    assert [p["status"] for p in g0404["plots"]] == ["dispatched", "suspect", "new", "false_alarm"]
    assert g0404["plots"][2]["history"] == []
    assert g0404["cell"]["blockers"] == ["4 of 4 plot(s) not closed"]

    outside = site.json("/api/ledger/outside")
    assert [p["id"] for p in outside["data"]] == [ids["P11"]]
    assert outside["data"][0]["cell_code"] is None


def test_town_roll_up(site: Site) -> None:
    towns = site.json("/api/ledger/towns", campaign_id=site.data.campaign_2026)
    by_code = {t["code"]: t for t in towns["data"]}
    assert towns["count"] == 15
    # T00-00: 16 flown cells, G00-02 and G01-00 open -> 14 closed out.
    t = by_code["T00-00"]
    assert (t["cells"], t["cells_surveyed"], t["cells_closed_out"]) == (16, 16, 14)
    assert (t["plots"], t["open_plots"], t["closed_out"]) == (5, 2, False)
    assert by_code["T00-04"]["closed_out"] and by_code["T00-04"]["cells_closed_out"] == 16
    assert by_code["T01-01"]["cells_closed_out"] == 15  # G04-04
    assert by_code["T01-04"]["cells_surveyed"] == 14  # G06-19, G07-19 half flown
    assert (by_code["T02-00"]["cells"], by_code["T02-00"]["cells_closed_out"]) == (8, 0)
    # Closed out: T00-01..T00-04, T01-00, T01-02, T01-03.
    assert towns["closed_out"] == 7

    ids = site.data.plots
    town = site.json("/api/ledger/towns/T00-00")
    assert len(town["cells"]) == 16
    # Cell order, then plot id: G00-00 (P1, P2, Q1), G00-01, G00-02, G01-00, G02-02 (Q3).
    order = ("P1", "P2", "Q1", "P3", "P4", "P5", "Q3")
    assert [p["id"] for p in town["plots"]] == [ids[k] for k in order]
    assert town["town"]["plots"] == 7


def test_statistics_per_cell_town_month_and_model(site: Site) -> None:
    c26 = site.data.campaign_2026
    by_cell = site.json("/api/stats", group_by="cell", campaign_id=c26)
    rows = {r["key"]: r for r in by_cell["data"]}
    cells = ["(outside grid)", "G00-00", "G00-01", "G00-02", "G01-00", "G04-04", "G06-19"]
    assert list(rows) == cells
    # G00-00: P1 (positive, eradicated 110 plants, 400 m2) + P2 (false alarm, 150 m2).
    g = rows["G00-00"]
    assert (g["found"], g["verified"], g["positive"], g["false_alarm"]) == (2, 2, 1, 1)
    assert (g["eradicated"], g["plants_eradicated"], g["closed"]) == (1, 110, 2)
    assert (g["area_found_m2"], g["area_eradicated_m2"]) == (550.0, 400.0)
    assert g["false_alarm_rate"] == 0.5
    assert (rows["G00-01"]["dismissed"], rows["G00-01"]["verified"]) == (1, 0)
    # G04-04: P7..P10, only P10 verified (false alarm); 100 + 120 + 50 + 60 = 330 m2.
    g = rows["G04-04"]
    assert (g["found"], g["verified"], g["false_alarm"], g["area_found_m2"]) == (4, 1, 1, 330.0)
    assert g["false_alarm_rate"] == 1.0
    assert rows["G01-00"]["false_alarm_rate"] == 0.0
    # Total 2026: 11 plots; verdicts P1 P4 P5 P6 positive, P2 P10 false alarm; eradicated
    # P1 P4 P6 = 110 + 95 + 64 = 269 plants, 400 + 300 + 250 = 950 m2; closed P1 P2 P3 P6;
    # area 400+150+80+300+200+250+100+120+50+60+70 = 1780 m2.
    total = by_cell["total"]
    assert (total["found"], total["dismissed"], total["verified"]) == (11, 1, 6)
    assert (total["positive"], total["false_alarm"], total["eradicated"]) == (4, 2, 3)
    assert (total["closed"], total["plants_eradicated"]) == (4, 269)
    assert (total["area_found_m2"], total["area_eradicated_m2"]) == (1780.0, 950.0)
    assert total["false_alarm_rate"] == pytest.approx(2 / 6)

    towns = site.json("/api/stats", group_by="town", campaign_id=c26)["data"]
    by_town = {r["key"]: r for r in towns}
    # T00-00: P1..P5: verified P1 P2 P4 P5; eradicated P1 P4 (110 + 95 plants, 700 m2).
    t = by_town["T00-00"]
    assert (t["found"], t["verified"], t["positive"], t["false_alarm"]) == (5, 4, 3, 1)
    assert (t["eradicated"], t["plants_eradicated"], t["closed"]) == (2, 205, 3)
    assert (t["area_found_m2"], t["area_eradicated_m2"]) == (1130.0, 700.0)
    assert t["name"] == "town T00-00"
    assert (by_town["T01-01"]["found"], by_town["T01-04"]["plants_eradicated"]) == (4, 64)
    assert by_town["(outside grid)"]["found"] == 1

    months = {r["key"]: r for r in site.json("/api/stats", group_by="month")["data"]}
    # March 2026: P1-P5 + P11 (1200 m2, P1 P4 eradicated: 205 plants); May 2026: P6-P10
    # (580 m2, P6 eradicated: 64 plants); March 2025: Q1-Q4 (Q1 Q3: 140 + 35 plants).
    assert {k: r["found"] for k, r in months.items()} == {"2025-03": 4, "2026-03": 6, "2026-05": 5}
    assert months["2026-03"]["area_found_m2"] == 1200.0
    assert months["2026-05"]["area_found_m2"] == 580.0
    plants = [months[k]["plants_eradicated"] for k in ("2025-03", "2026-03", "2026-05")]
    assert plants == [175, 205, 64]
    years = site.json("/api/stats", group_by="year")["data"]
    assert {r["key"]: r["found"] for r in years} == {"2025": 4, "2026": 11}

    models = {r["key"]: r for r in site.json("/api/stats", group_by="model_version")["data"]}
    # v1: Q1-Q4 (Q1 Q3 eradicated: 175 plants, 850 m2 found); v2: P1 P2 P3 P10 P11 (P1: 110
    # plants; 400+150+80+60+70 = 760 m2); v3: P4-P9 (P4 P6: 95 + 64 = 159 plants;
    # 300+200+250+100+120+50 = 1020 m2).
    versions = ("poppy:1", "poppy:2", "poppy:3")
    assert [models[k]["found"] for k in versions] == [4, 5, 6]
    assert [models[k]["plants_eradicated"] for k in versions] == [175, 110, 159]
    assert [models[k]["area_found_m2"] for k in versions] == [850.0, 760.0, 1020.0]


def test_statistics_filters(site: Site) -> None:
    def found(**params: object) -> int:
        total: int = site.json("/api/stats", group_by="year", **params)["total"]["found"]
        return total

    data = site.data
    assert found() == 15
    assert found(campaign_id=data.campaign_2025) == 4
    assert found(season_id=data.flowering_2026) == 6  # flights 0-7: P1-P5, P11
    assert found(stage="capsule") == 5  # flights 8-15: P6-P10
    assert found(stage="flowering") == 10  # 6 in 2026 + 4 in 2025
    assert found(since="2026-05-01") == 5
    assert found(until="2026-03-31") == 10
    assert found(since="2026-03-10", until="2026-03-10") == 6
    assert found(campaign_id=data.campaign_2026, stage="flowering") == 6


def test_year_on_year(site: Site) -> None:
    body = site.json("/api/stats/year-on-year", year=2026, group_by="town")
    assert (body["year"], body["previous"]) == (2026, 2025)
    rows = {r["key"]: r for r in body["data"]}
    # T00-00: 2026 P1-P5 (5 found, 205 plants) against 2025 Q1 Q3 (2 found, 140 + 35 = 175).
    t = rows["T00-00"]
    assert (t["current"]["found"], t["previous"]["found"]) == (5, 2)
    assert (t["change"]["found"], t["change_pct"]["found"]) == (3, 150.0)
    assert t["change"]["plants_eradicated"] == 30
    assert t["change_pct"]["plants_eradicated"] == pytest.approx(100 * 30 / 175, abs=0.01)
    assert (t["change"]["eradicated"], t["change_pct"]["eradicated"]) == (0, 0.0)
    # T00-01: only 2025's Q2 and Q4.
    t = rows["T00-01"]
    assert (t["change"]["found"], t["change_pct"]["found"], t["name"]) == (
        -2,
        -100.0,
        "town T00-01",
    )
    # T01-01: nothing in 2025, so no percentage.
    assert (rows["T01-01"]["change"]["found"], rows["T01-01"]["change_pct"]["found"]) == (4, None)
    total = body["total"]
    # 11 against 4 plots: +7, +175 %; plants 269 against 175: +94.
    assert (total["change"]["found"], total["change_pct"]["found"]) == (7, 175.0)
    assert total["change"]["plants_eradicated"] == 94

    months = site.json("/api/stats/year-on-year", year=2026, group_by="month")
    by_month = {r["key"]: r for r in months["data"]}
    assert (by_month["03"]["current"]["found"], by_month["03"]["previous"]["found"]) == (6, 4)
    assert (by_month["05"]["current"]["found"], by_month["05"]["previous"]["found"]) == (5, 0)
    capsule = site.json("/api/stats/year-on-year", year=2026, stage="capsule")["total"]
    assert (capsule["current"]["found"], capsule["previous"]["found"]) == (5, 0)


def test_false_alarm_rate_per_model_version(site: Site) -> None:
    rates = {r["model_version"]: r for r in site.json("/api/stats/false-alarm-rate")["data"]}
    # v1: Q1 Q3 positive, Q2 Q4 false alarms -> 2/4. v2: P1 positive, P2 P10 false -> 2/3.
    # v3: P4 P5 P6 positive -> 0/3 (P7-P9 not verified).
    assert (rates["poppy:1"]["positive"], rates["poppy:1"]["false_alarm"]) == (2, 2)
    assert rates["poppy:1"]["false_alarm_rate"] == 0.5
    assert rates["poppy:2"]["false_alarm_rate"] == pytest.approx(2 / 3)
    assert (rates["poppy:3"]["found"], rates["poppy:3"]["verified"]) == (6, 3)
    assert rates["poppy:3"]["false_alarm_rate"] == 0.0
    # Wilson interval with no false alarms in n = 3: [0, z^2 / (n + z^2)], z = 1.96.
    assert rates["poppy:3"]["ci_low"] == 0.0
    assert rates["poppy:3"]["ci_high"] == pytest.approx(1.96**2 / (3 + 1.96**2), abs=1e-3)
    assert rates["poppy:1"]["ci_low"] < 0.5 < rates["poppy:1"]["ci_high"]
    only_2026 = site.json("/api/stats/false-alarm-rate", campaign_id=site.data.campaign_2026)
    assert [r["model_version"] for r in only_2026["data"]] == ["poppy:2", "poppy:3"]


def test_csv_and_xlsx_hold_the_same_rows(site: Site) -> None:
    response = site.get("/api/ledger/cells/G00-00", format="csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="ledger-G00-00.csv"'
    rows = _csv(response.content)
    assert rows[0][:4] == ["cell", "town", "plot_id", "flight_id"]
    assert len(rows) == 1 + 3  # header + P1, P2, Q1
    ids = site.data.plots
    assert [int(r[2]) for r in rows[1:]] == [ids["P1"], ids["P2"], ids["Q1"]]

    response = site.get("/api/ledger/cells/G00-00", format="xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Cell", "Plots", "History"]
    sheet = [[_same(v) for v in row] for row in book["Plots"].iter_rows(values_only=True)]
    assert sheet == [[_same(v) for v in row] for row in rows]
    history = list(book["History"].iter_rows())
    assert len(history) == 1 + 5 + 4 + 5  # header + the status changes of P1, P2, Q1
    notes = [row[6] for row in history if row[6].value == HOSTILE_NOTE]
    assert len(notes) == 1 and notes[0].data_type == "s"  # text, not a formula

    table = _csv(site.get("/api/stats", group_by="model_version", format="csv").content)
    assert table[0][:3] == ["model_version", "name", "found"]
    assert [r[0] for r in table[1:]] == ["poppy:1", "poppy:2", "poppy:3", "total"]
    assert table[-1][2] == "15"
    stats_book = openpyxl.load_workbook(
        io.BytesIO(site.get("/api/stats", group_by="model_version", format="xlsx").content)
    )
    assert stats_book.active is not None and stats_book.active.max_row == len(table)

    assert len(_csv(site.get("/api/ledger/towns/T00-00", format="csv").content)) == 1 + 7
    assert len(_csv(site.get("/api/ledger/cells", format="csv").content)) == 1 + 200
    assert len(_csv(site.get("/api/ledger/towns", format="csv").content)) == 1 + 15
    yoy = _csv(site.get("/api/stats/year-on-year", year=2026, format="csv").content)
    assert yoy[-1][0] == "total" and "found_2026" in yoy[0]


def test_csv_cells_cannot_become_formulas() -> None:
    table = Table("t", ("a", "b"), [("=1+1", -3), ("@x", None)])
    assert _csv(to_csv(table)) == [["a", "b"], ["'=1+1", "-3"], ["'@x", ""]]


def test_html_reports_are_self_contained(site: Site) -> None:
    ids = site.data.plots
    cell = site.get("/api/ledger/cells/G00-00", format="html")
    assert cell.status_code == 200
    assert cell.headers["content-type"].startswith("text/html")
    page = cell.text
    assert "G00-00" in page and "@media print" in page
    for label in ("P1", "P2", "Q1"):
        assert f'id="plot-{ids[label]}"' in page
    assert "http://" not in page and "https://" not in page
    assert "<b>rapeseed" not in page and "&lt;b&gt;rapeseed&lt;/b&gt; &amp; beans" in page

    town = site.get("/api/ledger/towns/T00-00", format="html", campaign_id=site.data.campaign_2026)
    assert town.status_code == 200
    page = town.text
    assert "T00-00" in page and "campaign Spring 2026" in page
    for label in ("P1", "P2", "P3", "P4", "P5"):
        assert f'id="plot-{ids[label]}"' in page
    assert f'id="plot-{ids["Q1"]}"' not in page
    assert "http://" not in page and "https://" not in page


def test_html_report_can_embed_chips(site: Site) -> None:
    page = site.get("/api/ledger/cells/G00-00", format="html", chips="true").text
    # Only P1's chip: P2's path leaves the storage root, Q1 has none.
    assert page.count("data:image/jpeg;base64,") == 1
    assert base64.b64encode(CHIP_BYTES).decode() in page
    assert "http://" not in page and "https://" not in page
    assert "data:image" not in site.get("/api/ledger/cells/G00-00", format="html").text


@pytest.mark.parametrize(
    "path", ["/api/ledger/cells", "/api/ledger/towns/T00-00", "/api/stats/false-alarm-rate"]
)
def test_only_admins_analysts_and_researchers_read(site: Site, path: str) -> None:
    assert site.get(path, who=None).status_code == 401
    for who in ("pat", "pia"):
        assert site.get(path, who=who).status_code == 403, who
    for who in ("admin", "ana", "rita"):
        assert site.get(path, who=who).status_code == 200, who


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/ledger/cells/NOPE", {}, 404),
        ("/api/ledger/cells/T00-00", {}, 404),  # a town, not a cell
        ("/api/ledger/towns/NOPE", {}, 404),
        ("/api/ledger/cells", {"town": "NOPE"}, 404),
        ("/api/stats", {"campaign_id": 999}, 404),
        ("/api/stats", {"group_by": "village"}, 422),
        ("/api/stats", {"stage": "ripe"}, 422),
        ("/api/stats", {"since": "2026-05-01", "until": "2026-04-01"}, 422),
        ("/api/ledger/cells/G00-00", {"format": "pdf"}, 422),
        ("/api/stats/year-on-year", {"group_by": "year"}, 422),
    ],
)
def test_bad_requests(site: Site, path: str, params: dict[str, object], code: int) -> None:
    assert site.get(path, **params).status_code == code
