"""Which plots and cells a ledger covers: the scope filters and the grid hierarchy.

A :class:`Scope` narrows plots by the campaign, season or growth stage of their flight and
by the day they were found: the flight's capture date, or the day the plot was stored when
the flight has none (UTC). :class:`Hierarchy` walks the grid units, cell up to town and town
down to its cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from serving.campaigns.history import utc
from serving.models import Campaign, Flight, GridUnit, Plot, Season


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
