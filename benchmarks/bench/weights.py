"""Weights for the scan speed benchmark: random YOLO11n with a card, and GeoDeep's ONNX.

No pretrained weights can be downloaded here, so without ``--model`` the benchmark builds
YOLO11n from ``yolo11n.yaml`` with random weights for two classes. Random weights run at the
model's full speed but detect next to nothing. Both builders import Ultralytics (hence torch)
and run only in the untimed prepare child.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from detector.card import ModelCard

RANDOM_CLASSES = ("poppy", "cannabis")


def random_weights_path(workdir: Path, gsd_m: float) -> Path:
    """Where the random YOLO11n for a GSD is cached."""
    return workdir / "models" / f"yolo11n-random-{gsd_m * 100:.2f}cm.pt"


def build_random_weights(weights: Path, gsd_m: float) -> Path:
    """Build YOLO11n with random weights for two classes, save it as .pt with a model card.

    No pretrained weights can be fetched here; random weights run at the same speed but
    detect next to nothing.
    """
    if weights.exists():
        return weights
    from detector.offline import configure_ultralytics

    configure_ultralytics()
    import yaml
    from ultralytics import YOLO
    from ultralytics.nn.tasks import yaml_model_load

    weights.parent.mkdir(parents=True, exist_ok=True)
    spec = yaml_model_load("yolo11n.yaml")
    spec["nc"] = len(RANDOM_CLASSES)
    spec_path = weights.parent / "yolo11n-poppyscan.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    model = YOLO(str(spec_path))
    model.model.names = dict(enumerate(RANDOM_CLASSES))  # type: ignore[union-attr]
    model.save(str(weights))
    ModelCard(
        name="yolo11n-random",
        version="bench",
        classes=RANDOM_CLASSES,
        gsd_m=gsd_m,
        tile_size_px=640,
        overlap_px=128,
        training={"note": "random initialisation from yolo11n.yaml; for speed benchmarks only"},
    ).save(weights)
    return weights


def geodeep_onnx(weights: Path, card: ModelCard, workdir: Path, digest: str) -> Path:
    """Export the weights to ONNX (static 1x3xTxT) with the metadata GeoDeep reads.

    GeoDeep takes ``resolution`` in cm/px, ``tiles_overlap`` in percent of the tile,
    ``det_type`` ``"YOLO_v8"`` for Ultralytics' (1, 4 + classes, anchors) head output,
    thresholds, and class names; JSON-typed values are JSON-encoded as GeoDeep parses them.
    """
    target = workdir / "exports" / digest[:16] / "geodeep.onnx"
    if target.exists():
        return target
    from detector.offline import configure_ultralytics

    configure_ultralytics()
    import onnx
    from ultralytics import YOLO

    staging = target.parent / "onnx-staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(weights, staging / "model.pt")
    exported = YOLO(str(staging / "model.pt"), task="detect").export(
        format="onnx", imgsz=card.tile_size_px, dynamic=False, batch=1, simplify=True
    )
    model = onnx.load(str(exported))
    meta = {
        "model_type": json.dumps("Detector"),
        "det_type": json.dumps("YOLO_v8"),
        "det_conf": str(card.conf_threshold),
        "det_iou_thresh": str(card.iou_threshold),
        "resolution": str(round(card.gsd_m * 100, 4)),
        "tiles_overlap": str(100.0 * card.overlap_px / card.tile_size_px),
        "class_names": json.dumps({str(i): c for i, c in enumerate(card.classes)}),
    }
    kept = [p for p in model.metadata_props if p.key not in meta]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(target))
    shutil.rmtree(staging, ignore_errors=True)
    return target
