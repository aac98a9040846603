"""Values kept per data revision: valid only at the revision they were made at, bounded."""

from __future__ import annotations

import threading

from serving.revision_cache import RevisionCache


def test_a_value_is_valid_only_at_its_revision() -> None:
    cache: RevisionCache[str] = RevisionCache(max_entries=8)
    made: list[str] = []

    def make(value: str) -> str:
        made.append(value)
        return value

    assert cache.get_or_make("k", 1, lambda: make("a")) == "a"
    assert cache.get_or_make("k", 1, lambda: make("b")) == "a"
    assert cache.get_or_make("k", 2, lambda: make("c")) == "c"  # the data changed
    assert cache.get("k", 1) is None and cache.get("k", 2) == "c"
    assert made == ["a", "c"] and cache.hits == 2


def test_nothing_is_kept_without_a_revision() -> None:
    cache: RevisionCache[int] = RevisionCache(max_entries=8)
    cache.put("k", None, 5)
    assert cache.get("k", None) is None
    assert cache.get_or_make("k", None, lambda: 6) == 6
    assert cache.get_or_make("k", None, lambda: 7) == 7


def test_entries_and_bytes_are_bounded_least_recently_used_first() -> None:
    cache: RevisionCache[bytes] = RevisionCache(max_entries=3, max_bytes=10, size_of=len)
    for key in "abc":
        cache.put(key, 1, b"xxx")
    assert cache.get("a", 1) == b"xxx"  # the least recently used is now b
    cache.put("d", 1, b"xxx")  # a fourth entry: b goes
    assert cache.get("b", 1) is None
    assert [cache.get(k, 1) for k in "cad"] == [b"xxx"] * 3  # now a, d are the newest
    cache.put("huge", 1, b"x" * 11)  # larger than the whole cache: never kept
    assert cache.get("huge", 1) is None and cache.get("c", 1) == b"xxx"
    cache.put("a", 2, b"y")  # replacing a value frees its old size: 7 bytes
    cache.put("e", 1, b"zz")  # 9 bytes, but a fourth entry: d, the least recent, goes
    assert cache.get("d", 1) is None and cache.get("a", 2) == b"y"
    cache.put("f", 1, b"w" * 8)  # 14 bytes over 10: c, then e go
    assert [cache.get(k, 1) for k in "cef"] == [None, None, b"w" * 8]
    assert cache.get("a", 2) == b"y"


def test_threads_share_one_cache() -> None:
    cache: RevisionCache[int] = RevisionCache(max_entries=64)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(500):
                key = (offset + i) % 100
                value = cache.get_or_make(key, 1, lambda k=key: k * 2)  # type: ignore[misc]
                assert value == key * 2
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n * 7,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
