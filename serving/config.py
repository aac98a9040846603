"""Server settings: one source of truth, from the environment (``POPPYSCAN_*``) or keywords.

Embedded defaults make ``poppyscan serve`` work on a fresh install: everything lives under one
data directory — a SQLite database, the flight and chip storage, the signing key — and scans
run on an in-process worker. ``DATABASE_URL=postgresql://...`` switches to PostgreSQL with no
code change.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import AliasChoices, Field, PrivateAttr
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3
MIB = 1024**2


class Settings(BaseSettings):
    """Everything the server is configured by.

    Attributes:
        data_dir: Root of the embedded defaults: database, storage, signing key.
        database_url: SQLAlchemy URL; ``sqlite:///<data_dir>/poppyscan.db`` when unset.
            ``postgresql://`` URLs use psycopg 3.
        db_pool_size: Connections each API process keeps to a database server (not
            SQLite); a request finding all of them busy waits for one (up to 30 s) rather
            than opening and closing a connection of its own, which cost PostgreSQL a
            process per request under load. Mind the server's ``max_connections``:
            API processes x this, plus the workers'.
        storage_dir: Flights, chips and photos; ``<data_dir>/storage`` when unset.
        max_upload_bytes: Largest flight accepted, bytes (HTTP 413 beyond).
        max_chunk_bytes: Largest single chunk of a resumable upload, bytes.
        max_photo_bytes: Largest field photo, bytes.
        token_ttl_min: Lifetime of a login token, minutes.
        secret_key: Token signing key; generated once and kept in ``<data_dir>/secret.key``.
        embedded_worker: Run scan jobs on a thread of the server process (``create_app``;
            ``poppyscan serve`` runs them in a worker process of its own instead).
        scan_nice: How much lower a worker's scans run in CPU priority than the API (Linux
            nice increment, 0-19): a scan uses the CPU that requests leave it, so the map
            stays quick while a flight is scanned. 0 scans at the API's priority.
        worker_poll_s: How often an idle worker looks for queued jobs, seconds.
        job_lease_s: A running job whose worker has not reported for this long is requeued.
        model: Weights path, or NAME[:VERSION] from the model registry; when unset, the
            registry's default model, else the model shipped with poppyscan.
        scan_conf: Confidence threshold override for server scans; the model card's if unset.
        revisit_after_days: An eradicated plot is due for a revisit this many days after
            its eradication, days, when its flight belongs to no season.
        revisit_days_by_stage: The same per growth stage of the flight's season, days
            (a seedling-stage plot is replanted or regrows sooner than a capsule-stage one
            is harvested); e.g. ``POPPYSCAN_REVISIT_DAYS_BY_STAGE='{"seedling": 21}'``.
    """

    model_config = SettingsConfigDict(env_prefix="POPPYSCAN_", extra="ignore")
    _signing_key: str | None = PrivateAttr(default=None)

    data_dir: Path = Path("poppyscan-data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "POPPYSCAN_DATABASE_URL")
    )
    db_pool_size: int = Field(default=20, ge=1, le=1000)
    storage_dir: Path | None = None
    max_upload_bytes: int = 50 * GIB
    max_chunk_bytes: int = 256 * MIB
    max_photo_bytes: int = 20 * MIB
    token_ttl_min: int = 12 * 60
    secret_key: str | None = None
    embedded_worker: bool = True
    scan_nice: int = Field(default=10, ge=0, le=19)
    worker_poll_s: float = 1.0
    job_lease_s: float = 60.0
    model: str | None = None
    scan_conf: float | None = None
    revisit_after_days: int = 30
    revisit_days_by_stage: dict[str, int] = Field(
        default_factory=lambda: {"seedling": 21, "flowering": 14, "capsule": 30}
    )

    def revisit_days(self, stage: str | None) -> int:
        """Days from an eradication to its revisit for a plot found at growth ``stage``."""
        return self.revisit_days_by_stage.get(stage or "", self.revisit_after_days)

    def resolved_database_url(self) -> str:
        """The database URL, with the embedded SQLite default and the psycopg 3 driver."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'poppyscan.db').resolve()}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    def storage_root(self) -> Path:
        """Directory holding flights, uploads in progress, chips and photos."""
        return (self.storage_dir or self.data_dir / "storage").resolve()

    def signing_key(self) -> str:
        """The token signing key, created with the data directory on first use (read once:
        every request checks a token with it)."""
        if self.secret_key:
            return self.secret_key
        if self._signing_key is None:
            self._signing_key = self._stored_key()
        return self._signing_key

    def _stored_key(self) -> str:
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(48))
            tmp.chmod(0o600)
            tmp.replace(path)
        return path.read_text().strip()
