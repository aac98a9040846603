"""`poppyscan demo` — the main job on embedded defaults: make a sample flight and scan it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "generate a small sample flight and scan it with the default model"
DESCRIPTION = """\
Run the whole job on embedded defaults: generate a synthetic 4096 x 4096 px flight at
2 cm/px with known poppy and cannabis plots, scan it with the shipped model, write the
suspects (GeoJSON, KML, CSV) and evidence chips, and compare what was found with the
planted truth.

example:
  poppyscan demo --out demo/
"""


def add_parser(verbs: Any) -> None:
    """Register ``demo`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "demo",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("poppyscan-demo"),
        help="output directory (default ./poppyscan-demo)",
    )
    parser.add_argument("--seed", type=int, default=2026, help="flight seed (default 2026)")
    parser.add_argument("--size", type=int, default=4096, help="flight size, px (default 4096)")
    parser.add_argument("--model", type=Path, help="model to use (default: the shipped one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Generate, scan, write, compare."""
    from detector.outputs import write_output
    from detector.scan import scan
    from serving.commands.scan import summary
    from training.evaluate import score_scan
    from training.synthetic import generate_flight

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"generating a {args.size} x {args.size} px sample flight (seed {args.seed}) ...")
    flight = generate_flight(
        args.out, seed=args.seed, width_px=args.size, height_px=args.size, name="sample-flight"
    )
    print(f"scanning {flight.raster_path} ...")
    result = scan(flight.raster_path, args.model, chips_dir=args.out / "chips")
    outputs = [
        write_output(result, args.out / f"suspects.{ext}") for ext in ("geojson", "kml", "csv")
    ]
    score = score_scan(result, flight.labels_path)
    info = summary(result, outputs)
    info["truth"] = score.to_dict()
    (args.out / "summary.json").write_text(json.dumps(info, indent=2))
    print(
        f"{len(result.plots)} suspected plot(s), {len(result.detections)} plant(s) in "
        f"{info['area_scanned_ha']} ha, {result.stats.elapsed_s:.1f} s"
    )
    print(
        f"planted truth: {score.found_plots} of {score.true_plots} plots found "
        f"(recall {score.recall:.2f}), {score.false_plots} false plot(s)"
    )
    for out in outputs:
        print(f"wrote {out}")
    print(f"wrote {len(result.chips)} evidence chip(s) to {args.out / 'chips'}")
    return 0
