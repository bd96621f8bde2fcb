"""Connector errors translate to core errors by category alone."""

import pytest

from connectors.sdk import errors as sdk
from core import errors as core


@pytest.mark.parametrize("name", ["ConfigError", "TransientError", "DataError"])
def test_categories_match_core_errors(name: str) -> None:
    assert getattr(sdk, name).category == getattr(core, name).category


def test_config_error_carries_the_field_and_shows_the_hint() -> None:
    error = sdk.ConfigError("bad pattern", field="streams[1].pattern", hint="use a glob")

    assert error.field == "streams[1].pattern"
    assert str(error) == "bad pattern (use a glob)"
    assert error.category == "config"


def test_transient_error_can_say_when_to_retry() -> None:
    assert sdk.TransientError("429", retry_after=30).retry_after == 30
