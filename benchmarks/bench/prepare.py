"""The untimed prepare child: weights, exports, raster descriptions and tile plans.

Every one-off cost (random weights, the scan's OpenVINO export, GeoDeep's ONNX export) is paid
here, before anything is timed, so no measured system pays for an export. It also records
context for the report: the scan's default batch size, the tiles of the 100 ha projection and
the bare OpenVINO IR's images/s at f32 and at the CPU plugin's default precision.
"""

from __future__ import annotations

import inspect
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio

from bench.rasters import BLOCK_PX
from bench.weights import build_random_weights, geodeep_onnx
from detector.card import ModelCard, sha256_of

if TYPE_CHECKING:
    from detector.raster import RasterInfo
    from detector.tiling import TilePlan

PROJECTION_AREA_HA = 100.0  # ground area of the projection, hectares
PROJECTION_GSD_M = 0.02  # its pixel size, metres


def child_prepare(cfg: dict[str, Any]) -> dict[str, Any]:
    """Build weights and exports, describe the rasters and plan their tiles.

    Args:
        cfg: ``model`` (weights path), ``workdir``, ``rasters`` (key -> path) and, for random
            weights, ``random_gsd_m`` (metres per pixel).

    Returns:
        ``card`` (dict), ``openvino_dir``, ``onnx``, ``rasters`` (key -> description),
        ``projection_tiles``, ``batch_size`` and ``raw_openvino`` (precision -> images/s).
    """
    from detector.openvino_export import export_openvino

    weights = Path(cfg["model"])
    if cfg.get("random_gsd_m"):
        build_random_weights(weights, cfg["random_gsd_m"])
    card = ModelCard.load(weights)
    digest = sha256_of(weights)
    openvino_dir = export_openvino(weights, card.tile_size_px, digest)
    onnx_path = geodeep_onnx(weights, card, Path(cfg["workdir"]), digest)
    rasters = {key: describe_raster(path, card) for key, path in cfg["rasters"].items()}
    return {
        "card": card.to_dict(),
        "openvino_dir": str(openvino_dir),
        "onnx": str(onnx_path),
        "rasters": rasters,
        "projection_tiles": projected_tiles(card),
        "batch_size": scan_batch_size(),
        "raw_openvino": raw_openvino_rates(openvino_dir, card.tile_size_px),
    }


def raw_openvino_rates(model_dir: Path, tile_px: int, runs: int = 30) -> dict[str, float]:
    """Images/s of the bare OpenVINO IR (batch 1, LATENCY hint), f32 and plugin default.

    The plugin's default is what ``--precision fast`` and Ultralytics' OpenVINO backend get:
    bfloat16 on CPUs that have it. Keys are the precisions OpenVINO reports it compiled to.
    """
    from detector.offline import configure_offline

    configure_offline()
    import openvino as ov

    core = ov.Core()
    xml = str(next(model_dir.glob("*.xml")))
    image = np.random.default_rng(0).random((1, 3, tile_px, tile_px), dtype=np.float32)
    rates = {}
    for extra in ({"INFERENCE_PRECISION_HINT": ov.Type.f32}, {}):
        compiled = core.compile_model(xml, "CPU", {"PERFORMANCE_HINT": "LATENCY", **extra})
        compiled(image)
        started = time.perf_counter()
        for _ in range(runs):
            compiled(image)
        name = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        label = name if extra else f"plugin default ({name})"
        rates[label] = runs / (time.perf_counter() - started)
    return rates


def describe_raster(path: str, card: ModelCard) -> dict[str, Any]:
    """Return size (pixels, MB), GSD (m/px), area (ha) and the scan's tile count of a raster."""
    from detector.raster import inspect_raster

    info = inspect_raster(path)
    plan = scan_plan(info, card)
    with rasterio.open(path) as ds:
        compression = str(ds.profile.get("compress", "none"))
    return {
        "path": path,
        "height_px": info.height_px,
        "width_px": info.width_px,
        "gsd_m": info.gsd_m,
        "area_ha": info.area_ha,
        "tiles": len(plan),
        "size_mb": Path(path).stat().st_size / 1e6,
        "compress": compression,
        "overviews": info.overview_count,
    }


def scan_plan(info: RasterInfo, card: ModelCard) -> TilePlan:
    """Plan tile windows exactly as ``detector.scan.scan`` does."""
    from detector.scan import DEFAULT_GSD_TOLERANCE, plan_for

    return plan_for(info, card, DEFAULT_GSD_TOLERANCE)


def projected_tiles(card: ModelCard) -> int:
    """Tiles the scan cuts from a square of PROJECTION_AREA_HA at PROJECTION_GSD_M."""
    from detector.tiling import plan_windows

    side_px = round(math.sqrt(PROJECTION_AREA_HA * 10_000) / PROJECTION_GSD_M)
    scale = card.gsd_m / PROJECTION_GSD_M
    plan = plan_windows(
        side_px,
        side_px,
        tile_size_px=card.tile_size_px,
        overlap_px=card.overlap_px,
        scale_row=scale,
        scale_col=scale,
        block_shape_px=(BLOCK_PX, BLOCK_PX),
    )
    return len(plan)


def scan_batch_size() -> int:
    """Tiles per model call in ``poppyscan scan`` by default (the CLI's ``--batch``)."""
    try:
        from serving.cli import build_parser

        return int(build_parser().parse_args(["scan", "flight.tif"]).batch)
    except (ImportError, AttributeError, SystemExit):  # no CLI: the library's default
        from detector.scan import scan

        return int(inspect.signature(scan).parameters["batch_size"].default)
