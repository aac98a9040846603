"""Scan speed benchmark: poppyscan against the model alone, SAHI and GeoDeep, on this CPU.

On one synthetic orthomosaic (at the model's ground sample distance) and one weights file, each
system runs in its own process (see ``benchmarks/README.md`` for what each row means):

(a)      the model alone at the scanner's default precision (``fast``: the CPU plugin's own,
         bfloat16 where the CPU has it): ``load_detector(model, device="cpu").predict`` on
         tiles decoded beforehand, the scan's batch size; only ``predict`` is timed. The
         limit of (b).
(a-f32)  the same with ``precision="f32"``: the limit of (b-f32).
(a-int8) the same with ``precision="int8"``, the INT8 export made (untimed) by
         ``training.export.export_int8`` from 64 tiles of the raster: the limit of (b-int8).
(b)      ``poppyscan scan RASTER -o out.geojson --model M``, the real CLI with its defaults,
         whole process.
(b-f32)  the same with ``--precision f32``.
(b-int8) the same with ``--precision int8``.
(c)      SAHI's documented path with the same weights: the ``.pt`` through SAHI's Ultralytics
         model on PyTorch, CPU.
(c-ov)   SAHI on the scan's own OpenVINO IR (the CPU plugin's default precision).
(d)      GeoDeep's ``geodeep.run`` on an ONNX export of the same weights.
(b2)     (b) on a raster of twice the area: does memory grow with the raster?

Usage::

    python benchmarks/scan_speed.py                 # 16384 px square raster (the full run)
    python benchmarks/scan_speed.py --quick         # 4096 px smoke run
    python benchmarks/scan_speed.py --model models/default.pt --size 20000
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [p for p in (str(REPO), str(REPO / "benchmarks")) if p not in sys.path]

from bench import measure  # noqa: E402
from bench.rasters import COMPRESSIONS, SCENES, default_scene, scene_raster, warm_page_cache  # noqa: E402
from bench.report import Row, print_report  # noqa: E402
from bench.weights import random_weights_path  # noqa: E402
from detector.openvino_detector import DEFAULT_PRECISION  # noqa: E402

log = logging.getLogger("scan_speed")

DEFAULT_SIZE_PX = 16384  # side of the full run's square raster, pixels
QUICK_SIZE_PX = 4096  # side of the --quick raster, pixels
DEFAULT_GSD_M = 0.02  # metres per pixel of rasters built for random weights
SKIPPABLE = ("f32", "int8", "cli", "sahi", "sahi-ov", "geodeep", "double")


@dataclass(frozen=True)
class Bench:
    """What every measurement needs.

    Attributes:
        workdir: Cache of rasters, exports, logs and results.
        env: Environment of every child (network guard, ``bench`` importable).
        weights: The weights under test (``.pt`` with a card).
        prep: The prepare child's result (card, exports, raster descriptions, batch size).
    """

    workdir: Path
    env: dict[str, str]
    weights: Path
    prep: dict[str, Any]

    def raster(self, key: str) -> dict[str, Any]:
        """Description of the ``single`` or ``double`` raster."""
        return self.prep["rasters"][key]

    def child_cfg(self, **extra: Any) -> dict[str, Any]:
        """Configuration of a measured child on the ``single`` raster."""
        meta = self.raster("single")
        cfg = {**self.prep, "model": str(self.weights), "raster": meta["path"]}
        return cfg | {"raster_meta": meta} | extra


def measure_model_alone(bench: Bench, key: str, precision: str, pool_tiles: int) -> Row:
    """(a), (a-f32) or (a-int8): seconds in ``predict`` only; memory of its whole process."""
    cfg = bench.child_cfg(precision=precision, pool_tiles=pool_tiles)
    run, result = measure.run_child("model-alone", cfg, bench.workdir, bench.env, f"model-{key}")
    return Row(
        key,
        f"({key}) model alone, {precision}",
        result["runtime"],
        result["tiles"],
        result["timed_s"],
        run.peak_rss_bytes,
        result["detections"],
        bench.raster("single")["area_ha"],
        reference=key,
    )


def measure_cli(bench: Bench, key: str, raster: str, precision: str | None, label: str) -> Row:
    """(b), (b-f32), (b-int8) or (b2): ``poppyscan scan`` as a whole process (``precision``
    None: the scanner's default)."""
    meta, runs = bench.raster(raster), measure.run_dir(bench.workdir)
    output = runs / f"cli-{key}.geojson"
    output.unlink(missing_ok=True)
    cmd = measure.cli_command(meta["path"], output, str(bench.weights), precision)
    run = measure.run_measured(cmd, bench.env, runs / f"cli-{key}.log")
    measure.check_run(f"cli-{key}", run)
    summary = measure.cli_summary(run.log_path, output)
    flag = "" if precision is None else f" --precision {precision}"
    return Row(
        key,
        label,
        f"poppyscan scan{flag} -> {summary.get('runtime', '?')}, batch {bench.prep['batch_size']}",
        int(summary.get("tiles", meta["tiles"])),
        run.wall_s,
        run.peak_rss_bytes,
        int(summary.get("plants", -1)),
        meta["area_ha"],
        reference="a" if precision is None else f"a-{precision}",
        inner_s=summary.get("inner_s"),
    )


def measure_child(bench: Bench, child: str, key: str, label: str, reference: str) -> Row:
    """(c), (c-ov) or (d): a competitor as a whole process."""
    run, result = measure.run_child(child, bench.child_cfg(), bench.workdir, bench.env)
    return Row(
        key,
        label,
        result["runtime"],
        result["tiles"],
        run.wall_s,
        run.peak_rss_bytes,
        result["detections"],
        bench.raster("single")["area_ha"],
        reference=reference,
    )


def best_of(repeat: int, label: str, measure_once: Callable[[], Row]) -> Row:
    """Measure ``repeat`` times; keep the fastest time and the largest peak memory."""
    log.info(label)
    rows = [measure_once() for _ in range(max(1, repeat))]
    best = min(rows, key=lambda row: row.wall_s)
    log.info(f"{label} {best.wall_s:.1f} s, {best.tiles} tiles")
    return dataclasses.replace(best, peak_rss_bytes=max(row.peak_rss_bytes for row in rows))


def measure_all(bench: Bench, args: argparse.Namespace) -> list[Row]:
    """Run every system that is not skipped, in table order, each ``--repeat`` times."""
    pool = args.pool_tiles
    plan: list[tuple[str, str, Callable[[], Row]]] = [
        ("", "(a)", lambda: measure_model_alone(bench, "a", DEFAULT_PRECISION, pool)),
        ("f32", "(a-f32)", lambda: measure_model_alone(bench, "a-f32", "f32", pool)),
        ("int8", "(a-int8)", lambda: measure_model_alone(bench, "a-int8", "int8", pool)),
        ("cli", "(b)", lambda: measure_cli(bench, "b", "single", None, "(b) poppyscan scan")),
        (
            "cli f32",
            "(b-f32)",
            lambda: measure_cli(bench, "b-f32", "single", "f32", "(b-f32) scan, f32"),
        ),
        (
            "cli int8",
            "(b-int8)",
            lambda: measure_cli(bench, "b-int8", "single", "int8", "(b-int8) scan, int8"),
        ),
        ("sahi", "(c)", lambda: measure_child(bench, "sahi-pt", "c", "(c) SAHI, .pt", "a")),
        (
            "sahi-ov",
            "(c-ov)",
            lambda: measure_child(bench, "sahi-openvino", "c-ov", "(c-ov) SAHI, IR", "a"),
        ),
        ("geodeep", "(d)", lambda: measure_child(bench, "geodeep", "d", "(d) GeoDeep", "a")),
        (
            "cli double",
            "(b2)",
            lambda: measure_cli(bench, "b2", "double", None, "(b2) scan, 2x area"),
        ),
    ]
    return [
        best_of(args.repeat, label, run)
        for needs, label, run in plan
        if not set(needs.split()) & set(args.skip)
    ]


def prepare(args: argparse.Namespace, workdir: Path, env: dict[str, str]) -> Bench:
    """Build (or reuse) rasters, weights and exports, untimed; warm the page cache."""
    if args.model is not None:
        from detector.card import ModelCard

        weights = args.model.resolve()
        gsd_m = ModelCard.load(weights).gsd_m
    else:
        weights, gsd_m = random_weights_path(workdir, args.gsd), args.gsd
    size = QUICK_SIZE_PX if args.quick else args.size
    shapes = {"single": (size, size)}
    if "double" not in args.skip and "cli" not in args.skip:
        shapes["double"] = (size, 2 * size)
    rasters = {}
    for key, (height, width) in shapes.items():
        log.info(f"raster {key}: {args.scene}, {height} x {width} px at {gsd_m * 100:.2f} cm/px")
        path = scene_raster(workdir, args.scene, height, width, gsd_m, args.compress)
        rasters[key] = str(path)
    int8 = "int8" not in args.skip
    log.info(f"weights and exports{', INT8 included' if int8 else ''} (untimed)")
    cfg: dict[str, Any] = {"model": str(weights), "workdir": str(workdir), "rasters": rasters}
    cfg["int8"] = int8
    if args.model is None:
        cfg["random_gsd_m"] = gsd_m
    _, prep = measure.run_child("prepare", cfg, workdir, env)
    for raster in rasters.values():
        warm_page_cache(Path(raster))
    return Bench(workdir, env, weights, prep)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE_PX, help="raster side, pixels")
    parser.add_argument("--quick", action="store_true", help=f"smoke run at {QUICK_SIZE_PX} px")
    parser.add_argument("--model", type=Path, help=".pt with a card; default: random YOLO11n")
    parser.add_argument("--gsd", type=float, default=DEFAULT_GSD_M, help="m/px without --model")
    parser.add_argument(
        "--scene",
        choices=SCENES,
        default=default_scene(),
        help="flight: training.synthetic.generate_flight (default when present); texture: "
        "fast textured fields",
    )
    parser.add_argument(
        "--compress",
        choices=COMPRESSIONS,
        default="deflate",
        help="encoding of the texture scene (flights are always DEFLATE)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/poppyscan-bench"))
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per system; the fastest is kept (noisy hosts)"
    )
    parser.add_argument("--pool-tiles", type=int, default=128, help="distinct tiles for (a)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=SKIPPABLE, help="leave these rows out"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build inputs, run every system in its own process, print the table and the bars."""
    started = time.perf_counter()
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[scan_speed] %(message)s", stream=sys.stderr)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    env = measure.child_env(workdir)
    measure.network_log(workdir).unlink(missing_ok=True)
    bench = prepare(args, workdir, env)
    load_before = os.getloadavg()[0]
    rows = measure_all(bench, args)
    load = (load_before, os.getloadavg()[0])
    torch_floor = measure.import_floor_bytes(env, workdir)
    attempts = measure.network_attempts(workdir)
    print_report(rows, bench.prep, bench.weights, args.scene, load, torch_floor, attempts)
    log.info(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
