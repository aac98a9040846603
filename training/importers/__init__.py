"""Importers and exporters of existing annotated image sets: YOLO, COCO and Pascal VOC.

Each format is read into one common form (:class:`ImageLabels`: an image and its pixel
boxes), class names are mapped to the model's (:func:`apply_class_map`), and
:func:`build_from_images` cuts the images into YOLO tiles at a model card's GSD and tile
size with a spatial split. Exporters write the common form back to each format, so
conversions can be checked by round trips.
"""

from __future__ import annotations

from training.importers.classmap import ClassMap, RemapReport, apply_class_map
from training.importers.coco import read_coco, write_coco
from training.importers.labels import ImageLabels
from training.importers.split import SPLIT_MODES, ImportSplit
from training.importers.tiles import build_from_images
from training.importers.voc import read_voc, read_voc_file, write_voc
from training.importers.yolo import read_yolo, write_yolo

__all__ = [
    "SPLIT_MODES",
    "ClassMap",
    "ImageLabels",
    "ImportSplit",
    "RemapReport",
    "apply_class_map",
    "build_from_images",
    "read_coco",
    "read_voc",
    "read_voc_file",
    "read_yolo",
    "write_coco",
    "write_voc",
    "write_yolo",
]
