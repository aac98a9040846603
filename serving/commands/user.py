"""`poppyscan user create` — make accounts from the command line (the first admin)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from serving.commands.serve import add_data_dir_argument, settings_from

HELP = "create user accounts (the first admin)"
DESCRIPTION = """\
Create an account in the server's database. The database is created if it does not exist.
The password is asked for twice on a terminal, or read from the first line of standard input
with --password-stdin (for scripts).

roles: admin (manages users), analyst (reviews and dispatches suspects), pilot (uploads
flights), patrol (verifies and reports on dispatched suspects of its unit), researcher
(reads everything, exports training data).

examples:
  poppyscan user create admin --role admin
  echo "$PASS" | poppyscan user create patrol7 --role patrol --unit "Unit 7" --password-stdin
"""


def add_parser(verbs: Any) -> None:
    """Register ``user`` on the ``poppyscan`` parser."""
    parser = verbs.add_parser(
        "user",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create an account",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("username")
    create.add_argument("--role", required=True, help="admin, analyst, pilot, patrol or researcher")
    create.add_argument("--unit", default="", help="patrol or pilot unit")
    create.add_argument("--full-name", default="", help="the person's name")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    add_data_dir_argument(create)
    create.set_defaults(run=run)


def _password(from_stdin: bool) -> str:
    from serving.users import UserError

    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    """Create the account and say so."""
    from serving.audit import record
    from serving.db import make_engine, migrate, session_factory, transaction
    from serving.users import create_user

    password = _password(args.password_stdin)
    settings = settings_from(args)
    engine = make_engine(settings.resolved_database_url())
    try:
        migrate(engine)
        with transaction(session_factory(engine)) as session:
            user = create_user(
                session, args.username, password, args.role, args.full_name, args.unit
            )
            record(
                session,
                None,
                "user.create",
                details={"user": user.username, "role": user.role, "via": "cli"},
            )
    finally:
        engine.dispose()
    print(f"created {args.role} {args.username!r}")
    return 0
