"""Values computed from the plots, kept while the data's revision stays the same.

The database bumps ``plot_revision.n`` on every change of the plots and of a flight's
campaign or season (triggers of migration 0004). Anything computed from those rows alone —
a suspect-list total, a whole encoded page — stays true exactly as long as ``n`` does, so
each API process may keep it and answer again without the SQL. The revision is read before
the value is computed, so a change committed in between makes a stored value look older,
never newer, than it is: it is dropped at the next read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import ScalarSelect, select

from serving.models import PlotRevision

V = TypeVar("V")


def revision_value() -> ScalarSelect[int]:
    """The plots' revision as a scalar subquery, read with the columns a request needs
    anyway (one round trip, not two); NULL on a database older than migration 0004 (then
    nothing may be cached)."""
    return select(PlotRevision.n).where(PlotRevision.id == 1).scalar_subquery()


class RevisionCache(Generic[V]):
    """A bounded, thread-safe LRU of values, each valid at the revision it was made at.

    Args:
        max_entries: Values remembered; the least recently used go beyond this.
        max_bytes: Total size the values may have (``size_of``); None for no limit.
        size_of: Size of one value, bytes (for ``max_bytes``).
    """

    def __init__(
        self,
        max_entries: int,
        max_bytes: int | None = None,
        size_of: Callable[[V], int] = lambda _value: 0,
    ) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._size_of = size_of
        self._values: OrderedDict[Hashable, tuple[int, V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0  # values answered from the cache

    def get(self, key: Hashable, revision: int | None) -> V | None:
        """The value stored for ``key`` if it was made at ``revision``."""
        if revision is None:
            return None
        with self._lock:
            stored = self._values.get(key)
            if stored is None or stored[0] != revision:
                return None
            self._values.move_to_end(key)
            self.hits += 1
            return stored[1]

    def put(self, key: Hashable, revision: int | None, value: V) -> None:
        """Keep ``value`` for ``key``, made at ``revision`` (nothing is kept for None)."""
        if revision is None:
            return
        size = self._size_of(value)
        if self._max_bytes is not None and size > self._max_bytes:
            return
        with self._lock:
            old = self._values.pop(key, None)
            if old is not None:
                self._bytes -= old[2]
            self._values[key] = (revision, value, size)
            self._bytes += size
            while len(self._values) > self._max_entries or (
                self._max_bytes is not None and self._bytes > self._max_bytes
            ):
                _, (_, _, dropped) = self._values.popitem(last=False)
                self._bytes -= dropped

    def get_or_make(self, key: Hashable, revision: int | None, make: Callable[[], V]) -> V:
        """The stored value for ``key`` at ``revision``, else ``make()`` (then stored)."""
        value = self.get(key, revision)
        if value is None:
            value = make()
            self.put(key, revision, value)
        return value
