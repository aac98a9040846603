"""`poppyscan dataset build` — make a YOLO training set from flights or annotated images."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from detector.card import ModelCard
from detector.errors import ModelError
from training.dataset import DatasetError, FlightSource, build_dataset
from training.split import DEFAULT_BLOCK_M, DEFAULT_VAL_FRACTION
from training.yolo_tiles import DatasetCounts

HELP = "build YOLO training datasets from labelled flights or annotated image sets"
DESCRIPTION = """\
Turn labelled data into a YOLO dataset (images/, labels/, data.yaml) that
`python -m training.train` takes, plus a dataset-card.yaml recording where it came from, its
licence, classes, ground sample distance, split and fingerprint.

actions:
  build   cut flights or annotated image sets into tiles at a model's GSD and tile size
"""
BUILD_HELP = "cut labelled flights or YOLO / COCO / VOC image sets into YOLO tiles"
BUILD_DESCRIPTION = """\
Cut labelled data into tiles exactly as the scanner will read them: the same ground sample
distance (GSD), tile size, overlap and padding as the model card you train for. The split
between training and validation is spatial, so validation scores are not flattered by
near-copies of training tiles.

inputs (one kind per dataset):
  --flight RASTER LABELS   an orthomosaic with its plant labels (GeoJSON, GeoPackage or
                           shapefile; points, boxes or polygons with a "class" attribute)
  --yolo DIR               a YOLO set: DIR/data.yaml (names), DIR/images/, DIR/labels/
  --coco JSON --images DIR a COCO detection file; file names relative to DIR
  --voc DIR                Pascal VOC: one XML per image, images beside them
Image sets that are GeoTIFFs (e.g. NEON plots) are cut at the card's GSD using their own
transform. Plain JPEG/PNG images have no ground size: give it with --image-gsd.

split (--split):
  flight   whole flights: --val-flight RASTER LABELS goes to validation (default with
           --val-flight)
  blocks   the ground is cut into --block-m squares (default 100 m) and whole squares go to
           validation by a seeded hash; tiles straddling a train and a val square are left
           out (a guard band about one tile wide), so no ground is in both (default for
           flights without --val-flight and for georeferenced image sets)
  image    whole images: those matching --val-match GLOB, or a seeded --val-fraction
  source   the train/val subsets the YOLO set already has (default when it has them)

the target (what the model will be trained for):
  --card MODEL.card.json (or the weights beside their card), or --gsd, --classes, --tile
  and --overlap.

examples:
  poppyscan dataset build --flight f1.tif f1.geojson --flight f2.tif f2.geojson \\
      --split blocks --block-m 100 --gsd 0.04 --tile 320 --overlap 64 \\
      --classes poppy,cannabis -o datasets/built/poppy
  poppyscan dataset build --voc neon-trees/TEAK --voc neon-trees/HARV \\
      --class-map '*=tree' --gsd 0.1 --tile 416 --overlap 96 --classes tree \\
      --split blocks --block-m 1000 -o /tmp/neon-ds --licence CC0
  poppyscan dataset build --yolo tiles/ --image-gsd 0.02 --card model.pt.card.json -o ds/
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want a number, not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"want a positive number, not {text}")
    return value


def add_parser(verbs: Any) -> None:
    """Register ``dataset`` (with its ``build`` action) on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "dataset",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="dataset_action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help=BUILD_HELP,
        description=BUILD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = build.add_argument_group("inputs")
    src.add_argument(
        "--flight",
        nargs=2,
        action="append",
        type=Path,
        metavar=("RASTER", "LABELS"),
        help="a labelled orthomosaic (repeat for several)",
    )
    src.add_argument(
        "--val-flight",
        nargs=2,
        action="append",
        type=Path,
        metavar=("RASTER", "LABELS"),
        help="a labelled orthomosaic for validation only (repeatable)",
    )
    src.add_argument("--yolo", action="append", type=Path, metavar="DIR", help="a YOLO set")
    src.add_argument("--coco", action="append", type=Path, metavar="JSON", help="a COCO file")
    src.add_argument(
        "--images", type=Path, metavar="DIR", help="folder the COCO / VOC file names are under"
    )
    src.add_argument("--voc", action="append", type=Path, metavar="DIR", help="VOC XML folder")
    src.add_argument(
        "--image-gsd",
        type=_positive_float,
        metavar="M",
        help="metres per pixel of images without georeferencing (plain JPEG/PNG tiles)",
    )
    lab = build.add_argument_group("classes")
    lab.add_argument(
        "--class-map",
        action="append",
        default=[],
        metavar="MAP",
        help="rename source classes: SOURCE=TARGET pairs separated by commas, e.g. "
        "'Tree=tree,=tree' ('' is an empty name, '*' every other name); repeatable",
    )
    lab.add_argument(
        "--drop-unknown",
        action="store_true",
        help="drop boxes whose class is not a model class (default: refuse them)",
    )
    spl = build.add_argument_group("split")
    spl.add_argument(
        "--split",
        choices=("flight", "blocks", "image", "source"),
        help="how train and validation are separated (see above for each and the defaults)",
    )
    spl.add_argument(
        "--block-m",
        type=_positive_float,
        default=DEFAULT_BLOCK_M,
        metavar="M",
        help=f"ground block edge of the blocks split, metres (default {DEFAULT_BLOCK_M:g})",
    )
    spl.add_argument(
        "--val-fraction",
        type=_positive_float,
        default=DEFAULT_VAL_FRACTION,
        metavar="F",
        help=f"share of blocks or images for validation (default {DEFAULT_VAL_FRACTION})",
    )
    spl.add_argument(
        "--val-match",
        action="append",
        default=[],
        metavar="GLOB",
        help="images whose full path matches go to validation, e.g. '*/HARV/*' (image split)",
    )
    spl.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    tgt = build.add_argument_group("target model")
    tgt.add_argument("--card", type=Path, help="model card JSON, or weights with their card")
    tgt.add_argument("--gsd", type=_positive_float, metavar="M", help="tile metres per pixel")
    tgt.add_argument("--classes", help="model classes, comma separated, e.g. poppy,cannabis")
    tgt.add_argument("--tile", type=int, default=640, help="tile edge, px (default 640)")
    tgt.add_argument("--overlap", type=int, default=128, help="tile overlap, px (default 128)")
    out = build.add_argument_group("output")
    out.add_argument("-o", "--out", type=Path, required=True, help="new dataset folder")
    out.add_argument("--name", help="dataset name in its card (default: the folder name)")
    out.add_argument("--source", default="", help="where the data came from (for the card)")
    out.add_argument("--licence", default="", help="the data's licence (for the card)")
    build.set_defaults(run=run_build)


def target_card(args: argparse.Namespace) -> ModelCard:
    """The model card to cut for: ``--card``, or one made from --gsd/--classes/--tile/--overlap."""
    if args.card is not None:
        if args.gsd is not None or args.classes is not None:
            raise DatasetError("give either --card or --gsd and --classes, not both")
        if args.card.suffix == ".json":
            try:
                data = json.loads(args.card.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ModelError(f"model card {args.card} is unreadable: {exc}") from exc
            if not isinstance(data, dict):
                raise ModelError(f"model card {args.card} is not a JSON object")
            return ModelCard.from_dict(data)
        return ModelCard.load(args.card)
    if args.gsd is None or not args.classes:
        raise DatasetError("say what the model is for: --card, or --gsd and --classes")
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    return ModelCard(
        name=args.name or args.out.name,
        version="0",
        classes=classes,
        gsd_m=args.gsd,
        tile_size_px=args.tile,
        overlap_px=args.overlap,
    )


def _build_flights(args: argparse.Namespace, card: ModelCard, name: str) -> tuple[Path, str]:
    train = [FlightSource(r, lab) for r, lab in args.flight or []]
    val = [FlightSource(r, lab) for r, lab in args.val_flight or []]
    split = args.split or ("flight" if val else "blocks")
    if split not in ("flight", "blocks"):
        raise DatasetError(f"--split {split} is for image sets; flights split by flight or blocks")
    if split == "flight" and not val:
        raise DatasetError("--split flight needs at least one --val-flight")
    for flight in [*train, *val]:
        for path in (flight.raster, flight.labels):
            if not path.exists():
                raise DatasetError(f"{path}: no such file")
    data_yaml = build_dataset(
        train,
        val,
        card,
        args.out,
        name=name,
        source=args.source,
        licence=args.licence,
        split=split,
        block_m=args.block_m,
        val_fraction=args.val_fraction,
        seed=args.seed,
    )
    card_yaml = yaml.safe_load((args.out / "dataset-card.yaml").read_text())
    counts = DatasetCounts(
        unit="flights",
        splits=card_yaml["counts"],
        guard_tiles=card_yaml.get("split_params", {}).get("guard_tiles", 0),
    )
    return data_yaml, _counts_text(counts)


def _build_images(args: argparse.Namespace, card: ModelCard, name: str) -> tuple[Path, str]:
    from training.importers import (
        ClassMap,
        ImportSplit,
        apply_class_map,
        build_from_images,
        read_coco,
        read_voc,
        read_yolo,
    )

    if args.coco and args.images is None:
        raise DatasetError("--coco needs --images DIR (the folder its file names are under)")
    items = []
    inputs = []
    for root in args.yolo or []:
        items += read_yolo(root)[0]
        inputs.append({"yolo": str(root)})
    for path in args.coco or []:
        items += read_coco(path, args.images)[0]
        inputs.append({"coco": str(path), "images": str(args.images)})
    for folder in args.voc or []:
        items += read_voc(folder, args.images)
        inputs.append({"voc": str(folder)})
    items, report = apply_class_map(
        items,
        ClassMap.parse(args.class_map),
        card.classes,
        unknown="drop" if args.drop_unknown else "error",
    )
    mode = args.split or (
        "image" if args.val_match else "source" if any(i.subset for i in items) else "blocks"
    )
    if mode == "flight":
        raise DatasetError("--split flight is for --flight inputs; image sets split otherwise")
    split = ImportSplit(
        mode,
        val_fraction=args.val_fraction,
        block_m=args.block_m,
        val_patterns=tuple(args.val_match),
        seed=args.seed,
    )
    data_yaml, counts = build_from_images(
        items,
        card,
        args.out,
        split=split,
        name=name,
        source=args.source,
        licence=args.licence,
        image_gsd_m=args.image_gsd,
        details={"inputs": inputs, "class_map": report.to_dict()},
    )
    return data_yaml, _counts_text(counts) + f"\n  classes: {report.summary()}"


def _counts_text(counts: DatasetCounts) -> str:
    lines = []
    for split, totals in counts.splits.items():
        tiles = totals["positive_tiles"] + totals["background_tiles"]
        lines.append(
            f"  {split}: {tiles} tiles ({totals['positive_tiles']} with boxes), "
            f"{totals['boxes']} boxes from {totals[counts.unit]} {counts.unit}"
        )
    if counts.guard_tiles:
        lines.append(f"  guard band: {counts.guard_tiles} tiles left out")
    return "\n".join(lines)


def run_build(args: argparse.Namespace) -> int:
    """Check the inputs, build the dataset, print what went where; return the exit code."""
    has_flights = bool(args.flight or args.val_flight)
    has_images = bool(args.yolo or args.coco or args.voc)
    if has_flights == has_images:
        raise DatasetError(
            "give either --flight (and --val-flight) or image sets (--yolo, --coco, --voc)"
        )
    if not 0 < args.val_fraction < 1:
        raise DatasetError(f"--val-fraction must be between 0 and 1, not {args.val_fraction}")
    card = target_card(args)
    out: Path = args.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} already exists and is not empty; choose a new folder")
    created = not out.exists()
    name = args.name or out.resolve().name
    try:
        out.mkdir(parents=True, exist_ok=True)
        build = _build_flights if has_flights else _build_images
        data_yaml, text = build(args, card, name)
    except BaseException:
        # Never leave a half-built dataset that training could pick up.
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            for child in out.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise
    print(f"wrote {data_yaml} and {out / 'dataset-card.yaml'}")
    print(text)
    return 0
