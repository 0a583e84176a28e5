"""capacity: time entries by start time, for the week's used reservation

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_time_entries_started_client', 'time_entries',
                    ['started_at', 'client_id', 'minutes'], unique=False)


def downgrade():
    op.drop_index('ix_time_entries_started_client', table_name='time_entries')
