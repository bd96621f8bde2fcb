"""The test kit catches the mistakes it is there for."""

from __future__ import annotations

import pytest

from connectors.sdk import CheckResult, Connector
from connectors.sdk.testing import connector_tests


def command(config, workdir, state) -> list[str]:
    return ["tap-x"]


def kit_for(schema: dict, *, ok: bool = True):
    connector = Connector(
        name="probe",
        title="Probe",
        description="",
        config_schema=schema,
        tap_command=command,
        check=lambda config: CheckResult(ok=ok, message="probe"),
    )
    return connector_tests(connector, {"user": "u", "api_key": "k"})()


def test_kit_flags_a_secret_that_is_not_write_only() -> None:
    kit = kit_for({"type": "object", "properties": {"api_key": {"type": "string", "secret": True}}})

    with pytest.raises(AssertionError, match="not writeOnly"):
        kit.test_connector_secret_settings_are_write_only()


def test_kit_flags_a_credential_not_marked_secret() -> None:
    kit = kit_for({"type": "object", "properties": {"api_key": {"type": "string"}}})

    with pytest.raises(AssertionError, match="looks like a credential"):
        kit.test_connector_secret_looking_settings_are_flagged_secret()


def test_kit_fails_when_check_is_not_ok() -> None:
    kit = kit_for({"type": "object", "properties": {}}, ok=False)

    with pytest.raises(AssertionError, match="check\\(\\) failed"):
        kit.test_connector_check_reports_ok()


def test_kit_class_name_follows_the_connector() -> None:
    assert type(kit_for({"type": "object"})).__name__ == "TestProbeConnector"
