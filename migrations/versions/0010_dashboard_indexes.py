"""dashboard indexes: tickets by creation and resolution time, time entries' month figures

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 07:52:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_tickets_created', 'tickets', ['created_at'], unique=False)
    op.create_index('ix_tickets_resolved', 'tickets', ['resolved_at'], unique=False)
    op.create_index('ix_time_entries_period_figures', 'time_entries',
                    ['period', 'client_id', 'agent_id', 'kind', 'is_adjustment', 'minutes',
                     'billable_minutes'], unique=False)


def downgrade():
    op.drop_index('ix_time_entries_period_figures', table_name='time_entries')
    op.drop_index('ix_tickets_resolved', table_name='tickets')
    op.drop_index('ix_tickets_created', table_name='tickets')
