"""Detector backends: the model behind a small protocol.

The scanner only knows :class:`Detector`: give it a batch of uint8 RGB tiles at the card's tile
size, get back boxes in tile pixels. :class:`UltralyticsDetector` runs YOLO weights through
PyTorch, ONNX Runtime or OpenVINO; on a CPU a ``.pt`` is exported to OpenVINO once (about 4x
faster than eager PyTorch here) and the export is cached under the weights' sha256.
:class:`FakeDetector` is a deterministic colour-blob detector for tests and demos of the
plumbing; it is never a default.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from detector.card import ModelCard, sha256_of
from detector.errors import ModelError
from detector.offline import cache_dir, configure_offline

log = logging.getLogger(__name__)

BACKENDS = ("auto", "pytorch", "onnx", "openvino")
# The model shipped with the package (trained by training/ on synthetic flights).
DEFAULT_MODEL = Path(__file__).parent / "models" / "poppyscan-default.pt"


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


def resolve_device(device: str) -> str:
    """Turn ``"auto"`` into ``"cuda:0"`` when a GPU is usable, else ``"cpu"``."""
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


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


def export_openvino(weights: Path, card: ModelCard, digest: str) -> Path:
    """Export ``.pt`` weights to OpenVINO IR once; return the cached model directory.

    The export lives in ``cache_dir()/openvino/<sha256>-<tile>px/model_openvino_model`` so a
    changed weights file, or a card with another tile size (the export has a fixed input
    size), never reuses a stale export; it is written to a temporary directory first and
    renamed, so concurrent scans never see half an export.
    """
    target = cache_dir() / "openvino" / f"{digest}-{card.tile_size_px}px"
    model_dir = target / "model_openvino_model"
    if any(model_dir.glob("*.xml")):
        return model_dir
    configure_offline()
    from ultralytics import YOLO

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=target.parent))
    try:
        shutil.copy2(weights, staging / "model.pt")
        log.info("exporting %s to OpenVINO (once; cached in %s)", weights, target)
        YOLO(str(staging / "model.pt"), task="detect").export(
            format="openvino",
            imgsz=card.tile_size_px,
            half=False,
            dynamic=False,
            batch=1,
            verbose=False,
        )
        (staging / "model.pt").unlink()
        (staging / "sha256.txt").write_text(digest + "\n")
        try:
            staging.rename(target)
        except OSError:  # another process finished first; its export is as good as ours
            shutil.rmtree(staging, ignore_errors=True)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"could not export {weights} to OpenVINO: {exc}") from exc
    return model_dir


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
        backend: str = "auto",
        conf: float | None = None,
        card: ModelCard | None = None,
    ) -> None:
        weights = Path(weights)
        if not weights.exists():
            raise ModelError(f"{weights}: no such model file")
        if backend not in BACKENDS:
            raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        fmt = _weights_format(weights)
        _check_is_model(weights, fmt)
        self.card = card or ModelCard.load(weights)
        self.sha256 = sha256_of(weights)
        self.device = resolve_device(device)
        self.conf = self.card.conf_threshold if conf is None else conf
        if not 0.0 < self.conf < 1.0:
            raise ModelError(f"confidence threshold {self.conf} must be between 0 and 1")
        runtime = backend
        if backend == "auto":
            runtime = "openvino" if fmt == "pytorch" and self.device == "cpu" else fmt
        if runtime != fmt and not (fmt == "pytorch" and runtime == "openvino"):
            raise ModelError(f"cannot run a {fmt} model with the {runtime} backend")
        model_path = export_openvino(weights, self.card, self.sha256) if runtime != fmt else weights
        self.runtime = runtime
        self.name = f"{self.card.name} {self.card.version} ({runtime}, {self.device})"
        self._model = self._load(model_path)

    def _load(self, model_path: Path) -> Any:
        configure_offline()
        from ultralytics import YOLO

        try:
            model = YOLO(str(model_path), task="detect")
            # One warm-up call builds the predictor so the first real batch is not slower.
            blank = np.zeros((self.card.tile_size_px, self.card.tile_size_px, 3), np.uint8)
            model.predict([blank], **self._predict_args())
            if self.runtime == "openvino":
                _openvino_float32(model, model_path)
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


def _openvino_float32(model: Any, model_path: Path) -> None:
    """Recompile the OpenVINO model Ultralytics built so that it runs in float32.

    OpenVINO's CPU plugin runs float models in bfloat16 by default on CPUs that support it
    (AVX512-BF16, AMX): boxes then move by pixels and confidences by about 1e-2 against
    PyTorch, and a scan's results depend on the machine. Ultralytics does not expose the
    precision hint, so set it on the compiled model its predictor holds.
    """
    import openvino as ov

    backend: Any = getattr(getattr(model.predictor, "model", None), "backend", None)
    compile_model = getattr(backend, "compile_model", None)
    if not isinstance(compile_model, functools.partial) or not hasattr(
        backend, "ov_compiled_model"
    ):
        log.warning("cannot force OpenVINO to float32 with this Ultralytics; results may differ")
        return
    if backend.ov_compiled_model.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32:
        return
    config = {**compile_model.keywords.get("config", {}), "INFERENCE_PRECISION_HINT": ov.Type.f32}
    xml = model_path if model_path.is_file() else next(model_path.glob("*.xml"))
    backend.compile_model = functools.partial(compile_model, config=config)
    backend.ov_compiled_model = backend.compile_model(ov.Core().read_model(str(xml)))


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
        self.calls = 0

    def predict(self, tiles: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Report marker-coloured blobs (see :class:`Detector`)."""
        self.calls += 1
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


def load_detector(
    model: str | os.PathLike[str] | Detector | None,
    *,
    device: str = "auto",
    backend: str = "auto",
    conf: float | None = None,
) -> Detector:
    """Return a ready detector for a model path (None: the default model; a detector passes)."""
    if isinstance(model, Detector):
        return model
    if model is None:
        model = default_model_path()
    return UltralyticsDetector(Path(model), device=device, backend=backend, conf=conf)
