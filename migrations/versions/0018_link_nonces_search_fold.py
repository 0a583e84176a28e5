"""link_nonces: one row per mailed reset or invitation link (each usable once); users.token_nonce
goes; the search index folds accents on both databases

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 13:30:00

"""
from alembic import op
import sqlalchemy as sa

import helpdesk.models.types
from helpdesk.tickets import search


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # Links mailed before the upgrade named the per-user nonce: they stop working (ask again).
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('token_nonce')
    op.create_table('link_nonces',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=10), nullable=False),
    sa.Column('nonce_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_at', helpdesk.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', helpdesk.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', helpdesk.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', helpdesk.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('reset', 'invite')", name=op.f('ck_link_nonces_purpose')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_link_nonces_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_nonces')),
    sa.UniqueConstraint('nonce_hash', name=op.f('uq_link_nonces_nonce_hash'))
    )
    op.create_index('ix_link_nonces_user', 'link_nonces', ['user_id'], unique=False)
    # The search index folds accents on both databases now (SQLite: the letters unicode61 does
    # not fold; PostgreSQL: search_fold): build it again.
    conn = op.get_bind()
    search.drop_search_objects(conn)
    search.create_search_objects(conn)


def downgrade():
    conn = op.get_bind()
    if conn.dialect.name == 'postgresql':
        # Back to vectors that keep accents: search_fold only lower-cases, and the vectors are
        # built again with it (the triggers of the older code call it too). SQLite keeps the
        # folding index (the older code reads it as before).
        conn.exec_driver_sql("CREATE OR REPLACE FUNCTION search_fold(text) RETURNS text "
                             "LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT lower($1) $$")
        for table in search.index.PG_SIDE_TABLES:
            conn.exec_driver_sql(f"TRUNCATE {table.name}")
        for statement in search.index.PG_CREATE:
            if statement.startswith("INSERT INTO"):
                conn.exec_driver_sql(statement)
    op.drop_index('ix_link_nonces_user', table_name='link_nonces')
    op.drop_table('link_nonces')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_nonce', sa.String(length=32), nullable=True))
