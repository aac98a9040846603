"""Parts of ``benchmarks/scan_speed.py``, one job per module.

- :mod:`bench.rasters`: synthetic orthomosaics (rendered flights or textured fields), cached.
- :mod:`bench.weights`: random YOLO11n weights with a card, and GeoDeep's ONNX export.
- :mod:`bench.prepare`: the untimed child that builds weights and exports and plans tiles.
- :mod:`bench.children`: the timed children, one per measured system.
- :mod:`bench.measure`: running a child, its wall time, peak memory and network guard.
- :mod:`bench.report`: the table, the bars, the projection and the notes.

Children run as ``python -m bench.children NAME CONFIG RESULT`` with ``benchmarks/`` on
``PYTHONPATH``; nothing here is part of the installed ``poppyscan`` distribution.
"""
