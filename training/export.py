"""Export trained weights for fast CPU scanning: INT8 OpenVINO by post-training quantisation.

The scanner exports ``.pt`` weights to float OpenVINO IR by itself (cached by sha256). This
module makes the INT8 export that ``poppyscan scan --precision int8`` runs: NNCF quantises
the float IR, calibrated on tiles the model was trained on (a dataset's training images) or
cut from a flight by the scanner's own reader, and the result is checked against the f32
model on the same tiles. The export sits beside the weights and is recorded in their card
with the weights' sha256, so a retrained model never runs a stale INT8 file. Float OpenVINO
(:func:`export_openvino_beside`) and ONNX (:func:`export_onnx`) exports are written and
recorded the same way, each with its own card so it can ship alone.

    python -m training.export runs/default/poppyscan-default.pt --calibration data.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from detector.backends import load_detector
from detector.card import ModelCard, sha256_of
from detector.errors import ModelError, PoppyscanError
from detector.offline import configure_offline, configure_ultralytics
from detector.openvino_export import export_openvino
from detector.raster import RasterReader, inspect_raster
from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for
from detector.yolo_decode import box_iou

DEFAULT_CALIBRATION_TILES = 128
INT8_SUFFIX = "_int8_openvino_model"
OPENVINO_SUFFIX = "_openvino_model"


def _evenly(items: Sequence[object], count: int) -> list[int]:
    if len(items) <= count:
        return list(range(len(items)))
    return np.linspace(0, len(items) - 1, count).round().astype(int).tolist()


def calibration_tiles(source: Path, card: ModelCard, count: int) -> list[np.ndarray]:
    """Up to ``count`` RGB tiles at the card's tile size, evenly spread over ``source``.

    Args:
        source: A dataset's ``data.yaml`` (its training images) or a raster (cut with the
            scanner's window plan and reader, empty windows skipped).
        card: The model's card (tile size, GSD).
        count: Most tiles returned.
    """
    if source.suffix in (".yaml", ".yml"):
        data = yaml.safe_load(source.read_text())
        images = sorted((Path(data["path"]) / data["train"]).glob("*.jpg"))
        picked = [images[i] for i in _evenly(images, count)]
        decoded = [cv2.imread(str(p)) for p in picked]
        size = (card.tile_size_px, card.tile_size_px)
        return [t[..., ::-1] for t in decoded if t is not None and t.shape[:2] == size]
    info = inspect_raster(source)
    windows = list(plan_for(info, card, DEFAULT_GSD_TOLERANCE))
    tiles = []
    with RasterReader(info, card.tile_size_px) as reader:
        for index in _evenly(windows, count):
            tile = reader.read_tile(windows[index])
            if tile is not None:
                tiles.append(tile.rgb)
    return tiles


def _head_prefix(model: Any) -> str | None:
    """Name prefix of the YOLO detection head (the module of the last convolution), e.g.
    ``__module.model.23``; None when the graph names no such module."""
    convolutions = [
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Convolution"
    ]
    match = re.match(r"(__module\.model\.\d+)\.", convolutions[-1]) if convolutions else None
    return match.group(1) if match else None


def _quantise(float_dir: Path, tiles: Sequence[np.ndarray], out_dir: Path) -> None:
    """Quantise the float IR in ``float_dir`` to INT8 in ``out_dir``.

    The detection head's box decoding (distribution focal loss, anchor arithmetic, the
    sigmoid) and its last convolution of each branch (box distributions and class logits)
    stay in floating point: quantising them moved small-plant boxes and confidences enough
    to cost 4 of 84 held-out plots (shipped model 0.2.0; all of them recovered this way).
    Bias correction runs in full rather than in its fast form.
    """
    configure_offline()
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(next(float_dir.glob("*.xml"))))
    dataset = nncf.Dataset(
        list(tiles), lambda t: t.transpose(2, 0, 1)[None].astype(np.float32) / 255
    )
    ignored = None
    head = _head_prefix(model)
    if head is not None:
        h = re.escape(head)
        ignored = nncf.IgnoredScope(
            patterns=[
                *(f".*{h}/.*/{op}.*" for op in ("Add", "Sub", "Mul", "Div")),
                f".*{h}\\.dfl.*",
                f".*{h}\\.cv[23]\\.\\d+\\.2/.*",
            ],
            types=["Sigmoid"],
            validate=False,
        )
    quantised = nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(tiles),
        ignored_scope=ignored,
        fast_bias_correction=False,
    )
    ov.save_model(quantised, str(out_dir / "model.xml"), compress_to_fp16=False)


def agreement(reference: Sequence[np.ndarray], other: Sequence[np.ndarray]) -> float:
    """Share of reference boxes with a same-class box in ``other`` at IoU >= 0.5."""
    found = total = 0
    for ref, oth in zip(reference, other, strict=True):
        total += len(ref)
        for row in ref:
            same = oth[oth[:, 5] == row[5]]
            found += bool(len(same)) and bool((box_iou(row[:4], same[:, :4]) >= 0.5).any())
    return found / total if total else 1.0


def export_int8(weights: Path, tiles: Sequence[np.ndarray], source: str = "") -> Path:
    """Quantise ``weights`` to INT8 OpenVINO beside them and record it in their card.

    Returns:
        The export directory (``<stem>_int8_openvino_model``).
    """
    if len(tiles) < 8:
        raise PoppyscanError(f"INT8 calibration needs at least 8 tiles, got {len(tiles)}")
    card = ModelCard.load(weights)
    digest = sha256_of(weights)
    float_dir = export_openvino(weights, card.tile_size_px, digest)
    target = weights.parent / f"{weights.stem}{INT8_SUFFIX}"
    staging = Path(tempfile.mkdtemp(prefix=".int8-", dir=weights.parent))
    try:
        _quantise(float_dir, tiles, staging)
        staging.chmod(0o755)  # mkdtemp makes it private; the export may ship as package data
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, PoppyscanError):
            raise
        raise ModelError(f"INT8 quantisation of {weights} failed: {exc}") from exc
    exports = {"openvino_int8": target.name, "source_sha256": digest}
    dataclasses.replace(card, exports={**card.exports, **exports}).save(weights)
    f32 = load_detector(weights, device="cpu", precision="f32", conf=card.conf_threshold)
    int8 = load_detector(weights, device="cpu", precision="int8", conf=card.conf_threshold)
    score = agreement(f32.predict(tiles), int8.predict(tiles))
    check = {"boxes_matched_vs_f32": round(score, 4), "tiles": len(tiles), "source": source}
    final = ModelCard.load(weights)
    dataclasses.replace(final, metrics={**final.metrics, "int8_vs_f32": check}).save(weights)
    return target


def record_export(weights: Path, kind: str, name: str, digest: str) -> ModelCard:
    """Record an export beside ``weights`` in their card and return the new card.

    Exports made from other weights (the card's ``source_sha256`` differs) are dropped from
    the record: they are stale, and one ``source_sha256`` vouches for every listed export.
    """
    card = ModelCard.load(weights)
    exports = dict(card.exports) if card.exports.get("source_sha256") == digest else {}
    exports |= {kind: name, "source_sha256": digest}
    updated = dataclasses.replace(card, exports=exports)
    updated.save(weights)
    return updated


def _place(staging: Path, target: Path) -> None:
    """Move a finished export into place, replacing an older one."""
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(staging, target)


def export_openvino_beside(weights: Path) -> Path:
    """Float OpenVINO IR beside ``weights`` (``<stem>_openvino_model``), with its own card.

    The IR is the scanner's cached export (same sha256), copied so it can ship alone:
    ``poppyscan scan --model <stem>_openvino_model`` runs it without PyTorch.
    """
    card = ModelCard.load(weights)
    digest = sha256_of(weights)
    cached = export_openvino(weights, card.tile_size_px, digest)
    target = weights.parent / f"{weights.stem}{OPENVINO_SUFFIX}"
    staging = Path(tempfile.mkdtemp(prefix=".openvino-", dir=weights.parent))
    try:
        for file in cached.iterdir():
            shutil.copy2(file, staging / file.name)
        staging.chmod(0o755)
        _place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    dataclasses.replace(card, exports={}).save(target)
    record_export(weights, "openvino", target.name, digest)
    return target


def export_onnx(weights: Path) -> Path:
    """ONNX model beside ``weights`` (``<stem>.onnx``, dynamic batch), with its own card."""
    configure_ultralytics()
    from ultralytics import YOLO

    card = ModelCard.load(weights)
    digest = sha256_of(weights)
    target = weights.with_suffix(".onnx")
    staging = Path(tempfile.mkdtemp(prefix=".onnx-", dir=weights.parent))
    try:
        shutil.copy2(weights, staging / "model.pt")
        YOLO(str(staging / "model.pt"), task="detect").export(
            format="onnx", imgsz=card.tile_size_px, dynamic=True, half=False, verbose=False
        )
        os.replace(staging / "model.onnx", target)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"ONNX export of {weights} failed: {reason}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    dataclasses.replace(card, exports={}).save(target)
    record_export(weights, "onnx", target.name, digest)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: quantise a model to INT8 with calibration tiles from data or a flight."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help=".pt weights with their card")
    parser.add_argument(
        "--calibration",
        type=Path,
        required=True,
        help="a dataset's data.yaml or a representative flight raster",
    )
    parser.add_argument("--tiles", type=int, default=DEFAULT_CALIBRATION_TILES)
    args = parser.parse_args(argv)
    try:
        card = ModelCard.load(args.weights)
        tiles = calibration_tiles(args.calibration, card, args.tiles)
        target = export_int8(args.weights, tiles, source=args.calibration.name)
    except PoppyscanError as exc:
        print(f"poppyscan: error: {exc}", file=sys.stderr)
        return 2
    check = ModelCard.load(args.weights).metrics["int8_vs_f32"]
    print(
        f"wrote {target} ({check['tiles']} calibration tiles; "
        f"{check['boxes_matched_vs_f32']:.1%} of f32 boxes reproduced)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
