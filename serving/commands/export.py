"""`poppyscan export` — export trained weights for fast scanning; record it in the card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from detector.card import ModelCard
from detector.errors import ModelError, PoppyscanError
from serving.commands.models import add_registry_option, open_registry

FORMATS = ("openvino", "onnx", "int8")
HELP = "export a model to OpenVINO, ONNX or INT8 OpenVINO beside its weights"
DESCRIPTION = """\
Export .pt weights for deployment. The export is written beside the weights and recorded in
their card (with the weights' sha256, so a retrained model never runs a stale export):

  openvino  float OpenVINO IR, <stem>_openvino_model/ with its own card: scans on a CPU
            without PyTorch (`poppyscan scan` also makes and caches one by itself)
  onnx      <stem>.onnx (dynamic batch) with its own card, for ONNX Runtime
  int8      <stem>_int8_openvino_model/: post-training INT8 quantisation with NNCF, about
            2.5x faster than f32 on a CPU; needs --calibration (a dataset's data.yaml or a
            representative flight) and is checked against the f32 model on those tiles;
            scan it with `poppyscan scan --precision int8`

--model also accepts NAME[:VERSION] from the model registry: the export then lands in the
registered version's folder.

examples:
  poppyscan export --model runs/r2/poppy-net.pt --format int8 --calibration flight.tif
  poppyscan export --model poppy-net:0.2.0 --format onnx
"""


def add_parser(verbs: Any) -> None:
    """Register ``export`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "export",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        required=True,
        help=".pt weights with their card, or NAME[:VERSION] from the registry",
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to export")
    parser.add_argument(
        "--calibration",
        type=Path,
        metavar="RASTER|DATA_YAML",
        help="int8 only: a representative flight raster or a dataset's data.yaml",
    )
    parser.add_argument(
        "--tiles",
        type=int,
        default=None,
        help="int8 only: calibration tiles, spread evenly over the source (default 128)",
    )
    add_registry_option(parser)
    parser.set_defaults(run=run)


def _int8(weights: Path, card: ModelCard, calibration: Path | None, count: int) -> Path:
    """Quantise to INT8 on calibration tiles, reporting progress on stderr."""
    from training import export

    if calibration is None:
        raise PoppyscanError("--format int8 needs --calibration")
    print(f"reading {count} calibration tiles from {calibration} ...", file=sys.stderr)
    tiles = export.calibration_tiles(calibration, card, count)
    print(f"quantising on {len(tiles)} tiles ...", file=sys.stderr)
    target = export.export_int8(weights, tiles, source=calibration.name)
    check = ModelCard.load(weights).metrics["int8_vs_f32"]
    print(f"INT8 reproduces {check['boxes_matched_vs_f32']:.1%} of the f32 boxes")
    return target


def run(args: argparse.Namespace) -> int:
    """Export, record it in the card, say where it is."""
    from training import export

    weights = open_registry(args).resolve(args.model)
    if not weights.is_file() or weights.suffix.lower() != ".pt":
        reason = "no such model file" if not weights.exists() else "exports are made from .pt"
        raise ModelError(f"{weights}: {reason}")
    card = ModelCard.load(weights)
    count = args.tiles or export.DEFAULT_CALIBRATION_TILES
    if args.format == "int8" and args.calibration is None:
        raise PoppyscanError(
            "--format int8 needs --calibration: a representative flight or a data.yaml"
        )
    if args.format != "int8" and (args.calibration is not None or args.tiles is not None):
        raise PoppyscanError("--calibration and --tiles apply to --format int8 only")
    if args.calibration is not None and not args.calibration.exists():
        raise PoppyscanError(f"{args.calibration}: no such calibration source")
    if count < 8:
        raise PoppyscanError("--tiles must be at least 8")
    what = f"{weights.name} ({card.name} {card.version})"
    print(f"exporting {what} to {args.format} ...", file=sys.stderr)
    if args.format == "openvino":
        target = export.export_openvino_beside(weights)
    elif args.format == "onnx":
        target = export.export_onnx(weights)
    else:
        target = _int8(weights, card, args.calibration, count)
    print(f"wrote {target} (recorded in {ModelCard.sidecar_path(weights).name})")
    return 0
