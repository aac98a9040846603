"""The measured children: one process per system, started by :func:`bench.measure.run_child`.

Run as ``python -m bench.children NAME CONFIG_JSON RESULT_JSON``. Each child reads its
configuration (the prepare child's result plus ``model``, ``raster``, ``raster_meta`` and its
own keys), runs one system and writes a result JSON: ``tiles`` (model tiles processed),
``detections``, ``runtime`` (one line naming what did the inference) and, for the model-alone
child, ``timed_s`` (seconds spent in the model). The parent times the whole process.

Only the standard library, numpy and rasterio are imported at the top: SAHI's and GeoDeep's
children must not pay for poppyscan's imports, and GeoDeep's imports no poppyscan module.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window


def child_model_alone(cfg: dict[str, Any]) -> dict[str, Any]:
    """(a) / (a-f32) / (a-int8): time the model alone on tiles decoded beforehand.

    The detector is exactly the scan's: ``load_detector(model, device="cpu",
    precision=cfg["precision"])``, fed the way the scan feeds it
    (:func:`detector.backends.detect_stream`: OpenVINO keeps a tile in flight on every
    inference stream; the scan's batch size for a detector without a stream), as many tiles
    as the scan plans. A pool of up to ``pool_tiles`` real tiles, spread over the raster and
    decoded with the scan's reader, is cycled; the model's speed does not depend on which tiles
    it sees, and the pool keeps this process's memory modest. One warm-up batch runs before
    the clock.
    """
    from bench.prepare import runs_precision, scan_plan
    from detector.backends import detect_stream, load_detector
    from detector.raster import RasterReader, inspect_raster

    detector = load_detector(cfg["model"], device="cpu", precision=cfg["precision"])
    info = inspect_raster(cfg["raster"])
    windows = list(scan_plan(info, detector.card))
    step = max(1, len(windows) // cfg["pool_tiles"])
    pool = []
    with RasterReader(info, detector.card.tile_size_px) as reader:
        for window in windows[::step][: cfg["pool_tiles"]]:
            tile = reader.read_tile(window)
            if tile is not None:
                pool.append(tile.rgb)
    batch = cfg["batch_size"]
    detector.predict(pool[:batch])
    total, detections = len(windows), 0
    started = time.perf_counter()
    tiles = ((index, pool[index % len(pool)]) for index in range(total))
    for _, boxes in detect_stream(detector, tiles, batch):
        detections += len(boxes)
    elapsed = time.perf_counter() - started
    compiled = getattr(detector, "_compiled", None)  # what OpenVINO actually compiled to
    actual = runs_precision(compiled) if compiled else "?"
    runtime = (
        f"load_detector(cpu, precision={cfg['precision']}) -> {type(detector).__name__}, "
        f"runs {actual}, batch {batch}"
    )
    return {"tiles": total, "timed_s": elapsed, "detections": detections, "runtime": runtime}


def child_sahi_pt(cfg: dict[str, Any]) -> dict[str, Any]:
    """(c): SAHI's documented path with the same weights file.

    The ``.pt`` goes through SAHI's Ultralytics model on PyTorch, CPU, float32. Ultralytics
    sets torch's CPU threads to ``min(8, CPUs - 1)`` when it selects the device (1 on a 2-CPU
    machine); that is what a SAHI user gets, so it is left alone and reported.
    """
    import torch

    result = run_sahi(cfg, cfg["model"])
    result.pop("precision")
    result["runtime"] = (
        f"{result['runtime']}: Ultralytics .pt on torch {torch.__version__} CPU, f32, "
        f"{torch.get_num_threads()} of {os.cpu_count()} CPUs, batch {cfg['batch_size']}"
    )
    return result


def child_sahi_openvino(cfg: dict[str, Any]) -> dict[str, Any]:
    """(c-ov): SAHI on the scan's own OpenVINO IR, through Ultralytics' OpenVINO backend.

    Ultralytics compiles the IR without a precision hint, so the CPU plugin picks its default
    (bfloat16 on CPUs that have it); the runtime line says what it compiled to.
    """
    result = run_sahi(cfg, cfg["openvino_dir"])
    result["runtime"] = (
        f"{result['runtime']}: Ultralytics + OpenVINO (scan's IR), runs "
        f"{result.pop('precision')}, batch {cfg['batch_size']}"
    )
    return result


def run_sahi(cfg: dict[str, Any], model_path: str) -> dict[str, Any]:
    """SAHI's ``get_sliced_prediction`` over the whole raster with one model file.

    Slices have the card's tile size and overlap and the scan's batch size; SAHI's default
    merging (GREEDYNMM) is kept. Its extra full-image pass (``perform_standard_pred``) is off:
    it adds a whole-image resize and finds nothing plant-sized, so leaving it out only helps
    SAHI. SAHI needs the whole image in memory; it is read with rasterio (all cores).
    """
    from detector.offline import configure_ultralytics

    configure_ultralytics()
    import sahi
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction
    from sahi.slicing import get_slice_bboxes

    card = cfg["card"]
    tile_px = card["tile_size_px"]
    model = AutoDetectionModel.from_pretrained(
        model_type="ultralytics",
        model_path=model_path,
        confidence_threshold=card["conf_threshold"],
        device="cpu",
        image_size=tile_px,
    )
    image = read_whole_raster(cfg["raster"])
    overlap = card["overlap_px"] / tile_px
    slicing = dict(
        slice_height=tile_px,
        slice_width=tile_px,
        overlap_height_ratio=overlap,
        overlap_width_ratio=overlap,
    )
    result = get_sliced_prediction(
        image,
        model,
        **slicing,
        perform_standard_pred=False,
        batch_size=cfg["batch_size"],
        verbose=0,
    )
    tiles = get_slice_bboxes(image.shape[0], image.shape[1], **slicing)
    return {
        "tiles": len(tiles),
        "detections": len(result.object_prediction_list),
        "runtime": f"sahi {sahi.__version__}",
        "precision": openvino_precision(model.model),
    }


def openvino_precision(yolo: Any) -> str:
    """Inference precision of the OpenVINO model an Ultralytics ``YOLO`` runs, or ``"?"``."""
    predictor = getattr(yolo, "predictor", None)
    backend = getattr(getattr(predictor, "model", None), "backend", None)
    compiled = getattr(backend, "ov_compiled_model", None)
    if compiled is None:
        return "?"
    return str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())


def read_whole_raster(path: str) -> np.ndarray:
    """Read an RGB raster into one uint8 ``(H, W, 3)`` array, block row by block row.

    GDAL decodes the blocks of each row on all cores (``GDAL_NUM_THREADS``).
    """
    with rasterio.Env(GDAL_NUM_THREADS="ALL_CPUS"), rasterio.open(path) as ds:
        image = np.empty((ds.height, ds.width, 3), dtype=np.uint8)
        step = ds.block_shapes[0][0]
        for row in range(0, ds.height, step):
            rows = min(step, ds.height - row)
            data = ds.read(indexes=[1, 2, 3], window=Window(0, row, ds.width, rows))
            image[row : row + rows] = data.transpose(1, 2, 0)
    return image


def child_geodeep(cfg: dict[str, Any]) -> dict[str, Any]:
    """(d): GeoDeep's ``run`` on a local ONNX export (no model download), all CPU threads."""
    import geodeep
    import onnxruntime
    from geodeep.slidingwindow import generate_for_size

    # GeoDeep reads each window on the main thread; let GDAL decode its blocks on all cores.
    os.environ["GDAL_NUM_THREADS"] = "ALL_CPUS"
    card, meta = cfg["card"], cfg["raster_meta"]
    bboxes, _scores, _classes = geodeep.run(
        cfg["raster"], cfg["onnx"], output_type="bsc", conf_threshold=card["conf_threshold"]
    )
    tiles = generate_for_size(
        meta["width_px"],
        meta["height_px"],
        card["tile_size_px"],
        card["overlap_px"] / card["tile_size_px"],
        clip=False,
    )
    runtime = (
        f"geodeep {metadata.version('geodeep')}: onnxruntime {onnxruntime.__version__} "
        "CPUExecutionProvider, f32, batch 1"
    )
    return {"tiles": len(tiles), "detections": len(bboxes), "runtime": runtime}


def child_prepare(cfg: dict[str, Any]) -> dict[str, Any]:
    """The untimed prepare child (see :mod:`bench.prepare`), imported only when asked for."""
    from bench.prepare import child_prepare as prepare

    return prepare(cfg)


CHILDREN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "prepare": child_prepare,
    "model-alone": child_model_alone,
    "sahi-pt": child_sahi_pt,
    "sahi-openvino": child_sahi_openvino,
    "geodeep": child_geodeep,
}


def main(argv: list[str]) -> None:
    """Run the child ``argv[0]`` with the config JSON ``argv[1]``; write the result to
    ``argv[2]``."""
    name, config_path, result_path = argv
    cfg = json.loads(Path(config_path).read_text(encoding="utf-8"))
    result = CHILDREN[name](cfg)
    Path(result_path).write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
