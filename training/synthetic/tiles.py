"""Synthetic flights rendered straight into a YOLO tile dataset, without GeoTIFFs between.

:func:`training.dataset.build_dataset` cuts written flights with the scanner's reader. At
the flight's own GSD that reader returns the pixels the writer rendered, so the GeoTIFF is
only a detour when the flights exist for training alone: here each flight is composed, the
scanner's window plan (:func:`detector.tiling.plan_windows`, the card's tile and overlap,
the writer's 512 px blocks) is laid over it, and only the windows the dataset keeps are
rendered — every window holding a plant and a seeded share of the others. Pixels come from
the writer's own 1024 px render windows, so a tile is byte-identical to the scanner's read of
the written flight; windows with no valid pixel are left out, as the scanner leaves them.

It needs numpy, OpenCV and shapely, not GDAL or PROJ, and renders flights in parallel worker
processes: hundreds of flights take minutes on a many-core machine (a GPU training box),
where writing them as GeoTIFFs would take hours and gigabytes. Labels are the plant boxes
the scene was drawn from, clipped as :func:`training.yolo_tiles.yolo_rows` clips them.

Run ``python -m training.synthetic.tiles --help``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from detector.card import ModelCard
from detector.errors import PoppyscanError
from detector.tiling import TileWindow, plan_windows
from training.synthetic.compose import compose_scene
from training.synthetic.render import render_window
from training.synthetic.scene import WINDOW_PX, Scene
from training.yolo_tiles import DatasetCounts, LabelBox, write_dataset_files, write_tile, yolo_rows

# The internal block edge generate_flight writes (its default), which the scanner's plan
# aligns windows to, and the render window edge that follows from it.
BLOCK_PX = 512
RENDER_PX = BLOCK_PX * max(1, WINDOW_PX // BLOCK_PX)


@dataclass(frozen=True)
class FlightTiles:
    """What one flight gave the dataset.

    Attributes:
        seed: The flight's seed.
        split: ``"train"`` or ``"val"``.
        boxes_per_tile: Label rows of every tile written (0 for a background tile).
    """

    seed: int
    split: str
    boxes_per_tile: tuple[int, ...]


class _RenderCache:
    """The writer's render windows of one scene, each rendered once when first needed.

    Tiles are asked for in the plan's row-major order, so render windows above the current
    tile's top are dropped: memory holds about two rows of render windows, whatever the
    flight's size.
    """

    def __init__(self, scene: Scene) -> None:
        self._scene = scene
        self._windows: dict[tuple[int, int], np.ndarray] = {}

    def _window(self, wr: int, wc: int) -> np.ndarray:
        key = (wr, wc)
        if key not in self._windows:
            sc = self._scene
            r0, c0 = wr * RENDER_PX, wc * RENDER_PX
            h, w = min(RENDER_PX, sc.height_px - r0), min(RENDER_PX, sc.width_px - c0)
            self._windows[key] = render_window(sc, r0, c0, h, w)
        return self._windows[key]

    def pixels(self, window: TileWindow) -> np.ndarray:
        """The window's uint8 RGB pixels (height, width, 3), 0 outside the flight."""
        r0, c0 = window.row_px, window.col_px
        r1, c1 = r0 + window.height_px, c0 + window.width_px
        for done in [key for key in self._windows if key[0] < r0 // RENDER_PX]:
            del self._windows[done]
        out = np.empty((window.height_px, window.width_px, 3), np.uint8)
        for wr in range(r0 // RENDER_PX, (r1 - 1) // RENDER_PX + 1):
            for wc in range(c0 // RENDER_PX, (c1 - 1) // RENDER_PX + 1):
                block = self._window(wr, wc)
                top, left = wr * RENDER_PX, wc * RENDER_PX
                rr0, rr1 = max(r0, top), min(r1, top + block.shape[0])
                cc0, cc1 = max(c0, left), min(c1, left + block.shape[1])
                out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = block[
                    rr0 - top : rr1 - top, cc0 - left : cc1 - left
                ]
        return out


def render_flight_tiles(
    out_dir: Path,
    seed: int,
    split: str,
    card: ModelCard,
    *,
    size_px: int,
    background_keep: float,
) -> FlightTiles:
    """Compose flight ``seed`` at the card's GSD and write its kept windows as YOLO tiles.

    Args:
        out_dir: Dataset root (``images/<split>``, ``labels/<split>``).
        seed: Flight seed (the same scene :func:`training.synthetic.generate_flight` draws
            for this seed, size and GSD).
        split: ``"train"`` or ``"val"``.
        card: Classes, GSD (m/px), tile size and overlap (model pixels) of the model to train.
        size_px: Flight edge, pixels at the card's GSD.
        background_keep: Share of plant-free windows kept (hard negatives: look-alikes, roofs).

    Returns:
        What was written.
    """
    scene = compose_scene(seed, size_px, size_px, card.gsd_m, True, RENDER_PX)
    labels = [LabelBox(p.col0_px, p.row0_px, p.col1_px, p.row1_px, p.cls) for p in scene.plants]
    plan = plan_windows(
        size_px,
        size_px,
        tile_size_px=card.tile_size_px,
        overlap_px=card.overlap_px,
        block_shape_px=(BLOCK_PX, BLOCK_PX),
    )
    rng = np.random.default_rng([seed, 0x711E])
    cache = _RenderCache(scene)
    written = []
    for window in plan:
        rows = yolo_rows(labels, window, card.classes, card.tile_size_px)
        if not rows and rng.random() >= background_keep:
            continue
        rgb = cache.pixels(window)
        if not rgb.any():  # no valid pixel: the scanner never reads such a window
            continue
        if rgb.shape[:2] != (card.tile_size_px, card.tile_size_px):  # flight under one tile
            padded = np.zeros((card.tile_size_px, card.tile_size_px, 3), np.uint8)
            padded[: rgb.shape[0], : rgb.shape[1]] = rgb
            rgb = padded
        write_tile(out_dir, split, f"flight-{seed}_{window.index:05d}", rgb, rows)
        written.append(len(rows))
    return FlightTiles(seed, split, tuple(written))


def _one_opencv_thread() -> None:
    """Worker initialiser: the processes are the parallelism."""
    cv2.setNumThreads(1)


def build_synthetic_dataset(
    out_dir: Path,
    train_seeds: Sequence[int],
    val_seeds: Sequence[int],
    card: ModelCard,
    *,
    size_px: int = 4096,
    background_keep: float = 0.25,
    workers: int | None = None,
    extra_train: Sequence[Path] = (),
    extra_source: str = "",
) -> Path:
    """Render synthetic train and val flights into a YOLO dataset; return its ``data.yaml``.

    Whole flights go to one split (train and val seeds must not overlap). Writes
    ``dataset-card.yaml`` and ``counts.json`` beside it, as :func:`training.dataset.build_dataset`
    does.

    Args:
        out_dir: Dataset root (created; must not hold tiles already).
        train_seeds: Seeds of the training flights.
        val_seeds: Seeds of the validation flights.
        card: Classes, GSD, tile size and overlap of the model to train.
        size_px: Flight edge, pixels at the card's GSD.
        background_keep: Share of plant-free windows kept.
        workers: Render processes (default: every CPU).
        extra_train: YOLO tile folders (``images/`` and ``labels/`` inside, any split) whose
            tiles are added to train as they are, e.g. real poppy-free background tiles cut
            by ``poppyscan dataset build`` at the same GSD and tile size.
        extra_source: What those extra tiles are, for the dataset card.

    Raises:
        ValueError: overlapping seeds, an empty split or a non-empty ``out_dir``.
    """
    if set(train_seeds) & set(val_seeds):
        raise ValueError("a seed is in both train and val")
    if not train_seeds or not val_seeds:
        raise ValueError("a dataset needs at least one training and one validation flight")
    if (out_dir / "images").exists():
        raise ValueError(f"{out_dir} already holds a dataset")
    if size_px < 64 or not 0.0 <= background_keep <= 1.0:
        raise ValueError("the flight edge must be at least 64 px and background_keep 0..1")
    for extra in extra_train:
        if not (extra / "images").is_dir():
            raise ValueError(f"{extra} is not a YOLO tile folder (no images/ inside)")
    counts = DatasetCounts()
    jobs = [(s, "train") for s in train_seeds] + [(s, "val") for s in val_seeds]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        workers or os.cpu_count() or 1, context, initializer=_one_opencv_thread
    ) as pool:
        futures = [
            pool.submit(
                render_flight_tiles,
                out_dir,
                seed,
                split,
                card,
                size_px=size_px,
                background_keep=background_keep,
            )
            for seed, split in jobs
        ]
        for future in futures:
            flight = future.result()
            for boxes in flight.boxes_per_tile:
                counts.add_tile(flight.split, boxes)
            counts.add_source({flight.split} if flight.boxes_per_tile else set())
    for extra in extra_train:  # tiles, not flights: counted as tiles only
        for image in sorted((extra / "images").rglob("*.jpg")):
            label = extra / "labels" / image.parent.name / f"{image.stem}.txt"
            rows = label.read_text().split("\n") if label.is_file() else []
            rows = [r for r in rows if r.strip()]
            stem = f"extra-{extra.name}_{image.stem}"
            shutil.copy2(image, out_dir / "images" / "train" / f"{stem}.jpg")
            (out_dir / "labels" / "train" / f"{stem}.txt").write_text(
                "\n".join(rows) + ("\n" if rows else "")
            )
            counts.add_tile("train", len(rows))
    source = "training.synthetic.tiles (flights rendered straight to tiles)"
    return write_dataset_files(
        out_dir,
        card,
        counts,
        name="poppyscan-synthetic",
        source=source + (f" + {extra_source}" if extra_source else ""),
        licence="generated by poppyscan (same licence as the code)"
        + ("; extra tiles: see their sources" if extra_train else ""),
        split="by flight",
        details={
            "flights": {
                "generator": "training.synthetic, flight outline on",
                "size_px": size_px,
                "background_keep": background_keep,
                "train_seeds": _seed_ranges(train_seeds),
                "val_seeds": _seed_ranges(val_seeds),
            },
            **({"extra_train": [str(p) for p in extra_train]} if extra_train else {}),
        },
    )


def _seed_ranges(seeds: Sequence[int]) -> list[str]:
    """Seeds as compact ``"a-b"`` ranges for the card."""
    ranges: list[str] = []
    ordered = sorted(seeds)
    start = prev = ordered[0]
    for seed in [*ordered[1:], None]:
        if seed is not None and seed == prev + 1:
            prev = seed
            continue
        ranges.append(f"{start}-{prev}" if prev != start else str(start))
        if seed is not None:
            start = prev = seed
    return ranges


def _seeds(text: str) -> list[int]:
    """``"1000-1299"`` or ``"1000,1005"`` as seeds."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.partition("-")
            seeds.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seeds are written like 1000-1299 or 1000,1005, not {text!r}"
        ) from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"{text!r} holds no seed")
    return seeds


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: render a synthetic YOLO dataset."""
    parser = argparse.ArgumentParser(
        prog="python -m training.synthetic.tiles",
        description="Render synthetic flights straight into a YOLO dataset (data.yaml, "
        "dataset-card.yaml) at a model's GSD, tile size and overlap.",
    )
    parser.add_argument("--out", type=Path, required=True, help="dataset root (new)")
    parser.add_argument("--train-seeds", type=_seeds, required=True, help="e.g. 1000-1299")
    parser.add_argument("--val-seeds", type=_seeds, required=True, help="e.g. 2000-2009")
    parser.add_argument("--size", type=int, default=4096, help="flight edge, px (default 4096)")
    parser.add_argument("--gsd", type=float, default=0.02, help="m/px (default 0.02)")
    parser.add_argument("--tile", type=int, default=640, help="tile edge, px (default 640)")
    parser.add_argument("--overlap", type=int, default=128, help="overlap, px (default 128)")
    parser.add_argument("--classes", default="poppy,cannabis", help="class names, in order")
    parser.add_argument("--background-keep", type=float, default=0.25)
    parser.add_argument("--workers", type=int, default=None, help="default: every CPU")
    parser.add_argument("--extra-train", type=Path, nargs="*", default=[])
    parser.add_argument("--extra-source", default="", help="what --extra-train holds")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        card = ModelCard(
            name="dataset",
            version="0",
            classes=tuple(args.classes.split(",")),
            gsd_m=args.gsd,
            tile_size_px=args.tile,
            overlap_px=args.overlap,
        )
        data_yaml = build_synthetic_dataset(
            args.out,
            args.train_seeds,
            args.val_seeds,
            card,
            size_px=args.size,
            background_keep=args.background_keep,
            workers=args.workers,
            extra_train=args.extra_train,
            extra_source=args.extra_source,
        )
    except (ValueError, PoppyscanError) as exc:
        print(f"poppyscan: error: {exc}", file=sys.stderr)
        return 2
    counts = (args.out / "counts.json").read_text()
    print(f"wrote {data_yaml} in {time.perf_counter() - started:.0f} s: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
