"""The registry of canonical entities: names, schemas, children, references, match rules.

The sync engine validates whole batches with a TypedDict derived from each `<Entity>Create`
(pydantic validates TypedDicts about four times faster than models and returns plain
dicts). Every record is partial: a source may own only some fields. Fields without a
default in the Create schema are checked separately when a record is first created.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter
from typing_extensions import TypedDict

from core.model import schemas as s
from core.model.names import normalize_company_name


@dataclass(frozen=True, eq=False)
class EntitySpec:
    """What the store and the mapping compiler need to know about one canonical entity.

    Compared and hashed by identity: each entity has exactly one spec.
    """

    name: str
    create: type[BaseModel]
    read: type[BaseModel] | None = None
    children: Mapping[str, EntitySpec] = field(default_factory=dict)
    references: Mapping[str, str] = field(default_factory=dict)
    """Field -> the entity it points to (resolved through external refs by mappings)."""
    match_rules: Mapping[str, str] = field(default_factory=dict)
    """First-sight match rule name -> the column it compares."""
    derived: Mapping[str, tuple[str, Callable[[str], str]]] = field(default_factory=dict)
    """Stored column -> (field it is computed from, function); e.g. the name match key."""

    @cached_property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.create.model_fields)

    @cached_property
    def required(self) -> frozenset[str]:
        return frozenset(n for n, f in self.create.model_fields.items() if f.is_required())

    @cached_property
    def record_type(self) -> type[Any]:
        """A total=False TypedDict with the Create schema's field types and constraints."""
        annotations: dict[str, Any] = {}
        for name, info in self.create.model_fields.items():
            child = self.children.get(name)
            if child is not None:
                annotations[name] = list[child.record_type] | None  # type: ignore[name-defined]
                continue
            annotation: Any = info.annotation
            if info.metadata:
                annotation = Annotated[(annotation, *info.metadata)]
            annotations[name] = annotation
        # Built at run time from the schema, so the functional form is the right one here.
        make_typed_dict: Any = TypedDict
        record_type: type[Any] = make_typed_dict(
            f"{self.create.__name__}Fields", annotations, total=False
        )
        return record_type

    @cached_property
    def batch_adapter(self) -> TypeAdapter[list[dict[str, Any]]]:
        return TypeAdapter(list[self.record_type])  # type: ignore[name-defined]


_ORDER_LINE = EntitySpec(
    "order_line", s.OrderLineCreate, s.OrderLine, references={"product_id": "product"}
)

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        EntitySpec(
            "account",
            s.AccountCreate,
            s.Account,
            references={"parent_id": "account"},
            match_rules={"uscc": "uscc", "name": "name_key"},
            derived={"name_key": ("name", normalize_company_name)},
        ),
        EntitySpec(
            "contact",
            s.ContactCreate,
            s.Contact,
            references={"account_id": "account"},
            match_rules={"email": "email"},
        ),
        EntitySpec(
            "lead",
            s.LeadCreate,
            s.Lead,
            match_rules={"uscc": "uscc", "email": "email"},
        ),
        EntitySpec(
            "opportunity",
            s.OpportunityCreate,
            s.Opportunity,
            references={"account_id": "account"},
        ),
        EntitySpec("product", s.ProductCreate, s.Product, match_rules={"sku": "sku"}),
        EntitySpec(
            "order",
            s.OrderCreate,
            s.Order,
            children={"lines": _ORDER_LINE},
            references={"account_id": "account", "opportunity_id": "opportunity"},
            match_rules={"number": "number"},
        ),
        EntitySpec(
            "invoice",
            s.InvoiceCreate,
            s.Invoice,
            references={"account_id": "account", "order_id": "order"},
            match_rules={"number": "number"},
        ),
        EntitySpec(
            "payment",
            s.PaymentCreate,
            s.Payment,
            references={"account_id": "account", "invoice_id": "invoice"},
        ),
    )
}


def entity(name: str) -> EntitySpec:
    """Look up a canonical entity by name; the error lists the valid names."""
    try:
        return ENTITIES[name]
    except KeyError:
        known = ", ".join(sorted(ENTITIES))
        raise KeyError(f"unknown canonical entity {name!r}; known: {known}") from None
