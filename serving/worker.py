"""Scan job worker (being written)."""

from __future__ import annotations

from typing import Any


class EmbeddedWorker:
    """Placeholder: runs no jobs yet."""

    def __init__(self, settings: Any, sessions: Any) -> None:
        self.settings = settings

    def start(self) -> None:
        """Start the worker thread."""

    def stop(self) -> None:
        """Stop the worker thread."""
