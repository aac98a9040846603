"""Drop ``ix_plots_flight_id``: ``ix_plots_flight_conf`` starts with the same column.

With both, PostgreSQL's planner read a flight's plots through the plain index (its order
follows the table's, so it looks cheaper) and sorted all ~5,000 of them for every page of
the flight's suspect list: 2.8 ms of SQL for a page at offset 1,900 instead of 0.9 ms through
``ix_plots_flight_conf`` (100k plots, ``benchmarks/api_load.py``). Lookups and deletes by
flight use ``ix_plots_flight_conf`` just as well, and inserts keep one index fewer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_plots_flight_id", table_name="plots")


def downgrade() -> None:
    op.create_index("ix_plots_flight_id", "plots", ["flight_id"])
