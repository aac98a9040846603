"""Parts of the NEON tree benchmark (``benchmarks/neon_trees.py``): data and box scoring."""
