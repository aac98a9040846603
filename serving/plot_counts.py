"""The suspect list's totals and pages, kept per filter until the data's revision changes.

An exact count of every plot a filter matches is the costliest query of a list page (up to
25 ms on 100,000 plots on PostgreSQL, 8 ms on SQLite), and analysts page through the same
few queues (new, suspect, dispatched; one flight) again and again, as the map and the review
queue ask for the same pages. Each API process keeps the totals it has counted, keyed by the
filter and by what the user may see, and the encoded pages it has built, keyed by the whole
query and by who asks (a page's ``allowed_moves`` depend on the user's role and unit). Both
are valid while the plots' revision (:mod:`serving.revision_cache`) is unchanged, so a
total or a page is never stale.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from serving.auth import PATROL
from serving.models import User
from serving.plot_queries import count_plots
from serving.revision_cache import RevisionCache
from serving.schemas.plots import SuspectFilter, SuspectPage

# Encoded pages kept per API process: a page of 100 plots is about 80 kB.
PAGE_CACHE_BYTES = 64 * 2**20


class PlotCounts:
    """A bounded, thread-safe cache of suspect-list totals for one API process.

    Args:
        max_entries: Filters remembered; the least recently used is dropped beyond this.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._cache: RevisionCache[int] = RevisionCache(max_entries)

    @property
    def hits(self) -> int:
        """Totals answered from the cache."""
        return self._cache.hits

    def total(
        self, session: Session, user: User, query: SuspectFilter, revision: int | None
    ) -> int:
        """How many plots ``user`` may see match ``query`` (as
        :func:`serving.plot_queries.count_plots`), the plots being at ``revision``."""
        key = (_scope(user), _filter_key(query))
        return self._cache.get_or_make(key, revision, lambda: count_plots(session, user, query))


class SuspectPages:
    """A byte-bounded, thread-safe cache of encoded suspect-list pages for one API process.

    Args:
        max_bytes: Total size of the pages kept, bytes.
    """

    def __init__(self, max_bytes: int = PAGE_CACHE_BYTES) -> None:
        self._cache: RevisionCache[bytes] = RevisionCache(
            max_entries=max(1, max_bytes // 1024), max_bytes=max_bytes, size_of=len
        )

    @property
    def hits(self) -> int:
        """Pages answered from the cache."""
        return self._cache.hits

    def page(
        self, user: User, query: SuspectPage, revision: int | None, make: Callable[[], bytes]
    ) -> bytes:
        """The page ``user`` gets for ``query`` with the plots at ``revision``: kept, else
        ``make()``. The key is who asks (role and unit decide the visible plots and their
        moves) and the whole query, paging included."""
        key = (user.role, user.unit or "", query.model_dump_json())
        return self._cache.get_or_make(key, revision, make)


def _scope(user: User) -> str:
    """What ``user`` may see: everything, or one patrol unit's plots
    (:func:`serving.plot_queries.visible_to`)."""
    return f"unit:{user.unit}" if user.role == PATROL else "all"


def _filter_key(query: SuspectFilter) -> str:
    """The filter alone (paging left out), as JSON."""
    return query.model_dump_json(exclude={"limit", "offset"})
