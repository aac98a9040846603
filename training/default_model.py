"""Recipe of the shipped default model: synthetic flights -> dataset -> train -> evaluate.

Run ``python -m training.default_model --out runs/default`` (add ``--time-h`` to bound the
training time, ``--install`` to copy the result into ``detector/models``). Training flights,
validation flights and held-out test flights use disjoint seed ranges, so the reported
numbers come from flights the model never saw. The card records the command, the hardware,
the duration and the held-out evaluation.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from detector.card import ModelCard
from detector.openvino_detector import DEFAULT_PRECISION
from detector.scan import scan
from training.dataset import FlightSource, build_dataset
from training.evaluate import PlotScore, score_scan, write_report
from training.synthetic import generate_flight
from training.train import TrainConfig, train

CLASSES = ("poppy", "cannabis")
TRAIN_SEEDS = range(1000, 1100)
VAL_SEEDS = range(2000, 2100)
TEST_SEEDS = range(3000, 3100)  # never used for training, tuning or checkpoint choice
INSTALL_DIR = Path(__file__).resolve().parents[1] / "detector" / "models"


def make_flights(out_dir: Path, seeds: Sequence[int], size_px: int) -> list[FlightSource]:
    """Generate (or reuse) synthetic flights for ``seeds``."""
    flights = []
    for seed in seeds:
        raster = out_dir / f"flight-{seed}.tif"
        labels = out_dir / f"flight-{seed}.labels.geojson"
        if not (raster.is_file() and labels.is_file()):
            made = generate_flight(
                out_dir, seed=seed, width_px=size_px, height_px=size_px, name=f"flight-{seed}"
            )
            raster, labels = made.raster_path, made.labels_path
        flights.append(FlightSource(raster, labels))
    return flights


# Confidence thresholds tried on the validation flights (never on the test flights).
CONF_CANDIDATES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)


def evaluate_on(
    weights: Path,
    flights: Sequence[FlightSource],
    conf: float | None = None,
    precision: str = DEFAULT_PRECISION,
) -> PlotScore:
    """Scan every flight with ``weights`` and add up the plot scores."""
    total = PlotScore()
    for flight in flights:
        result = scan(flight.raster, weights, conf=conf, precision=precision)
        total.add(score_scan(result, flight.labels))
    return total


def recall_weighted_f(score: PlotScore, beta: float = 2.0) -> float:
    """F-beta of plot recall and precision; beta 2 weighs recall 4x (a missed plot costs most)."""
    p, r = score.precision, score.recall
    return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def choose_conf(weights: Path, val: Sequence[FlightSource]) -> tuple[float, PlotScore]:
    """The threshold with the best recall-weighted F2 on the validation flights."""
    scored = [(c, evaluate_on(weights, val, conf=c)) for c in CONF_CANDIDATES]
    return max(scored, key=lambda item: (recall_weighted_f(item[1]), -item[0]))


def main(argv: Sequence[str] | None = None) -> int:
    """Build, train, evaluate and optionally install the default model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/default"))
    parser.add_argument("--train-flights", type=int, default=24)
    parser.add_argument("--val-flights", type=int, default=4)
    parser.add_argument("--test-flights", type=int, default=6)
    parser.add_argument("--size", type=int, default=4096, help="flight edge, px at 2 cm")
    parser.add_argument("--gsd", type=float, default=0.04, help="model GSD, m/px")
    parser.add_argument("--tile", type=int, default=320, help="model tile edge, px")
    parser.add_argument("--overlap", type=int, default=64, help="scan overlap, px")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--time-h", type=float, default=None, help="training time budget, h")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--install", action="store_true", help="copy into detector/models")
    parser.add_argument(
        "--init", default="yolo11n.yaml", help="architecture YAML, or a .pt to continue from"
    )
    parser.add_argument(
        "--negatives",
        type=Path,
        nargs="*",
        default=[],
        help="real rasters holding no poppy or cannabis (e.g. NEON train sites): every tile "
        "is added to training as background",
    )
    args = parser.parse_args(argv)

    flights_dir = args.out / "flights"
    card = ModelCard(
        name="poppyscan-default",
        version=args.version,
        classes=CLASSES,
        gsd_m=args.gsd,
        tile_size_px=args.tile,
        overlap_px=args.overlap,
    )
    train_flights = make_flights(flights_dir, TRAIN_SEEDS[: args.train_flights], args.size)
    val_flights = make_flights(flights_dir, VAL_SEEDS[: args.val_flights], args.size)
    test_flights = make_flights(flights_dir, TEST_SEEDS[: args.test_flights], args.size)
    data_dir = args.out / "dataset"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_yaml = build_dataset(
        train_flights,
        val_flights,
        card,
        data_dir,
        name="poppyscan-synthetic",
        source="training.synthetic"
        + (
            f" + {len(args.negatives)} real poppy-free rasters as background"
            if args.negatives
            else ""
        ),
        licence="generated by poppyscan (same licence as the code)"
        + ("; negatives: see their sources" if args.negatives else ""),
        negatives=args.negatives,
    )
    config = TrainConfig(
        data=data_yaml,
        out_dir=args.out,
        name=card.name,
        version=args.version,
        architecture=args.init,
        epochs=args.epochs,
        time_h=args.time_h,
        batch=args.batch,
        device=args.device,
        gsd_m=args.gsd,
        tile_size_px=args.tile,
        overlap_px=args.overlap,
    )
    weights = train(config)
    conf, val_score = choose_conf(weights, val_flights)
    dataclasses.replace(ModelCard.load(weights), conf_threshold=conf).save(weights)
    score = evaluate_on(weights, test_flights)
    write_report(
        score,
        args.out / "heldout-eval.json",
        f"{card.name} {args.version} on {len(test_flights)} held-out synthetic flights",
    )
    trained = ModelCard.load(weights)
    training = trained.training | {
        "command": "python -m training.default_model "
        + " ".join(sys.argv[1:] if argv is None else argv)
    }
    metrics = trained.metrics | {
        "val_synthetic_at_chosen_conf": val_score.to_dict(),
        "heldout_synthetic": score.to_dict(),
    }
    final = dataclasses.replace(trained, metrics=metrics, training=training)
    final.save(weights)
    print(json.dumps(score.to_dict(), indent=2))
    if args.install:
        INSTALL_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy2(weights, INSTALL_DIR / "poppyscan-default.pt")
        final.save(INSTALL_DIR / "poppyscan-default.pt")
        shutil.copy2(
            data_dir / "dataset-card.yaml",
            Path(__file__).resolve().parents[1] / "datasets" / "poppyscan-synthetic.yaml",
        )
        print(f"installed {INSTALL_DIR / 'poppyscan-default.pt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
