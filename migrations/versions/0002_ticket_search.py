"""full-text search over tickets: FTS5 on SQLite, tsvector side tables on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 12:00:00

The objects are described once, in helpdesk/tickets/search.py (the same code builds them for
``db.create_all()``); they are not models, so ``flask db check`` is told to skip them.
"""
from alembic import op

from helpdesk.tickets import search

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    search.create_search_objects(op.get_bind())


def downgrade():
    search.drop_search_objects(op.get_bind())
