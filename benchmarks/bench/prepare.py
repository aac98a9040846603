"""The untimed prepare child: weights, exports, raster descriptions and tile plans.

Every one-off cost (random weights, the scan's OpenVINO export, the INT8 export that
``--precision int8`` runs, GeoDeep's ONNX export) is paid here, before anything is timed, so no
measured system pays for an export. It also records context for the report: the scan's default
batch size, the tiles of the 100 ha projection and the bare OpenVINO IR's images/s at f32, at
the CPU plugin's default precision and, for the INT8 export, in its own precision.
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
INT8_CALIBRATION_TILES = 64  # tiles of the benchmark raster that calibrate the INT8 export


def child_prepare(cfg: dict[str, Any]) -> dict[str, Any]:
    """Build weights and exports, describe the rasters and plan their tiles.

    Args:
        cfg: ``model`` (weights path), ``workdir``, ``rasters`` (key -> path), ``int8``
            (make the INT8 export) and, for random weights, ``random_gsd_m`` (metres per pixel).

    Returns:
        ``card`` (dict, after any INT8 export), ``openvino_dir``, ``int8_dir`` (or None),
        ``int8_reused`` (the card already recorded an export of these weights), ``onnx``,
        ``rasters`` (key -> description), ``projection_tiles``, ``batch_size`` and
        ``raw_openvino`` (precision -> images/s).
    """
    from detector.openvino_export import export_openvino

    weights = Path(cfg["model"])
    if cfg.get("random_gsd_m"):
        build_random_weights(weights, cfg["random_gsd_m"])
    card = ModelCard.load(weights)
    digest = sha256_of(weights)
    window_px = card.scan_window_px()  # what load_detector exports and runs
    openvino_dir = export_openvino(weights, window_px, digest)
    int8_dir, int8_reused = None, False
    if cfg.get("int8"):
        int8_dir, int8_reused = int8_export(weights, card, digest, cfg["rasters"]["single"])
        card = ModelCard.load(weights)
    onnx_path = geodeep_onnx(weights, card, Path(cfg["workdir"]), digest)
    rasters = {key: describe_raster(path, card) for key, path in cfg["rasters"].items()}
    return {
        "card": card.to_dict(),
        "openvino_dir": str(openvino_dir),
        "int8_dir": str(int8_dir) if int8_dir else None,
        "int8_reused": int8_reused,
        "onnx": str(onnx_path),
        "rasters": rasters,
        "projection_tiles": projected_tiles(card),
        "batch_size": scan_batch_size(),
        "raw_openvino": raw_openvino_rates(openvino_dir, int8_dir),
    }


def int8_export(weights: Path, card: ModelCard, digest: str, raster: str) -> tuple[Path, bool]:
    """The INT8 export of ``weights`` that ``--precision int8`` runs, made if not cached.

    It is reused when the card records an INT8 export made from weights of this sha256, the
    export is on disk and the card holds its check against f32. Otherwise
    ``training.export.export_int8`` makes it, calibrated on INT8_CALIBRATION_TILES tiles of
    the benchmark raster (``calibration_tiles``: the scan's window plan and reader), writes it
    beside the weights and records it, with ``metrics.int8_vs_f32``, in their card.

    Returns:
        The export directory and whether it was reused.
    """
    from training.export import calibration_tiles, export_int8

    name = card.exports.get("openvino_int8")
    if (
        name
        and card.exports.get("source_sha256") == digest
        and any((weights.parent / name).glob("*.xml"))
        and "int8_vs_f32" in card.metrics
    ):
        return weights.parent / name, True
    tiles = calibration_tiles(Path(raster), card, INT8_CALIBRATION_TILES)
    return export_int8(weights, tiles, source=Path(raster).name), False


def runs_precision(compiled: Any) -> str:
    """What an OpenVINO compiled model computes in: its inference precision (``f32``,
    ``bf16``) or, for a quantised model, ``int8 (N of M convolutions), rest bf16``."""
    rest = str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
    convs = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if "layerType" in info and info["layerType"].astype(str) == "Convolution":
            convs.append(info["runtimePrecision"].astype(str))
    quantised = sum(p in ("u8", "i8") for p in convs)
    return f"int8 ({quantised} of {len(convs)} convolutions), rest {rest}" if quantised else rest


def raw_openvino_rates(
    model_dir: Path, int8_dir: Path | None = None, runs: int = 30
) -> dict[str, float]:
    """Images/s of the bare OpenVINO IR (batch 1, LATENCY hint): f32, plugin default, INT8,
    each at its own input size (the scan's window; the INT8 export's own tile).

    The plugin's default is what ``--precision fast`` and Ultralytics' OpenVINO backend get:
    bfloat16 on CPUs that have it. Keys are the precisions OpenVINO reports it compiled to;
    the INT8 export (when given) is compiled as ``--precision int8`` compiles it, key ``int8``.
    """
    from detector.offline import configure_offline

    configure_offline()
    import openvino as ov

    core = ov.Core()
    xml = str(next(model_dir.glob("*.xml")))
    f32: dict[str, Any] = {"INFERENCE_PRECISION_HINT": ov.Type.f32}
    variants: list[tuple[str, dict[str, Any], str]] = [(xml, f32, ""), (xml, {}, "default")]
    if int8_dir is not None:
        variants.append((str(next(int8_dir.glob("*.xml"))), {}, "int8"))
    rates = {}
    for path, extra, kind in variants:
        compiled = core.compile_model(path, "CPU", {"PERFORMANCE_HINT": "LATENCY", **extra})
        shape = tuple(compiled.input(0).get_shape())
        image = np.random.default_rng(0).random(shape, dtype=np.float32)
        compiled(image)
        started = time.perf_counter()
        for _ in range(runs):
            compiled(image)
        name = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        label = {"": name, "default": f"plugin default ({name})", "int8": "int8"}[kind]
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
        tile_size_px=card.scan_window_px(),
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
