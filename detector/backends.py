"""Detector backends: the model behind a small protocol.

The scanner only knows :class:`Detector`: give it a batch of uint8 RGB tiles at the card's tile
size, get back boxes in tile pixels. On a CPU a ``.pt`` is exported to OpenVINO once (cached
under the weights' sha256) and run by :class:`~detector.openvino_detector.OpenVINODetector`
without PyTorch; :class:`UltralyticsDetector` runs ``.pt`` on CUDA and ``.onnx`` through
ONNX Runtime. :class:`FakeDetector` is a deterministic colour-blob detector for tests and
demos of the plumbing; it is never a default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import cv2
import numpy as np

from detector.card import ModelCard, sha256_of
from detector.errors import ModelError
from detector.offline import configure_ultralytics
from detector.openvino_detector import DEFAULT_PRECISION, PRECISIONS, OpenVINODetector
from detector.openvino_export import export_openvino

log = logging.getLogger(__name__)

BACKENDS = ("auto", "pytorch", "onnx", "openvino")
# The model shipped with the package (trained by training/ on synthetic flights).
DEFAULT_MODEL = Path(__file__).parent / "models" / "poppyscan-default.pt"
K = TypeVar("K")  # what a caller ties to each tile of a stream


@runtime_checkable
class Detector(Protocol):
    """What the scanner needs from a model.

    Attributes:
        card: The model card (classes, GSD, tile size, thresholds).
        name: Human-readable description of model and runtime, e.g. ``"default (openvino)"``.
        sha256: Hex sha256 of the weights file, recorded in every scan output.
    """

    card: ModelCard
    name: str
    sha256: str

    def predict(self, tiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Detect plants in a batch of tiles.

        Args:
            tiles: uint8 RGB arrays ``(tile, tile, 3)`` at the card's tile size and GSD.

        Returns:
            One float32 array ``(n, 6)`` per tile: ``x0, y0, x1, y1`` in tile pixel-corner
            coordinates, confidence (0..1), class index into ``card.classes``.
        """
        ...


def detect_stream(
    detector: Detector, tiles: Iterable[tuple[K, np.ndarray]], batch_size: int
) -> Iterator[tuple[K, np.ndarray]]:
    """Run ``detector`` over a stream of ``(key, tile)``; yield ``(key, boxes)`` in order.

    A detector with its own ``predict_stream`` (OpenVINO: tiles in flight on every inference
    stream, no batch barrier) takes the stream as it is; any other gets ``batch_size`` tiles
    per :meth:`Detector.predict` call.
    """
    own_stream = getattr(detector, "predict_stream", None)
    if own_stream is not None:
        yield from own_stream(tiles)
        return
    batch: list[tuple[K, np.ndarray]] = []
    for item in tiles:
        batch.append(item)
        if len(batch) >= batch_size:
            yield from _run_batch(detector, batch)
            batch = []
    if batch:
        yield from _run_batch(detector, batch)


def _run_batch(
    detector: Detector, batch: Sequence[tuple[K, np.ndarray]]
) -> Iterator[tuple[K, np.ndarray]]:
    results = detector.predict([tile for _, tile in batch])
    yield from zip((key for key, _ in batch), results, strict=True)


def _nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver is loaded (checked without importing torch)."""
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()


def resolve_device(device: str) -> str:
    """Turn ``"auto"`` into ``"cuda:0"`` when a GPU is usable, else ``"cpu"``.

    torch is only imported when an NVIDIA driver is present, so CPU scans never load it.
    """
    if device != "auto":
        return device
    if not _nvidia_gpu_present():
        return "cpu"
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def _check_conf(conf: float) -> float:
    if not 0.0 < conf < 1.0:
        raise ModelError(f"confidence threshold {conf} must be between 0 and 1")
    return conf


def _weights_format(path: Path) -> str:
    if path.is_dir():
        if any(path.glob("*.xml")):
            return "openvino"
        raise ModelError(f"{path} is a directory without an OpenVINO model (.xml + .bin)")
    suffix = path.suffix.lower()
    if suffix == ".pt":
        return "pytorch"
    if suffix == ".onnx":
        return "onnx"
    raise ModelError(f"{path}: unknown model format (expected .pt, .onnx or an OpenVINO folder)")


def _check_is_model(path: Path, fmt: str) -> None:
    """Refuse files that are plainly not model weights before handing them to a framework."""
    if fmt == "openvino":
        return
    with path.open("rb") as handle:
        head = handle.read(4)
    if fmt == "pytorch" and not head.startswith(b"PK"):
        raise ModelError(f"{path} is not a PyTorch weights file")
    if fmt == "onnx" and (len(head) < 2 or head[0] != 0x08):
        raise ModelError(f"{path} is not an ONNX model")


class UltralyticsDetector:
    """A YOLO detector run by Ultralytics on PyTorch, ONNX Runtime or OpenVINO.

    Args:
        weights: ``.pt``, ``.onnx`` or an ``*_openvino_model`` directory. Its card is read
            from the sidecar ``<weights>.card.json``.
        device: ``"auto"``, ``"cpu"``, ``"cuda:0"``, ...
        backend: ``"auto"`` (OpenVINO for ``.pt`` on CPU, the file's own runtime otherwise),
            ``"pytorch"``, ``"onnx"`` or ``"openvino"``.
        conf: Confidence threshold; the card's default when None.
        card: Use this card instead of the sidecar (for exports that carry none).
    """

    def __init__(
        self,
        weights: Path,
        *,
        device: str = "auto",
        conf: float | None = None,
        card: ModelCard | None = None,
    ) -> None:
        weights = Path(weights)
        if not weights.exists():
            raise ModelError(f"{weights}: no such model file")
        fmt = _weights_format(weights)
        _check_is_model(weights, fmt)
        self.card = card or ModelCard.load(weights)
        self.sha256 = sha256_of(weights)
        self.device = resolve_device(device)
        self.conf = _check_conf(self.card.conf_threshold if conf is None else conf)
        self.runtime = fmt
        self.name = f"{self.card.name} {self.card.version} ({fmt}, {self.device})"
        self._model = self._load(weights)

    def _load(self, model_path: Path) -> Any:
        configure_ultralytics()
        from ultralytics import YOLO

        try:
            model = YOLO(str(model_path), task="detect")
            # One warm-up call builds the predictor so the first real batch is not slower.
            blank = np.zeros((self.card.tile_size_px, self.card.tile_size_px, 3), np.uint8)
            model.predict([blank], **self._predict_args())
        except Exception as exc:  # frameworks raise anything on a broken file
            raise ModelError(f"{model_path} could not be loaded as a YOLO model: {exc}") from exc
        names = getattr(model, "names", None) or {}
        if names and len(names) != len(self.card.classes):
            raise ModelError(
                f"{model_path} has {len(names)} classes but its card lists "
                f"{len(self.card.classes)} ({', '.join(self.card.classes)})"
            )
        return model

    def _predict_args(self) -> dict[str, Any]:
        return {
            "imgsz": self.card.tile_size_px,
            "conf": self.conf,
            "iou": self.card.iou_threshold,
            "device": self.device,
            "half": False,
            "max_det": 1000,
            "verbose": False,
        }

    def predict(self, tiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Detect plants in a batch of RGB tiles (see :class:`Detector`)."""
        if not tiles:
            return []
        bgr = [np.ascontiguousarray(tile[..., ::-1]) for tile in tiles]  # Ultralytics wants BGR
        results = self._model.predict(bgr, **self._predict_args())
        out = []
        for result in results:
            boxes = result.boxes
            rows = np.concatenate(
                [
                    boxes.xyxy.cpu().numpy().reshape(-1, 4),
                    boxes.conf.cpu().numpy().reshape(-1, 1),
                    boxes.cls.cpu().numpy().reshape(-1, 1),
                ],
                axis=1,
            )
            out.append(rows.astype(np.float32))
        return out


class FakeDetector:
    """Deterministic stand-in that reports blobs of one marker colour as plants.

    It finds connected regions whose RGB is within ``tolerance`` of ``marker_rgb`` and reports
    each region's bounding box with confidence 0.9 as class 0. It exists to test the scanning
    plumbing (tiling, seams, georeferencing, outputs) with known answers, never to find poppy.
    """

    def __init__(
        self,
        card: ModelCard,
        marker_rgb: tuple[int, int, int] = (255, 0, 255),
        tolerance: int = 40,
        min_area_px: int = 4,
    ) -> None:
        self.card = card
        self.name = f"{card.name} {card.version} (fake)"
        self.sha256 = "fake"
        self.marker = np.asarray(marker_rgb, dtype=np.int16)
        self.tolerance = tolerance
        self.min_area_px = min_area_px

    def predict(self, tiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Report marker-coloured blobs (see :class:`Detector`)."""
        out = []
        for tile in tiles:
            distance = np.abs(tile.astype(np.int16) - self.marker).max(axis=2)
            hits = (distance <= self.tolerance).astype(np.uint8)
            count, _, stats, _ = cv2.connectedComponentsWithStats(hits, connectivity=8)
            rows = [
                (x, y, x + w, y + h, 0.9, 0.0)
                for x, y, w, h, area in stats[1:count]
                if area >= self.min_area_px
            ]
            out.append(np.asarray(rows, dtype=np.float32).reshape(-1, 6))
        return out


def default_model_path() -> Path:
    """Return the shipped default model, or raise ModelError if this install has none."""
    if not DEFAULT_MODEL.is_file():
        raise ModelError(
            f"no default model is installed ({DEFAULT_MODEL}); pass --model PATH to a .pt, "
            ".onnx or OpenVINO model with its card"
        )
    return DEFAULT_MODEL


def int8_export_dir(weights: Path, card: ModelCard, digest: str) -> Path:
    """The INT8 OpenVINO export recorded in the card, checked to come from these weights."""
    name = card.exports.get("openvino_int8")
    if not name:
        raise ModelError(
            f"{weights.name} has no INT8 export; make one with "
            f"`python -m training.export {weights} --calibration DATA` or scan with "
            "--precision f32 or fast"
        )
    if card.exports.get("source_sha256") != digest:
        raise ModelError(f"the INT8 export of {weights.name} was made from other weights; redo it")
    model_dir = weights.parent / name
    if not any(model_dir.glob("*.xml")):
        raise ModelError(f"the INT8 export {model_dir} named in the card is missing")
    return model_dir


def choose_runtime(fmt: str, device: str, backend: str) -> str:
    """Pick the runtime for a model format on a device (``backend="auto"`` decides).

    CPU: OpenVINO for ``.pt`` and OpenVINO folders, ONNX Runtime for ``.onnx``. CUDA:
    PyTorch for ``.pt``. An explicit backend must be able to run the format.
    """
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "openvino" if fmt == "pytorch" and device == "cpu" else fmt
    if backend != fmt and not (fmt == "pytorch" and backend == "openvino"):
        raise ModelError(f"cannot run a {fmt} model with the {backend} backend")
    if backend == "openvino" and device != "cpu":
        raise ModelError(f"the OpenVINO backend runs on the CPU, not {device}")
    return backend


def load_detector(
    model: str | os.PathLike[str] | Detector | None,
    *,
    device: str = "auto",
    backend: str = "auto",
    conf: float | None = None,
    precision: str = DEFAULT_PRECISION,
) -> Detector:
    """Return a ready detector.

    Args:
        model: Weights path (``.pt``, ``.onnx``, OpenVINO folder), a ready detector (passed
            through), or None for the shipped default model.
        device: ``"auto"``, ``"cpu"``, ``"cuda:N"``.
        backend: ``"auto"``, ``"pytorch"``, ``"onnx"`` or ``"openvino"``.
        conf: Confidence threshold; the card's when None.
        precision: OpenVINO precision, ``"fast"`` (default), ``"f32"`` or ``"int8"`` (see
            :mod:`detector.openvino_detector`).
    """
    if isinstance(model, Detector):
        return model
    weights = Path(model) if model is not None else default_model_path()
    if not weights.exists():
        raise ModelError(f"{weights}: no such model file")
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; choose {' or '.join(PRECISIONS)}")
    fmt = _weights_format(weights)
    _check_is_model(weights, fmt)
    resolved = resolve_device(device)
    runtime = choose_runtime(fmt, resolved, backend)
    if runtime != "openvino":
        return UltralyticsDetector(weights, device=resolved, conf=conf)
    card = ModelCard.load(weights)
    digest = sha256_of(weights)
    if precision == "int8":
        model_dir = int8_export_dir(weights, card, digest)
    elif fmt == "openvino":
        model_dir = weights
    else:  # exported at the scan's window size (the IR's input is fixed)
        card = card.at_window(card.scan_window_px())
        model_dir = export_openvino(weights, card.tile_size_px, digest)
    threshold = _check_conf(card.conf_threshold if conf is None else conf)
    return OpenVINODetector(model_dir, card, digest, threshold, precision)
