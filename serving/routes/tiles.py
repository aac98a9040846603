"""Map tiles of a flight's orthomosaic (the base layer of the web map)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from starlette.concurrency import run_in_threadpool

from detector.errors import RasterError
from serving.deps import CurrentUser, SessionDep, SettingsDep
from serving.models import Flight
from serving.tiles import MAX_ZOOM, render_tile

router = APIRouter(prefix="/api/flights", tags=["flights"])


@router.get(
    "/{flight_id}/tiles/{z}/{x}/{y}.png",
    summary="Map tile of the flight's imagery",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, 204: {"description": "no data here"}},
)
async def tile(
    flight_id: int,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    session: SessionDep,
    settings: SettingsDep,
    _user: CurrentUser,
) -> Response:
    """A 256 px Web Mercator PNG (XYZ scheme, as Leaflet asks for them) rendered from the
    flight's GeoTIFF; 204 where the flight has no data. Works without the internet."""
    flight = session.get(Flight, flight_id)
    if flight is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no flight {flight_id}")
    if x >= 2**z or y >= 2**z:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tile {z}/{x}/{y}")
    path = settings.storage_root() / flight.storage_path
    try:
        png = await run_in_threadpool(render_tile, path, z, x, y)
    except RasterError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"flight {flight_id}: {exc}") from exc
    headers = {"Cache-Control": "private, max-age=3600"}
    if png is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)
    return Response(png, media_type="image/png", headers=headers)
