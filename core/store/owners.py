"""The store's one hand-off to lead management: owner changes of leads.

A lead's owner may be written by a sync, an import or a plain edit; each such write is
handed to the ownership service in the same transaction, so an owned lead always has a
pool, a recycle deadline and an audit row, whatever wrote it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session


def adopt_owners(
    session: Session,
    tenant_id: uuid.UUID,
    owners: Sequence[tuple[uuid.UUID, uuid.UUID | None]],
    connection_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """Hand lead owner changes written here or by a sync to the ownership service, so an
    owner never comes without a pool and a recycle deadline (core.sales.leads.ownership)."""
    from core.sales.leads.ownership import Actor, adopt  # sales builds on the store

    actor = Actor.connection(connection_id) if connection_id else Actor("edit", "api")
    adopt(session, tenant_id, owners, actor, now=now)
