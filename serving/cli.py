"""`poppyscan` — the command-line front door.

Every verb lives in its own module under ``serving/commands`` and registers its parser here.
This module owns what all verbs share: logging, and turning errors into one clear line and a
non-zero exit code instead of a traceback (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from detector.errors import PoppyscanError, ScanCancelled
from serving.commands import (
    dataset,
    demo,
    evaluate,
    export,
    grid,
    models,
    scan,
    serve,
    synth,
    train,
    user,
    worker,
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what `poppyscan ... | head` gets, like any Unix tool

_COMMANDS = (scan, synth, demo, serve, user, dataset, train, evaluate, export, models, worker, grid)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every ``poppyscan`` verb."""
    parser = argparse.ArgumentParser(
        prog="poppyscan",
        description=(
            "Find suspected opium poppy and cannabis plots in drone orthomosaics and give "
            "every plot real-world coordinates, area, plant count and evidence."
        ),
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``poppyscan`` with ``argv`` (default: the process arguments); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="poppyscan: %(levelname)s: %(message)s",
    )
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's exit
        return code
    except ScanCancelled as exc:
        print(f"poppyscan: cancelled: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PoppyscanError as exc:
        if args.debug:
            raise
        print(f"poppyscan: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("poppyscan: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output has gone (`| head`): stop quietly, and point stdout at
        # /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug: say so in one line, keep the traceback for --debug
        if args.debug:
            raise
        print(
            f"poppyscan: internal error: {type(exc).__name__}: {exc} (run with --debug for "
            "details and report it)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
