"""Pascal VOC annotations (one XML per image): read into :class:`ImageLabels`, write.

Each ``<annotation>`` names its image (``<filename>``, found beside the XML, in an images
folder, or at ``<path>``), its ``<size>`` and one ``<object>`` per box with ``<name>`` and
``<bndbox>`` ``xmin ymin xmax ymax``. The coordinates are read as pixel-corner coordinates
(``xmax - xmin`` is the box width), as DeepForest and the NEON tree annotations use them;
VOC's original 1-based convention differs by at most one pixel, within the edge tolerance.
Written coordinates are integers when whole and decimals otherwise, so that round trips
through VOC keep sub-pixel boxes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from training.dataset import DatasetError
from training.importers.labels import ImageLabels, checked_box, format_px, image_size


def _image_path(root: ET.Element, xml_path: Path, images_dir: Path | None) -> Path:
    filename = (root.findtext("filename") or "").strip()
    candidates = []
    if filename:
        candidates.append(xml_path.parent / filename)
        if images_dir is not None:
            candidates.append(images_dir / filename)
    path_text = (root.findtext("path") or "").strip()
    if path_text:
        candidates.append(Path(path_text))
    if not candidates:
        raise DatasetError(f"{xml_path}: no <filename> naming its image")
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise DatasetError(
            f"{xml_path}: image {filename or path_text} not found beside it"
            + ("" if images_dir else " (give the images folder)")
        )
    return found


def _size(root: ET.Element, xml_path: Path, image: Path) -> tuple[int, int]:
    try:
        width = int(float(root.findtext("size/width") or 0))
        height = int(float(root.findtext("size/height") or 0))
    except ValueError:
        raise DatasetError(f"{xml_path}: <size> is not a number of pixels") from None
    return (width, height) if width > 0 and height > 0 else image_size(image, xml_path)


def read_voc_file(xml_path: Path, images_dir: Path | None = None) -> ImageLabels:
    """Read one VOC XML file.

    Raises:
        DatasetError: the file is missing or malformed XML, not a VOC ``<annotation>``, its
            image is missing, or a box lacks a coordinate, has no area or lies outside.
    """
    try:
        root = ET.parse(xml_path).getroot()
    except FileNotFoundError:
        raise DatasetError(f"{xml_path}: no such VOC annotation file") from None
    except ET.ParseError as exc:
        raise DatasetError(f"{xml_path} is malformed XML ({exc})") from exc
    if root.tag != "annotation":
        raise DatasetError(f"{xml_path} is not a Pascal VOC <annotation> (root is <{root.tag}>)")
    image = _image_path(root, xml_path, images_dir)
    size = _size(root, xml_path, image)
    boxes = []
    for number, obj in enumerate(root.iter("object"), start=1):
        where = f"{xml_path} object {number}"
        name = (obj.findtext("name") or "").strip()
        try:
            col0, row0, col1, row1 = (
                float(obj.findtext(f"bndbox/{key}") or "nan")
                for key in ("xmin", "ymin", "xmax", "ymax")
            )
        except ValueError:
            raise DatasetError(f"{where}: <bndbox> coordinates are not numbers") from None
        boxes.append(checked_box(col0, row0, col1, row1, name, size, where))
    return ImageLabels(image, size[0], size[1], tuple(boxes), xml_path)


def read_voc(folder: Path, images_dir: Path | None = None) -> list[ImageLabels]:
    """Read every ``*.xml`` under ``folder`` (recursively, in name order).

    Raises:
        DatasetError: the folder is missing or holds no XML, or any file is bad (see
            :func:`read_voc_file`).
    """
    if folder.is_file():
        return [read_voc_file(folder, images_dir)]
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such VOC annotation folder")
    files = sorted(folder.rglob("*.xml"))
    if not files:
        raise DatasetError(f"{folder} holds no Pascal VOC .xml files")
    return [read_voc_file(path, images_dir) for path in files]


def voc_xml(item: ImageLabels) -> str:
    """The VOC XML text of one image."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = item.image.parent.name
    ET.SubElement(root, "filename").text = item.image.name
    ET.SubElement(root, "path").text = str(item.image.resolve())
    size = ET.SubElement(root, "size")
    ET.SubElement(size, "width").text = str(item.width_px)
    ET.SubElement(size, "height").text = str(item.height_px)
    ET.SubElement(size, "depth").text = "3"
    for box in item.boxes:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = box.class_name
        ET.SubElement(obj, "difficult").text = "0"
        bndbox = ET.SubElement(obj, "bndbox")
        for key, value in zip(
            ("xmin", "ymin", "xmax", "ymax"),
            (box.col0_px, box.row0_px, box.col1_px, box.row1_px),
            strict=True,
        ):
            ET.SubElement(bndbox, key).text = format_px(value)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def write_voc(items: Sequence[ImageLabels], folder: Path) -> list[Path]:
    """Write one ``<image stem>.xml`` per image into ``folder``; return their paths.

    Each XML names its image by ``<filename>`` and by absolute ``<path>`` (images are not
    copied).

    Raises:
        DatasetError: two images share a file stem.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for item in items:
        path = folder / f"{item.image.stem}.xml"
        if path in written:
            raise DatasetError(f"two images named {item.image.stem} would share {path}")
        path.write_text(voc_xml(item), encoding="utf-8")
        written.append(path)
    return written
