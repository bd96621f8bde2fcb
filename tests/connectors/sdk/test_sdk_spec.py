"""The Connector spec: one source, derived schema, secrets, validation messages."""

from __future__ import annotations

import copy

import pytest
from singer_sdk import Stream, Tap
from singer_sdk import typing as th

from connectors.sdk import CheckResult, ConfigError, Connector, embeddable
from connectors.sdk.spec import tap_settings_schema


def ok(config) -> CheckResult:
    return CheckResult(ok=True, message="fine")


def command(config, workdir, state) -> list[str]:
    return ["tap-x", "--config", str(workdir / "config.json")]


class SecretTap(Tap):
    name = "tap-secret"
    config_jsonschema = th.PropertiesList(
        th.Property("host", th.StringType, required=True, description="Server name"),
        th.Property("password", th.StringType, required=True, secret=True),
        th.Property("port", th.IntegerType(minimum=1), default=443),
    ).to_dict()

    def discover_streams(self) -> list[Stream]:
        return []


NESTED_SCHEMA = {
    "type": "object",
    "properties": {
        "auth": {
            "type": "object",
            "properties": {
                "user": {"type": "string"},
                "token": {"type": "string", "secret": True, "writeOnly": True},
            },
        },
        "hosts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "key": {"type": "string", "secret": True, "writeOnly": True},
                },
            },
        },
        "extra": {"type": "object", "x-secret-keys": "extra_secrets"},
        "extra_secrets": {"type": "array", "items": {"type": "string"}},
    },
}
NESTED_CONFIG = {
    "auth": {"user": "erp", "token": "tok-123"},
    "hosts": [{"name": "a", "key": "key-a"}, {"name": "b", "key": ""}],
    "extra": {"client_secret": "cs-9", "region": "cn"},
    "extra_secrets": ["client_secret"],
}


def nested() -> Connector:
    return Connector(
        name="nested",
        title="N",
        description="",
        config_schema=NESTED_SCHEMA,
        tap_command=command,
        check=ok,
    )


def test_a_connector_declares_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Connector(name="x", title="X", description="", check=ok)
    with pytest.raises(ValueError, match="exactly one"):
        Connector(name="x", title="X", description="", check=ok, tap=SecretTap, tap_command=command)


def test_connector_names_are_lowercase_identifiers() -> None:
    with pytest.raises(ValueError, match="must match"):
        Connector(name="My-Tap", title="X", description="", check=ok, tap=SecretTap)


def test_schema_is_derived_from_the_tap_without_singer_sdk_builtins() -> None:
    embeddable(SecretTap)(config={"host": "h", "password": "p"})  # appends builtins in place
    connector = Connector(name="secret", title="S", description="", check=ok, tap=SecretTap)

    assert list(connector.config_schema["properties"]) == ["host", "password", "port"]
    assert "stream_maps" in SecretTap.config_jsonschema["properties"]
    assert tap_settings_schema(SecretTap) == connector.config_schema


def test_capabilities_follow_what_the_connector_declares() -> None:
    writer_factory = object()
    connector = Connector(
        name="w",
        title="W",
        description="",
        check=ok,
        tap_command=command,
        writer=writer_factory,  # type: ignore[arg-type]
    )

    assert connector.capabilities == {"read", "incremental", "write"}


def test_secret_fields_cover_nested_objects_arrays_and_declared_keys() -> None:
    assert nested().secret_fields() == ["auth.token", "hosts[*].key"]
    assert nested().secret_fields(NESTED_CONFIG) == [
        "auth.token",
        "hosts[*].key",
        "extra.client_secret",
    ]


def test_redact_masks_every_secret_and_leaves_the_config_alone() -> None:
    original = copy.deepcopy(NESTED_CONFIG)

    redacted = nested().redact(NESTED_CONFIG)

    assert redacted == {
        "auth": {"user": "erp", "token": "********"},
        "hosts": [{"name": "a", "key": "********"}, {"name": "b", "key": ""}],
        "extra": {"client_secret": "********", "region": "cn"},
        "extra_secrets": ["client_secret"],
    }
    assert original == NESTED_CONFIG


def test_validation_error_names_the_nested_field_and_hides_secret_values() -> None:
    bad = copy.deepcopy(NESTED_CONFIG)
    bad["hosts"][1]["key"] = 12345

    with pytest.raises(ConfigError) as caught:
        nested().validate_config(bad)

    assert caught.value.field == "hosts[1].key"
    assert "12345" not in str(caught.value)
    assert all("12345" not in p for p in caught.value.details["problems"])


def test_missing_required_setting_is_named_with_its_description_as_hint() -> None:
    connector = Connector(name="secret", title="S", description="", check=ok, tap=SecretTap)

    with pytest.raises(ConfigError) as caught:
        connector.validate_config({"password": "p"})

    assert caught.value.field == "host"
    assert caught.value.hint == "set it: Server name"


def test_validation_follows_the_schemas_own_draft() -> None:
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "properties": {"batch": {"type": "integer", "maximum": 5, "exclusiveMaximum": True}},
    }
    connector = Connector(
        name="old", title="O", description="", config_schema=draft4, tap_command=command, check=ok
    )

    connector.validate_config({"batch": 4})
    with pytest.raises(ConfigError) as caught:
        connector.validate_config({"batch": 5})
    assert caught.value.field == "batch"


def test_connector_validate_hook_runs_after_the_schema() -> None:
    def refuse(config) -> None:
        raise ConfigError("no", field="host", hint="because")

    connector = Connector(
        name="secret", title="S", description="", check=ok, tap=SecretTap, validate=refuse
    )

    with pytest.raises(ConfigError, match="no"):
        connector.validate_config({"host": "h", "password": "p"})
