"""`poppyscan evaluate` — score a model on held-out flights; compare it with another."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from detector.backends import BACKENDS
from detector.errors import OutputError, RasterError
from detector.openvino_detector import DEFAULT_PRECISION, PRECISIONS
from serving.commands.models import add_registry_option, open_registry
from serving.commands.scan import confidence

if TYPE_CHECKING:
    from training.evaluate import Evaluation

HELP = "score a model on labelled held-out flights (plots, plants, PR curve)"
DESCRIPTION = """\
Scan whole labelled orthomosaics the model never saw and score what an analyst would get:
plots (a predicted plot matches a true plot of its class when their outlines overlap or their
centroids are within 2 m) and plants (IoU >= 0.4, one to one, highest confidence first):
recall, precision, F1, false detections per hectare and centroid error in metres, per class
and per growth stage, added up over every flight. Plot recall matters most: a missed plot is
a harvest.

Each flight is scanned once at confidence 0.01; the precision-recall curve re-applies every
threshold in memory (re-grouping plots each time). The report folder gets report.md,
report.json (every number) and pr_curve.png with the operating point marked.

With --compare, the other model (e.g. the current default) is evaluated on the same flights:
its own report goes to REPORTDIR/current/, and comparison.md / comparison.json /
pr_curve_comparison.png put the two side by side.

Labels: GeoJSON, GeoPackage or shapefile in any CRS, features with `class`, `kind`
("plant" or "plot"; none means plant) and optionally `stage` -- what `poppyscan synth` writes.

examples:
  poppyscan evaluate --model runs/r2/poppy-net.pt --flight f1.tif f1.labels.geojson \\
      --flight f2.tif f2.labels.geojson -o eval/r2
  poppyscan evaluate --model runs/r2/poppy-net.pt --flight f1.tif f1.labels.geojson \\
      -o eval/r2-vs-default --compare default
"""


def add_parser(verbs: Any) -> None:
    """Register ``evaluate`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "evaluate",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        help="weights with their card, or NAME[:VERSION] from the registry (default: the "
        "registry's default model, else the shipped one)",
    )
    parser.add_argument(
        "--flight",
        nargs=2,
        action="append",
        required=True,
        metavar=("RASTER", "LABELS"),
        type=Path,
        help="a held-out orthomosaic and its label file; repeat for more flights",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="REPORTDIR", help="report folder"
    )
    parser.add_argument(
        "--compare",
        metavar="OTHER_MODEL",
        help="also evaluate this model (path, NAME[:VERSION], or 'default' for the current "
        "default model) and write a side-by-side table",
    )
    parser.add_argument(
        "--conf",
        type=confidence,
        help="operating confidence 0..1 for both models (default: each model card's)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda:0 ... (default auto)")
    parser.add_argument(
        "--backend", default="auto", choices=BACKENDS, help="runtime (default auto)"
    )
    parser.add_argument(
        "--precision",
        default=DEFAULT_PRECISION,
        choices=PRECISIONS,
        help=f"CPU precision (default {DEFAULT_PRECISION})",
    )
    parser.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_registry_option(parser)
    parser.set_defaults(run=run)


class _FlightBars:
    """One tqdm bar per scanned flight, in tiles, on stderr."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.name = ""
        self.bar: tqdm[Any] | None = None

    def __call__(self, name: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if name != self.name or self.bar is None:
            self.close()
            self.name = name
            self.bar = tqdm(
                total=total,
                unit="tile",
                desc=f"{self.label}: {name}",
                file=sys.stderr,
                dynamic_ncols=True,
            )
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _evaluate(model: Path, args: argparse.Namespace, label: str) -> Evaluation:
    from training.dataset import FlightSource
    from training.evaluate import evaluate_model

    bars = _FlightBars(label, enabled=not args.quiet and not args.json)
    try:
        return evaluate_model(
            model,
            [FlightSource(raster, labels) for raster, labels in args.flight],
            conf=args.conf,
            device=args.device,
            backend=args.backend,
            precision=args.precision,
            progress=bars,
        )
    finally:
        bars.close()


def _summary_line(evaluation: Evaluation) -> str:
    plots, plants = evaluation.plots.overall, evaluation.plants.overall

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    per_ha = evaluation.plots.false_per_ha
    return (
        f"{evaluation.label} at conf {evaluation.conf:g}: plot recall {fmt(plots.recall)} "
        f"({plots.found}/{plots.truths}), precision {fmt(plots.precision)}, "
        f"{fmt(per_ha)} false plots/ha; plant recall {fmt(plants.recall)}, "
        f"precision {fmt(plants.precision)}"
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the reports, print the headline numbers."""
    from training.evaluate import EvaluationError, write_comparison, write_evaluation_report

    for raster, labels in args.flight:  # fail before a long scan, not after it
        if not raster.exists():
            raise RasterError(f"{raster}: no such raster")
        if not labels.is_file():
            raise EvaluationError(f"{labels}: no such label file")
    if args.output.exists() and not args.output.is_dir():
        raise OutputError(f"{args.output} exists and is not a folder")
    registry = open_registry(args)
    model = registry.resolve(args.model)
    other = registry.resolve(args.compare) if args.compare else None
    candidate = _evaluate(model, args, "candidate" if other else "evaluating")
    paths = write_evaluation_report(candidate, args.output)
    lines = [_summary_line(candidate)]
    if other is not None:
        current = _evaluate(other, args, "current")
        write_evaluation_report(current, args.output / "current")
        paths = write_comparison(candidate, current, args.output)
        lines.append(_summary_line(current))
    if args.json:
        print(json.dumps(candidate.to_dict(), indent=2))
        return 0
    print("\n".join(lines))
    print(f"wrote {args.output / 'report.md'}, report.json, pr_curve.png")
    if other is not None:
        print(f"wrote {paths['markdown']} (side by side), {paths['png'].name}")
    return 0
