"""COCO detection annotations (``instances.json``): read into :class:`ImageLabels`, write.

Read: ``images`` (``id``, ``file_name`` relative to an images folder, ``width``,
``height``), ``categories`` (``id``, ``name``) and ``annotations`` (``image_id``,
``category_id``, ``bbox`` = ``[x, y, width, height]`` in pixels from the image's top-left
corner). Images without annotations are background images. Segmentations are ignored; the
``bbox`` is what is used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.errors import DatasetError
from training.importers.labels import ImageLabels, checked_box, image_size
from training.yolo_tiles import LabelBox


def _load(json_path: Path) -> dict[str, Any]:
    if not json_path.is_file():
        raise DatasetError(f"{json_path}: no such COCO annotation file")
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{json_path} is not valid JSON ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{json_path} is not a UTF-8 text file ({exc.reason})") from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), list) for key in ("images", "annotations", "categories")
    ):
        raise DatasetError(
            f"{json_path} is not COCO detection JSON (it needs 'images', 'annotations' and "
            "'categories' lists)"
        )
    return data


def _field(record: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(record, dict) or not isinstance(record.get(key), kind):
        raise DatasetError(f"{where}: missing or malformed {key!r}")
    value = record[key]
    if isinstance(value, bool):
        raise DatasetError(f"{where}: malformed {key!r}")
    return value


def read_coco(json_path: Path, images_dir: Path) -> tuple[list[ImageLabels], tuple[str, ...]]:
    """Read a COCO detection file whose ``file_name``s are relative to ``images_dir``.

    Returns:
        The images with their pixel boxes, and the category names ordered by category id.

    Raises:
        DatasetError: the file is missing or not COCO JSON, a record lacks a field, ids are
            duplicated or dangling, an image is missing, or a box has no area or lies outside
            its image.
    """
    data = _load(json_path)
    categories: dict[int, str] = {}
    for i, cat in enumerate(data["categories"]):
        where = f"{json_path} categories[{i}]"
        cat_id = _field(cat, "id", int, where)
        if cat_id in categories:
            raise DatasetError(f"{where}: category id {cat_id} is used twice")
        categories[cat_id] = str(_field(cat, "name", str, where))
    images: dict[int, tuple[Path, tuple[int, int]]] = {}
    for i, record in enumerate(data["images"]):
        where = f"{json_path} images[{i}]"
        image_id = _field(record, "id", int, where)
        if image_id in images:
            raise DatasetError(f"{where}: image id {image_id} is used twice")
        path = images_dir / _field(record, "file_name", str, where)
        width, height = record.get("width"), record.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            if not path.is_file():
                raise DatasetError(f"{where}: image {path} not found")
            size = (width, height)
        else:
            size = image_size(path, json_path)
        images[image_id] = (path, size)
    boxes: dict[int, list[LabelBox]] = {image_id: [] for image_id in images}
    for i, ann in enumerate(data["annotations"]):
        where = (
            f"{json_path} annotations[{i}] (id {ann.get('id') if isinstance(ann, dict) else '?'})"
        )
        image_id = _field(ann, "image_id", int, where)
        cat_id = _field(ann, "category_id", int, where)
        bbox = _field(ann, "bbox", list, where)
        if image_id not in images:
            raise DatasetError(f"{where}: image_id {image_id} is not in 'images'")
        if cat_id not in categories:
            raise DatasetError(f"{where}: category_id {cat_id} is not in 'categories'")
        if len(bbox) != 4 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in bbox
        ):
            raise DatasetError(f"{where}: bbox {bbox} is not [x, y, width, height]")
        x, y, w, h = (float(v) for v in bbox)
        size = images[image_id][1]
        boxes[image_id].append(checked_box(x, y, x + w, y + h, categories[cat_id], size, where))
    items = [
        ImageLabels(path, size[0], size[1], tuple(boxes[image_id]), json_path)
        for image_id, (path, size) in images.items()
    ]
    return items, tuple(name for _, name in sorted(categories.items()))


def write_coco(
    items: Sequence[ImageLabels], json_path: Path, images_dir: Path, classes: Sequence[str]
) -> Path:
    """Write ``items`` as a COCO detection file with ``file_name``s relative to ``images_dir``.

    Category ids are 1-based in the order of ``classes``; boxes are written unrounded.

    Raises:
        DatasetError: a box's class is not in ``classes``.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, item in enumerate(items, start=1):
        file_name = os.path.relpath(item.image.resolve(), images_dir.resolve())
        images.append(
            {
                "id": image_id,
                "file_name": Path(file_name).as_posix(),
                "width": item.width_px,
                "height": item.height_px,
            }
        )
        for box in item.boxes:
            if box.class_name not in classes:
                raise DatasetError(f"{item.label_file}: class {box.class_name!r} is not {classes}")
            w, h = box.col1_px - box.col0_px, box.row1_px - box.row0_px
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": list(classes).index(box.class_name) + 1,
                    "bbox": [box.col0_px, box.row0_px, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i, "name": name} for i, name in enumerate(classes, start=1)]
    json_path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"images": images, "annotations": annotations, "categories": categories}
    json_path.write_text(json.dumps(payload, indent=1))
    return json_path
