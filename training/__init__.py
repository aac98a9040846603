"""Training side of poppyscan: synthetic scenes, datasets, training, evaluation, export."""
