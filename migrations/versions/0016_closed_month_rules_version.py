"""closed_months.rules_version: the month rules a month was closed under (day-exact billing)

Months closed before day-exact billing keep the month-level rule (version 1) and so their
figures; new closes record version 2.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('closed_months', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rules_version', sa.Integer(), server_default='1',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('closed_months', schema=None) as batch_op:
        batch_op.drop_column('rules_version')
