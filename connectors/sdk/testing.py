"""The connector test kit: one line in a connector's tests says whether it is correct.

    from connectors.sdk.testing import connector_tests
    TestAcmeConnector = connector_tests(CONNECTOR, SAMPLE_CONFIG)

The returned pytest class holds

* singer-sdk's standard tap tests (discovery, a sync, records match their schema,
  final state, ...) for connectors with an in-process `tap`, run on the embeddable
  subclass so the test process keeps its signal handlers;
* the hub's own checks: the settings schema is a valid JSON Schema, secret settings
  are write-only and secret-looking ones are flagged, the sample config validates,
  ``check()`` reports ok, ``redact()`` hides every secret, and embedding a tap leaves
  the process's signal handlers alone.

`SAMPLE_CONFIG` must work offline (local files, a fake server started by the test
module, a fake tap script): the kit runs a real sync with it.

singer-sdk's per-stream tests are parametrized by its pytest plugin, which
singer-sdk registers itself (``pytest11`` entry point ``singer_testing``); do not
disable it with ``-p no:singer_testing``.
"""

from __future__ import annotations

import copy
import re
import signal
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import jsonschema
import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from connectors.sdk.embedding import CallbackWriter, embeddable
from connectors.sdk.spec import SECRET_KEYS_KEYWORD, SECRET_MASK, Connector

__all__ = ["connector_tests"]

# Setting names that hold credentials in practice; the kit insists they are flagged.
_SECRET_LOOKING = re.compile(r"(?i)(.*(password|passwd|secret|api_?key|private_?key)|(.*_)?token)$")

# singer-sdk's "transformed_catalog_schema_matches_record" test warns when a schema
# property appears in no record of the sample sync. Optional properties are normal
# (e.g. the files connector's `_error`/`_raw`, present only on bad rows), and with
# warnings-as-errors that warning would fail the test, so it is ignored by message.
_SDK_OPTIONAL_FIELDS_WARNING = "ignore:Fields in transformed catalog but not in records:UserWarning"


def connector_tests(
    connector: Connector,
    config: Mapping[str, Any],
    *,
    suite_config: SuiteConfig | None = None,
) -> type:
    """Build the pytest class that tests `connector` with the offline sample `config`."""
    sample = copy.deepcopy(dict(config))
    checks = type(
        "_Checks",
        (_ConnectorChecks if connector.tap is None else _TapChecks,),
        {"connector": connector, "sample_config": sample},
    )
    bases: tuple[type, ...] = (checks,)
    namespace: dict[str, Any] = {}
    if connector.tap is not None:
        sdk_tests = get_tap_test_class(
            embeddable(connector.tap), config=copy.deepcopy(sample), suite_config=suite_config
        )
        bases = (checks, sdk_tests)
        namespace["pytestmark"] = [pytest.mark.filterwarnings(_SDK_OPTIONAL_FIELDS_WARNING)]
    name = "".join(part.title() for part in connector.name.split("_"))
    return type(f"Test{name}Connector", bases, namespace)


class _ConnectorChecks:
    """The hub's checks; `connector` and `sample_config` are set by `connector_tests`."""

    connector: ClassVar[Connector]
    sample_config: ClassVar[dict[str, Any]]

    def test_connector_config_schema_is_a_valid_json_schema(self) -> None:
        schema = self.connector.config_schema
        jsonschema.validators.validator_for(schema).check_schema(schema)
        assert schema.get("type") == "object", "settings schema must describe an object"

    def test_connector_secret_settings_are_write_only(self) -> None:
        for path, prop in _properties(self.connector.config_schema, ""):
            if prop.get("secret") is True:
                assert prop.get("writeOnly") is True, f"{path}: secret but not writeOnly"

    def test_connector_secret_looking_settings_are_flagged_secret(self) -> None:
        for path, prop in _properties(self.connector.config_schema, ""):
            name = path.rsplit(".", 1)[-1].removesuffix("[*]")
            if _SECRET_LOOKING.fullmatch(name) and SECRET_KEYS_KEYWORD not in prop:
                assert prop.get("secret") is True, f"{path} looks like a credential: flag it"

    def test_connector_sample_config_validates(self) -> None:
        self.connector.validate_config(self.sample_config)

    def test_connector_check_reports_ok(self) -> None:
        result = self.connector.check(self.sample_config)
        assert result.ok, f"check() failed: {result.message} {result.details}"

    def test_connector_redact_hides_every_secret(self) -> None:
        original = copy.deepcopy(self.sample_config)
        text = repr(self.connector.redact(self.sample_config))
        assert self.sample_config == original, "redact() must not change its argument"
        for path in self.connector.secret_fields(self.sample_config):
            for value in _values_at(self.sample_config, path):
                if value in (None, ""):
                    continue
                assert str(value) not in text, f"redact() leaks {path}"
                assert SECRET_MASK in text


class _TapChecks(_ConnectorChecks):
    """Checks for connectors with an in-process tap."""

    def test_connector_embedded_tap_leaves_signal_handlers_alone(self) -> None:
        assert self.connector.tap is not None
        before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        embeddable(self.connector.tap)(
            config=copy.deepcopy(self.sample_config),
            message_writer=CallbackWriter(lambda _message: None),
        )
        after = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        assert after == before


def _properties(schema: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        path = f"{prefix}.{name}" if prefix else name
        yield path, prop
        yield from _properties(prop, path)
        if isinstance(prop.get("items"), Mapping):
            yield from _properties(prop["items"], f"{path}[*]")


def _values_at(node: Any, path: str) -> Iterator[Any]:
    """Values at a dotted secret path (``[*]`` walks every list item)."""
    parts = re.split(r"\.|(?=\[\*\])", path)
    yield from _walk(node, [p for p in parts if p])


def _walk(node: Any, parts: list[str]) -> Iterator[Any]:
    if not parts:
        yield node
        return
    head, rest = parts[0], parts[1:]
    if head == "[*]":
        for item in node if isinstance(node, list) else []:
            yield from _walk(item, rest)
    elif isinstance(node, Mapping) and head in node:
        yield from _walk(node[head], rest)
