"""The common in-memory form of imported annotations: one image and its pixel boxes.

Every importer (YOLO, COCO, Pascal VOC) reads into :class:`ImageLabels` and every exporter
writes from it. Boxes are :class:`training.yolo_tiles.LabelBox` in the image's pixel-corner
coordinates (``col0, row0`` is the top-left corner of the box, ``col1, row1`` the
bottom-right; a box over the first pixel only is ``0, 0, 1, 1``), with the class name as the
source wrote it; class names are mapped afterwards (:mod:`training.importers.classmap`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from training.errors import DatasetError
from training.yolo_tiles import LabelBox

# Coordinates up to this far outside the image are clipped to its edge (annotation tools
# disagree by one pixel about where the last pixel ends); further out is an error.
EDGE_TOLERANCE_PX = 1.0


@dataclass(frozen=True)
class ImageLabels:
    """One annotated image.

    Attributes:
        image: The image file.
        width_px: Image width, pixels.
        height_px: Image height, pixels.
        boxes: Its boxes, image pixel-corner coordinates.
        label_file: The annotation file the boxes came from (named in error messages).
        subset: The split the source put it in (``"train"``, ``"val"``, ...), or ``""``.
    """

    image: Path
    width_px: int
    height_px: int
    boxes: tuple[LabelBox, ...]
    label_file: Path
    subset: str = ""


def checked_box(
    col0: float,
    row0: float,
    col1: float,
    row1: float,
    class_name: str,
    size_px: tuple[int, int],
    where: str,
) -> LabelBox:
    """Validate a box against its image and clip it to the image's edge.

    Args:
        col0: Left edge, pixels.
        row0: Top edge, pixels.
        col1: Right edge, pixels.
        row1: Bottom edge, pixels.
        class_name: Class name as written by the source.
        size_px: The image's ``(width, height)``, pixels.
        where: File and position of the box, for the error message.

    Raises:
        DatasetError: a coordinate is not a finite number, the box has no area (zero or
            negative width or height), or it reaches more than ``EDGE_TOLERANCE_PX`` outside
            the image.
    """
    width, height = size_px
    values = (col0, row0, col1, row1)
    if not all(math.isfinite(v) for v in values):
        raise DatasetError(f"{where}: box {values} has a coordinate that is not a number")
    if col1 <= col0 or row1 <= row0:
        raise DatasetError(
            f"{where}: box ({col0:g}, {row0:g}, {col1:g}, {row1:g}) has a negative or zero "
            "width or height"
        )
    tol = EDGE_TOLERANCE_PX
    if col0 < -tol or row0 < -tol or col1 > width + tol or row1 > height + tol:
        raise DatasetError(
            f"{where}: box ({col0:g}, {row0:g}, {col1:g}, {row1:g}) px lies outside the "
            f"{width} x {height} px image"
        )
    return LabelBox(
        max(0.0, col0),
        max(0.0, row0),
        min(float(width), col1),
        min(float(height), row1),
        class_name,
    )


def fit_to_image(item: ImageLabels, size_px: tuple[int, int]) -> ImageLabels:
    """The item with the image's real ``(width, height)`` when its annotation declared another.

    Annotation files sometimes carry a stale ``<size>`` (the image was cropped after it was
    labelled). The image is the truth: every box is checked again against its real size.

    Raises:
        DatasetError: a box lies outside the real image (the message gives both sizes).
    """
    if size_px == (item.width_px, item.height_px):
        return item
    where = (
        f"{item.label_file} (declares {item.width_px} x {item.height_px} px, but {item.image} "
        f"is {size_px[0]} x {size_px[1]} px)"
    )
    boxes = tuple(
        checked_box(b.col0_px, b.row0_px, b.col1_px, b.row1_px, b.class_name, size_px, where)
        for b in item.boxes
    )
    return dataclasses.replace(item, width_px=size_px[0], height_px=size_px[1], boxes=boxes)


def image_size(path: Path, label_file: Path) -> tuple[int, int]:
    """Read an image's ``(width, height)`` in pixels from its header.

    Raises:
        DatasetError: the image is missing or unreadable (the message names ``label_file``).
    """
    if not path.is_file():
        raise DatasetError(f"{label_file}: image {path} not found")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return int(image.width), int(image.height)
    except (OSError, UnidentifiedImageError, ValueError):
        pass
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        raise DatasetError(f"{label_file}: image {path} is not an image poppyscan can read")
    return int(data.shape[1]), int(data.shape[0])


def format_px(value: float) -> str:
    """A pixel coordinate as text: an integer when whole, else up to 6 decimals."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
