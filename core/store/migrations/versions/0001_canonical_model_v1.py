"""canonical model v1 and integration entities

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 19:12:34.355014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.model.tables.base
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('product',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=2000), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('list_price', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product'))
    )
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_tenant_id_sku'), ['tenant_id', 'sku'], unique=False)

    op.create_table('record_change',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    sa.Column('occurred_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_record_change'))
    )
    with op.batch_alter_table('record_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_change_entity_id'), ['entity_id'], unique=False)

    op.create_table('tenant',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant')),
    sa.UniqueConstraint('slug', name=op.f('uq_tenant_slug'))
    )
    op.create_table('connection',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('connector', sa.String(length=64), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('secrets', sa.LargeBinary(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_connection_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connection')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_connection_tenant_id_name'))
    )
    op.create_table('user_account',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_user_account_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('tenant_id', 'email', name=op.f('uq_user_account_tenant_id_email'))
    )
    op.create_table('account',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_key', sa.String(length=255), nullable=False),
    sa.Column('legal_name', sa.String(length=255), nullable=True),
    sa.Column('uscc', sa.String(length=18), nullable=True),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('lifecycle', sa.String(length=32), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('province', sa.String(length=64), nullable=True),
    sa.Column('city', sa.String(length=64), nullable=True),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('postal_code', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('website', sa.String(length=255), nullable=True),
    sa.Column('latitude', core.model.tables.base.ExactDecimal(precision=9, scale=6), nullable=True),
    sa.Column('longitude', core.model.tables.base.ExactDecimal(precision=10, scale=6), nullable=True),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('credit_limit', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('credit_currency', sa.String(length=3), nullable=True),
    sa.Column('payment_terms', sa.String(length=64), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_account_owner_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['account.id'], name=op.f('fk_account_parent_id_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_tenant_id_name_key'), ['tenant_id', 'name_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_tenant_id_uscc'), ['tenant_id', 'uscc'], unique=False)

    op.create_table('external_ref',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('object', sa.String(length=128), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('content_hash', sa.LargeBinary(length=16), nullable=False),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], name=op.f('fk_external_ref_connection_id_connection'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id', 'entity', 'object', 'external_id', name=op.f('pk_external_ref'))
    )
    with op.batch_alter_table('external_ref', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_external_ref_entity_id'), ['entity_id'], unique=False)

    op.create_table('lead',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('company', sa.String(length=255), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('mobile', sa.String(length=64), nullable=True),
    sa.Column('uscc', sa.String(length=18), nullable=True),
    sa.Column('industry', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('province', sa.String(length=64), nullable=True),
    sa.Column('city', sa.String(length=64), nullable=True),
    sa.Column('description', sa.String(length=2000), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_lead_owner_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lead'))
    )
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_tenant_id_email'), ['tenant_id', 'email'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_tenant_id_uscc'), ['tenant_id', 'uscc'], unique=False)

    op.create_table('sync_job',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('mappings', sa.JSON(), nullable=False),
    sa.Column('streams', sa.JSON(), nullable=True),
    sa.Column('schedule', sa.String(length=64), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], name=op.f('fk_sync_job_connection_id_connection'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_sync_job_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_job')),
    sa.UniqueConstraint('tenant_id', 'name', name=op.f('uq_sync_job_tenant_id_name'))
    )
    with op.batch_alter_table('sync_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_job_connection_id'), ['connection_id'], unique=False)

    op.create_table('contact',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=True),
    sa.Column('department', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('phone', sa.String(length=64), nullable=True),
    sa.Column('mobile', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=True),
    sa.Column('power', sa.Integer(), nullable=True),
    sa.Column('stance', sa.String(length=16), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_contact_account_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_contact_owner_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_tenant_id_email'), ['tenant_id', 'email'], unique=False)

    op.create_table('opportunity',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('amount', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('stage', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('probability', core.model.tables.base.ExactDecimal(precision=7, scale=4), nullable=True),
    sa.Column('forecast_category', sa.String(length=16), nullable=True),
    sa.Column('close_date', sa.Date(), nullable=True),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_opportunity_account_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['user_account.id'], name=op.f('fk_opportunity_owner_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity'))
    )
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunity_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opportunity_tenant_id_close_date'), ['tenant_id', 'close_date'], unique=False)

    op.create_table('quarantine',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    sa.Column('stream', sa.String(length=255), nullable=False),
    sa.Column('mapping', sa.String(length=255), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=255), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('payload_hash', sa.LargeBinary(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], name=op.f('fk_quarantine_connection_id_connection'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['job_id'], ['sync_job.id'], name=op.f('fk_quarantine_job_id_sync_job'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_quarantine_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantine'))
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantine_connection_id_payload_hash'), ['connection_id', 'payload_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantine_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_quarantine_tenant_id_status_created_at'), ['tenant_id', 'status', 'created_at'], unique=False)

    op.create_table('stream_state',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('stream', sa.String(length=255), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['sync_job.id'], name=op.f('fk_stream_state_job_id_sync_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_stream_state_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'stream', name=op.f('pk_stream_state'))
    )
    op.create_table('sync_run',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('trigger', sa.String(length=32), nullable=False),
    sa.Column('worker', sa.String(length=255), nullable=True),
    sa.Column('started_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('read_count', sa.Integer(), nullable=False),
    sa.Column('inserted_count', sa.Integer(), nullable=False),
    sa.Column('updated_count', sa.Integer(), nullable=False),
    sa.Column('unchanged_count', sa.Integer(), nullable=False),
    sa.Column('skipped_count', sa.Integer(), nullable=False),
    sa.Column('quarantined_count', sa.Integer(), nullable=False),
    sa.Column('progress', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('error_category', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['sync_job.id'], name=op.f('fk_sync_run_job_id_sync_job'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], name=op.f('fk_sync_run_tenant_id_tenant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_run'))
    )
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sync_run_job_id_started_at'), ['job_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_run_tenant_id_started_at'), ['tenant_id', 'started_at'], unique=False)

    op.create_table('sales_order',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('opportunity_id', sa.Uuid(), nullable=True),
    sa.Column('order_date', sa.Date(), nullable=True),
    sa.Column('requested_delivery_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('erp_status', sa.String(length=64), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('net_amount', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('tax_amount', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('total_amount', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_sales_order_account_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunity.id'], name=op.f('fk_sales_order_opportunity_id_opportunity'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_order'))
    )
    with op.batch_alter_table('sales_order', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sales_order_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sales_order_tenant_id_number'), ['tenant_id', 'number'], unique=False)

    op.create_table('invoice',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('fapiao_number', sa.String(length=32), nullable=True),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('order_id', sa.Uuid(), nullable=True),
    sa.Column('issue_date', sa.Date(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('amount_excl_tax', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('tax_amount', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('amount_incl_tax', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_invoice_account_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_invoice_order_id_sales_order'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice'))
    )
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoice_tenant_id_number'), ['tenant_id', 'number'], unique=False)

    op.create_table('sales_order_line',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=True),
    sa.Column('sku', sa.String(length=64), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('quantity', core.model.tables.base.ExactDecimal(precision=19, scale=6), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('unit_price', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('net_amount', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=True),
    sa.Column('tax_rate', core.model.tables.base.ExactDecimal(precision=7, scale=4), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['sales_order.id'], name=op.f('fk_sales_order_line_order_id_sales_order'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_sales_order_line_product_id_product'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sales_order_line'))
    )
    with op.batch_alter_table('sales_order_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sales_order_line_order_id_line_no'), ['order_id', 'line_no'], unique=False)

    op.create_table('payment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('amount', core.model.tables.base.ExactDecimal(precision=19, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('invoice_id', sa.Uuid(), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=True),
    sa.Column('method', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('source_ts', core.model.tables.base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('field_ts', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('field_owners', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('created_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', core.model.tables.base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_payment_account_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_payment_invoice_id_invoice'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_tenant_id_reference'), ['tenant_id', 'reference'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_tenant_id_reference'))
        batch_op.drop_index(batch_op.f('ix_payment_account_id'))

    op.drop_table('payment')
    with op.batch_alter_table('sales_order_line', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_order_line_order_id_line_no'))

    op.drop_table('sales_order_line')
    with op.batch_alter_table('invoice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_tenant_id_number'))
        batch_op.drop_index(batch_op.f('ix_invoice_account_id'))

    op.drop_table('invoice')
    with op.batch_alter_table('sales_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sales_order_tenant_id_number'))
        batch_op.drop_index(batch_op.f('ix_sales_order_account_id'))

    op.drop_table('sales_order')
    with op.batch_alter_table('sync_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_run_tenant_id_started_at'))
        batch_op.drop_index(batch_op.f('ix_sync_run_job_id_started_at'))

    op.drop_table('sync_run')
    op.drop_table('stream_state')
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantine_tenant_id_status_created_at'))
        batch_op.drop_index(batch_op.f('ix_quarantine_run_id'))
        batch_op.drop_index(batch_op.f('ix_quarantine_connection_id_payload_hash'))

    op.drop_table('quarantine')
    with op.batch_alter_table('opportunity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_tenant_id_close_date'))
        batch_op.drop_index(batch_op.f('ix_opportunity_account_id'))

    op.drop_table('opportunity')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_tenant_id_email'))
        batch_op.drop_index(batch_op.f('ix_contact_account_id'))

    op.drop_table('contact')
    with op.batch_alter_table('sync_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_job_connection_id'))

    op.drop_table('sync_job')
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_tenant_id_uscc'))
        batch_op.drop_index(batch_op.f('ix_lead_tenant_id_email'))

    op.drop_table('lead')
    with op.batch_alter_table('external_ref', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_ref_entity_id'))

    op.drop_table('external_ref')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_tenant_id_uscc'))
        batch_op.drop_index(batch_op.f('ix_account_tenant_id_name_key'))

    op.drop_table('account')
    op.drop_table('user_account')
    op.drop_table('connection')
    op.drop_table('tenant')
    with op.batch_alter_table('record_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_change_entity_id'))

    op.drop_table('record_change')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_tenant_id_sku'))

    op.drop_table('product')
