"""YOLO (Ultralytics) tile datasets: read them into :class:`ImageLabels`, write them back.

Layout read and written::

    ROOT/data.yaml            names: [tree, ...]  (or {0: tree, ...}); or ROOT/classes.txt
    ROOT/images/<subset>/x.jpg
    ROOT/labels/<subset>/x.txt  one "class cx cy w h" line per box, normalised to 0..1

``<subset>`` (``train``, ``val``, ...) is optional. An image without a label file is a
background image (no boxes), as in Ultralytics. Segment lines (``class x1 y1 x2 y2 ...``) are
read as the bounding box of the polygon.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

from training.errors import DatasetError
from training.importers.labels import ImageLabels, checked_box, image_size
from training.yolo_tiles import LabelBox

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def read_yolo_classes(root: Path) -> tuple[str, ...]:
    """Class names of a YOLO dataset from ``data.yaml`` (``names``) or ``classes.txt``.

    Raises:
        DatasetError: neither file exists, or the names cannot be read.
    """
    data_yaml = next(
        (root / n for n in ("data.yaml", "dataset.yaml") if (root / n).is_file()), None
    )
    if data_yaml is not None:
        try:
            data = yaml.safe_load(data_yaml.read_text())
        except yaml.YAMLError as exc:
            raise DatasetError(f"{data_yaml} is not valid YAML: {exc}") from exc
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, list) and names:
            return tuple(str(n) for n in names)
        if isinstance(names, dict) and names:
            try:
                ordered = sorted((int(k), str(v)) for k, v in names.items())
            except ValueError as exc:
                raise DatasetError(f"{data_yaml}: names keys must be class numbers") from exc
            if [k for k, _ in ordered] != list(range(len(ordered))):
                raise DatasetError(f"{data_yaml}: names must be numbered 0..{len(ordered) - 1}")
            return tuple(v for _, v in ordered)
        raise DatasetError(f"{data_yaml} has no 'names' list of classes")
    classes_txt = root / "classes.txt"
    if classes_txt.is_file():
        names_list = [line.strip() for line in classes_txt.read_text().splitlines()]
        if any(names_list):
            return tuple(n for n in names_list if n)
    raise DatasetError(f"{root}: no data.yaml (with names) or classes.txt naming the classes")


def _parse_label_file(
    path: Path, classes: Sequence[str], size_px: tuple[int, int]
) -> tuple[LabelBox, ...]:
    width, height = size_px
    boxes = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path} line {number}"
        try:
            cls = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise DatasetError(f"{where}: {line.strip()!r} is not 'class cx cy w h'") from None
        if not 0 <= cls < len(classes):
            raise DatasetError(f"{where}: class {cls} is not one of the {len(classes)} classes")
        if len(values) == 4:
            cx, cy, w, h = values
            x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        else:
            raise DatasetError(f"{where}: {line.strip()!r} is not 'class cx cy w h'")
        boxes.append(
            checked_box(
                x0 * width, y0 * height, x1 * width, y1 * height, classes[cls], size_px, where
            )
        )
    return tuple(boxes)


def read_yolo(root: Path) -> tuple[list[ImageLabels], tuple[str, ...]]:
    """Read a YOLO dataset folder (layout in the module docstring).

    Returns:
        The images with their pixel boxes (``subset`` from the folder under ``images/``), and
        the dataset's class names.

    Raises:
        DatasetError: no class names, no ``images/`` folder or no images in it, a label line
            that is not ``class cx cy w h``, a class number out of range, a box with no area
            or outside its image.
    """
    if not root.is_dir():
        raise DatasetError(f"{root}: no such YOLO dataset folder")
    classes = read_yolo_classes(root)
    images_root = root / "images"
    if not images_root.is_dir():
        raise DatasetError(f"{root} has no images/ folder (YOLO layout: images/ and labels/)")
    images = sorted(p for p in images_root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DatasetError(f"{images_root} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    items = []
    for image in images:
        relative = image.relative_to(images_root)
        label_file = (root / "labels" / relative).with_suffix(".txt")
        size = image_size(image, label_file)
        boxes = _parse_label_file(label_file, classes, size) if label_file.is_file() else ()
        subset = relative.parts[0] if len(relative.parts) > 1 else ""
        items.append(ImageLabels(image, size[0], size[1], boxes, label_file, subset))
    return items, classes


def yolo_line(box: LabelBox, classes: Sequence[str], size_px: tuple[int, int]) -> str:
    """One ``class cx cy w h`` label line for a pixel box in an image of ``size_px``."""
    width, height = size_px
    cx = (box.col0_px + box.col1_px) / 2 / width
    cy = (box.row0_px + box.row1_px) / 2 / height
    w = (box.col1_px - box.col0_px) / width
    h = (box.row1_px - box.row0_px) / height
    return f"{classes.index(box.class_name)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def write_yolo(items: Sequence[ImageLabels], root: Path, classes: Sequence[str]) -> Path:
    """Write images (copied) and labels as a YOLO dataset; return its ``data.yaml``.

    Images keep their size and file name; each goes to ``images/<subset>`` (``train`` when
    the item has no subset).

    Raises:
        DatasetError: a box's class is not in ``classes``, or two images of one subset share
            a file name.
    """
    seen: set[tuple[str, str]] = set()
    subsets: list[str] = []
    for item in items:
        subset = item.subset or "train"
        if (subset, item.image.name) in seen:
            raise DatasetError(f"two images named {item.image.name} in subset {subset}")
        seen.add((subset, item.image.name))
        if subset not in subsets:
            subsets.append(subset)
        unknown = {b.class_name for b in item.boxes} - set(classes)
        if unknown:
            raise DatasetError(f"{item.label_file}: classes {sorted(unknown)} are not {classes}")
        image_dir, label_dir = root / "images" / subset, root / "labels" / subset
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(item.image, image_dir / item.image.name)
        size = (item.width_px, item.height_px)
        lines = [yolo_line(box, classes, size) for box in item.boxes]
        text = "\n".join(lines) + ("\n" if lines else "")
        (label_dir / item.image.name).with_suffix(".txt").write_text(text)
    data: dict[str, object] = {"path": str(root.resolve())}
    data.update({s: f"images/{s}" for s in subsets})
    data["names"] = list(classes)
    data_yaml = root / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data_yaml
