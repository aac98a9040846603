"""Train a detector with Ultralytics, offline, and write its model card.

A thin, documented wrapper: one :class:`TrainConfig` (loadable from YAML) holds every
setting with its default; the model is built from the architecture YAML (no pretrained
weights can be downloaded on field machines), trained on a dataset made by
:mod:`training.dataset`, and the best checkpoint is copied out with a card that records
classes, GSD, tile size, overlap, thresholds, the data fingerprint, metrics and how it was
trained. Ultralytics is AGPL-3.0; see the README for what that means for deployments.
"""

from __future__ import annotations

import dataclasses
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from detector.backends import resolve_device
from detector.card import ModelCard, sha256_of
from detector.errors import PoppyscanError
from detector.offline import configure_ultralytics
from detector.provenance import software_version, utc_now


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; every field has a documented default.

    Attributes:
        data: The dataset's ``data.yaml`` (from :func:`training.dataset.build_dataset`).
        out_dir: Where the run directory and the final model go.
        name: Model name written to the card.
        version: Model version written to the card.
        architecture: Ultralytics model YAML (``yolo11n.yaml``: 2.6 M parameters), or a
            ``.pt`` made by this pipeline to continue training from its weights.
        epochs: Passes over the training tiles.
        time_h: Wall-clock budget, hours; when set, Ultralytics stops there (overrides epochs).
        batch: Tiles per optimiser step.
        device: ``auto``, ``cpu`` or ``cuda:N``.
        workers: Data-loader processes.
        seed: Random seed.
        patience: Epochs without improvement before early stop.
        gsd_m: Ground sample distance of the tiles, metres per pixel.
        tile_size_px: Tile edge, pixels.
        overlap_px: Scan overlap recorded in the card, pixels.
        conf_threshold: Default scan confidence written to the card.
        cache: Decode the tiles once and keep them (``"ram"`` or ``"disk"``), or not
            (``False``): ``"ram"`` keeps a GPU fed where JPEG decoding would starve it.
        augment: Extra Ultralytics augmentation arguments (``fliplr``, ``hsv_v``, ...).
    """

    data: Path
    out_dir: Path = Path("runs/train")
    name: str = "poppyscan-model"
    version: str = "0.1.0"
    architecture: str = "yolo11n.yaml"
    epochs: int = 50
    time_h: float | None = None
    batch: int = 16
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    patience: int = 30
    gsd_m: float = 0.02
    tile_size_px: int = 640
    overlap_px: int = 128
    conf_threshold: float = 0.25
    cache: bool | str = False
    augment: dict[str, Any] = field(
        default_factory=lambda: {"flipud": 0.5, "degrees": 0.0, "mosaic": 1.0, "scale": 0.2}
    )

    @classmethod
    def from_yaml(cls, path: Path, **overrides: Any) -> TrainConfig:
        """Load a config from YAML; keyword overrides (e.g. from the CLI) win."""
        raw = read_yaml_mapping(path, "training config")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise PoppyscanError(f"{path}: unknown training settings {sorted(unknown)}")
        raw.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("data", "out_dir"):
            if key in raw:
                raw[key] = Path(raw[key])
        return cls(**raw)


def read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file's top-level mapping (empty for an empty file), or a one-line error."""
    if not path.is_file():
        raise PoppyscanError(f"{path}: no such {what} file")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PoppyscanError(f"{path}: unreadable {what}: {str(exc).splitlines()[0]}") from exc
    if raw is not None and not isinstance(raw, dict):
        raise PoppyscanError(f"{path}: a {what} must be a YAML mapping of settings")
    return raw or {}


def train(config: TrainConfig, progress: Callable[[int, int], None] | None = None) -> Path:
    """Train, then write ``<out_dir>/<name>.pt`` and its card; return the weights path.

    Args:
        config: The run's settings.
        progress: Called as ``progress(epochs_done, epochs_total)`` after every epoch.

    Raises:
        PoppyscanError: the dataset's ``data.yaml`` is missing or has no class names.
    """
    data = read_yaml_mapping(config.data, "dataset data.yaml")
    names = data.get("names")
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise PoppyscanError(f"{config.data} lists no class names (expected names: {{0: ...}})")
    configure_ultralytics()
    from ultralytics import YOLO

    classes = tuple(str(n) for _, n in sorted(names.items()))
    card_path = config.data.parent / "dataset-card.yaml"
    data_card = yaml.safe_load(card_path.read_text()) if card_path.is_file() else {}
    device = resolve_device(config.device)
    started = time.perf_counter()
    model = YOLO(config.architecture, task="detect")
    args: dict[str, Any] = {
        "data": str(config.data),
        "epochs": config.epochs,
        "imgsz": config.tile_size_px,
        "batch": config.batch,
        "device": device,
        "workers": config.workers,
        "seed": config.seed,
        "patience": config.patience,
        "project": str(config.out_dir.resolve()),
        "name": config.name,
        "exist_ok": True,
        "plots": False,
        "verbose": False,
        # A .pt means "continue from these weights"; a YAML starts from random weights.
        "pretrained": config.architecture.endswith(".pt"),
        "amp": device != "cpu",
        "cache": config.cache,
        **config.augment,
    }
    if config.time_h:
        args["time"] = config.time_h
    if progress is not None:
        # Ultralytics also fires this after its final validation; clamp to the epoch count.
        model.add_callback(
            "on_fit_epoch_end", lambda t: progress(min(int(t.epoch) + 1, t.epochs), t.epochs)
        )
    model.train(**args)
    trainer: Any = model.trainer  # set by train(); Ultralytics types it Optional
    best = Path(trainer.best if Path(trainer.best).is_file() else trainer.last)
    metrics = {
        k.replace("metrics/", ""): round(float(v), 4)
        for k, v in (trainer.metrics or {}).items()
        if k.startswith("metrics/")
    }
    target = config.out_dir / f"{config.name}.pt"
    shutil.copy2(best, target)
    card = ModelCard(
        name=config.name,
        version=config.version,
        classes=classes,
        gsd_m=config.gsd_m,
        tile_size_px=config.tile_size_px,
        overlap_px=config.overlap_px,
        conf_threshold=config.conf_threshold,
        iou_threshold=0.5,
        data_fingerprint=str(data_card.get("fingerprint", "")),
        metrics={"val_tiles": metrics},
        software_version=software_version(),
        training={
            "architecture": config.architecture,
            "continued_from": _previous_training(config.architecture),
            "epochs_run": int(trainer.epoch) + 1,
            "batch": config.batch,
            "device": device,
            "hardware": _hardware(device),
            "duration_s": round(time.perf_counter() - started),
            "finished_utc": utc_now(),
            "dataset": data_card.get("name", str(config.data)),
        },
    )
    card.save(target)
    return target


def _previous_training(architecture: str) -> dict[str, Any] | None:
    """The training record of the weights a run continued from (None for a fresh model)."""
    path = Path(architecture)
    if path.suffix != ".pt" or not path.is_file():
        return None
    try:
        previous = ModelCard.load(path)
    except PoppyscanError:
        return {"weights_sha256": sha256_of(path)}
    return {"weights_sha256": sha256_of(path), "training": previous.training}


def _hardware(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU"
