"""Keep third-party libraries off the network.

poppyscan runs on field servers without internet. Ultralytics otherwise checks for updates,
syncs settings and events, tries `pip install` for missing export dependencies, reports to
experiment trackers and downloads fonts; OpenVINO's telemetry client sends usage events on
import. :func:`configure_offline` turns all of that off and must run before `openvino` or
`ultralytics` is imported; :func:`configure_ultralytics` also rewrites Ultralytics' settings
(it imports Ultralytics, hence torch, so the CPU scanning path never calls it). Ultralytics'
settings file is kept in poppyscan's own cache directory so a user's global settings are not
rewritten.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
_ultralytics_done = False


def cache_dir() -> Path:
    """Directory for derived files (``POPPYSCAN_CACHE_DIR``, else ``~/.cache/poppyscan``)."""
    root = os.environ.get("POPPYSCAN_CACHE_DIR") or Path.home() / ".cache" / "poppyscan"
    return Path(root)


def configure_offline() -> None:
    """Disable network access, telemetry and auto-installs (idempotent, imports nothing)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))
    # openvino-telemetry sends usage events unless a consent file in the user's home says
    # no; it ignores environment variables. Making it unimportable switches OpenVINO to its
    # built-in no-op stub, for this process only.
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]


def configure_ultralytics() -> None:
    """:func:`configure_offline`, then switch off Ultralytics' syncing and trackers."""
    global _ultralytics_done
    configure_offline()
    if _ultralytics_done:
        return
    Path(os.environ["YOLO_CONFIG_DIR"]).mkdir(parents=True, exist_ok=True)
    from ultralytics.utils import SETTINGS  # must follow the env setup

    off = {key: False for key in _OFF_SETTINGS if SETTINGS.get(key)}
    if off:
        SETTINGS.update(off)
    _ultralytics_done = True
