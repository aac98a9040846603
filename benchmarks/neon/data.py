"""The NEON tree plots beside the project: sites, VOC boxes, and which plots share ground.

Layout (see ``../shared/data/README.md``): ``neon-trees/<SITE>/<PLOT>.tif`` (400 x 400 px,
0.1 m, UTM) with ``<PLOT>.xml`` (Pascal VOC ``Tree`` boxes). Train sites are HARV, SJER and
TEAK; OSBS and SJER_2017 are test only. SJER_2017 is the SJER site flown a year earlier:
its plots cover the same ground as most SJER plots, so a model trained on those has seen
the test trees. :func:`overlapping_test` finds such plots so they can be left out.

Two plots are cropped images whose XML still declares 400 x 400 px and holds boxes beyond
the crop (SJER/SJER_061: 400 x 212 px; SJER_2017/SJER_047: 83 x 400 px). Their boxes cannot
be trusted, so they carry a ``problem`` and are left out of training and box scoring (they
are still scanned for false alarms: the imagery is fine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from detector.raster import inspect_raster
from training.dataset import DatasetError
from training.importers import ClassMap, ImageLabels, apply_class_map, read_voc
from training.importers.labels import fit_to_image

TRAIN_SITES = ("HARV", "SJER", "TEAK")
TEST_SITES = ("OSBS", "SJER_2017")
# Every box is a tree: empty names and a stray "Tree\" are label noise (README).
CLASS_MAP = ClassMap.parse(["*=tree"])


@dataclass(frozen=True)
class Plot:
    """One NEON plot: its image and boxes, with its ground footprint in its own CRS."""

    site: str
    labels: ImageLabels
    crs: str
    footprint: shapely.Polygon
    problem: str = ""

    @property
    def truth(self) -> np.ndarray:
        """True boxes, ``(n, 4)`` x0, y0, x1, y1 raster pixels."""
        return np.array(
            [[b.col0_px, b.row0_px, b.col1_px, b.row1_px] for b in self.labels.boxes]
        ).reshape(-1, 4)


def read_site(root: Path, site: str) -> list[Plot]:
    """Read every plot of ``site`` with its boxes mapped to the class ``tree``.

    A plot whose boxes do not fit its image gets a ``problem`` (see the module docstring).
    """
    items, _ = apply_class_map(read_voc(root / site), CLASS_MAP, ("tree",))
    plots = []
    for item in items:
        info = inspect_raster(item.image)
        a, b, c, d, e, f = info.transform
        corners = [(0, 0), (info.width_px, 0), (info.width_px, info.height_px), (0, info.height_px)]
        ring = [(a * col + b * row + c, d * col + e * row + f) for col, row in corners]
        problem = ""
        try:
            item = fit_to_image(item, (info.width_px, info.height_px))
        except DatasetError as exc:
            problem = str(exc)
        plots.append(Plot(site, item, info.crs_label, shapely.Polygon(ring), problem))
    return plots


def overlapping_test(train: Sequence[Plot], test: Sequence[Plot]) -> list[Plot]:
    """Training plots sharing ground (positive area, same CRS) with any test plot."""
    return [
        plot
        for plot in train
        if any(
            plot.crs == t.crs and plot.footprint.intersection(t.footprint).area > 0 for t in test
        )
    ]
