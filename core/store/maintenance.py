"""Keep the query planner informed while a sync grows a table.

PostgreSQL plans from table statistics that autovacuum refreshes about once a minute.
A table bulk-loaded within one run still looks empty to the planner, which then reads
a whole key prefix of the external-ref index for every batch lookup (quadratic time).
`Growth` asks for ANALYZE each time the rows written since the last one double: a
handful of cheap, sampled ANALYZEs per run, even for millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

FIRST_ANALYZE_AFTER = 20_000


@dataclass
class Growth:
    written: dict[str, int] = field(default_factory=dict)
    analyzed_at: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, rows: int) -> None:
        self.written[table] = self.written.get(table, 0) + rows

    def due(self) -> list[str]:
        """Tables whose written rows doubled since their last ANALYZE (or passed the first mark)."""
        due = []
        for table, rows in self.written.items():
            last = self.analyzed_at.get(table, 0)
            if rows >= max(FIRST_ANALYZE_AFTER, 2 * last):
                due.append(table)
                self.analyzed_at[table] = rows
        return sorted(due)


def analyze(engine: Engine, tables: Iterable[str]) -> None:
    names = list(tables)
    if not names or engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection.execute(text(f"ANALYZE {', '.join(names)}"))
        connection.commit()
