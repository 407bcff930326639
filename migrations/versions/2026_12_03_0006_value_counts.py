"""Each indicator's counts of values and of organisations with a value (``value_counts``),
kept by every values load and revert from now on; filled here from the values (one read of
the table and of its organisation index).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 22:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('value_counts',
    sa.Column('ikey', sa.Integer(), nullable=False),
    sa.Column('n_values', sa.BigInteger(), nullable=False),
    sa.Column('n_orgs', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['ikey'], ['indicators.ikey'], name=op.f('fk_value_counts_ikey_indicators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ikey', name=op.f('pk_value_counts'))
    )
    # the values per indicator from its key range; the organisations from the distinct
    # (org_id, ikey) entries of the organisation index
    op.execute(
        "INSERT INTO value_counts (ikey, n_values, n_orgs) "
        "SELECT v.ikey, v.n, COALESCE(o.n, 0) FROM "
        "(SELECT ikey, COUNT(*) AS n FROM indicator_values GROUP BY ikey) v LEFT JOIN "
        "(SELECT ikey, COUNT(*) AS n FROM (SELECT DISTINCT org_id, ikey FROM indicator_values) d "
        "GROUP BY ikey) o ON o.ikey = v.ikey"
    )


def downgrade() -> None:
    op.drop_table('value_counts')
