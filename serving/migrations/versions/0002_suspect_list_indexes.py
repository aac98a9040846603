"""Indexes for the suspect list: confidence order within status, class and flight.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_plots_status_conf": "status",
    "ix_plots_class_conf": "class_name",
    "ix_plots_flight_conf": "flight_id",
}


def upgrade() -> None:
    for name, column in _INDEXES.items():
        op.create_index(name, "plots", [column, sa.text("confidence DESC"), "id"])


def downgrade() -> None:
    for name in _INDEXES:
        op.drop_index(name, table_name="plots")
