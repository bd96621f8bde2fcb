"""Entity collections of the fake: lazy roots with an overlay, and child sets walked from them.

A root collection (A_BusinessPartner, A_Product, A_SalesOrder, A_BillingDocument) numbers
its rows 0..n-1 in key order. Base rows are generated on demand; changed or created rows
live in `overlay` as full trees. Timestamp columns (`array('q')`) answer filters and
ordering on change dates without generating anything. Child sets (A_SalesOrderItem,
A_BusinessPartnerAddress, …) are the children of the roots, found by walking navigation.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .filter import Getter
from .model import EntitySet, EntityType, Service
from .seeds import NULL
from .wire import etag_for, from_wire

Entity = dict[str, Any]


def clone(entity: Entity) -> Entity:
    """Deep copy of an entity tree (dicts, lists and tuples of dicts, scalars)."""
    out = entity.copy()
    for name, value in entity.items():
        if type(value) is dict:
            out[name] = clone(value)
        elif type(value) in (list, tuple) and value:
            out[name] = [clone(child) for child in value]
    return out


def full_tree(entity: Entity, etype: EntityType, service: Service) -> Entity:
    """A sparse entity tree with every property filled in (for people, not the wire)."""
    out = etype.fill(entity)
    for name, nav in etype.navs.items():
        value = entity.get(name)
        target = service.types[nav.target]
        if nav.many:
            out[name] = [full_tree(child, target, service) for child in value or ()]
        else:
            out[name] = None if value is None else full_tree(value, target, service)
    return out


class Rows:
    """What a query runs on: n rows, a fresh entity per row, typed values per property."""

    etype: EntityType

    def __len__(self) -> int:
        raise NotImplementedError

    def entity(self, i: int) -> Entity:
        raise NotImplementedError

    def getter(self, prop: str) -> Getter:
        edm_type = self.etype.props[prop].edm_type
        default = self.etype.defaults[prop]
        comparable = self.etype.comparable
        last: list[Any] = [None, None]

        def get(i: int) -> Any:
            if last[0] != i:
                last[0], last[1] = i, self.entity(i)
            return comparable(prop, from_wire(last[1].get(prop, default), edm_type))

        return get

    def etag(self, i: int, entity: Entity) -> str | None:
        prop = self.etype.etag_prop
        if prop is None or entity.get(prop) is None:
            return None
        return etag_for(from_wire(entity[prop], self.etype.props[prop].edm_type))


class RootCollection(Rows):
    def __init__(
        self,
        entity_set: EntitySet,
        *,
        base: int,
        make: Callable[[int], Entity],
        key_of: Callable[[int], str],
        index_of: Callable[[str], int | None],
        columns: dict[str, array[int]],
        derived: dict[str, Callable[[int], Any]] | None = None,
    ) -> None:
        self.entity_set = entity_set
        self.etype = entity_set.type
        self.base = base
        self.make = make
        self.key_of = key_of
        self._index_of = index_of
        self.columns = columns
        self.overlay: dict[int, Entity] = {}
        self.created = 0
        # wire values computable without generating the row (filters on 200,000 rows)
        self.derived = {self.etype.keys[0]: key_of, **(derived or {})}

    def __len__(self) -> int:
        return self.base + self.created

    def index_of(self, key: str) -> int | None:
        i = self._index_of(key)
        return i if i is not None and 0 <= i < len(self) else None

    def entity(self, i: int) -> Entity:
        stored = self.overlay.get(i)
        return clone(stored) if stored is not None else self.make(i)

    def getter(self, prop: str) -> Getter:
        column = self.columns.get(prop)
        if column is not None:
            return lambda i: None if (value := column[i]) == NULL else value
        derive = self.derived.get(prop)
        if derive is None:
            return super().getter(prop)
        slow, overlay, comparable = super().getter(prop), self.overlay, self.etype.comparable
        edm_type = self.etype.props[prop].edm_type

        def get(i: int) -> Any:
            if i in overlay or i >= self.base:
                return slow(i)
            return comparable(prop, from_wire(derive(i), edm_type))

        return get

    def etag(self, i: int, entity: Entity) -> str | None:
        prop = self.etype.etag_prop
        if prop is not None and prop in self.columns:
            return etag_for(self.columns[prop][i])
        return super().etag(i, entity)

    def put(self, i: int, entity: Entity, stamps: dict[str, int]) -> None:
        """Store a changed (i < len) or new (i == len) row with its exact timestamps."""
        if i == len(self):
            self.created += 1
            for name, column in self.columns.items():
                column.append(stamps.get(name, NULL))
        else:
            for name, value in stamps.items():
                self.columns[name][i] = value
        self.overlay[i] = entity

    def keys(self) -> Iterator[str]:
        return (self.key_of(i) for i in range(len(self)))


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """Where a child set lives: root, navigation path, and the root key of a child key."""

    root: str
    path: tuple[str, ...]
    root_key: Callable[[dict[str, str]], str]


class ChildRows(Rows):
    """A child set materialised for one query (child sets are small or rarely listed)."""

    def __init__(self, etype: EntityType, entities: list[Entity]) -> None:
        self.etype = etype
        self.entities = entities

    def __len__(self) -> int:
        return len(self.entities)

    def entity(self, i: int) -> Entity:
        return clone(self.entities[i])


def walk(entity: Entity, path: tuple[str, ...]) -> list[Entity]:
    """The children reached from `entity` along `path` (to-one steps count as one)."""
    level = [entity]
    for nav in path:
        nxt: list[Entity] = []
        for node in level:
            value = node.get(nav)
            if isinstance(value, dict):
                nxt.append(value)
            elif value:
                nxt.extend(value)
        level = nxt
    return level


class EmptyRows(Rows):
    """Entity sets the fake has no data for: they exist, and are empty."""

    def __init__(self, etype: EntityType) -> None:
        self.etype = etype

    def __len__(self) -> int:
        return 0

    def entity(self, i: int) -> Entity:
        raise IndexError(i)
