"""Schemathesis over the app's own OpenAPI: generated valid and invalid requests, with
an admin key, must never get a 5xx, and every response must match what the schema says
(status codes, content types, headers, bodies); invalid input must be refused and
operations must refuse missing keys. All of schemathesis' checks run."""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.api.http.support import Caller

EXAMPLES = int(os.environ.get("L2C_FUZZ_EXAMPLES", "100"))
PG_EXAMPLES = int(os.environ.get("L2C_FUZZ_EXAMPLES_POSTGRES", "25"))


@pytest.fixture
def api_schema(app: Any, alice: Caller) -> Any:
    """The schema as the app serves it, exercised in-process through ASGI."""
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


def _check(case: Any, caller: Caller) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {caller.key}"},
        # Schema-valid input can still be refused for what OpenAPI cannot express: a USCC
        # check character, a reference to a record that does not exist, a taken name.
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_api_conforms_to_its_schema(case: Any, alice: Caller) -> None:
    _check(case, alice)


@schema.parametrize()
@settings(
    max_examples=PG_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
@pytest.mark.parametrize(
    "engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_api_conforms_to_its_schema_on_postgres(case: Any, alice: Caller) -> None:
    """Fewer examples: what differs on PostgreSQL is how values are stored (ranges,
    NUL characters, decimals), which the generated bodies reach quickly."""
    _check(case, alice)
