"""Connectors are found through entry points; broken ones are reported, not skipped."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import metadata

import pytest

from connectors.sdk import (
    BrokenConnector,
    ConfigError,
    Connector,
    get_connector,
    load_connectors,
    registry,
)


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[metadata.EntryPoint]]:
    """Replace the installed entry points of the group with a list the test fills."""
    fake: list[metadata.EntryPoint] = []
    monkeypatch.setattr(registry, "_entry_points", lambda: list(fake))
    yield fake
    monkeypatch.undo()
    load_connectors(reload=True)


def entry(name: str, value: str) -> metadata.EntryPoint:
    return metadata.EntryPoint(name=name, value=value, group=registry.ENTRY_POINT_GROUP)


def test_built_in_connectors_are_registered() -> None:
    found = load_connectors(reload=True)

    assert isinstance(found["files"], Connector)
    assert isinstance(found["singer"], Connector)
    assert get_connector("files").tap is not None


def test_connector_that_fails_to_import_is_reported_with_the_error(entry_points) -> None:
    entry_points += [
        entry("files", "connectors.files:CONNECTOR"),
        entry("acme", "acme_l2c:CONNECTOR"),
    ]

    found = load_connectors(reload=True)

    broken = found["acme"]
    assert isinstance(broken, BrokenConnector)
    assert broken.error == "ModuleNotFoundError: No module named 'acme_l2c'"
    assert broken.entry_point == "acme_l2c:CONNECTOR"
    assert isinstance(found["files"], Connector)


def test_entry_point_to_something_else_or_misnamed_is_broken(entry_points) -> None:
    entry_points += [
        entry("notaconnector", "connectors.files.config:CONFIG_SCHEMA"),
        entry("renamed", "connectors.files:CONNECTOR"),
    ]

    found = load_connectors(reload=True)

    assert "not a connectors.sdk.Connector" in found["notaconnector"].error
    assert "exports connector named 'files'" in found["renamed"].error


def test_name_registered_twice_is_broken(entry_points) -> None:
    entry_points += [entry("files", "connectors.files:CONNECTOR")] * 2

    assert isinstance(load_connectors(reload=True)["files"], BrokenConnector)


def test_entry_points_are_read_once_until_reload(entry_points) -> None:
    entry_points.append(entry("files", "connectors.files:CONNECTOR"))
    load_connectors(reload=True)
    entry_points.append(entry("singer", "connectors.singer:CONNECTOR"))

    assert list(load_connectors()) == ["files"]
    assert list(load_connectors(reload=True)) == ["files", "singer"]


def test_unknown_connector_is_a_config_error_listing_the_known_ones() -> None:
    load_connectors(reload=True)

    with pytest.raises(ConfigError) as caught:
        get_connector("sap")

    assert caught.value.field == "connector"
    assert "files" in caught.value.hint
    assert "singer" in caught.value.hint


def test_getting_a_broken_connector_says_why(entry_points) -> None:
    entry_points.append(entry("acme", "acme_l2c:CONNECTOR"))
    load_connectors(reload=True)

    with pytest.raises(ConfigError, match="No module named 'acme_l2c'"):
        get_connector("acme")
