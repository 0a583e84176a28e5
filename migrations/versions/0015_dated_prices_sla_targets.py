"""addon_prices and sla_targets: dated add-on prices and per-priority SLA targets of a package

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:10:00

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.models.types


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('addon_prices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('addon_id', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('monthly_fee', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('monthly_fee >= 0', name=op.f('ck_addon_prices_monthly_fee')),
    sa.ForeignKeyConstraint(['addon_id'], ['addons.id'], name=op.f('fk_addon_prices_addon_id_addons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_addon_prices_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addon_prices')),
    sa.UniqueConstraint('addon_id', 'effective_from', name=op.f('uq_addon_prices_addon_id_effective_from'))
    )
    with op.batch_alter_table('addon_prices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_addon_prices_addon_id'), ['addon_id'], unique=False)

    op.create_table('sla_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('package_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('first_response_minutes', sa.Integer(), nullable=False),
    sa.Column('resolution_minutes', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', helpdesk.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f('ck_sla_targets_priority')),
    sa.CheckConstraint('first_response_minutes > 0', name=op.f('ck_sla_targets_first_response_positive')),
    sa.CheckConstraint('resolution_minutes >= first_response_minutes', name=op.f('ck_sla_targets_resolution_after')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sla_targets_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['package_id'], ['packages.id'], name=op.f('fk_sla_targets_package_id_packages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_targets')),
    sa.UniqueConstraint('package_id', 'priority', 'effective_from', name=op.f('uq_sla_targets_package_id_priority_effective_from'))
    )
    with op.batch_alter_table('sla_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_targets_package_id'), ['package_id'], unique=False)


def downgrade():
    with op.batch_alter_table('sla_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_targets_package_id'))
    op.drop_table('sla_targets')
    with op.batch_alter_table('addon_prices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_addon_prices_addon_id'))
    op.drop_table('addon_prices')
