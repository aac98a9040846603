"""INT8 export: quantised beside the weights, recorded in the card, refused when stale."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from detector.backends import load_detector
from detector.card import ModelCard
from detector.errors import ModelError
from detector.openvino_detector import OpenVINODetector
from training.export import agreement, export_int8


@pytest.fixture
def weights(tiny_yolo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("POPPYSCAN_CACHE_DIR", str(tmp_path / "cache"))
    copy = tmp_path / "model.pt"
    shutil.copy2(tiny_yolo, copy)
    shutil.copy2(ModelCard.sidecar_path(tiny_yolo), ModelCard.sidecar_path(copy))
    return copy


def test_int8_export_runs_and_is_checked_against_f32(
    weights: Path, textured_tiles: Callable[[int, int, int], list[np.ndarray]]
) -> None:
    with pytest.raises(ModelError, match="no INT8 export"):
        load_detector(weights, device="cpu", precision="int8")
    tiles = textured_tiles(12, 320, 5)
    target = export_int8(weights, tiles, source="textured")
    assert target == weights.parent / "model_int8_openvino_model"
    assert any(target.glob("*.xml")) and any(target.glob("*.bin"))
    card = ModelCard.load(weights)
    assert card.exports["openvino_int8"] == target.name
    check = card.metrics["int8_vs_f32"]
    assert check["tiles"] == 12 and 0.0 <= check["boxes_matched_vs_f32"] <= 1.0
    detector = load_detector(weights, device="cpu", precision="int8", conf=0.01)
    assert isinstance(detector, OpenVINODetector) and detector.precision == "int8"
    (boxes,) = detector.predict(tiles[:1])
    assert boxes.shape[1] == 6


def test_stale_int8_export_is_refused(weights: Path) -> None:
    card = ModelCard.load(weights)
    exports = {"openvino_int8": "model_int8_openvino_model", "source_sha256": "0" * 64}
    dataclasses.replace(card, exports=exports).save(weights)
    with pytest.raises(ModelError, match="made from other weights"):
        load_detector(weights, device="cpu", precision="int8")


def test_agreement_counts_same_class_overlaps() -> None:
    ref = [np.array([[0, 0, 10, 10, 0.9, 0], [20, 20, 30, 30, 0.9, 1]], np.float32)]
    same = [np.array([[1, 1, 10, 10, 0.8, 0], [20, 20, 30, 30, 0.8, 0]], np.float32)]
    assert agreement(ref, same) == 0.5  # the second box changed class
    assert agreement([np.zeros((0, 6), np.float32)], [np.zeros((0, 6), np.float32)]) == 1.0
