"""Shared building blocks of the generated data: hashing, numbering, empty templates.

Every entity is a pure function of (seed, index): `mix` spreads both into 64 bits and
`Draw` turns those bits into choices, so nothing is stored per record.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

from .model import Service
from .wire import TICKS_PER_DAY, datetimeoffset_wire, parse_iso_ticks

NULL = -(2**63)  # null in a timestamp column
START = parse_iso_ticks("2021-01-01T00:00:00Z")
END = parse_iso_ticks("2025-06-30T00:00:00Z")
FOREVER = datetimeoffset_wire(parse_iso_ticks("9999-12-31T00:00:00Z"))
_MASK = (1 << 64) - 1
BP_BASE, ADDRESS_BASE, SALES_ORDER_BASE, BILLING_BASE, PRODUCT_BASE = (
    10100001,
    100001,
    1,
    90000001,
    1000001,
)
USER = "CB9980000010"
T = TypeVar("T")


def mix(seed: int, index: int, salt: int) -> int:
    """splitmix64 of (seed, index, salt): cheap, well spread, reproducible."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class Draw:
    """A few cheap random choices from 192 bits of `mix` (Random.seed costs more)."""

    __slots__ = ("state",)

    def __init__(self, seed: int, index: int, salt: int) -> None:
        self.state = (
            mix(seed, index, salt)
            | mix(seed, index, salt + 1) << 64
            | mix(seed, index, salt + 2) << 128
        )

    def below(self, n: int) -> int:
        self.state, value = divmod(self.state, n)
        return value

    def choice(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def randrange(self, start: int, stop: int) -> int:
        return start + self.below(stop - start)

    def random(self) -> float:
        return self.below(1 << 20) / (1 << 20)


def fake_uuid(value: int) -> str:
    text = f"{value & (1 << 128) - 1:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def bp_key(i: int) -> str:
    return f"{BP_BASE + i:010d}"


def product_key(i: int) -> str:
    return f"FG{PRODUCT_BASE + i}"


def sales_order_key(i: int) -> str:
    return str(SALES_ORDER_BASE + i)


def billing_key(i: int) -> str:
    return str(BILLING_BASE + i)


def date_of(ticks: int) -> int:
    return ticks - ticks % TICKS_PER_DAY


class Templates:
    """Entities are sparse: only the values that differ from SAP's empty value are stored
    (the renderer adds the rest from the EDMX), so generating a page allocates little."""

    @staticmethod
    def new(type_name: str, **values: Any) -> dict[str, Any]:
        return values


class GeneratorBase:
    """State the entity builders share (split over modules by kind of data)."""

    def __init__(self, seed: int, services: dict[str, Service], counts: dict[str, int]) -> None:
        self.seed = seed
        self.t = Templates()
        self.services = services
        self.counts = counts
        self._rng = random.Random()  # noqa: S311 - test data, not security

    def rng(self, salt: int, index: int) -> random.Random:
        """A reseeded Random for the less frequent builders (products, documents)."""
        self._rng.seed(self.seed * 1_000_003 + salt * 10_000_019 + index)
        return self._rng
