"""staff_notifications.params: the bell/mail text is written at view time in the reader's language

The English ``detail`` string ("first response warning", a sender, a raw send error) becomes the
parameters the text needs; existing rows are converted, and back on downgrade.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:05:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

#: Which parameter the old free-text detail was, per kind.
_DETAIL_PARAM = {'new_ticket': 'from', 'client_reply': 'from', 'assigned': 'by',
                 'mention': 'by', 'send_failed': 'error'}


def _params(kind, detail):
    if not detail:
        return {}
    if kind == 'sla':  # "first response warning", "resolution breach"
        target, _, event = detail.rpartition(' ')
        return {'target': target.replace(' ', '_'), 'event': event}
    return {_DETAIL_PARAM.get(kind, 'detail'): detail}


def _detail(kind, params):
    if not params:
        return None
    if kind == 'sla':
        return f"{params.get('target', '').replace('_', ' ')} {params.get('event', '')}".strip()
    value = params.get(_DETAIL_PARAM.get(kind, 'detail'))
    return value[:300] if value else None


def upgrade():
    with op.batch_alter_table('staff_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
    table = sa.table('staff_notifications', sa.column('id', sa.Integer()),
                     sa.column('kind', sa.String()), sa.column('detail', sa.String()),
                     sa.column('params', sa.JSON()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(table.c.id, table.c.kind, table.c.detail)).all():
        conn.execute(table.update().where(table.c.id == row.id)
                     .values(params=_params(row.kind, row.detail)))
    with op.batch_alter_table('staff_notifications', schema=None) as batch_op:
        batch_op.drop_column('detail')


def downgrade():
    with op.batch_alter_table('staff_notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('detail', sa.String(length=300), nullable=True))
    table = sa.table('staff_notifications', sa.column('id', sa.Integer()),
                     sa.column('kind', sa.String()), sa.column('detail', sa.String()),
                     sa.column('params', sa.JSON()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(table.c.id, table.c.kind, table.c.params)).all():
        params = row.params if isinstance(row.params, dict) else json.loads(row.params or '{}')
        conn.execute(table.update().where(table.c.id == row.id)
                     .values(detail=_detail(row.kind, params)))
    with op.batch_alter_table('staff_notifications', schema=None) as batch_op:
        batch_op.drop_column('params')
