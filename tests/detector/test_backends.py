"""Model backends: OpenVINO and PyTorch agree, exports are cached, bad models are refused."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from doubles import make_card

from detector.backends import (
    Detector,
    FakeDetector,
    UltralyticsDetector,
    detect_stream,
    load_detector,
)
from detector.card import ModelCard, sha256_of
from detector.errors import ModelError
from detector.openvino_detector import OpenVINODetector

TOP_N = 100


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def _matched_fraction(ours: np.ndarray, reference: np.ndarray) -> float:
    """Share of our top boxes that match a distinct reference box greedily.

    A match has the same class, IoU > 0.9 and a confidence within 1e-3.
    """
    ours = ours[np.argsort(-ours[:, 4], kind="stable")][:TOP_N]
    used = np.zeros(len(reference), dtype=bool)
    matched = 0
    for row in ours:
        ious = _iou(row, reference[:, :4])
        ious[used | (reference[:, 5] != row[5])] = -1.0
        best = int(np.argmax(ious)) if len(ious) else -1
        if best >= 0 and ious[best] > 0.9 and abs(reference[best, 4] - row[4]) <= 1e-3:
            used[best] = True
            matched += 1
    return matched / max(1, len(ours))


def _cache_snapshot(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_openvino_matches_pytorch_and_export_is_cached(
    tiny_yolo: Path,
    textured_tiles: Callable[[int, int, int], list[np.ndarray]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("POPPYSCAN_CACHE_DIR", str(cache))
    # float32: the precision whose boxes match PyTorch's (the default, "fast", may run in
    # bfloat16 and move boxes by a few pixels).
    openvino = load_detector(tiny_yolo, device="cpu", conf=1e-4, precision="f32")
    pytorch = load_detector(tiny_yolo, device="cpu", conf=1e-4, backend="pytorch")
    assert isinstance(openvino, OpenVINODetector) and isinstance(pytorch, UltralyticsDetector)
    assert "torch" not in openvino.name
    assert openvino.sha256 == pytorch.sha256 == sha256_of(tiny_yolo)

    tiles = textured_tiles(3, 320, 7)
    ov_out = openvino.predict(tiles)
    pt_out = pytorch.predict(tiles)
    assert len(ov_out) == len(pt_out) == 3
    for ov_boxes, pt_boxes in zip(ov_out, pt_out, strict=True):
        assert ov_boxes.dtype == np.float32 and ov_boxes.shape[1] == 6
        assert len(ov_boxes) >= TOP_N and len(pt_boxes) >= TOP_N
        assert set(np.unique(ov_boxes[:, 5])) <= {0.0, 1.0}
        assert _matched_fraction(ov_boxes, pt_boxes) >= 0.98
        assert _matched_fraction(pt_boxes, ov_boxes) >= 0.98

    # The export sits under the weights' sha256 and tile size, and is reused as it is.
    export = cache / "openvino" / f"{openvino.sha256}-320px"
    assert (export / "sha256.txt").read_text().strip() == openvino.sha256
    assert any((export / "model_openvino_model").glob("*.xml"))
    before = _cache_snapshot(cache / "openvino")
    again = load_detector(tiny_yolo, device="cpu", conf=1e-4, precision="f32")
    assert _cache_snapshot(cache / "openvino") == before, "the second load must not re-export"
    np.testing.assert_array_equal(again.predict(tiles[:1])[0], ov_out[0])
    assert not [p for p in (cache / "openvino").iterdir() if p.name.startswith(".")]
    # The default precision is the CPU plugin's own ("fast"), from the same export.
    default = load_detector(tiny_yolo, device="cpu", conf=1e-4)
    assert isinstance(default, OpenVINODetector) and default.precision == "fast"
    assert "fast" in default.name and _cache_snapshot(cache / "openvino") == before

    # A card with another window size gets its own export (the IR has a fixed input size).
    resized = tmp_path / "resized.pt"
    resized.write_bytes(tiny_yolo.read_bytes())
    make_card(tile_size_px=256, overlap_px=32, scan_tile_px=256).save(resized)
    other = load_detector(resized, device="cpu", conf=1e-4)
    assert (cache / "openvino" / f"{openvino.sha256}-256px" / "sha256.txt").is_file()
    (boxes,) = other.predict(textured_tiles(1, 256, 3))
    assert len(boxes) > 0 and boxes[:, :4].max() <= 256


def test_openvino_runs_on_the_card_s_scan_window_with_pytorch_s_boxes(
    tiny_yolo: Path,
    textured_tiles: Callable[[int, int, int], list[np.ndarray]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A card with ``scan_tile_px`` larger than its tiles is run on windows of that size: its
    own export at that size, whose boxes are PyTorch's at that input size."""
    monkeypatch.setenv("POPPYSCAN_CACHE_DIR", str(tmp_path / "cache"))
    WINDOW = 640  # noqa: N806 (read as a constant)
    assert make_card(tile_size_px=320).scan_window_px() == 320  # no opt-in: its tiles
    trained_at = make_card(name="tiny-random", tile_size_px=320, overlap_px=64, scan_tile_px=WINDOW)
    weights = tmp_path / "default-window.pt"
    weights.write_bytes(tiny_yolo.read_bytes())
    trained_at.save(weights)
    openvino = load_detector(weights, device="cpu", conf=1e-4, precision="f32")
    assert openvino.card.tile_size_px == WINDOW and openvino.card.overlap_px == 64
    export = tmp_path / "cache" / "openvino" / f"{openvino.sha256}-{WINDOW}px"
    assert (export / "sha256.txt").is_file()
    # PyTorch on the same weights, told to take WINDOW inputs.
    at_window = tmp_path / "pytorch-at-window.pt"
    at_window.write_bytes(tiny_yolo.read_bytes())
    trained_at.at_window(WINDOW).save(at_window)
    pytorch = load_detector(at_window, device="cpu", conf=1e-4, backend="pytorch")
    tiles = textured_tiles(2, WINDOW, 5)
    for ov_boxes, pt_boxes in zip(openvino.predict(tiles), pytorch.predict(tiles), strict=True):
        assert len(ov_boxes) >= TOP_N and ov_boxes[:, :4].max() > 320  # the whole window
        assert _matched_fraction(ov_boxes, pt_boxes) >= 0.98
        assert _matched_fraction(pt_boxes, ov_boxes) >= 0.98
    # A card may pin its window; one smaller than its tiles is refused.
    assert make_card(tile_size_px=320, scan_tile_px=640).scan_window_px() == 640
    with pytest.raises(ModelError, match="smaller than its 320 px tiles"):
        make_card(tile_size_px=320, scan_tile_px=256)


def test_threshold_and_batch_shapes(
    tiny_yolo: Path, textured_tiles: Callable[..., list[np.ndarray]]
) -> None:
    detector = load_detector(tiny_yolo, device="cpu", backend="pytorch", conf=0.01)
    assert detector.predict([]) == []
    out = detector.predict(textured_tiles(2, 320, 11))
    assert len(out) == 2
    for boxes in out:
        assert boxes.shape[1] == 6 and (boxes[:, 4] >= 0.01).all()
        assert (boxes[:, :4] >= 0).all() and (boxes[:, :4] <= 320).all()


def test_openvino_stream_gives_every_tile_s_boxes_in_order(
    tiny_yolo: Path, textured_tiles: Callable[..., list[np.ndarray]]
) -> None:
    detector = load_detector(tiny_yolo, device="cpu", precision="f32", conf=0.01)
    assert isinstance(detector, OpenVINODetector)
    tiles = textured_tiles(7, 320, 5)
    alone = [detector.predict([tile])[0] for tile in tiles]
    keys = [f"tile-{i}" for i in range(len(tiles))]
    streamed = list(detect_stream(detector, zip(keys, tiles, strict=True), batch_size=3))
    assert [key for key, _ in streamed] == keys
    assert any(len(boxes) for boxes in alone)
    for (_, boxes), reference in zip(streamed, alone, strict=True):
        np.testing.assert_array_equal(boxes, reference)
    # A stream dropped half-way (a cancelled scan) leaves the detector ready for the next.
    partial = detect_stream(detector, zip(keys, tiles, strict=True), batch_size=3)
    next(partial)
    partial.close()
    np.testing.assert_array_equal(detector.predict(tiles[:1])[0], alone[0])


def test_detectors_without_a_stream_get_batches() -> None:
    calls: list[int] = []

    class Counting(FakeDetector):
        def predict(self, tiles: Sequence[np.ndarray]) -> list[np.ndarray]:
            calls.append(len(tiles))
            return super().predict(tiles)

    tiles = [np.zeros((64, 64, 3), np.uint8) for _ in range(7)]
    tiles[5][5:9, 5:9] = (255, 0, 255)
    out = list(detect_stream(Counting(make_card()), enumerate(tiles), batch_size=3))
    assert calls == [3, 3, 1]
    assert [key for key, _ in out] == list(range(7))
    assert [len(boxes) for _, boxes in out] == [0, 0, 0, 0, 0, 1, 0]


# --- the protocol and the fake ----------------------------------------------------------


def test_fake_detector_is_a_detector_and_passes_through_load() -> None:
    fake = FakeDetector(make_card())
    assert isinstance(fake, Detector)
    assert load_detector(fake) is fake


def test_fake_detector_reports_marker_blobs() -> None:
    tile = np.zeros((64, 64, 3), dtype=np.uint8)
    tile[10:20, 30:45] = (250, 10, 245)  # within tolerance of magenta
    tile[40:42, 40:41] = (255, 0, 255)  # 2 px: under the minimum area
    tile[50:60, 0:10] = (0, 255, 0)
    (boxes,) = FakeDetector(make_card()).predict([tile])
    np.testing.assert_allclose(boxes, [[30, 10, 45, 20, 0.9, 0]], rtol=1e-6)


# --- bad models -------------------------------------------------------------------------


def _with_card(path: Path, **card: object) -> Path:
    make_card(**card).save(path)
    return path


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        load_detector(tmp_path / "nope.pt")


def test_random_bytes_are_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _with_card(path)
    with pytest.raises(ModelError, match="not a PyTorch weights file"):
        load_detector(path, device="cpu")


def test_zip_that_is_not_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POPPYSCAN_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not weights")
    _with_card(path)
    with pytest.raises(ModelError, match="could not be"):
        load_detector(path, device="cpu", backend="pytorch")


def test_unknown_suffix_and_backend(tmp_path: Path, tiny_yolo: Path) -> None:
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF")
    with pytest.raises(ModelError, match="unknown model format"):
        load_detector(path)
    with pytest.raises(ModelError, match="unknown backend"):
        load_detector(tiny_yolo, backend="tensorflow")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07")
    _with_card(onnx)
    with pytest.raises(ModelError, match="cannot run a onnx model with the pytorch backend"):
        load_detector(onnx, backend="pytorch")


def test_missing_or_bad_card(tmp_path: Path, tiny_yolo: Path) -> None:
    weights = tmp_path / "copy.pt"
    weights.write_bytes(tiny_yolo.read_bytes())
    with pytest.raises(ModelError, match="no model card"):
        load_detector(weights, device="cpu", backend="pytorch")
    ModelCard.sidecar_path(weights).write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a JSON object"):
        load_detector(weights, device="cpu", backend="pytorch")
    ModelCard.sidecar_path(weights).write_text('{"name": "x"}')
    with pytest.raises(ModelError, match="malformed"):
        load_detector(weights, device="cpu", backend="pytorch")


def test_card_classes_must_match_the_model(tmp_path: Path, tiny_yolo: Path) -> None:
    weights = tmp_path / "copy.pt"
    weights.write_bytes(tiny_yolo.read_bytes())
    _with_card(weights, classes=("poppy", "cannabis", "coca"))
    with pytest.raises(ModelError, match="2 classes but its card lists 3"):
        load_detector(weights, device="cpu", backend="pytorch")


def test_confidence_must_be_a_probability(tiny_yolo: Path) -> None:
    with pytest.raises(ModelError, match="between 0 and 1"):
        load_detector(tiny_yolo, device="cpu", backend="pytorch", conf=1.5)


# --- model cards ------------------------------------------------------------------------


def test_card_round_trip_and_forward_compatibility(tmp_path: Path) -> None:
    weights = tmp_path / "m.pt"
    card = make_card(metrics={"plot_recall": 0.97}, data_fingerprint="abc")
    path = card.save(weights)
    assert path.name == "m.pt.card.json"
    assert ModelCard.load(weights) == card
    data = json.loads(path.read_text())
    data["added_in_a_later_version"] = True
    path.write_text(json.dumps(data))
    assert ModelCard.load(weights) == card
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "bad",
    [
        {"classes": ()},
        {"gsd_m": 0.0},
        {"gsd_m": 5.0},
        {"tile_size_px": 16},
        {"tile_size_px": 128, "overlap_px": 100},
    ],
)
def test_card_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ModelError):
        make_card(**bad)


_NETWORK_GUARD = """
import socket, sys
attempts = []
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
def _remote(host):
    return not str(host).startswith(("127.", "::1", "localhost", "0.0.0.0", "/"))
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and _remote(address[0]):
        attempts.append(address[0]); raise OSError(101, "network blocked by test")
    return _connect(self, address)
def getaddrinfo(host, *a, **k):
    if host and _remote(host):
        attempts.append(host); raise OSError(101, "network blocked by test")
    return _getaddrinfo(host, *a, **k)
socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
"""


def test_cpu_scan_is_offline_and_torch_free(
    tiny_yolo: Path, tmp_path: Path, make_raster: Callable[..., Path]
) -> None:
    """A CPU scan (OpenVINO export included) never touches the network nor loads torch."""
    import subprocess
    import sys

    raster = make_raster("offline.tif", width=700, height=500)
    cache = tmp_path / "fresh-cache"  # forces the export child process to run too
    script = (
        _NETWORK_GUARD
        + f"""
import os, json
os.environ["POPPYSCAN_CACHE_DIR"] = {str(cache)!r}
from detector import scan
result = scan({str(raster)!r}, {str(tiny_yolo)!r}, conf=0.5)
print(json.dumps({{"attempts": attempts, "torch": "torch" in sys.modules,
                  "tiles": result.stats.tiles_scanned}}))
"""
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["tiles"] > 0
    assert report["attempts"] == [], f"network attempts: {report['attempts']}"
    assert report["torch"] is False
