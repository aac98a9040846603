"""`poppyscan synth` — make a synthetic survey flight with ground-truth labels."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = "generate a synthetic orthomosaic with labelled poppy / cannabis plots"
DESCRIPTION = """\
Write a procedural drone orthomosaic (tiled GeoTIFF with a real CRS) of a rural scene — crop
fields, gardens, courtyards, trees, roads, look-alike flowers — with opium poppy and cannabis
plots hidden in it, plus its labels as GeoJSON (plants and plots). Deterministic by seed:
use it to try the scanner, to test, and to train.

example:
  poppyscan synth flights/ --seed 7 --size 4096 --gsd 0.02
"""


def add_parser(verbs: Any) -> None:
    """Register ``synth`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "synth",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out_dir", type=Path, help="directory for <name>.tif and its labels")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--size", type=int, default=4096, help="width and height, px (default 4096)"
    )
    parser.add_argument("--gsd", type=float, default=0.02, help="metres per pixel (default 0.02)")
    parser.add_argument(
        "--crs", default="EPSG:32648", help="CRS of the raster (default EPSG:32648)"
    )
    parser.add_argument("--name", default="flight", help="file name stem (default flight)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate the flight and say where it is."""
    from detector.errors import PoppyscanError
    from training.synthetic import generate_flight

    if args.size < 256 or not 0.005 <= args.gsd <= 0.2:
        raise PoppyscanError("--size must be >= 256 px and --gsd between 0.005 and 0.2 m")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    flight = generate_flight(
        args.out_dir,
        seed=args.seed,
        width_px=args.size,
        height_px=args.size,
        gsd_m=args.gsd,
        crs=args.crs,
        name=args.name,
    )
    print(f"wrote {flight.raster_path} ({args.size} x {args.size} px at {args.gsd} m, {args.crs})")
    print(f"wrote {flight.labels_path} ({len(flight.plots)} plots, {len(flight.plants)} plants)")
    return 0
