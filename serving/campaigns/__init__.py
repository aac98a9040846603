"""Campaign operations: grids with named responsibility, coverage, ledger, revisits, routes.

The modules here are plain functions over shapely geometries and plain records, so they are
tested and benchmarked without a server; ``serving.routes.campaigns`` exposes them.
"""
