"""The scan speed report: header, table, bars, projection and notes, printed on stdout.

Rows are keyed ``a``, ``a-f32``, ``a-int8``, ``b``, ``b-f32``, ``b-int8``, ``c``, ``c-ov``,
``d``, ``b2`` (see
``benchmarks/README.md``). Each row names the model-alone row it is compared with (its
reference: the same precision), and the table's ``vs ref`` column is its seconds per tile over
the reference's. Bars are PASS/FAIL lines; a bar whose rows were skipped is not evaluated.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.prepare import PROJECTION_AREA_HA, PROJECTION_GSD_M
from bench.rasters import BLOCK_PX

BAR_E2E_OVER_MODEL = 1.15  # e2e seconds per tile <= 1.15 x the model alone's
BAR_SAHI_SPEEDUP = 2.0  # SAHI's wall time (c) >= 2 x the scan's (b)
BAR_GEODEEP_SPEEDUP = 3.0  # GeoDeep's wall time (d) >= 3 x the scan's (b), and (b-int8)
BAR_PEAK_RSS_BYTES = 1_000_000_000  # 1 GB = 10^9 bytes
BAR_RSS_FLATNESS = 0.10  # |RSS(2x area) / RSS(1x) - 1| <= 10 %
BAR_PROJECTION_MIN = 6.0  # minutes for PROJECTION_AREA_HA at PROJECTION_GSD_M


@dataclass(frozen=True)
class Row:
    """One measured system in the table.

    Attributes:
        key: Short id: ``a``, ``a-f32``, ``a-int8``, ``b``, ``b-f32``, ``b-int8``, ``c``,
            ``c-ov``, ``d``, ``b2``.
        label: What was measured, as printed.
        runtime: What did the inference (library, runtime, precision, batch).
        tiles: Model tiles processed.
        wall_s: Measured time, seconds: the model only for (a) rows, whole process otherwise.
        peak_rss_bytes: Peak resident memory of its process tree, bytes.
        detections: Boxes or plants it reported (random weights: about none).
        area_ha: Ground area of the raster it scanned, hectares.
        reference: Key of the model-alone row of the same precision.
        inner_s: The CLI's own elapsed seconds (CLI rows only).
    """

    key: str
    label: str
    runtime: str
    tiles: int
    wall_s: float
    peak_rss_bytes: int
    detections: int
    area_ha: float
    reference: str = "a"
    inner_s: float | None = None

    @property
    def tiles_per_s(self) -> float:
        """Tiles per second."""
        return self.tiles / self.wall_s

    @property
    def s_per_ha(self) -> float:
        """Seconds per hectare of ground."""
        return self.wall_s / self.area_ha

    @property
    def s_per_tile(self) -> float:
        """Seconds per tile."""
        return self.wall_s / self.tiles

    @property
    def ha_per_min(self) -> float:
        """Hectares of ground per minute."""
        return self.area_ha / (self.wall_s / 60)


def format_table(rows: Sequence[Row]) -> str:
    """Render the result table; ``vs ref`` is seconds per hectare over the reference row's
    (SAHI and GeoDeep cut the model's 640 px tiles, the scan larger windows, so their tile
    counts differ; per hectare they compare)."""
    by_key = {row.key: row for row in rows}
    width = max(len(row.label) for row in rows)
    head = (
        f"{'system':<{width}} {'tiles':>6} {'wall s':>7} {'tiles/s':>7} {'ha/min':>7} "
        f"{'peak RSS MB':>11} {'vs ref':>14} {'dets':>5}  runtime"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        ref = by_key.get(row.reference)
        ratio = f"{row.s_per_ha / ref.s_per_ha:.2f}x ({row.reference})" if ref else "-"
        lines.append(
            f"{row.label:<{width}} {row.tiles:>6} {row.wall_s:>7.1f} {row.tiles_per_s:>7.1f} "
            f"{row.ha_per_min:>7.2f} {row.peak_rss_bytes / 1e6:>11.0f} {ratio:>14} "
            f"{row.detections:>5}  {row.runtime}"
        )
    return "\n".join(lines)


Check = Callable[[dict[str, Row], int], tuple[bool, str]]


def _e2e(scan: str, model: str) -> Check:
    def check(rows: dict[str, Row], _tiles: int) -> tuple[bool, str]:
        ratio = rows[scan].s_per_tile / rows[model].s_per_tile
        return ratio <= BAR_E2E_OVER_MODEL, f"({scan})/({model}) {ratio:.2f}x"

    return check


def _sahi(rows: dict[str, Row], _tiles: int) -> tuple[bool, str]:
    speedup = rows["c"].wall_s / rows["b"].wall_s
    return speedup >= BAR_SAHI_SPEEDUP, f"(c)/(b) {speedup:.2f}x"


def _geodeep(scan: str) -> Check:
    def check(rows: dict[str, Row], _tiles: int) -> tuple[bool, str]:
        speedup = rows["d"].wall_s / rows[scan].wall_s
        return speedup >= BAR_GEODEEP_SPEEDUP, f"(d)/({scan}) {speedup:.2f}x"

    return check


def _rss(rows: dict[str, Row], _tiles: int) -> tuple[bool, str]:
    peaks = {key: rows[key].peak_rss_bytes for key in ("b", "b2") if key in rows}
    text = ", ".join(f"({key}) {peak / 1e6:.0f} MB" for key, peak in peaks.items())
    return max(peaks.values()) < BAR_PEAK_RSS_BYTES, text


def _rss_flat(rows: dict[str, Row], _tiles: int) -> tuple[bool, str]:
    ratio = rows["b2"].peak_rss_bytes / rows["b"].peak_rss_bytes
    return abs(ratio - 1) <= BAR_RSS_FLATNESS, f"(b2)/(b) {ratio:.3f}x"


def _projection(rows: dict[str, Row], tiles: int) -> tuple[bool, str]:
    rate = rows["b"].tiles_per_s
    minutes = tiles / rate / 60
    return minutes < BAR_PROJECTION_MIN, f"{minutes:.1f} min ({tiles} tiles at {rate:.1f}/s, (b))"


BARS: tuple[tuple[str, tuple[str, ...], Check], ...] = (
    (
        f"e2e time per tile <= {BAR_E2E_OVER_MODEL}x model alone (default precision)",
        ("a", "b"),
        _e2e("b", "a"),
    ),
    *(
        (
            f"e2e time per tile <= {BAR_E2E_OVER_MODEL}x model alone, {precision}",
            (f"a-{precision}", f"b-{precision}"),
            _e2e(f"b-{precision}", f"a-{precision}"),
        )
        for precision in ("f32", "int8")
    ),
    (
        f"e2e >= {BAR_SAHI_SPEEDUP:.0f}x faster than SAHI's default path (.pt on PyTorch)",
        ("b", "c"),
        _sahi,
    ),
    (f"e2e >= {BAR_GEODEEP_SPEEDUP:.0f}x faster than GeoDeep", ("b", "d"), _geodeep("b")),
    *(
        (
            f"e2e >= {BAR_GEODEEP_SPEEDUP:.0f}x faster than GeoDeep, --precision {precision}",
            (f"b-{precision}", "d"),
            _geodeep(f"b-{precision}"),
        )
        for precision in ("f32", "int8")
    ),
    ("e2e peak RSS < 1 GB (10^9 bytes)", ("b",), _rss),
    (
        f"e2e peak RSS flat within {BAR_RSS_FLATNESS:.0%} when the area doubles",
        ("b", "b2"),
        _rss_flat,
    ),
    (
        f"{PROJECTION_AREA_HA:.0f} ha at {PROJECTION_GSD_M * 100:.0f} cm/px in < "
        f"{BAR_PROJECTION_MIN:.0f} min",
        ("b",),
        _projection,
    ),
)


def evaluate_bars(rows: dict[str, Row], projection_tiles: int) -> list[tuple[str, str]]:
    """Check each bar; return ``(verdict, line)`` pairs, verdict PASS, FAIL or SKIP."""
    out = []
    for name, needs, check in BARS:
        missing = [key for key in needs if key not in rows]
        if missing:
            out.append(("SKIP", f"{name} (({'), ('.join(missing)}) not measured)"))
            continue
        passed, value = check(rows, projection_tiles)
        out.append(("PASS" if passed else "FAIL", f"{name}: {value}"))
    return out


def comparisons(rows: dict[str, Row]) -> list[str]:
    """Ratios that are not bars: SAHI on the scan's own IR, and like-for-like precisions."""
    lines = []
    pairs = [
        ("b", "c-ov", "SAHI on the scan's OpenVINO IR (c-ov) / scan (b)"),
        ("b-f32", "c", "SAHI's default path (c) / scan f32 (b-f32)"),
        ("b-f32", "c-ov", "SAHI on the scan's OpenVINO IR (c-ov) / scan f32 (b-f32)"),
        ("b-int8", "c-ov", "SAHI on the scan's OpenVINO IR (c-ov) / scan int8 (b-int8)"),
    ]
    for fast, slow, text in pairs:
        if fast in rows and slow in rows:
            lines.append(f"{text}: {rows[slow].wall_s / rows[fast].wall_s:.2f}x")
    return lines


def print_report(
    rows: Sequence[Row],
    prep: dict[str, Any],
    weights: Path,
    scene: str,
    load: tuple[float, float],
    torch_floor_bytes: int,
    attempts: list[str],
) -> None:
    """Print the header, the table, the bars, the comparisons, the projection and the notes."""
    by_key = {row.key: row for row in rows}
    print_header(prep, weights, scene, load)
    print(format_table(rows))
    print(
        "\n(a) rows time the model only, on tiles decoded beforehand; every other row times the "
        "whole process (start-up, imports, model load, reading, inference, merging, output).\n"
        "vs ref: seconds per tile over the model-alone row of the same precision."
    )
    for row in rows:
        ref = by_key.get(row.reference)
        if row.inner_s is not None and ref is not None:
            print(
                f"{row.label}: the CLI's own timer says {row.inner_s:.1f} s of "
                f"{row.wall_s:.1f} s wall ({row.inner_s / row.tiles / ref.s_per_tile:.2f}x "
                f"({row.reference}) per tile); the rest is interpreter start-up and imports"
            )
    print("\nbars:")
    for verdict, line in evaluate_bars(by_key, prep["projection_tiles"]):
        print(f"  {verdict}  {line}")
    extra = comparisons(by_key)
    if extra:
        print("\nalso (not bars):")
        for line in extra:
            print(f"  {line}")
    print_projection(by_key, prep["projection_tiles"])
    print_notes(prep, torch_floor_bytes, attempts)


def print_header(
    prep: dict[str, Any], weights: Path, scene: str, load: tuple[float, float]
) -> None:
    """Raster, model and machine, with the load average around the measurements."""
    card, meta = prep["card"], prep["rasters"]["single"]
    print(
        f"\nscan speed - raster {meta['height_px']} x {meta['width_px']} px at "
        f"{meta['gsd_m'] * 100:.2f} cm/px ({meta['area_ha']:.2f} ha, {scene} scene, "
        f"{meta['size_mb']:.0f} MB {meta['compress']}, tiled {BLOCK_PX} px, "
        f"{meta['overviews']} overviews); model {card['name']} {card['version']} "
        f"({weights.name}), tile {card['tile_size_px']} px, overlap {card['overlap_px']} px, "
        f"conf {card['conf_threshold']}, batch {prep['batch_size']}"
    )
    print(
        f"machine: {machine_line()}; load average {load[0]:.2f} before and {load[1]:.2f} "
        "after the measurements\n"
    )


def print_projection(rows: dict[str, Row], tiles: int) -> None:
    """Minutes for PROJECTION_AREA_HA at each scan row's rate, and the marginal rate."""
    if "b" not in rows:
        return
    pixels_g = PROJECTION_AREA_HA * 1e4 / PROJECTION_GSD_M**2 / 1e9
    print(
        f"\nprojection: {PROJECTION_AREA_HA:.0f} ha at {PROJECTION_GSD_M * 100:.0f} cm/px "
        f"(~{pixels_g:.1f} gigapixels) = {tiles} tiles"
    )
    for key in ("b", "b-f32", "b-int8"):
        if key in rows:
            rate = rows[key].tiles_per_s
            print(f"  at ({key}) {rate:.1f} tiles/s e2e: {tiles / rate / 60:.1f} min")
    b, b2 = rows["b"], rows.get("b2")
    if b2 is not None and b2.wall_s > b.wall_s:
        rate = (b2.tiles - b.tiles) / (b2.wall_s - b.wall_s)
        print(
            f"  marginal rate of (b) from the 1x -> 2x area difference (fixed start-up "
            f"removed): {rate:.1f} tiles/s -> {tiles / rate / 60:.1f} min"
        )


def print_notes(prep: dict[str, Any], torch_floor_bytes: int, attempts: list[str]) -> None:
    """Context the table does not show: memory floor, raw rates, weights, network attempts."""
    print(
        f"\nnotes:\n  a Python process that only imports torch peaks at "
        f"{torch_floor_bytes / 1e6:.0f} MB RSS here (torch {metadata.version('torch')}); "
        "the CPU scan does not import torch, SAHI (c) and (c-ov) do"
    )
    rates = ", ".join(f"{k} {v:.0f}" for k, v in prep["raw_openvino"].items())
    print(
        f"  bare OpenVINO IR on this CPU, batch 1, images/s: {rates}; (a), (b), (b2) and "
        "(c-ov) leave the plugin its default precision (the scanner's default), (a-f32) and "
        "(b-f32) compile f32"
        + (", (a-int8) and (b-int8) run the INT8 export" if "int8" in prep["raw_openvino"] else "")
    )
    print(
        "  (c) runs torch on the threads Ultralytics picks for CPU inference, min(8, CPUs - 1); "
        "SAHI's extra full-image pass is off in (c) and (c-ov), which only helps SAHI"
    )
    print_cache_note(prep)
    if prep["card"]["name"] == "yolo11n-random":
        print(
            "  random weights (no pretrained weights can be fetched here): speed is the "
            "model's, detections are ~none, so merging, plots and chips cost ~nothing"
        )
    print_int8_note(prep)
    if not attempts:
        print("  network: no outbound connection attempts (the guard logs and refuses them)")
    else:
        print(f"  network: {len(attempts)} outbound connection attempt(s), all refused")
    counts: dict[str, int] = {}
    for line in attempts:
        target, _, who = line.partition("\t")
        key = f"{target} from {who}"
        counts[key] = counts.get(key, 0) + 1
    for key, count in sorted(counts.items()):
        print(f"    {count} x {key}")


def print_int8_note(prep: dict[str, Any]) -> None:
    """Where the INT8 export came from and its check against f32 (``metrics.int8_vs_f32``)."""
    if not prep.get("int8_dir"):
        return
    check = prep["card"]["metrics"]["int8_vs_f32"]
    made = "reused (the card records it for these weights)" if prep["int8_reused"] else "made"
    print(
        f"  int8: export {made}, calibrated on {check['tiles']} tiles of {check['source']}; its "
        "boxes were checked against f32 at export time on those tiles (card "
        f"metrics.int8_vs_f32): {check['boxes_matched_vs_f32']:.1%} of f32 boxes reproduced"
    )
    if prep["card"]["name"] == "yolo11n-random":
        print(
            "    with random weights f32 finds ~no boxes, so that check is vacuous here: it says "
            "nothing about INT8 accuracy (the speed is the INT8 model's)"
        )


def print_cache_note(prep: dict[str, Any]) -> None:
    """Warn when the rasters fit in the scan's GDAL block cache (the RSS flatness bar then
    measures the cache filling up, not the scan growing)."""
    from detector.raster import GDAL_CACHE_BYTES

    decoded = [m["height_px"] * m["width_px"] * 3 for m in prep["rasters"].values()]
    if min(decoded) < GDAL_CACHE_BYTES:
        print(
            f"  the single raster decodes to {min(decoded) / 1e6:.0f} MB, under the scan's "
            f"{GDAL_CACHE_BYTES / 1e6:.0f} MB GDAL block cache, so (b2)'s extra memory can be "
            "cached blocks: judge the flatness bar on the full run"
        )


def machine_line() -> str:
    """One line describing the CPU this ran on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}"
