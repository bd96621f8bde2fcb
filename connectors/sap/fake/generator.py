"""Deterministic, lazy data of the fake: every entity is a pure function of (seed, index).

Nothing is kept per record except the timestamp columns filters and ordering need (compact
`array('q')`), so 200,000 business partners cost a few megabytes. Entities are sparse dicts
(only values that differ from SAP's empty ones); the renderers add the rest from the EDMX.
"""

from __future__ import annotations

from array import array

from .documents import Documents
from .partners import Partners
from .seeds import END, NULL, START, date_of, mix
from .wire import TICKS_PER_DAY, TICKS_PER_SECOND


class Generator(Partners, Documents):
    """The base data set: entity builders plus the compact columns the store keeps."""

    # ------------------------------------------------------------------ columns
    def _span(self, i: int, salt: int, lo: int, hi: int) -> int:
        return lo + mix(self.seed, i, salt) % max(1, hi - lo)

    def bp_columns(self, n: int) -> dict[str, array[int]]:
        created, created_t, changed, changed_t = (array("q") for _ in range(4))
        for i in range(n):
            c = self._span(i, 1, START, END - 90 * TICKS_PER_DAY)
            created.append(date_of(c))
            created_t.append(c % TICKS_PER_DAY // TICKS_PER_SECOND * TICKS_PER_SECOND)
            if mix(self.seed, i, 2) % 5 == 0:  # one in five was never changed
                changed.append(NULL)
                changed_t.append(NULL)
            else:
                ch = self._span(i, 3, c, END)
                changed.append(date_of(ch))
                changed_t.append(ch % TICKS_PER_DAY // TICKS_PER_SECOND * TICKS_PER_SECOND)
        return {
            "CreationDate": created,
            "CreationTime": created_t,
            "LastChangeDate": changed,
            "LastChangeTime": changed_t,
        }

    def stamp_columns(self, n: int, salt: int) -> dict[str, array[int]]:
        """CreationDate + LastChangeDateTime (7 digits) of products and sales orders."""
        created, changed = array("q"), array("q")
        for i in range(n):
            c = self._span(i, salt, START, END - 60 * TICKS_PER_DAY)
            created.append(c)
            changed.append(self._span(i, salt + 1, c, END))
        return {"_created": created, "LastChangeDateTime": changed}

    def billing_columns(self, n: int, so_created: array[int]) -> dict[str, array[int]]:
        created, changed = array("q"), array("q")
        for i in range(n):
            base = so_created[i % len(so_created)] if so_created else START
            c = base + self._span(i, 31, 3 * TICKS_PER_DAY, 20 * TICKS_PER_DAY)
            created.append(c)
            changed.append(c + self._span(i, 32, 0, 10 * TICKS_PER_DAY))
        return {"_created": created, "LastChangeDateTime": changed}
