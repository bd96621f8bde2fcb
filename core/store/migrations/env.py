"""Alembic environment: the engine comes from the caller (core.store.migrate) or from
L2C_DATABASE_URL when alembic is run from the command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from core.model.tables import Base
from core.settings import get_settings
from core.store.engine import make_engine

target_metadata = Base.metadata


def run_migrations() -> None:
    engine: Engine | None = context.config.attributes.get("engine")
    if engine is None:
        engine = make_engine(get_settings().resolved_database_url())
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()
