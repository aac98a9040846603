"""The web UI end to end in a real browser (headless Debian chromium through Playwright).

One story, as the field team lives it, against a real ``poppyscan serve`` process with its
embedded worker and the shipped default model: the admin imports the territory grid and
creates two campaigns; the pilot uploads a synthetic flight into one of them through the
upload page (one chunk's connection is dropped on the way, and the upload resumes from the
server's offset), watches the scan's live progress and sees the flight's campaign in the
flight list; the analyst reviews every suspect with the keyboard, looks at one on the map
and dispatches the suspects to Unit 7, chosen from the server's list of patrol units; the
dashboard counts them per campaign; the patrol, on a phone-sized screen with a fixed GPS
position, reports the first plot positive and then eradicated with a plant count and a
photo; the dashboard shows the eradication.

Every request whose host is not this machine is blocked and recorded; the test ends by
asserting there were none. Screenshots of every page are saved under the test's temporary
directory (the path is printed).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import rasterio
from e2e_helpers import (
    ACCOUNTS,
    OffsiteGuard,
    chromium_problem,
    create_accounts,
    in_ci,
    launch_chromium,
    live_server,
    log_in,
)
from servers import Server

from serving.campaigns.sample_grid import grid_units, write_grid
from serving.routes.ui import LEAFLET_DIR, STATIC_DIR
from training.synthetic import generate_flight

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
GSD_M = 0.04
# Scan and UI waits, milliseconds.
SCAN_TIMEOUT_MS = 180_000
UI_TIMEOUT_MS = 20_000
UNIT = ACCOUNTS["pat"][1]
PLANTS = 12
YEAR = datetime.now().year


@pytest.fixture(scope="module")
def playwright_api() -> Iterator[Any]:
    """Playwright, or a skip (outside CI) / failure (in CI) when chromium is missing."""
    problem = chromium_problem()
    if problem:
        if in_ci():
            pytest.fail(f"CI needs a browser for the UI tests: {problem}")
        pytest.skip(problem)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        yield playwright


def _flight(folder: Path) -> Path:
    """A small synthetic flight the default model finds several plots in (seed 1)."""
    flight = generate_flight(
        folder, seed=1, width_px=1536, height_px=1536, gsd_m=GSD_M, name="north-field"
    )
    return flight.raster_path


def _grid(folder: Path, raster: Path) -> Path:
    """A 4 x 4 grid of 20 m cells over the flight (10 m beyond its top-left corner), so some
    cells are fully flown, some partly and some not at all."""
    with rasterio.open(raster) as ds:
        x0, y0 = ds.transform.c, ds.transform.f
        crs = ds.crs.to_string()
    units = grid_units(4, 4, 20.0, (x0 - 10.0, y0 + 10.0))
    return write_grid(folder / "grid.geojson", units, crs)


def _photo(folder: Path) -> Path:
    """A small JPEG, as a phone camera would send."""
    image = np.zeros((240, 320, 3), np.uint8)
    image[:] = (40, 120, 60)
    cv2.circle(image, (160, 120), 60, (40, 40, 220), -1)
    path = folder / "plot-photo.jpg"
    cv2.imwrite(str(path), image)
    return path


class Shots:
    """Numbered full-page screenshots in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, page: Any, name: str, full_page: bool = True) -> Path:
        """Save ``page`` as ``NN-name.png``."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


class Problems:
    """JavaScript errors and unexpected console errors of every page."""

    # The login page asks who is logged in before anyone is: that 401 is expected.
    EXPECTED = re.compile(r"status of 401")

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any, who: str, expected: str | None = None) -> None:
        """Record ``page``'s uncaught errors and console errors (but ``expected`` ones)."""
        page.on("pageerror", lambda exc: self.errors.append(f"{who}: {exc}"))
        allowed = re.compile(expected) if expected else None

        def console(message: Any) -> None:
            if message.type != "error" or self.EXPECTED.search(message.text):
                return
            if allowed and allowed.search(message.text):
                return
            self.errors.append(f"{who}: console: {message.text}")

        page.on("console", console)


def _kpi(page: Any, label: str) -> str:
    """The value of the dashboard figure called ``label``."""
    card = page.locator(".kpi", has=page.locator(".kpi-label", has_text=re.compile(f"^{label}$")))
    return str(card.locator(".kpi-value").inner_text())


def _number(pattern: str, text: str) -> int:
    """The integer the first group of ``pattern`` finds in ``text``."""
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return int(match[1])


def _press(page: Any, key: str) -> None:
    """Press ``key`` on the review page and wait until the next suspect's chip is drawn."""
    count = page.evaluate("window.poppyscanReview.timings.length")
    page.keyboard.press(key)
    page.wait_for_function("(n) => window.poppyscanReview.timings.length > n", arg=count)


def _wait_counter(page: Any, left: int) -> None:
    """Wait until the review counter says ``left`` suspects are left."""
    page.wait_for_function(
        "(n) => document.querySelector('.counter').textContent.startsWith(`${n} left`)", arg=left
    )


@dataclass
class Story:
    """The browser, the server's URL and what every step shares."""

    browser: Any
    base: str
    guard: OffsiteGuard
    problems: Problems
    shots: Shots

    def page(self, who: str, expected: str | None = None, **options: Any) -> Any:
        """A page in a fresh browser context (its own cookies) behind the offsite guard."""
        context = self.browser.new_context(**options)
        context.set_default_timeout(UI_TIMEOUT_MS)
        self.guard.install(context)
        page = context.new_page()
        self.problems.watch(page, who, expected)
        return page

    def admin_setup(self, grid: Path) -> None:
        """The admin imports the territory grid and creates two campaigns."""
        admin = self.page("admin", viewport=DESKTOP)
        log_in(admin, self.base, "admin")
        admin.goto(f"{self.base}/#/users")
        admin.get_by_label("Grid file").set_input_files(str(grid))
        admin.get_by_role("button", name="Import grid").click()
        admin.get_by_text(re.compile(r"unit\(s\) added")).wait_for()
        for name in ("Spring campaign", "Autumn campaign"):
            admin.get_by_label("Name", exact=True).fill(name)
            admin.get_by_role("button", name="Create campaign").click()
            admin.get_by_text(f"{name} (").wait_for()
        self.shots.take(admin, "admin-setup")

    def pilot_upload(self, raster: Path) -> tuple[int, int]:
        """The pilot uploads the flight (one chunk's connection drops on the way) and watches
        the scan; returns the flight id and the number of suspects found."""
        # The chunk this test drops shows in the console as a reset connection.
        pilot = self.page("pilot", expected="ERR_CONNECTION_RESET", viewport=DESKTOP)
        dropped: list[str] = []

        def drop_third_chunk(route: Any) -> None:
            where = route.request.headers.get("content-range") or ""
            if route.request.method == "PUT" and where.startswith("bytes 2097152-") and not dropped:
                dropped.append(where)
                route.abort("connectionreset")
            else:
                route.fallback()

        pilot.route("**/api/uploads/*", drop_third_chunk)
        log_in(pilot, self.base, "pia")
        assert pilot.url.endswith("#/upload"), "pilots land on the upload page"
        pilot.get_by_label("Orthomosaic (GeoTIFF)").set_input_files(str(raster))
        pilot.get_by_label("Name", exact=True).fill("North field")
        pilot.get_by_label("Survey area").fill("North valley")
        pilot.get_by_label("Campaign", exact=True).select_option(label=f"Spring campaign ({YEAR})")
        pilot.locator("summary", has_text="Connection").click()
        pilot.get_by_label("Chunk size").select_option(str(1024 * 1024))
        self.shots.take(pilot, "upload-form")
        pilot.get_by_role("button", name="Upload and scan").click()
        pilot.get_by_text(re.compile(r"Uploaded\. Flight #\d+")).wait_for(timeout=60_000)
        assert dropped, "the test meant to drop one chunk's connection"
        assert "The connection dropped 1 time(s)" in pilot.locator(".state-text").inner_text()
        progress = pilot.locator(".upload-progress [role=progressbar]").first
        assert progress.get_attribute("aria-valuenow") == "100"
        flight_id = _number(r"Flight #(\d+)", pilot.locator(".state-text").inner_text())
        job = pilot.locator(".upload-progress .job-view")
        job.locator(".status-running, .status-done").first.wait_for(timeout=SCAN_TIMEOUT_MS)
        self.shots.take(pilot, "upload-scanning")
        job.locator(".badge.status-done").wait_for(timeout=SCAN_TIMEOUT_MS)
        found = _number(r"(\d+) suspected", job.inner_text())
        assert found >= 3, f"the default model found only {found} plot(s)"
        flights = pilot.locator("section", has=pilot.locator("#flights-title"))
        flights.get_by_role("cell", name=re.compile(f"^Spring campaign \\({YEAR}\\)")).wait_for()
        self.shots.take(pilot, "upload-done")
        return flight_id, found

    def analyst_review(self, found: int) -> Any:
        """The analyst reviews every suspect with the keyboard (two suspects, the rest
        dismissed); returns the analyst's page."""
        ana = self.page("analyst", viewport=DESKTOP)
        log_in(ana, self.base, "ana")
        assert ana.url.endswith("#/review"), "analysts land on the review queue"
        ana.locator(".chip-frame img").wait_for()
        _wait_counter(ana, found)
        ana.locator(".mini-map img.leaflet-tile-loaded").first.wait_for()
        self.shots.take(ana, "review", full_page=False)
        first_plot = ana.locator(".review-title").inner_text().split("·")[0]
        _press(ana, "s")
        _wait_counter(ana, found - 1)
        _press(ana, "ArrowLeft")
        assert ana.locator(".review-title").inner_text().split("·")[0] == first_plot
        assert "marked this plot suspect" in ana.locator(".decision-note").inner_text()
        _press(ana, " ")  # skip forward again
        _press(ana, "s")
        for _ in range(found - 3):
            _press(ana, "d")
        ana.keyboard.press("d")
        ana.get_by_text("Nothing left to review.").wait_for()
        ana.wait_for_function("() => !document.querySelector('.counter').textContent.includes('…')")
        timings = ana.evaluate("window.poppyscanReview.timings.map((t) => t.ms)")
        print("review keypress -> next chip drawn (ms):", ", ".join(f"{t:.0f}" for t in timings))
        assert len(timings) == found + 1, timings
        assert sorted(timings)[len(timings) // 2] < 300, f"keypress to next chip (ms): {timings}"
        self.shots.take(ana, "review-done", full_page=False)
        return ana

    def analyst_map_and_dispatch(self, ana: Any, flight_id: int) -> None:
        """The analyst opens a suspect on the map, dispatches both suspects to the patrol's
        unit and notes the dashboard's figures."""
        ana.goto(f"{self.base}/#/map?flight={flight_id}")
        ana.locator(".map-canvas img.leaflet-tile-loaded").first.wait_for()
        ana.locator(".map-canvas path.leaflet-interactive[fill='#dc2626']").first.click(force=True)
        panel = ana.locator(".map-panel")
        panel.locator(".panel-chip").wait_for()
        panel.get_by_text("History").wait_for()
        assert "Suspect" in panel.locator(".timeline").inner_text()
        self.shots.take(ana, "map-suspect", full_page=False)

        ana.goto(f"{self.base}/#/dispatch")
        ana.get_by_role("heading", name="Ready to dispatch (2)").wait_for()
        units = ana.get_by_label("Patrol unit")
        units.locator(f"option[value='{UNIT}']").wait_for(state="attached")
        assert units.evaluate("(s) => s.tagName") == "SELECT", "units come from the server"
        offered = units.evaluate("(s) => [...s.options].map((o) => o.value).filter(Boolean)")
        assert offered == [UNIT], offered
        units.select_option(UNIT)
        ana.get_by_role("button", name="Dispatch 2 selected").click()
        ana.get_by_role("rowheader", name=UNIT).wait_for()
        ana.get_by_role("link", name="Route GPX").wait_for()
        self.shots.take(ana, "dispatch")

        ana.goto(f"{self.base}/#/dashboard")
        ana.get_by_text(re.compile("^Updated ")).wait_for()
        assert _kpi(ana, "Eradicated") == "0"
        assert _kpi(ana, "In the field") == "2"
        # Per campaign: the flight is in the spring campaign, none is in the autumn one.
        for campaign, in_field in (("Autumn", "0"), ("Spring", "2"), ("All", "2")):
            label = f"{campaign} campaign ({YEAR})" if campaign != "All" else "All campaigns"
            ana.get_by_label("Campaign", exact=True).select_option(label=label)
            ana.wait_for_function(
                "(n) => [...document.querySelectorAll('.kpi')].some((k) => "
                "k.querySelector('.kpi-label').textContent === 'In the field' && "
                "k.querySelector('.kpi-value').textContent === n)",
                arg=in_field,
            )

    def patrol_reports(self, photo: Path) -> None:
        """The patrol, on a phone, reports the first plot of its route positive, then
        eradicated, each with a plant count, a photo and its GPS position."""
        patrol = self.page(
            "patrol",
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            geolocation={"latitude": 20.50755, "longitude": 104.99830, "accuracy": 8},
            permissions=["geolocation"],
        )
        log_in(patrol, self.base, "pat")
        assert patrol.url.endswith("#/patrol"), "patrols land on their patrol page"
        cards = patrol.locator(".stop-card")
        cards.nth(1).wait_for()
        assert cards.count() == 2
        assert patrol.locator(".patrol-summary").inner_text().startswith("2 to verify")
        navigate = cards.first.get_by_role("link", name="Navigate")
        assert (navigate.get_attribute("href") or "").startswith("geo:20.")
        patrol.locator("summary", has_text="Downloads").click()
        for name, marker in (
            ("Route GPX", "<gpx"),
            ("Route KML", "<kml"),
            ("All work GPX", "<gpx"),
        ):
            href = patrol.get_by_role("link", name=name).get_attribute("href")
            answer = patrol.request.get(f"{self.base}{href}")
            assert answer.status == 200 and marker in answer.text(), name
        patrol.locator(".patrol-map img.leaflet-tile-loaded").first.wait_for()
        self.shots.take(patrol, "patrol")

        plot_id = _number(r"Plot (\d+)", cards.first.locator("h2").inner_text())
        _report(patrol, self.shots, cards.first, "Positive", photo, "patrol-report-positive")
        card = patrol.locator(f"#stop-{plot_id}")
        card.locator(".badge.status-positive").wait_for()
        _report(patrol, self.shots, card, "Eradicated", photo, "patrol-report-eradicated")
        patrol.get_by_text("1 to verify · 0 to eradicate").wait_for()
        assert patrol.locator(".stop-card").count() == 1
        assert patrol.locator(f"#stop-{plot_id}").count() == 0
        patrol.locator(".patrol-map img.leaflet-tile-loaded").first.wait_for()
        self.shots.take(patrol, "patrol-after")

    def dashboard_shows_it(self, ana: Any) -> None:
        """The analyst's dashboard, refreshed, counts the eradication and its plants."""
        ana.get_by_role("button", name="Refresh").click()
        ana.wait_for_function(
            "() => [...document.querySelectorAll('.kpi')].some((k) => "
            "k.querySelector('.kpi-label').textContent === 'Eradicated' && "
            "k.querySelector('.kpi-value').textContent === '1')"
        )
        eradicated = ana.locator(".kpi.tone-ok", has=ana.get_by_text("Eradicated", exact=True))
        assert f"{PLANTS} plants" in eradicated.inner_text()
        ana.locator(".dash-map path.leaflet-interactive").nth(15).wait_for()  # 16 grid cells
        ana.locator(".chart svg").first.wait_for()
        self.shots.take(ana, "dashboard")


def _report(page: Any, shots: Shots, card: Any, outcome: str, photo: Path, shot: str) -> None:
    """Fill and send the report form of ``card``'s plot."""
    card.get_by_role("button", name=re.compile("^Report")).click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_label(re.compile(f"^{outcome}")).check()
    dialog.get_by_label("Plants counted").fill(str(PLANTS))
    dialog.get_by_label("Photos").set_input_files(str(photo))
    page.wait_for_function(
        "() => document.querySelector('dialog[open] input[name=lat]').value !== ''"
    )
    dialog.get_by_label("Note").fill(f"{outcome} on the ground")
    dialog.locator(".photo-strip img").wait_for()
    shots.take(page, shot, full_page=False)
    dialog.get_by_role("button", name="Send report").click()
    page.locator("dialog[open]").wait_for(state="detached")
    page.locator(".toast-success").first.wait_for()


# Module imports of the UI's JavaScript: ``from './api.js'`` and ``import('./review.js')``.
_IMPORT = re.compile(
    r"""(?:from\s+|import\s*\(\s*|module:\s*)'(\.{1,2}/[^']+\.js|/static/[^']+)'"""
)
# The one URL-looking string allowed in the UI's files: the SVG namespace, which is a name.
_NAMESPACE = "http://www.w3.org/2000/svg"


def test_ui_and_every_file_it_loads_come_from_this_server(server: Server) -> None:
    page = server.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    wanted = set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text))
    seen: set[str] = set()
    while wanted:
        url = wanted.pop()
        seen.add(url)
        answer = server.client.get(url)
        assert answer.status_code == 200, url
        if url.endswith(".js") and not url.startswith("/static/vendor/"):
            base = url.rsplit("/", 1)[0]
            for target in _IMPORT.findall(answer.text):
                resolved = target if target.startswith("/") else f"{base}/{target[2:]}"
                if resolved not in seen:
                    wanted.add(resolved)
    assert "/static/vendor/leaflet/leaflet-src.esm.js" in seen
    assert "/static/js/review.js" in seen and "/static/js/patrol.js" in seen
    assert server.client.get("/static/vendor/leaflet/leaflet.css").status_code == 200
    assert server.client.get("/static/../serving/app.py").status_code == 404
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text().replace(_NAMESPACE, "")
            assert not re.search(r"https?://|//cdn|@import", text), f"{path} names another host"
    assert (LEAFLET_DIR / "leaflet-src.esm.js").is_file()


@pytest.mark.slow
def test_web_ui_end_to_end(tmp_path: Path, playwright_api: Any) -> None:
    started = time.monotonic()
    raster = _flight(tmp_path / "flight")
    grid = _grid(tmp_path, raster)
    photo = _photo(tmp_path)
    data_dir = tmp_path / "data"
    create_accounts(data_dir)
    shots = Shots(tmp_path / "screenshots")
    print(f"\nscreenshots: {shots.folder}")
    guard = OffsiteGuard()
    problems = Problems()

    with live_server(data_dir) as server:
        browser = launch_chromium(playwright_api)
        story = Story(browser, server.url, guard, problems, shots)
        try:
            story.admin_setup(grid)
            flight_id, found = story.pilot_upload(raster)
            ana = story.analyst_review(found)
            story.analyst_map_and_dispatch(ana, flight_id)
            story.patrol_reports(photo)
            story.dashboard_shows_it(ana)
        except Exception:
            print(server.log_tail())
            raise
        finally:
            browser.close()

    assert guard.attempts == [], f"the UI tried to reach other machines: {guard.attempts}"
    assert problems.errors == [], "\n".join(problems.errors)
    print(f"end-to-end story took {time.monotonic() - started:.1f} s")
