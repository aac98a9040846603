"""Group plants into suspected plots, measured in metres on the ground.

Plants of one class whose boxes come within ``max_gap_m`` of each other belong to one plot
(single-linkage, through an R-tree, O(n log n)). A single isolated plant is a plot: scattered
planting — a few plants in a courtyard or a vegetable garden — is the common case, and a
patrol must be sent to it as to a field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

from detector.detections import Detection
from detector.georef import Georeferencer
from detector.merge import clusters_from_pairs

# Largest gap between two plants' boxes for them to count as one plot, metres.
DEFAULT_MAX_GAP_M = 3.0

Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Plot:
    """A suspected planting: one or more plants of one class close together.

    Attributes:
        plot_id: 1-based id, stable for a given scan result.
        class_name: Class of its plants.
        detections: Member plants.
        ring_lonlat: Closed outline ``(lon, lat)``, WGS84 degrees, counter-clockwise.
        ring_map: The same outline in the raster's CRS ``(x, y)``.
        centroid_lon: Outline centroid longitude, degrees.
        centroid_lat: Outline centroid latitude, degrees.
        centroid_x: Centroid easting/x in the raster's CRS.
        centroid_y: Centroid northing/y in the raster's CRS.
        area_m2: Outline area on the ground, square metres.
        bbox_px: Pixel bounds of the members ``(col0, row0, col1, row1)``.
    """

    plot_id: int
    class_name: str
    detections: tuple[Detection, ...]
    ring_lonlat: Ring
    ring_map: Ring
    centroid_lon: float
    centroid_lat: float
    centroid_x: float
    centroid_y: float
    area_m2: float
    bbox_px: tuple[float, float, float, float]

    @property
    def plant_count(self) -> int:
        """Number of plants detected in the plot."""
        return len(self.detections)

    @property
    def max_confidence(self) -> float:
        """Highest plant confidence, 0..1."""
        return max(d.confidence for d in self.detections)

    @property
    def mean_confidence(self) -> float:
        """Mean plant confidence, 0..1."""
        return sum(d.confidence for d in self.detections) / len(self.detections)


def boxes_in_metres(detections: list[Detection], geo: Georeferencer) -> np.ndarray:
    """Return each box's four corners in the metric frame, shape ``(n, 4, 2)``.

    All four corners are transformed, so rotated rasters and curved projections stay exact.
    """
    cols = np.array([[d.col0_px, d.col1_px, d.col1_px, d.col0_px] for d in detections])
    rows = np.array([[d.row0_px, d.row0_px, d.row1_px, d.row1_px] for d in detections])
    xs, ys = geo.map_to_metric(*geo.pixel_to_map(cols.ravel(), rows.ravel()))
    return np.stack([xs, ys], axis=1).reshape(len(detections), 4, 2)


def group_into_plots(
    detections: list[Detection], geo: Georeferencer, max_gap_m: float = DEFAULT_MAX_GAP_M
) -> list[Plot]:
    """Cluster plants into plots with outlines, areas and centroids.

    Args:
        detections: Merged detections (one per plant), raster pixels.
        geo: Coordinate conversions for the raster.
        max_gap_m: Plants whose boxes are at most this far apart (metres) share a plot.

    Returns:
        Plots ordered by highest confidence first, ids 1..n in that order.
    """
    if not detections:
        return []
    corners = boxes_in_metres(detections, geo)
    polygons = np.asarray(shapely.polygons(corners), dtype=object)
    tree = shapely.STRtree(polygons)
    left, right = tree.query(polygons, predicate="dwithin", distance=max_gap_m)
    names = np.array([d.class_name for d in detections])
    keep = names[left] == names[right]
    groups = clusters_from_pairs(len(detections), left[keep], right[keep])
    drafts = [_draft_plot(group, detections, polygons, geo) for group in groups]
    drafts.sort(key=lambda p: (-p.max_confidence, p.centroid_lat, p.centroid_lon))
    return [_with_id(plot, i + 1) for i, plot in enumerate(drafts)]


def _draft_plot(
    group: list[int], detections: list[Detection], polygons: np.ndarray, geo: Georeferencer
) -> Plot:
    members = tuple(detections[i] for i in group)
    outline = shapely.union_all(polygons[group]).convex_hull
    if not isinstance(outline, Polygon):  # degenerate (zero-area) box: keep a tiny square
        outline = outline.buffer(0.05, cap_style="square")
    outline = shapely.geometry.polygon.orient(outline, sign=1.0)
    xs, ys = (np.asarray(v) for v in outline.exterior.coords.xy)
    lons, lats = geo.metric_to_lonlat(xs, ys)
    map_x, map_y = geo.metric_to_map(xs, ys)
    centre = outline.centroid
    c_lon, c_lat = geo.metric_to_lonlat(np.array([centre.x]), np.array([centre.y]))
    c_x, c_y = geo.metric_to_map(np.array([centre.x]), np.array([centre.y]))
    bbox = (
        min(d.col0_px for d in members),
        min(d.row0_px for d in members),
        max(d.col1_px for d in members),
        max(d.row1_px for d in members),
    )
    return Plot(
        plot_id=0,
        class_name=members[0].class_name,
        detections=members,
        ring_lonlat=tuple(zip(lons.tolist(), lats.tolist(), strict=True)),
        ring_map=tuple(zip(map_x.tolist(), map_y.tolist(), strict=True)),
        centroid_lon=float(c_lon[0]),
        centroid_lat=float(c_lat[0]),
        centroid_x=float(c_x[0]),
        centroid_y=float(c_y[0]),
        area_m2=float(outline.area),
        bbox_px=bbox,
    )


def _with_id(plot: Plot, plot_id: int) -> Plot:
    return Plot(**{**plot.__dict__, "plot_id": plot_id})
