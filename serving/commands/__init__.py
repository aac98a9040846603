"""One module per `poppyscan` verb: each has ``add_parser(subparsers)`` and ``run(args)``."""
