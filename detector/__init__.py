"""poppyscan's scanning library: raster in, georeferenced suspected plots out.

Usable alone::

    from detector import scan, write_output
    result = scan("flight.tif", "model.pt")
    write_output(result, "suspects.geojson")
"""

from __future__ import annotations

from detector.backends import Detector, FakeDetector, UltralyticsDetector, load_detector
from detector.card import ModelCard
from detector.detections import Detection
from detector.errors import ModelError, OutputError, PoppyscanError, RasterError, ScanCancelled
from detector.outputs import FORMATS, write_output
from detector.plots import Plot
from detector.raster import RasterInfo, inspect_raster
from detector.scan import ScanResult, ScanStats, scan

__all__ = [
    "FORMATS",
    "Detection",
    "Detector",
    "FakeDetector",
    "ModelCard",
    "ModelError",
    "OutputError",
    "Plot",
    "PoppyscanError",
    "RasterError",
    "RasterInfo",
    "ScanCancelled",
    "ScanResult",
    "ScanStats",
    "UltralyticsDetector",
    "inspect_raster",
    "load_detector",
    "scan",
    "write_output",
]
