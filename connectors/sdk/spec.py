"""`Connector`: the one object a connector package exports (as ``CONNECTOR``).

The hub never imports a connector's internals; it reads this spec: what to ask the
user (`config_schema`), how to test the settings (`check`), where records come
from (`tap` in-process, or `tap_command` for an external Singer executable) and,
optionally, how to write back (`writer`) and receive pushes (`webhook_receiver`).

Secrets are declared in the schema, never guessed by name: a property carrying
``"secret": true, "writeOnly": true`` (what singer-sdk's ``Property(..., secret=True)``
emits) is encrypted at rest by the hub, never returned by the API and replaced by
``********`` in logs. An object property carrying ``"x-secret-keys": "<sibling>"`` has
secret *keys* named by the sibling setting (for free-form objects such as the config
of an arbitrary Singer tap).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from singer_sdk import Tap
from singer_sdk.helpers.capabilities import TapCapabilities

from connectors.sdk.errors import ConfigError
from connectors.sdk.webhooks import RecordFetcherFactory, WebhookReceiverFactory
from connectors.sdk.writer import WriterFactory

__all__ = [
    "SECRET_KEYS_KEYWORD",
    "SECRET_MASK",
    "CheckResult",
    "Connector",
    "TapCommand",
    "tap_settings_schema",
    "validate_against",
]

SECRET_MASK = "********"  # noqa: S105 - the mask, not a password
SECRET_KEYS_KEYWORD = "x-secret-keys"  # noqa: S105 - a schema keyword

TapCommand = Callable[[Mapping[str, Any], Path, dict[str, Any] | None], list[str]]
"""(config, private work dir, state or None) -> argv of an external Singer tap.

It writes config.json / catalog.json / state.json into the work dir and returns the
command line; the hub runs it and reads Singer messages from its stdout.
"""

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of a connection test, shown as is in the console and the CLI.

    `check` returns ``ok=False`` when the connection does not work and no single
    setting is to blame (the tap exited 1, the server is down); it raises
    ``ConfigError(field=...)`` when one setting is wrong, so the console can point at it.
    """

    ok: bool
    message: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, eq=False)
class Connector:
    """Everything the hub needs to know about one kind of external system.

    Compared and hashed by identity (``eq=False``): two specs are the same connector
    only if they are the same object from the registry.
    """

    name: str
    """Registry key, equal to the entry-point name: ``[a-z][a-z0-9_]*``."""
    title: str
    description: str
    check: Callable[[Mapping[str, Any]], CheckResult]
    config_schema: dict[str, Any] = field(default_factory=dict)
    """JSON Schema of the settings. Left empty, it is derived from `tap`."""
    tap: type[Tap] | None = None
    """A singer-sdk Tap class run in-process (the common case)."""
    tap_command: TapCommand | None = None
    """Or: builds the command line of an external Singer tap."""
    writer: WriterFactory | None = None
    webhook_receiver: WebhookReceiverFactory | None = None
    fetcher: RecordFetcherFactory | None = None
    """Re-reads full records for events that carry keys only (see webhooks.py)."""
    validate: Callable[[Mapping[str, Any]], None] | None = None
    """Checks the schema cannot express (unique names, ...); raises ConfigError. No I/O."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            msg = f"connector name {self.name!r} must match [a-z][a-z0-9_]*"
            raise ValueError(msg)
        if (self.tap is None) == (self.tap_command is None):
            msg = f"connector {self.name!r} must declare exactly one of `tap` or `tap_command`"
            raise ValueError(msg)
        if not self.config_schema:
            schema = (
                tap_settings_schema(self.tap)
                if self.tap is not None
                else {"type": "object", "properties": {}}
            )
            object.__setattr__(self, "config_schema", schema)
        jsonschema.validators.validator_for(self.config_schema).check_schema(self.config_schema)

    @property
    def capabilities(self) -> frozenset[str]:
        """What the hub may do with it: ``read``, ``incremental``, ``write``, ``webhook``."""
        caps = {"read"}
        if self.tap_command is not None or (
            self.tap is not None and TapCapabilities.STATE in self.tap.capabilities
        ):
            caps.add("incremental")
        if self.writer is not None:
            caps.add("write")
        if self.webhook_receiver is not None:
            caps.add("webhook")
        return frozenset(caps)

    def secret_fields(self, config: Mapping[str, Any] | None = None) -> list[str]:
        """Dotted paths of secret settings: ``password``, ``auth.token``, ``hosts[*].key``.

        With `config`, keys declared through ``x-secret-keys`` are included too.
        """
        return list(dict.fromkeys(_secret_paths(self.config_schema, config, "")))

    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise ConfigError naming the first wrong setting and how to fix it.

        Uses the schema's ``$schema`` draft (Draft 2020-12 when absent), then the
        connector's own `validate`. Secret values never appear in the message.
        """
        validate_against(self.config_schema, config, secrets=self.secret_fields(config))
        if self.validate is not None:
            self.validate(config)

    def redact(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A deep copy of `config` with every secret value replaced by ``********``."""
        result = copy.deepcopy(dict(config))
        for path in self.secret_fields(config):
            _mask(result, _split_path(path))
        return result


def validate_against(
    schema: Mapping[str, Any], config: Mapping[str, Any], *, secrets: list[str] | None = None
) -> None:
    """Validate `config` against a settings schema; ConfigError names the first bad field.

    `secrets` are dotted paths whose values must not appear in messages.
    """
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = list(validator.iter_errors(config))
    if errors:
        best = best_match(errors)
        problems = [_describe(e, secrets or [])[1] for e in errors]
        field_path, message, hint = _describe(best, secrets or [])
        raise ConfigError(message, field=field_path, hint=hint, problems=problems)


def tap_settings_schema(tap: type[Tap]) -> dict[str, Any]:
    """The tap's own settings, without singer-sdk's built-in ones.

    singer-sdk appends stream maps, flattening and batch settings to
    ``config_jsonschema`` (in place, on first use). The hub does not offer them:
    mappings own the record shape, and a stream map or flattening would change the
    shape those mappings expect. Stripping them here also makes the result the same
    whether or not a tap was instantiated before.
    """
    schema = copy.deepcopy(tap.config_jsonschema)
    builtin: dict[str, Any] = {"properties": {}}
    tap.append_builtin_config(builtin)
    own = schema.setdefault("properties", {})
    for name, prop in builtin["properties"].items():
        if own.get(name) == prop:
            del own[name]
    schema.setdefault("type", "object")
    return schema


# ------------------------------------------------------------------ secret paths


def _secret_paths(schema: Mapping[str, Any], config: Any, prefix: str) -> Iterator[str]:
    """Walk the schema (and the config, for ``x-secret-keys``) yielding secret paths."""
    values = config if isinstance(config, Mapping) else {}
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        path = f"{prefix}.{name}" if prefix else name
        if prop.get("secret") is True or prop.get("writeOnly") is True:
            yield path
            continue
        keys_from = prop.get(SECRET_KEYS_KEYWORD)
        if isinstance(keys_from, str):
            for key in values.get(keys_from) or []:
                yield f"{path}.{key}"
        yield from _secret_paths(prop, values.get(name), path)
        items = prop.get("items")
        if isinstance(items, Mapping):
            yield from _secret_paths(items, None, f"{path}[*]")


def _split_path(path: str) -> list[str]:
    """``a.b[*].c`` -> ``["a", "b", "*", "c"]``."""
    parts: list[str] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(index)
            rest = rest.removeprefix("[")
    return parts


def _mask(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*" and isinstance(node, list):
        for item in node:
            if rest:
                _mask(item, rest)
        return
    if not isinstance(node, dict) or head not in node:
        return
    if rest:
        _mask(node[head], rest)
    elif node[head] not in (None, ""):
        node[head] = SECRET_MASK


# ------------------------------------------------------------------ error messages


def _describe(error: ValidationError, secrets: list[str]) -> tuple[str | None, str, str | None]:
    """(field path, message, hint) for one validation error, secrets hidden."""
    location = list(error.absolute_path)
    hint: str | None = None
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [p for p in error.validator_value if p not in error.instance]
        location += missing[:1]
        described = _property_schema(error.schema, missing[:1])
        hint = f"set it{': ' + described if described else ''}"
    elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = list((error.schema.get("properties") or {}).keys())
        extra = [k for k in error.instance if k not in known]
        location += extra[:1]
        hint = f"remove it or fix its spelling; known settings: {', '.join(known)}"
    elif error.validator == "enum":
        hint = "use one of: " + ", ".join(map(str, error.validator_value))
    else:
        hint = error.schema.get("description") if isinstance(error.schema, Mapping) else None
    field_path = _format_path(location)
    if field_path is not None and _is_secret(field_path, secrets):
        message = f"{field_path}: invalid value (hidden: secret setting; failed {error.validator})"
    else:
        message = f"{field_path or 'config'}: {error.message}"
    return field_path, message, hint


def _property_schema(schema: Any, names: list[Any]) -> str | None:
    if not names or not isinstance(schema, Mapping):
        return None
    prop = (schema.get("properties") or {}).get(names[0])
    return prop.get("description") if isinstance(prop, Mapping) else None


def _format_path(location: list[Any]) -> str | None:
    if not location:
        return None
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_secret(field_path: str, secrets: list[str]) -> bool:
    generic = re.sub(r"\[\d+\]", "[*]", field_path)
    return any(generic == s or generic.startswith(s + ".") for s in secrets)
