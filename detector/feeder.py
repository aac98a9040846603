"""Reader threads that decode tiles ahead of the model.

GDAL releases the GIL while it decodes, so reader threads keep a bounded queue of model-ready
tiles full while the model runs on the main thread; the model should never wait for I/O. The
queue's bound is what keeps memory flat whatever the raster's size. Each thread has its own
dataset handle (GDAL handles are not thread-safe) and so its own block cache.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from detector.raster import RasterInfo, RasterReader, Tile
from detector.tiling import TileWindow

_POLL_S = 0.1


@dataclass(frozen=True)
class SkippedWindow:
    """A window that turned out to hold no valid pixel (nothing sent to the model)."""

    window: TileWindow


@dataclass(frozen=True)
class _ReaderFailed:
    error: BaseException


class _ReaderDone:
    pass


class TileFeeder:
    """Decode windows on background threads; iterate to receive tiles as they are ready.

    Args:
        info: The raster to read.
        windows: Windows to read; each is read exactly once, in roughly this order.
        tile_size_px: Model tile edge (tiles are padded to it).
        threads: Number of reader threads, each with its own dataset handle.
        queue_tiles: Most decoded tiles held at once.

    Iterating yields :class:`~detector.raster.Tile` or :class:`SkippedWindow` items and
    re-raises the first reader error. Use as a context manager so threads always stop.
    """

    def __init__(
        self,
        info: RasterInfo,
        windows: Iterable[TileWindow],
        tile_size_px: int,
        threads: int = 1,
        queue_tiles: int = 8,
    ) -> None:
        self._info = info
        self._tile_size_px = tile_size_px
        self._windows = iter(windows)
        self._lock = threading.Lock()
        self._queue: queue.Queue[Tile | SkippedWindow | _ReaderFailed | _ReaderDone] = queue.Queue(
            maxsize=max(1, queue_tiles)
        )
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name=f"poppyscan-reader-{i}", daemon=True)
            for i in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    def _next_window(self) -> TileWindow | None:
        with self._lock:
            return next(self._windows, None)

    def _put(self, item: Tile | SkippedWindow | _ReaderFailed | _ReaderDone) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            with RasterReader(self._info, self._tile_size_px) as reader:
                while not self._stop.is_set():
                    window = self._next_window()
                    if window is None:
                        break
                    tile = reader.read_tile(window)
                    if not self._put(tile if tile is not None else SkippedWindow(window)):
                        break
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_ReaderFailed(exc))
        finally:
            self._put(_ReaderDone())

    def __iter__(self) -> Iterator[Tile | SkippedWindow]:
        running = len(self._threads)
        while running:
            item = self._queue.get()
            if isinstance(item, _ReaderDone):
                running -= 1
            elif isinstance(item, _ReaderFailed):
                raise item.error
            else:
                yield item

    def close(self) -> None:
        """Stop the readers and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> TileFeeder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
