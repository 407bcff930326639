"""Accepted rebases: new SPC limits for a series from a period, recorded with who accepted
them and when (and who withdrew them; the record stays). Only a new table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 02:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rebases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('period_type', sa.String(length=16), nullable=False),
    sa.Column('period', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.Column('accepted_by', sa.String(length=200), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_by', sa.String(length=200), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_rebases_action_id_actions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_rebases_indicator_id_indicators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_rebases_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rebases'))
    )
    with op.batch_alter_table('rebases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rebases_action_id'), ['action_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rebases_indicator_id'), ['indicator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rebases_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rebases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rebases_org_id'))
        batch_op.drop_index(batch_op.f('ix_rebases_indicator_id'))
        batch_op.drop_index(batch_op.f('ix_rebases_action_id'))

    op.drop_table('rebases')
