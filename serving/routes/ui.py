"""The web UI: the single page at ``/`` and its static files, all served by this server.

Nothing the UI needs comes from the internet: its own HTML, CSS and JavaScript modules live
in ``serving/static`` and Leaflet comes from the installed XStatic-Leaflet package, mounted
at ``/static/vendor/leaflet``. The page is sent with a Content-Security-Policy that lets the
browser load scripts, styles, images and connections from this origin only, so a stray
external URL is refused by the browser as well as absent from the code.
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path
from typing import Final

import xstatic.pkg.leaflet
from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

STATIC_DIR: Final = Path(__file__).resolve().parents[1] / "static"
LEAFLET_DIR: Final = Path(xstatic.pkg.leaflet.BASE_DIR)

# Same origin only; ``data:`` and ``blob:`` images are the transparent empty map tile and
# previews of photos picked on the phone, neither of which leaves the machine.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class RevalidatedStaticFiles(StaticFiles):
    """Static files the browser keeps but revalidates (ETag, 304) on every page load, so an
    upgraded server's UI is picked up at once without a build step or versioned names."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """The file, with revalidation and no-sniff headers."""
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


router = APIRouter(include_in_schema=False)
# The more specific mount first: /static would otherwise answer for the vendor path.
router.mount(
    "/static/vendor/leaflet", RevalidatedStaticFiles(directory=LEAFLET_DIR), name="leaflet"
)
router.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")


@router.get("/")
def index() -> FileResponse:
    """The web UI's single page (login, then the pages the user's role may see)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The tab icon browsers ask for on their own."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")
