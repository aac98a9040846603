"""`poppyscan train` — train a detector on a dataset and write its weights and card."""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from detector.errors import PoppyscanError
from training.train import TrainConfig, read_yaml_mapping

HELP = "train a detector on a dataset (data.yaml) and write weights + model card"
DESCRIPTION = """\
Train a YOLO detector offline (built from its architecture YAML, no download) on a dataset
made by `poppyscan dataset` or training.dataset, and write RUNDIR/<name>.pt with its model
card: classes, GSD, tile size, overlap, confidence threshold, data fingerprint, validation
metrics, hardware and duration.

Settings come from, lowest first: the defaults of training.train.TrainConfig; the dataset's
card (dataset-card.yaml beside data.yaml: GSD, tile size, overlap); --config train.yaml (any
TrainConfig field, e.g. epochs, batch, augment); the options below. The model's GSD and tile
size must be the dataset's: a conflicting value is refused rather than written into a card
that would make the scanner resample wrongly.

examples:
  poppyscan train --data ds/data.yaml -o runs/r1 --epochs 60
  poppyscan train --data ds/data.yaml --config train.yaml --device cuda:0 -o runs/r2 \\
      --init runs/r1/poppyscan-model.pt --version 0.2.0
"""

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|\d+)$")
# Settings a dataset card fixes for the model trained on it.
_FROM_DATASET = ("gsd_m", "tile_size_px", "overlap_px")
_MUST_MATCH = ("gsd_m", "tile_size_px")
# TrainConfig's defaults, quoted in the help (one source of truth).
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def add_parser(verbs: Any) -> None:
    """Register ``train`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "train",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", type=Path, help="the dataset's data.yaml (required unless --config names it)"
    )
    parser.add_argument(
        "--config", type=Path, metavar="TRAIN_YAML", help="YAML of TrainConfig settings"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="RUNDIR",
        help=f"run folder (default {_DEFAULTS['out_dir']})",
    )
    parser.add_argument(
        "--epochs", type=int, help=f"passes over the training tiles (default {_DEFAULTS['epochs']})"
    )
    parser.add_argument(
        "--imgsz",
        type=int,
        metavar="PX",
        help=f"tile edge, px (default: the dataset's, else {_DEFAULTS['tile_size_px']})",
    )
    parser.add_argument(
        "--batch", type=int, help=f"tiles per optimiser step (default {_DEFAULTS['batch']})"
    )
    parser.add_argument("--time-h", type=float, help="wall-clock budget, hours (overrides epochs)")
    parser.add_argument(
        "--device",
        help=f"auto, cpu or cuda:N (default {_DEFAULTS['device']}; auto: a GPU when usable)",
    )
    parser.add_argument(
        "--workers", type=int, help=f"data-loader processes (default {_DEFAULTS['workers']})"
    )
    parser.add_argument(
        "--init",
        metavar="WEIGHTS_OR_YAML",
        help="start from these .pt weights (continue training) or an architecture YAML "
        f"(default {_DEFAULTS['architecture']}: random weights)",
    )
    parser.add_argument(
        "--name", help=f"model name written to the card (default {_DEFAULTS['name']})"
    )
    parser.add_argument(
        "--version", help=f"model version written to the card (default {_DEFAULTS['version']})"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def _check_options(args: argparse.Namespace) -> None:
    for option, minimum in (("epochs", 1), ("batch", 1), ("workers", 0), ("imgsz", 32)):
        value = getattr(args, option)
        if value is not None and value < minimum:
            raise PoppyscanError(f"--{option} must be at least {minimum}, not {value}")
    if args.imgsz is not None and args.imgsz % 32:
        raise PoppyscanError(f"--imgsz must be a multiple of 32 (YOLO strides), not {args.imgsz}")
    if args.device is not None and not _DEVICE.match(args.device):
        raise PoppyscanError(f"--device wants auto, cpu or cuda:N, not {args.device!r}")
    if args.time_h is not None and args.time_h <= 0:
        raise PoppyscanError("--time-h must be positive")
    if args.init and args.init.endswith(".pt") and not Path(args.init).is_file():
        raise PoppyscanError(f"{args.init}: no such weights file to start from")
    if args.data is not None and not args.data.is_file():
        raise PoppyscanError(f"{args.data}: no such dataset data.yaml")


def build_config(args: argparse.Namespace) -> TrainConfig:
    """Merge TrainConfig defaults, the dataset card, the YAML config and the options."""
    explicit = {
        "out_dir": args.output,
        "epochs": args.epochs,
        "tile_size_px": args.imgsz,
        "batch": args.batch,
        "time_h": args.time_h,
        "device": args.device,
        "workers": args.workers,
        "architecture": args.init,
        "name": args.name,
        "version": args.version,
    }
    explicit = {k: v for k, v in explicit.items() if v is not None}
    from_file = read_yaml_mapping(args.config, "training config") if args.config else {}
    if args.data is None and "data" not in from_file:
        raise PoppyscanError("give the dataset with --data data.yaml (or as data: in --config)")
    if args.config is not None:
        config = TrainConfig.from_yaml(args.config, data=args.data, **explicit)
    else:
        config = TrainConfig(data=args.data, **explicit)
    if not config.data.is_file():
        raise PoppyscanError(f"{config.data}: no such dataset data.yaml")
    card_path = config.data.parent / "dataset-card.yaml"
    dataset = read_yaml_mapping(card_path, "dataset card") if card_path.is_file() else {}
    updates = {}
    for key in _FROM_DATASET:
        if key not in dataset:
            continue
        if key not in explicit and key not in from_file:
            updates[key] = type(getattr(config, key))(dataset[key])
        elif key in _MUST_MATCH and getattr(config, key) != dataset[key]:
            raise PoppyscanError(
                f"{key} {getattr(config, key)} conflicts with the dataset's {dataset[key]} "
                f"({card_path}); rebuild the dataset for it or drop the setting"
            )
    return dataclasses.replace(config, **updates)


class _EpochBar:
    """tqdm bar in epochs on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: tqdm[Any] | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, unit="epoch", desc="training", file=sys.stderr)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    """Train and say where the model is."""
    from detector.card import ModelCard
    from training.train import train

    _check_options(args)
    config = build_config(args)
    if config.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise PoppyscanError(f"--device {config.device}: no usable CUDA GPU on this machine")
    config.out_dir.mkdir(parents=True, exist_ok=True)
    bar = _EpochBar(enabled=not args.quiet)
    try:
        weights = train(config, progress=bar)
    finally:
        bar.close()
    card = ModelCard.load(weights)
    metrics = card.metrics.get("val_tiles", {})
    shown = ", ".join(f"{k} {v:g}" for k, v in sorted(metrics.items()))
    print(
        f"trained {card.name} {card.version}: {card.training.get('epochs_run')} epoch(s) on "
        f"{card.training.get('device')} in {card.training.get('duration_s')} s"
        + (f"; validation tiles: {shown}" if shown else "")
    )
    print(f"wrote {weights} and {ModelCard.sidecar_path(weights).name}")
    return 0
