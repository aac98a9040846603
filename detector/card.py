"""Model cards: what a model was trained for, stored beside its weights.

A card travels with every model file as a sidecar JSON (`model.pt` -> `model.pt.card.json`).
The scanner reads it to pick the ground sample distance it resamples to, the tile size, the
overlap and the thresholds; every scan output records the card's name, version and the
weights' sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.errors import ModelError

CARD_SUFFIX = ".card.json"


@dataclass(frozen=True)
class ModelCard:
    """Description of a trained detector.

    Attributes:
        name: Model name, e.g. ``"poppyscan-default"``.
        version: Model version string, e.g. ``"2026.11.1"``.
        classes: Class names, indexed by the model's class ids.
        gsd_m: Ground sample distance the model was trained at, metres per pixel.
        tile_size_px: Square tile edge fed to the model, pixels at ``gsd_m``.
        overlap_px: Overlap between neighbouring tiles, pixels at ``gsd_m``. Must exceed the
            largest plant so that every plant lies whole inside at least one tile.
        scan_tile_px: Edge of the windows the scanner gives the model's OpenVINO export,
            pixels at ``gsd_m``, when larger than ``tile_size_px``; None for
            ``tile_size_px`` (see :meth:`scan_window_px`).
        conf_threshold: Default confidence threshold for reported detections (0..1).
        iou_threshold: IoU threshold of the model's own non-maximum suppression (0..1).
        data_fingerprint: Fingerprint of the training data set.
        metrics: Evaluation metrics, free-form (e.g. ``{"plot_recall": 0.97}``).
        software_version: poppyscan version that produced the model.
        training: How it was trained: command, hardware, duration (free-form).
        exports: Derived model files beside the weights, by kind (e.g.
            ``{"openvino_int8": "model_int8_openvino_model"}``), and the sha256 of the
            weights they were made from (``"source_sha256"``).
    """

    name: str
    version: str
    classes: tuple[str, ...]
    gsd_m: float
    tile_size_px: int = 640
    overlap_px: int = 128
    scan_tile_px: int | None = None
    conf_threshold: float = 0.25
    iou_threshold: float = 0.5
    data_fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    software_version: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    exports: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.classes:
            raise ModelError(f"model card {self.name!r} lists no classes")
        if not 0.001 <= self.gsd_m <= 1.0:
            raise ModelError(f"model card {self.name!r}: gsd_m={self.gsd_m} is not 0.001..1 m/px")
        if self.tile_size_px < 32 or not 0 <= self.overlap_px < self.tile_size_px // 2 + 1:
            raise ModelError(
                f"model card {self.name!r}: tile {self.tile_size_px} px with overlap "
                f"{self.overlap_px} px is not usable"
            )
        if self.scan_tile_px is not None and self.scan_tile_px < self.tile_size_px:
            raise ModelError(
                f"model card {self.name!r}: scan windows of {self.scan_tile_px} px are smaller "
                f"than its {self.tile_size_px} px tiles"
            )

    def scan_window_px(self) -> int:
        """Edge of the windows a scan feeds the model's OpenVINO export, pixels at ``gsd_m``.

        A convolutional detector takes any input size at its training GSD, and a larger
        window recomputes less overlap: 640 px windows with 128 px of overlap compute 1.56x
        the raster's area, 1152 px windows (block-aligned strides of 1024) 1.27x. But the
        shipped model, trained on 640 px tiles, found 59 instead of 62 of 84 held-out plots
        in 1152 px windows (2026-12-05), so a card only opts in (``scan_tile_px``) once its
        model has been evaluated at that size.
        """
        return self.scan_tile_px or self.tile_size_px

    def at_window(self, window_px: int) -> ModelCard:
        """This card with ``tile_size_px`` set to the window the model is run on."""
        return dataclasses.replace(self, tile_size_px=window_px, scan_tile_px=window_px)

    def to_dict(self) -> dict[str, Any]:
        """Return the card as a JSON-ready dictionary."""
        data = dataclasses.asdict(self)
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Build a card from a dictionary, ignoring unknown keys (newer cards stay readable)."""
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            values = {k: v for k, v in data.items() if k in known}
            values["classes"] = tuple(str(c) for c in values["classes"])
            return cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model card is malformed: {exc}") from exc

    @staticmethod
    def sidecar_path(weights: Path) -> Path:
        """Return where the card of ``weights`` lives (``weights`` + ``.card.json``)."""
        return weights.with_name(weights.name + CARD_SUFFIX)

    @classmethod
    def load(cls, weights: Path) -> ModelCard:
        """Read the sidecar card of a weights file or model directory.

        Raises:
            ModelError: if the card is missing or malformed.
        """
        path = cls.sidecar_path(Path(weights))
        if not path.is_file():
            raise ModelError(
                f"no model card for {weights} (expected {path.name} beside it); a card tells "
                "the scanner the model's ground sample distance and classes"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"model card {path} is unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelError(f"model card {path} is not a JSON object")
        return cls.from_dict(data)

    def save(self, weights: Path) -> Path:
        """Write the card beside ``weights`` atomically and return its path."""
        path = self.sidecar_path(Path(weights))
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
        return path


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, or of every file under a directory in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            while block := handle.read(chunk_bytes):
                digest.update(block)
    return digest.hexdigest()
