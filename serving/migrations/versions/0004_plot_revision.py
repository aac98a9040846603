"""A revision number of the suspect list's data, bumped by the database on every change.

The list's ``total`` is an exact count of every plot a filter matches, the costliest query
of a page (up to 25 ms on 100,000 plots on PostgreSQL). ``serving.plot_counts`` keeps the
counts it has made and reuses one while ``plot_revision.n`` is unchanged. Triggers bump
``n`` whenever a plot is added, changed or deleted, and when a flight changes campaign or
season (the campaign and season filters go through the plot's flight), in the same
transaction as the change, so a reader never sees changed data under an old revision.

SQLite triggers run per row; PostgreSQL's run once per statement and bump ``n`` at most once
per transaction.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BUMP = "UPDATE plot_revision SET n = n + 1 WHERE id = 1"
_SQLITE_TRIGGERS = {
    "plot_revision_insert": "AFTER INSERT ON plots",
    "plot_revision_update": "AFTER UPDATE ON plots",
    "plot_revision_delete": "AFTER DELETE ON plots",
    "plot_revision_flight_update": "AFTER UPDATE OF campaign_id, season_id ON flights",
    "plot_revision_flight_delete": "AFTER DELETE ON flights",
}
_POSTGRESQL_TRIGGERS = {
    "plot_revision_plots": "AFTER INSERT OR UPDATE OR DELETE ON plots",
    "plot_revision_flights": "AFTER UPDATE OF campaign_id, season_id OR DELETE ON flights",
}


def upgrade() -> None:
    op.create_table(
        "plot_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO plot_revision (id, n) VALUES (1, 0)")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name, when in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")
    elif dialect == "postgresql":
        # Once per transaction: a second UPDATE of the same row in one transaction would
        # only add row versions (a bulk load of 100,000 single-row INSERTs took 20x longer).
        op.execute(
            "CREATE FUNCTION plot_revision_bump() RETURNS trigger AS $$ BEGIN "
            "IF current_setting('poppyscan.revision_bumped', true) IS DISTINCT FROM 'yes' "
            f"THEN {_BUMP}; "
            "PERFORM set_config('poppyscan.revision_bumped', 'yes', true); END IF; "
            "RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        for name, when in _POSTGRESQL_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} FOR EACH STATEMENT "
                "EXECUTE FUNCTION plot_revision_bump()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS plot_revision_plots ON plots")
        op.execute("DROP TRIGGER IF EXISTS plot_revision_flights ON flights")
        op.execute("DROP FUNCTION IF EXISTS plot_revision_bump()")
    op.drop_table("plot_revision")
