"""Evaluation of a detector on whole held-out orthomosaics, at plant and plot level.

Modules, in the order an evaluation runs:

* ``truth`` -- label files -> true plants (pixel boxes) and plots (outlines), with stages.
* ``matching`` -- predictions vs truth: plants by IoU, plots by overlap or centroid distance.
* ``counts`` -- recall, precision, F1, false per hectare, centroid errors; per class / stage.
* ``runner`` -- scan every flight once at low confidence, score every threshold, add flights.
* ``curve`` -- precision-recall points and their PNG.
* ``report`` -- JSON + markdown reports and the side-by-side comparison of two models.

:mod:`training.evaluate` is the public entry point and re-exports what callers need.
"""
