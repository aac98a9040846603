"""How imported images are divided into train and validation.

Neighbouring images of one area in both sets make validation scores lie, so the modes are
spatial where they can be: ``blocks`` splits georeferenced images by ground blocks (the same
split as :func:`training.split.block_splitter`), ``image`` sends whole images to val by a
path pattern (say, one whole site) or a seeded hash, and ``source`` keeps the train/val
subsets the source dataset already had.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from typing import Any

from training.dataset import DatasetError
from training.importers.labels import ImageLabels
from training.split import DEFAULT_BLOCK_M, DEFAULT_VAL_FRACTION

SPLIT_MODES = ("blocks", "image", "source")
# Source subset names read as train and as val; any other subset (e.g. "test") is left out.
TRAIN_SUBSETS = ("train",)
VAL_SUBSETS = ("val", "valid", "validation")
# What ImportSplit.for_image returns for an image left out of the dataset.
LEFT_OUT = "left out"


@dataclass(frozen=True)
class ImportSplit:
    """The split of an import.

    Attributes:
        mode: ``"blocks"``: per tile, by ``block_m`` ground blocks (georeferenced images
            only). ``"image"``: whole images; val when the image path matches one of
            ``val_patterns`` (shell patterns on the full path, e.g. ``*/HARV/*``), or, with
            no patterns, when a seeded hash of the file name falls under ``val_fraction``.
            ``"source"``: the source's own subsets (``train``; ``val``/``valid``/
            ``validation``); other subsets such as ``test`` are left out.
        val_fraction: Share of blocks or images sent to val.
        block_m: Ground block edge, metres.
        val_patterns: Path patterns of the val images (mode ``"image"``).
        seed: Seeds the hash.
    """

    mode: str
    val_fraction: float = DEFAULT_VAL_FRACTION
    block_m: float = DEFAULT_BLOCK_M
    val_patterns: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in SPLIT_MODES:
            raise DatasetError(f"unknown split {self.mode!r}; choose {', '.join(SPLIT_MODES)}")
        if not 0 < self.val_fraction < 1:
            raise DatasetError(f"val fraction {self.val_fraction} must be between 0 and 1")
        if self.val_patterns and self.mode != "image":
            raise DatasetError("val path patterns go with the image split")

    def for_image(self, item: ImageLabels) -> str | None:
        """``"train"``, ``"val"``, :data:`LEFT_OUT`, or None when tiles decide (blocks)."""
        if self.mode == "blocks":
            return None
        if self.mode == "source":
            subset = item.subset.lower()
            if subset in TRAIN_SUBSETS:
                return "train"
            if subset in VAL_SUBSETS:
                return "val"
            if not subset:
                raise DatasetError(
                    f"{item.image} is in no train/val subset of its source; choose the image "
                    "or blocks split"
                )
            return LEFT_OUT
        path = item.image.as_posix()
        if self.val_patterns:
            return "val" if any(fnmatch.fnmatch(path, p) for p in self.val_patterns) else "train"
        digest = hashlib.sha256(f"{self.seed}/{item.image.name}".encode()).digest()
        return "val" if int.from_bytes(digest[:8], "big") / 2**64 < self.val_fraction else "train"

    def card_entries(self) -> tuple[str, dict[str, Any]]:
        """The dataset card's ``split`` label and its parameters."""
        if self.mode == "blocks":
            params: dict[str, Any] = {
                "block_m": self.block_m,
                "val_fraction": self.val_fraction,
                "seed": self.seed,
                "grid": "UTM zone of each image's centre",
            }
            return "blocks", params
        if self.mode == "source":
            return "source subsets", {}
        if self.val_patterns:
            return "by image", {"val_patterns": list(self.val_patterns)}
        return "by image", {"val_fraction": self.val_fraction, "seed": self.seed}
