"""Initial schema: organisations, indicators, periods, values with history, loads, groups, annotations, tokens.

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 00:45:49.740151
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('loads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('format', sa.String(length=64), nullable=False),
    sa.Column('user', sa.String(length=200), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_inserted', sa.Integer(), nullable=False),
    sa.Column('rows_updated', sa.Integer(), nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), nullable=False),
    sa.Column('rows_rejected', sa.Integer(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('reverted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loads'))
    )
    with op.batch_alter_table('loads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loads_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_loads_status'), ['status'], unique=False)

    op.create_table('peer_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_peer_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_peer_groups_name'))
    )
    op.create_table('periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('period_type', sa.String(length=16), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_periods')),
    sa.UniqueConstraint('period_type', 'label', name=op.f('uq_periods_period_type_label'))
    )
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_periods_label'), ['label'], unique=False)
        batch_op.create_index('ix_periods_type_start', ['period_type', 'start_date'], unique=False)

    op.create_table('indicators',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('why_it_matters', sa.Text(), nullable=True),
    sa.Column('value_type', sa.String(length=16), nullable=False),
    sa.Column('multiplier', sa.Float(precision=53), nullable=False),
    sa.Column('polarity', sa.String(length=24), nullable=False),
    sa.Column('target', sa.Float(precision=53), nullable=True),
    sa.Column('target_label', sa.String(length=200), nullable=True),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('numerator_label', sa.String(length=300), nullable=True),
    sa.Column('denominator_label', sa.String(length=300), nullable=True),
    sa.Column('unit', sa.String(length=50), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('source_url', sa.Text(), nullable=True),
    sa.Column('domain', sa.String(length=200), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('decimals', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.String(length=16), nullable=True),
    sa.Column('authored_by', sa.String(length=200), nullable=True),
    sa.Column('checked_by', sa.String(length=200), nullable=True),
    sa.Column('date_reviewed', sa.Date(), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], name=op.f('fk_indicators_load_id_loads'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicators'))
    )
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicators_domain'), ['domain'], unique=False)

    op.create_table('load_errors',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=True),
    sa.Column('sheet', sa.String(length=200), nullable=True),
    sa.Column('column', sa.String(length=200), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], name=op.f('fk_load_errors_load_id_loads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_load_errors'))
    )
    with op.batch_alter_table('load_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_load_errors_load_id'), ['load_id'], unique=False)

    op.create_table('organisations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('org_type', sa.String(length=32), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], name=op.f('fk_organisations_load_id_loads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['organisations.id'], name=op.f('fk_organisations_parent_id_organisations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organisations')),
    sa.UniqueConstraint('code', name=op.f('uq_organisations_code'))
    )
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_organisations_org_type'), ['org_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisations_parent_id'), ['parent_id'], unique=False)

    op.create_table('value_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('prev_numerator', sa.Float(precision=53), nullable=True),
    sa.Column('prev_denominator', sa.Float(precision=53), nullable=True),
    sa.Column('prev_value', sa.Float(precision=53), nullable=True),
    sa.Column('prev_lower_ci', sa.Float(precision=53), nullable=True),
    sa.Column('prev_upper_ci', sa.Float(precision=53), nullable=True),
    sa.Column('prev_suppressed', sa.Boolean(), nullable=True),
    sa.Column('prev_note', sa.Text(), nullable=True),
    sa.Column('prev_load_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], name=op.f('fk_value_history_load_id_loads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_value_history'))
    )
    with op.batch_alter_table('value_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_value_history_load_id'), ['load_id'], unique=False)

    op.create_table('annotations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('indicator_id', sa.String(length=100), nullable=True),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_annotations_indicator_id_indicators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_annotations_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annotations'))
    )
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotations_indicator_id'), ['indicator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_annotations_org_id'), ['org_id'], unique=False)

    op.create_table('indicator_values',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('numerator', sa.Float(precision=53), nullable=True),
    sa.Column('denominator', sa.Float(precision=53), nullable=True),
    sa.Column('value', sa.Float(precision=53), nullable=True),
    sa.Column('lower_ci', sa.Float(precision=53), nullable=True),
    sa.Column('upper_ci', sa.Float(precision=53), nullable=True),
    sa.Column('suppressed', sa.Boolean(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['indicator_id'], ['indicators.id'], name=op.f('fk_indicator_values_indicator_id_indicators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], name=op.f('fk_indicator_values_load_id_loads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_indicator_values_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_indicator_values_period_id_periods'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_values')),
    sa.UniqueConstraint('indicator_id', 'period_id', 'org_id', name=op.f('uq_indicator_values_indicator_id_period_id_org_id'))
    )
    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_indicator_values_load_id'), ['load_id'], unique=False)
        batch_op.create_index('ix_indicator_values_org_indicator', ['org_id', 'indicator_id'], unique=False)

    op.create_table('peer_group_members',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['peer_groups.id'], name=op.f('fk_peer_group_members_group_id_peer_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_peer_group_members_org_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'org_id', name=op.f('pk_peer_group_members'))
    )



def downgrade() -> None:

    op.drop_table('peer_group_members')
    with op.batch_alter_table('indicator_values', schema=None) as batch_op:
        batch_op.drop_index('ix_indicator_values_org_indicator')
        batch_op.drop_index(batch_op.f('ix_indicator_values_load_id'))

    op.drop_table('indicator_values')
    with op.batch_alter_table('annotations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annotations_org_id'))
        batch_op.drop_index(batch_op.f('ix_annotations_indicator_id'))

    op.drop_table('annotations')
    with op.batch_alter_table('value_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_value_history_load_id'))

    op.drop_table('value_history')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisations_parent_id'))
        batch_op.drop_index(batch_op.f('ix_organisations_org_type'))

    op.drop_table('organisations')
    with op.batch_alter_table('load_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_load_errors_load_id'))

    op.drop_table('load_errors')
    with op.batch_alter_table('indicators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_indicators_domain'))

    op.drop_table('indicators')
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.drop_index('ix_periods_type_start')
        batch_op.drop_index(batch_op.f('ix_periods_label'))

    op.drop_table('periods')
    op.drop_table('peer_groups')
    with op.batch_alter_table('loads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loads_status'))
        batch_op.drop_index(batch_op.f('ix_loads_sha256'))

    op.drop_table('loads')
    op.drop_table('api_tokens')

