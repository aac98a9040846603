"""Procedural drone orthomosaics of villages and fields with opium poppy and cannabis labels.

:func:`generate_flight` first composes a scene as a list of vector / parametric elements
(field parcels, bunds, roads, walled compounds, roofs, trees, plants, clutter), then renders it
window by window (1024 px, aligned to the file's blocks) and streams the windows into a tiled,
DEFLATE-compressed GeoTIFF with internal overviews. Memory does not grow with the raster; a
16384 x 16384 flight renders in bounded memory.

Modules, in the order a flight is made:

* ``scene`` -- the data: public labels and the internal scene elements.
* ``compose`` -- seed -> scene: sun and camera look, then the layout, then the window index.
* ``layout`` -- the occupancy grid and placement primitives (solids, trees, plants, plots);
  ``outline`` (flight outline, source photos), ``palette`` (land-cover textures), ``land``
  (parcels, road, paths), ``village`` (compounds) and ``fields`` (open country) use them.
* ``plants`` and ``ellipses`` -- plant and look-alike shapes as ellipses, and their raster.
* ``noise``, ``geometry`` -- seamless noise and textures; pixel geometry.
* ``render`` -- one window to uint8 RGB, camera effects included.
* ``writer`` -- GeoTIFF (parallel window rendering) and GeoJSON labels; ``flight`` -- the
  public entry point.

Realism choices (what a detector must learn, and what it must learn to ignore):

* Sizes are metres, converted with ``gsd_m``: 1-5 cm per pixel all work. Poppy rosettes are
  0.1-0.3 m across, flowering and capsule plants 0.3-0.6 m, cannabis 0.6-1.5 m.
* Ground: field parcels from recursive splits of the area (straight boundaries, earth bunds),
  with crop rows at real spacings (wheat 0.17 m, maize 0.75 m, vegetables, furrows), grass,
  fallow and bare soil; textures are value noise on a global hash lattice, so windows join
  seamlessly and cost a few resizes rather than per-pixel procedural work.
* Village: walled courtyards of packed earth, flat mud, corrugated metal (grey, blue, red),
  tile and thatch roofs shaded per facet by the sun, walls, water tanks, tarps, vehicles;
  trees are lumpy sunlit domes. Everything tall casts a bluish shadow along one sun azimuth.
* Opium poppy: glaucous blue-green foliage; seedlings are leaf rosettes; flowering plants carry
  4-petal flowers (white, red, pink, purple, lilac; one variety or mixed per plot) and buds;
  capsule plants carry pale grey-green pods over yellowing foliage. Plots range from a single
  plant in a courtyard (the common case) through garden patches to fields of up to ~40 m
  hidden inside legal crops.
* Cannabis: palmate fan leaves (5-9 narrow leaflets) in a dense, darker, yellow-green bush with
  a dark interior, pale colas when flowering, and a long shadow (1-3 m tall).
* Look-alikes, never labelled: ornamental flower bushes in gardens, red roofs, red tarps and
  buckets, lettuce (green and red) and glaucous cabbage rows, corn-poppy weeds (small red
  flowers scattered in grass and field margins).
* Camera and mosaic: sun azimuth / elevation, haze, white balance, exposure, saturation and
  gamma jitter, per-photo exposure differences with jagged seamlines, slight blur, sensor noise
  and JPEG artefacts on the 8 x 8 grid, and an irregular flight outline (nodata) made of flight
  strips of uneven length.
* Labels are exact: a plant's box is the union of the ellipses it was drawn from (pixel-corner
  coordinates), so boxes are tight to what is visible.
"""

from training.synthetic.flight import generate_flight
from training.synthetic.scene import PlantLabel, PlotLabel, SyntheticFlight

__all__ = ["PlantLabel", "PlotLabel", "SyntheticFlight", "generate_flight"]
