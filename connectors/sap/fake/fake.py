"""`FakeS4`: the state of one fake S/4HANA system (data, logons, sessions, faults)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from . import seeds as g
from .errors import NOT_FOUND, GatewayError
from .faults import Fault, FaultQueue
from .generator import Generator
from .model import Service, load_all
from .security import AuthState
from .store import (
    ChildRows,
    ChildSpec,
    EmptyRows,
    Entity,
    RootCollection,
    Rows,
    clone,
    full_tree,
    walk,
)
from .wire import (
    TICKS_PER_DAY,
    TICKS_PER_SECOND,
    datetime_wire,
    datetimeoffset_wire,
    now_ticks,
    time_wire,
    to_wire,
)

ROOTS = {  # stream name → (service, entity set)
    "business_partners": ("API_BUSINESS_PARTNER", "A_BusinessPartner"),
    "products": ("API_PRODUCT_SRV", "A_Product"),
    "sales_orders": ("API_SALES_ORDER_SRV", "A_SalesOrder"),
    "billing_documents": ("API_BILLING_DOCUMENT_SRV", "A_BillingDocument"),
}


def _by(name: str) -> Any:
    return lambda key: key[name]


CHILDREN: dict[tuple[str, str], ChildSpec] = {
    ("API_BUSINESS_PARTNER", "A_BusinessPartnerAddress"): ChildSpec(
        "business_partners", ("to_BusinessPartnerAddress",), _by("BusinessPartner")
    ),
    ("API_BUSINESS_PARTNER", "A_AddressEmailAddress"): ChildSpec(
        "business_partners",
        ("to_BusinessPartnerAddress", "to_EmailAddress"),
        lambda k: g.bp_key(int(k["AddressID"]) - g.ADDRESS_BASE),
    ),
    ("API_BUSINESS_PARTNER", "A_AddressPhoneNumber"): ChildSpec(
        "business_partners",
        ("to_BusinessPartnerAddress", "to_PhoneNumber"),
        lambda k: g.bp_key(int(k["AddressID"]) - g.ADDRESS_BASE),
    ),
    ("API_BUSINESS_PARTNER", "A_BusinessPartnerRole"): ChildSpec(
        "business_partners", ("to_BusinessPartnerRole",), _by("BusinessPartner")
    ),
    ("API_BUSINESS_PARTNER", "A_BusinessPartnerTaxNumber"): ChildSpec(
        "business_partners", ("to_BusinessPartnerTax",), _by("BusinessPartner")
    ),
    ("API_BUSINESS_PARTNER", "A_Customer"): ChildSpec(
        "business_partners", ("to_Customer",), _by("Customer")
    ),
    ("API_BUSINESS_PARTNER", "A_CustomerSalesArea"): ChildSpec(
        "business_partners", ("to_Customer", "to_CustomerSalesArea"), _by("Customer")
    ),
    ("API_PRODUCT_SRV", "A_ProductDescription"): ChildSpec(
        "products", ("to_Description",), _by("Product")
    ),
    ("API_PRODUCT_SRV", "A_ProductSalesDelivery"): ChildSpec(
        "products", ("to_SalesDelivery",), _by("Product")
    ),
    ("API_SALES_ORDER_SRV", "A_SalesOrderItem"): ChildSpec(
        "sales_orders", ("to_Item",), _by("SalesOrder")
    ),
    ("API_SALES_ORDER_SRV", "A_SalesOrderHeaderPartner"): ChildSpec(
        "sales_orders", ("to_Partner",), _by("SalesOrder")
    ),
    ("API_BILLING_DOCUMENT_SRV", "A_BillingDocumentItem"): ChildSpec(
        "billing_documents", ("to_Item",), _by("BillingDocument")
    ),
    ("API_BILLING_DOCUMENT_SRV", "A_BillingDocumentPartner"): ChildSpec(
        "billing_documents", ("to_Partner",), _by("BillingDocument")
    ),
}


def _numeric_index(offset: int, prefix: str = "") -> Any:
    def index_of(key: str) -> int | None:
        digits = key[len(prefix) :] if key.startswith(prefix) else ""
        return int(digits) - offset if digits.isdigit() else None  # ALPHA: "0001" == "1"

    return index_of


class FakeS4:
    """A fake S/4HANA system. Thread-safe: the HTTP server and the test share it."""

    def __init__(
        self,
        *,
        business_partners: int = 50,
        products: int = 20,
        sales_orders: int = 30,
        billing_documents: int = 20,
        seed: int = 7,
        page_size: int = 1000,
        username: str = "L2C_COMM",
        password: str = "s3cret-Pa55",  # noqa: S107 - a fake's well-known test login
        client: str = "100",
        system_id: str = "S4H",
        oauth_client_id: str = "L2C_OAUTH",
        oauth_client_secret: str = "oauth-s3cret",  # noqa: S107 - same
        token_ttl: float = 3600.0,
    ) -> None:
        if sales_orders and not (business_partners and products):
            raise ValueError("sales orders need at least one business partner and product")
        if billing_documents and not sales_orders:
            raise ValueError("billing documents need at least one sales order")
        self.counts = {
            "business_partners": business_partners,
            "products": products,
            "sales_orders": sales_orders,
            "billing_documents": billing_documents,
        }
        self.seed = seed
        self.page_size = page_size
        self.lock = threading.RLock()
        self.services: dict[str, Service] = load_all()
        self.auth = AuthState(
            username,
            password,
            oauth_client_id,
            oauth_client_secret,
            system_id=system_id,
            client=client,
            token_ttl=token_ttl,
        )
        self.faults = FaultQueue()
        self.requests: dict[str, int] = {}
        self._cache: OrderedDict[tuple[Any, ...], list[int] | range] = OrderedDict()
        self._child_rows: dict[tuple[str, str], tuple[int, ChildRows]] = {}
        self._build()

    # ------------------------------------------------------------------ data
    def _build(self) -> None:
        gen = self.gen = Generator(self.seed, self.services, self.counts)
        n = self.counts
        bp_cols = gen.bp_columns(n["business_partners"])
        pr_cols = gen.stamp_columns(n["products"], 11)
        so_cols = gen.stamp_columns(n["sales_orders"], 21)
        bd_cols = gen.billing_columns(n["billing_documents"], so_cols["_created"])
        so_base = so_cols.copy()  # billing documents derive from the generated orders

        def root(stream: str, **kw: Any) -> RootCollection:
            service, set_name = ROOTS[stream]
            return RootCollection(self.services[service].sets[set_name], base=n[stream], **kw)

        self.collections: dict[str, RootCollection] = {
            "business_partners": root(
                "business_partners",
                make=lambda i: gen.business_partner(i, bp_cols),
                key_of=g.bp_key,
                index_of=_numeric_index(g.BP_BASE),
                columns=bp_cols,
            ),
            "products": root(
                "products",
                make=lambda i: gen.product(i, pr_cols),
                key_of=g.product_key,
                index_of=_numeric_index(g.PRODUCT_BASE, "FG"),
                columns=pr_cols,
            ),
            "sales_orders": root(
                "sales_orders",
                make=lambda i: gen.sales_order(i, so_base),
                key_of=g.sales_order_key,
                index_of=_numeric_index(g.SALES_ORDER_BASE),
                derived={"PurchaseOrderByCustomer": lambda i: gen.sales_order_po(i, so_base)},
                columns={k: v[:] for k, v in so_cols.items()},
            ),
            "billing_documents": root(
                "billing_documents",
                make=lambda i: gen.billing_document(
                    i, bd_cols, lambda j: gen.sales_order(j % n["sales_orders"], so_base)
                ),
                key_of=g.billing_key,
                index_of=_numeric_index(g.BILLING_BASE),
                columns=bd_cols,
            ),
        }
        self._roots = {ROOTS[s]: c for s, c in self.collections.items()}
        self.version = 0
        self._cache.clear()
        self._child_rows.clear()

    def bump(self) -> None:
        """Data changed: cached query results are stale."""
        self.version += 1
        self._cache.clear()
        self._child_rows.clear()

    def rows(self, service: str, set_name: str) -> Rows:
        root = self._roots.get((service, set_name))
        if root is not None:
            return root
        entity_set = self.services[service].sets[set_name]
        spec = CHILDREN.get((service, set_name))
        if spec is None:
            return EmptyRows(entity_set.type)
        cached = self._child_rows.get((service, set_name))
        if cached is not None and cached[0] == self.version:
            return cached[1]
        parents = self.collections[spec.root]
        children: list[Entity] = []
        for i in range(len(parents)):
            children.extend(walk(parents.entity(i), spec.path))
        rows = ChildRows(entity_set.type, children)
        self._child_rows[(service, set_name)] = (self.version, rows)
        return rows

    def cached(self, key: tuple[Any, ...], compute: Any) -> list[int] | range:
        """Matching row indexes of (set, filter, order) for the current data version."""
        key = (*key, self.version)
        hit = self._cache.get(key)
        if hit is None:
            hit = compute()
            self._cache[key] = hit
            while len(self._cache) > 16:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)  # least recently used goes first
        return hit

    def lookup(self, service: str, set_name: str, key: dict[str, str]) -> tuple[Rows, int, Entity]:
        """The row with this key, or a 404 Gateway error."""
        root = self._roots.get((service, set_name))
        etype = self.services[service].sets[set_name].type
        missing = GatewayError(404, NOT_FOUND, f"Resource not found for segment '{etype.name}'")
        if root is not None:
            i = root.index_of(key[etype.keys[0]])
            if i is None:
                raise missing
            return root, i, root.entity(i)
        spec = CHILDREN.get((service, set_name))
        if spec is None:
            raise missing
        parents = self.collections[spec.root]
        try:
            parent = parents.index_of(spec.root_key(key))
        except (KeyError, ValueError):
            parent = None
        if parent is None:
            raise missing
        for child in walk(parents.entity(parent), spec.path):
            if all(child.get(name) == value for name, value in key.items()):
                return ChildRows(etype, [child]), 0, clone(child)
        raise missing

    # ------------------------------------------------------------------ test controls
    def inject(self, fault: Fault) -> None:
        self.faults.add(fault)

    def expire_csrf_tokens(self) -> None:
        with self.lock:
            self.auth.expire_csrf_tokens()

    def expire_tokens(self) -> None:
        """Every OAuth access token issued so far is now expired."""
        with self.lock:
            self.auth.expire_tokens()

    def reset(self) -> None:
        """Back to the generated data set; sessions, tokens and faults are dropped."""
        with self.lock:
            self.faults.clear()
            self.auth.sessions.clear()
            self.auth.tokens.clear()
            self.requests.clear()
            self._build()

    def touch(self, entity_set: str, key: str | Mapping[str, str], **changes: Any) -> Entity:
        """Change a root entity server-side, as a user in SAP would (timestamps, ETag bump)."""
        with self.lock:
            stream = next((s for s, (_, name) in ROOTS.items() if name == entity_set), None)
            if stream is None:
                raise ValueError(f"touch() supports {sorted(n for _, n in ROOTS.values())}")
            root = self.collections[stream]
            key_value = key if isinstance(key, str) else key[root.etype.keys[0]]
            i = root.index_of(key_value)
            if i is None:
                raise KeyError(key_value)
            entity = root.entity(i)
            for name, value in changes.items():
                prop = root.etype.props[name]
                entity[name] = to_wire(value, prop.edm_type)
            self.stamp(root, i, entity)
            return full_tree(entity, root.etype, self.services[ROOTS[stream][0]])

    def stamp(self, root: RootCollection, i: int, entity: Entity) -> None:
        """Set change timestamps to now (strictly later than before) and store the row."""
        props = root.etype.props
        stamps: dict[str, int] = {}
        if "LastChangeDateTime" in props:
            previous = root.columns["LastChangeDateTime"][i] if i < len(root) else 0
            ticks = max(now_ticks(), previous + 1)
            entity["LastChangeDateTime"] = datetimeoffset_wire(ticks)
            stamps["LastChangeDateTime"] = ticks
            day = ticks - ticks % TICKS_PER_DAY
        else:
            ticks = now_ticks() // TICKS_PER_SECOND * TICKS_PER_SECOND
            day = ticks - ticks % TICKS_PER_DAY
            entity["LastChangeTime"] = time_wire(ticks - day)
            entity["LastChangedByUser"] = self.auth.username[:12].upper()
            stamps["LastChangeTime"] = ticks - day
            if "ETag" in props:
                entity["ETag"] = str(ticks // TICKS_PER_SECOND)
        if "LastChangeDate" in props:
            entity["LastChangeDate"] = datetime_wire(day)
            if "LastChangeDate" in root.columns:
                stamps["LastChangeDate"] = day
        root.put(i, entity, stamps)
        self.bump()

    # ------------------------------------------------------------------ inspection
    @property
    def sales_orders(self) -> Mapping[str, Entity]:
        """SalesOrder → entity tree (header, to_Item, to_Partner as lists); a live view."""
        return _EntityMap(self.collections["sales_orders"], self.services["API_SALES_ORDER_SRV"])

    def orders_by_po(self) -> dict[str, list[str]]:
        """PurchaseOrderByCustomer → SalesOrder numbers (how a writer finds its orders)."""
        with self.lock:
            orders = self.collections["sales_orders"]
            by_po: dict[str, list[str]] = {}
            for i in range(len(orders)):
                stored = orders.overlay.get(i)
                po = (
                    stored.get("PurchaseOrderByCustomer", "")
                    if stored is not None
                    else self.gen.sales_order_po(i, orders.columns)
                )
                by_po.setdefault(po, []).append(orders.key_of(i))
            return by_po

    def stats(self) -> dict[str, Any]:
        with self.lock:
            counts: dict[str, int] = {}
            for (service, set_name), root in self._roots.items():
                counts[set_name] = len(root)
                for (child_service, child_set), spec in CHILDREN.items():
                    if (
                        child_service == service
                        and self.collections[spec.root] is root
                        and len(root) <= 2_000
                    ):
                        counts[child_set] = len(self.rows(child_service, child_set))
            return {
                "counts": counts,
                "sales_orders_by_po": self.orders_by_po(),
                "requests": dict(self.requests),
                "version": self.version,
                "pending_faults": self.faults.pending(),
            }


class _EntityMap(Mapping[str, Entity]):
    def __init__(self, root: RootCollection, service: Service) -> None:
        self._root = root
        self._service = service

    def __getitem__(self, key: str) -> Entity:
        i = self._root.index_of(key)
        if i is None:
            raise KeyError(key)
        return full_tree(self._root.entity(i), self._root.etype, self._service)

    def __iter__(self) -> Iterator[str]:
        return self._root.keys()

    def __len__(self) -> int:
        return len(self._root)
