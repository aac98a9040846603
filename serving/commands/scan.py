"""`poppyscan scan` — scan an orthomosaic into georeferenced suspected plots."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from detector.backends import BACKENDS
from detector.errors import OutputError, PoppyscanError
from detector.openvino_detector import DEFAULT_PRECISION, PRECISIONS
from detector.outputs import FORMATS, format_for, write_output
from detector.scan import ScanResult, scan
from serving.commands.models import add_registry_option, open_registry

HELP = "scan an orthomosaic for suspected poppy / cannabis plots"
DESCRIPTION = """\
Scan a drone orthomosaic (GeoTIFF or any raster GDAL reads: RGB or RGBA, 8- or 16-bit, any
CRS) and write every suspected plot with WGS84 coordinates, area, plant count, confidence and
class. The raster is read tile by tile at the model's ground sample distance, so flights of
tens of GB scan in bounded memory.

examples:
  poppyscan scan flight.tif -o suspects.geojson
  poppyscan scan flight.tif -o suspects.gpkg -o suspects.kml --chips chips/
  poppyscan scan flight.tif -o s.csv --conf 0.4 --json
"""


def parse_bands(text: str) -> tuple[int, int, int]:
    """Parse ``"3,2,1"`` into 1-based (red, green, blue) band indexes."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--bands wants three numbers like 1,2,3, not {text!r}"
        ) from None
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--bands wants three 1-based numbers, not {text!r}")
    return values[0], values[1], values[2]


def confidence(text: str) -> float:
    """Parse a confidence threshold in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--conf wants a number between 0 and 1, not {text!r}"
        ) from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"--conf must be between 0 and 1, not {value}")
    return value


def add_parser(verbs: Any) -> None:
    """Register ``scan`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "scan",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("raster", type=Path, help="orthomosaic to scan (GeoTIFF, COG, VRT, ...)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        action="append",
        help="output file; the suffix picks the format (.geojson .gpkg .kml .gpx .csv); repeat "
        "for several (default: <raster name>.suspects.geojson in the current directory)",
    )
    parser.add_argument("--format", choices=FORMATS, help="force the format of a single -o")
    parser.add_argument(
        "--model",
        type=Path,
        help="model weights with their card, or NAME[:VERSION] from the model registry "
        "(default: the registry's default model, else the model shipped with poppyscan)",
    )
    add_registry_option(parser)
    parser.add_argument(
        "--chips", type=Path, metavar="DIR", help="write one JPEG evidence chip per plot into DIR"
    )
    parser.add_argument(
        "--conf", type=confidence, help="confidence threshold 0..1 (default: the model card's)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda:0 ... (default auto)")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="runtime (default auto: OpenVINO on CPU, PyTorch on CUDA)",
    )
    parser.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=PRECISIONS,
        help="CPU precision: fast (default) uses bfloat16 where the processor has it "
        "(1.6-2.4x faster than f32, boxes within a few pixels, same plot recall); f32 gives "
        "the same boxes on every machine; int8 runs the model's quantised export (faster "
        "still, but it missed plots on held-out flights; make it with "
        "python -m training.export)",
    )
    parser.add_argument(
        "--bands",
        type=parse_bands,
        metavar="R,G,B",
        help="1-based red,green,blue bands of a multispectral raster",
    )
    parser.add_argument("--batch", type=int, default=4, help="tiles per model call (default 4)")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary on stdout instead of the text summary",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


class _Progress:
    """tqdm progress bar in tiles, with tiles/s and ETA, on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: tqdm[Any] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=total,
                unit="tile",
                desc="scanning",
                file=sys.stderr,
                dynamic_ncols=True,
                smoothing=0.1,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary(result: ScanResult, outputs: list[Path]) -> dict[str, Any]:
    """JSON-ready summary of a scan (what ``--json`` prints)."""
    stats = result.stats
    by_class: dict[str, int] = {}
    for plot in result.plots:
        by_class[plot.class_name] = by_class.get(plot.class_name, 0) + 1
    return {
        "raster": result.info.path,
        "outputs": [str(p) for p in outputs],
        "plots": len(result.plots),
        "plants": len(result.detections),
        "plots_by_class": by_class,
        "area_scanned_ha": round(result.info.area_ha, 3),
        "tiles_total": stats.tiles_total,
        "tiles_skipped": stats.tiles_skipped,
        "tiles_scanned": stats.tiles_scanned,
        "elapsed_s": round(stats.elapsed_s, 2),
        "tiles_per_s": round(stats.tiles_scanned / max(stats.elapsed_s, 1e-9), 2),
        "provenance": result.provenance,
    }


def run(args: argparse.Namespace) -> int:
    """Scan, write the outputs, print a summary; return the exit code."""
    outputs = args.output or [Path(f"{args.raster.stem}.suspects.geojson")]
    if args.format and len(outputs) > 1:
        raise OutputError("--format applies to a single -o; use file suffixes for several")
    for out in outputs:  # fail before a long scan, not after it
        format_for(out, args.format)
        if not out.parent.resolve().is_dir():
            raise OutputError(f"output directory {out.parent} does not exist")
    if args.batch < 1:
        raise PoppyscanError("--batch must be at least 1")
    progress = _Progress(enabled=not args.quiet and not args.json)
    started = time.perf_counter()
    try:
        result = scan(
            args.raster,
            open_registry(args).resolve(args.model),
            conf=args.conf,
            device=args.device,
            backend=args.backend,
            precision=args.precision,
            bands=args.bands,
            chips_dir=args.chips,
            progress=progress,
            batch_size=args.batch,
        )
    finally:
        progress.close()
    written = [write_output(result, out, args.format) for out in outputs]
    info = summary(result, written)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(
        f"{info['plots']} suspected plot(s), {info['plants']} plant(s) in "
        f"{info['area_scanned_ha']} ha; {info['tiles_scanned']} tiles scanned, "
        f"{info['tiles_skipped']} empty skipped, {time.perf_counter() - started:.1f} s"
    )
    for cls, count in sorted(info["plots_by_class"].items()):
        print(f"  {cls}: {count} plot(s)")
    for out in written:
        print(f"wrote {out}")
    if args.chips and result.chips:
        print(f"wrote {len(result.chips)} evidence chip(s) to {args.chips}")
    return 0
