"""The suspect list's ``total``, counted once per filter and data revision.

An exact count of every plot a filter matches is the costliest query of a list page (up to
25 ms on 100,000 plots on PostgreSQL, 8 ms on SQLite), and analysts page through the same
few queues (new, suspect, dispatched; one flight) again and again. Each API process keeps
the counts it has made, keyed by the filter and by what the user may see, together with the
data's revision (``plot_revision.n``, bumped by database triggers on every change of the
plots and of a flight's campaign or season: migration 0004). A count is reused only while
the revision is unchanged, so a total is never stale; the revision is read before the
count, so a change committed between the two makes the stored count look older, never
newer, than it is.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.auth import PATROL
from serving.models import PlotRevision, User
from serving.plot_queries import count_plots
from serving.schemas.plots import SuspectFilter

_Key = tuple[str, str]


class PlotCounts:
    """A bounded, thread-safe cache of suspect-list totals for one API process.

    Args:
        max_entries: Filters remembered; the least recently used is dropped beyond this.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        self._counts: OrderedDict[_Key, tuple[int, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0  # totals answered from the cache

    def total(self, session: Session, user: User, query: SuspectFilter) -> int:
        """How many plots ``user`` may see match ``query`` (as
        :func:`serving.plot_queries.count_plots`)."""
        revision = session.scalar(select(PlotRevision.n).where(PlotRevision.id == 1))
        key = (_scope(user), _filter_key(query))
        with self._lock:
            cached = self._counts.get(key)
            if cached is not None and cached[0] == revision:
                self._counts.move_to_end(key)
                self.hits += 1
                return cached[1]
        count = count_plots(session, user, query)
        if revision is not None:  # no revision row: a database older than migration 0004
            with self._lock:
                self._counts[key] = (revision, count)
                self._counts.move_to_end(key)
                while len(self._counts) > self._max_entries:
                    self._counts.popitem(last=False)
        return count


def _scope(user: User) -> str:
    """What ``user`` may see: everything, or one patrol unit's plots
    (:func:`serving.plot_queries.visible_to`)."""
    return f"unit:{user.unit}" if user.role == PATROL else "all"


def _filter_key(query: SuspectFilter) -> str:
    """The filter alone (paging left out), as JSON."""
    return query.model_dump_json(exclude={"limit", "offset"})
