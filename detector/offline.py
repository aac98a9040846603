"""Keep third-party libraries off the network.

poppyscan runs on field servers without internet. Ultralytics otherwise checks for updates,
syncs settings and events, tries `pip install` for missing export dependencies, reports to
experiment trackers and downloads fonts; OpenVINO ships an opt-in telemetry client. This
module turns all of that off and must run before `ultralytics` is imported. Ultralytics'
settings file is kept in poppyscan's own cache directory so a user's global settings are not
rewritten.
"""

from __future__ import annotations

import os
from pathlib import Path

_DONE = False
_OFF_SETTINGS = (
    "sync",
    "hub",
    "clearml",
    "comet",
    "dvc",
    "mlflow",
    "raytune",
    "tensorboard",
    "wandb",
    "vscode_msg",
)


def cache_dir() -> Path:
    """Directory for derived files (``POPPYSCAN_CACHE_DIR``, else ``~/.cache/poppyscan``)."""
    root = os.environ.get("POPPYSCAN_CACHE_DIR") or Path.home() / ".cache" / "poppyscan"
    return Path(root)


def configure_offline() -> None:
    """Disable network access, telemetry and auto-installs (idempotent)."""
    global _DONE
    if _DONE:
        return
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("OPENVINO_TELEMETRY_DISABLE", "1")
    config = cache_dir() / "ultralytics"
    config.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config))
    from ultralytics.utils import SETTINGS

    off = {key: False for key in _OFF_SETTINGS if SETTINGS.get(key)}
    if off:
        SETTINGS.update(off)
    _DONE = True
