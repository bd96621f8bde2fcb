"""Connections: validated against their connector's config schema; secret settings are
split off and stored encrypted, and shown masked from then on. URLs in the settings
pass the SSRF guard before they are stored and again when the connection is checked.

Errors name the offending setting in `details["field"]` (`config.streams[0].format`,
`connector`, `name`), so the API can point at the input and the CLI shows the message.
"""

from __future__ import annotations

import copy
import pathlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connectors.sdk.registry import get_connector
from connectors.sdk.spec import Connector
from core.errors import ConfigError, ConflictError, HubError, NotFoundError
from core.model.tables import Connection, SyncJob, SyncRun, Tenant
from core.security.secrets import REDACTED, SecretBox
from core.security.urlguard import check_host, check_url
from core.settings import get_settings
from core.store.scoping import scope_to_tenant
from core.sync.runs import ACTIVE
from scheduler.errors import translate

Path = tuple[str | int, ...]


def _box() -> SecretBox:
    return SecretBox(get_settings().secret_key)


def _parts(path: str) -> list[str]:
    """``a.b[*].c`` -> ``["a", "b", "*", "c"]`` (the connector SDK's path syntax)."""
    return [p for p in path.replace("[", ".").replace("]", "").split(".") if p]


def _concrete(node: Any, parts: list[str], prefix: Path = ()) -> list[Path]:
    """Expand `[*]` against the config: the concrete paths that hold a value."""
    if not parts:
        return [prefix]
    head, rest = parts[0], parts[1:]
    if head == "*":
        if not isinstance(node, list):
            return []
        return [p for i, item in enumerate(node) for p in _concrete(item, rest, (*prefix, i))]
    if not isinstance(node, dict) or head not in node:
        return []
    return _concrete(node[head], rest, (*prefix, head))


def _get(document: Any, path: Path) -> Any:
    for part in path:
        document = document[part]
    return document


def _set(document: Any, path: Path, value: Any) -> None:
    _get(document, path[:-1])[path[-1]] = value


def _shown_path(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def user_error(error: BaseException, prefix: str = "") -> BaseException:
    """Core's error for a connector's one, keeping the setting it names (under `prefix`)."""
    translated = translate(error)
    named = getattr(error, "field", None)
    if isinstance(translated, HubError) and named and "field" not in translated.details:
        translated.details["field"] = f"{prefix}{named}"
    return translated


def split_secrets(
    config: Mapping[str, Any], secret_paths: Iterable[str]
) -> tuple[dict[str, Any], list[tuple[list[str | int], Any]]]:
    """(settings with secrets masked, [(concrete path, secret value)])."""
    plain = copy.deepcopy(dict(config))
    secrets: list[tuple[list[str | int], Any]] = []
    for pattern in secret_paths:
        for path in _concrete(plain, _parts(pattern)):
            value = _get(plain, path)
            if value not in (None, "", REDACTED):
                secrets.append((list(path), value))
                _set(plain, path, REDACTED)
    return plain, secrets


# ------------------------------------------------------------------ URL guard


NETWORK_KEYWORD = "x-network"
"""Schema keyword of a setting the connector connects to: `url` (a URL when it has a
scheme, else a file path: the SOAP connector's `wsdl`) or `host` (a host name with its
port in the sibling setting named by `x-port`, default 22: an SFTP server)."""
SERVER_PATH_KEYWORD = "x-server-path"
"""Schema keyword of a setting that may name a file on the server running the hub."""


def config_urls(
    schema: Mapping[str, Any], config: Any, prefix: Path = ()
) -> Iterator[tuple[Path, str]]:
    """(path, URL) of every setting that holds a URL: declared `format: uri` or
    `x-network: url`, or named `*url` (also inside free-form objects such as a Singer
    tap's own config)."""
    if isinstance(config, Mapping):
        props = schema.get("properties") if isinstance(schema, Mapping) else None
        for key, value in config.items():
            sub = (props or {}).get(key) if isinstance(props, Mapping) else None
            sub = sub if isinstance(sub, Mapping) else {}
            path = (*prefix, key)
            if isinstance(value, str):
                if (
                    str(key).lower().endswith("url")
                    or sub.get("format") in ("uri", "iri")
                    or (sub.get(NETWORK_KEYWORD) == "url" and "://" in value)
                ):
                    yield path, value
            else:
                yield from config_urls(sub, value, path)
    elif isinstance(config, list):
        items = schema.get("items") if isinstance(schema, Mapping) else None
        items = items if isinstance(items, Mapping) else {}
        for index, value in enumerate(config):
            if isinstance(value, str):
                if items.get("format") in ("uri", "iri"):
                    yield (*prefix, index), value
            else:
                yield from config_urls(items, value, (*prefix, index))


def config_hosts(schema: Mapping[str, Any], config: Any) -> Iterator[tuple[Path, str, int]]:
    """(path, host, port) of the top-level settings declared `x-network: host`."""
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(config, Mapping) or not isinstance(props, Mapping):
        return
    for key, prop in props.items():
        host = config.get(key)
        if isinstance(prop, Mapping) and prop.get(NETWORK_KEYWORD) == "host" and host:
            port = config.get(str(prop.get("x-port") or "port"), 22)
            yield (key,), str(host), port if isinstance(port, int) else 22


def check_config_urls(
    spec: Connector, config: Mapping[str, Any], *, unresolved_ok: bool = True
) -> None:
    """Refuse URLs and hosts that reach loopback, private, link-local or metadata
    addresses unless L2C_URL_ALLOWLIST admits them (ConfigError naming the setting).
    When settings are saved, a name this machine cannot resolve is accepted (split DNS,
    a host not up yet): a check, a discovery and every connection vet it again."""
    allowlist = get_settings().url_allowlist
    targets: list[tuple[Path, Callable[[], object]]] = [
        (path, partial(check_url, url, allowlist=allowlist, unresolved_ok=unresolved_ok))
        for path, url in config_urls(spec.config_schema, config)
    ]
    targets += [
        (path, partial(check_host, host, port, allowlist=allowlist, unresolved_ok=unresolved_ok))
        for path, host, port in config_hosts(spec.config_schema, config)
    ]
    for path, check in targets:
        try:
            check()
        except ConfigError as error:
            shown = _shown_path(path)
            raise ConfigError(
                f"{shown}: {error.message}", hint=error.hint, field=f"config.{shown}"
            ) from None


# ------------------------------------------------------------------ create, change, delete


def _validated(spec: Connector, config: Mapping[str, Any]) -> None:
    try:
        spec.validate_config(config)
    except Exception as error:
        raise user_error(error, "config.") from None
    check_config_urls(spec, config)


def _connector(name: str) -> Connector:
    try:
        return get_connector(name)
    except Exception as error:
        raise user_error(error) from None


def _refuse_masked(spec: Connector, config: Mapping[str, Any]) -> None:
    for pattern in spec.secret_fields(config):
        for path in _concrete(config, _parts(pattern)):
            if _get(config, path) == REDACTED:
                shown = _shown_path(path)
                raise ConfigError(
                    f"{shown}: {REDACTED} is the mask, not a value",
                    hint="send the secret itself",
                    field=f"config.{shown}",
                )


def _name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"a connection named {name!r} already exists",
        hint="pick another name",
        field="name",
    )


def _store(connection: Connection, spec: Connector, config: Mapping[str, Any]) -> None:
    plain, secrets = split_secrets(config, spec.secret_fields(config))
    connection.config = plain
    store_secret_document(connection, {**secret_document(connection), "paths": secrets})


def secret_document(connection: Connection) -> dict[str, Any]:
    """The decrypted secrets of a connection: `paths` (secret settings) and other parts
    kept beside them, such as `webhook` (its signing secrets, scheduler/webhooks.py)."""
    document = _box().decrypt(connection.secrets) if connection.secrets else {}
    document.setdefault("paths", [])
    return document


def store_secret_document(connection: Connection, document: dict[str, Any]) -> None:
    """Encrypt `document` into the connection (None when it holds nothing). Whoever
    changes one part must keep the others: read with `secret_document` first."""
    held = any(value for value in document.values())
    connection.secrets = _box().encrypt(document) if held else None


def check_server_access(connector: str, config: Mapping[str, Any], tenant_slug: str) -> None:
    """For settings that come over the API: a tenant may not make the server read its
    files or run its programs. Files are read only under the tenant's own folder of
    L2C_FILES_ROOT, and only Singer taps an operator listed in L2C_SINGER_EXECUTABLES run.
    (The CLI is the operator's own tool on the server and is not limited.)"""
    settings = get_settings()
    if connector == "files" and isinstance(config.get("path"), str):
        root = settings.tenant_files_root(tenant_slug)
        folder = pathlib.Path(config["path"]).expanduser()
        folder = (folder if folder.is_absolute() else root / folder).resolve()
        if not folder.is_relative_to(root):
            raise ConfigError(
                f"config.path: {config['path']!r} is outside this tenant's files folder {root}",
                hint=f"put the files under {root} (or give a path relative to it); the "
                "folder is set by L2C_FILES_ROOT",
                field="config.path",
            )
    try:
        schema = _connector(connector).config_schema
    except ConfigError:
        schema = {}
    for key, prop in (schema.get("properties") or {}).items():
        value = config.get(key)
        if (
            isinstance(prop, Mapping)
            and prop.get(SERVER_PATH_KEYWORD)
            and isinstance(value, str)
            and "://" not in value
        ):
            root = settings.tenant_files_root(tenant_slug)
            target = pathlib.Path(value).expanduser()
            target = (target if target.is_absolute() else root / target).resolve()
            if not target.is_relative_to(root):
                raise ConfigError(
                    f"config.{key}: {value!r} is outside this tenant's files folder {root}",
                    hint=f"give a URL, or put the file under {root} (L2C_FILES_ROOT)",
                    field=f"config.{key}",
                )
    if connector == "singer" and isinstance(config.get("executable"), str):
        command = config["executable"]
        if command not in settings.singer_executables:
            raise ConfigError(
                f"config.executable: {command!r} is not an allowed Singer tap on this server",
                hint="an operator lists the taps tenants may run in L2C_SINGER_EXECUTABLES",
                field="config.executable",
            )


def add_connection(
    session: Session,
    tenant: Tenant,
    *,
    name: str,
    connector: str,
    config: Mapping[str, Any],
    remote: bool = False,
) -> Connection:
    """Validate and store a new connection (its secrets encrypted). `remote` settings come
    from an API caller and pass `check_server_access`."""
    spec = _connector(connector)
    _refuse_masked(spec, config)
    _validated(spec, config)
    if remote:
        check_server_access(connector, config, tenant.slug)
    if session.scalar(
        select(Connection.id).where(Connection.tenant_id == tenant.id, Connection.name == name)
    ):
        raise _name_taken(name)
    connection = Connection(tenant_id=tenant.id, name=name, connector=connector)
    _store(connection, spec, config)
    session.add(connection)
    _flush_unique(session, tenant.id, name)
    return connection


def _flush_unique(session: Session, tenant_id: uuid.UUID, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:  # a concurrent request took the name between check and insert
        raise _name_taken(name) from None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge, null removes a key, the rest replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def update_connection(
    session: Session,
    connection: Connection,
    *,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    remote_tenant: str | None = None,
) -> Connection:
    """Rename and/or merge-patch the settings. Secret settings are write-only: a new value
    replaces the stored one; an omitted one, or the mask sent back, keeps it. Settings
    from an API caller (`remote_tenant` = its slug) pass `check_server_access`."""
    if name is not None and name != connection.name:
        if session.scalar(
            select(Connection.id).where(
                Connection.tenant_id == connection.tenant_id, Connection.name == name
            )
        ):
            raise _name_taken(name)
        connection.name = name
    if config is not None:
        spec = _connector(connection.connector)
        merged = merge_patch(shown_config(connection), config)
        stored = resolved_config(connection)
        for pattern in spec.secret_fields(merged):
            for path in _concrete(merged, _parts(pattern)):
                if _get(merged, path) != REDACTED:
                    continue
                try:
                    _set(merged, path, _get(stored, path))
                except (KeyError, IndexError, TypeError):
                    shown = _shown_path(path)
                    raise ConfigError(
                        f"{shown}: no stored secret to keep",
                        hint="send the secret itself",
                        field=f"config.{shown}",
                    ) from None
        _refuse_masked_leftovers(merged)
        _validated(spec, merged)
        if remote_tenant is not None:
            check_server_access(connection.connector, merged, remote_tenant)
        _store(connection, spec, merged)
        connection.status = "unchecked"
    _flush_unique(session, connection.tenant_id, connection.name)
    return connection


def _refuse_masked_leftovers(config: Any, path: Path = ()) -> None:
    """A mask left at a path that is no longer secret would be stored as its value (and
    dropping the secret flag must not reveal the secret): the user sends it again."""
    if isinstance(config, Mapping):
        items: Iterable[tuple[str | int, Any]] = config.items()
    elif isinstance(config, list):
        items = enumerate(config)
    else:
        if config == REDACTED:
            shown = _shown_path(path)
            raise ConfigError(
                f"{shown}: holds the mask {REDACTED} but is not a secret setting",
                hint="send its value again (it is no longer stored encrypted)",
                field=f"config.{shown}",
            )
        return
    for key, value in items:
        _refuse_masked_leftovers(value, (*path, key))


def active_runs(session: Session, job_ids: Select[uuid.UUID] | list[uuid.UUID]) -> list[SyncRun]:
    """Queued or running runs of the given jobs."""
    return list(
        session.scalars(
            select(SyncRun).where(SyncRun.job_id.in_(job_ids), SyncRun.status.in_(ACTIVE))
        )
    )


def delete_connection(session: Session, connection: Connection) -> None:
    """Delete a connection with its jobs, runs, state, xrefs and quarantine (canonical
    records stay); refused while one of its jobs has an active run."""
    busy = active_runs(session, select(SyncJob.id).where(SyncJob.connection_id == connection.id))
    if busy:
        raise ConflictError(
            f"connection {connection.name!r} has an active run ({busy[0].id})",
            hint="wait for the run to finish, then delete the connection",
        )
    session.delete(connection)
    session.flush()


# ------------------------------------------------------------------ look-ups


def get_connection(session: Session, tenant: Tenant, name: str) -> Connection:
    connection = session.scalar(
        select(Connection).where(Connection.tenant_id == tenant.id, Connection.name == name)
    )
    if connection is None:
        raise NotFoundError(f"no connection named {name!r}", hint="see `l2c connection list`")
    return connection


def get_connection_by_id(
    session: Session, tenant_id: uuid.UUID, connection_id: uuid.UUID
) -> Connection:
    connection = session.get(Connection, connection_id)
    if connection is None or connection.tenant_id != tenant_id:
        raise NotFoundError(
            "no such connection in this tenant",
            hint="list them with GET /v1/connections",
        )
    return connection


def connections_query(tenant_id: uuid.UUID, *, connector: str | None = None) -> Select[Connection]:
    query = select(Connection).where(Connection.tenant_id == tenant_id)
    if connector is not None:
        query = query.where(Connection.connector == connector)
    return query


def resolved_config(connection: Connection) -> dict[str, Any]:
    """The full config, secrets decrypted: only for handing to the connector."""
    config = copy.deepcopy(connection.config)
    for path, value in secret_document(connection)["paths"]:
        _set(config, tuple(path), value)
    return config


def vetted_config(connection: Connection) -> dict[str, Any]:
    """The full config for a run, a write-back or a re-read: every URL in it is vetted
    again now (DNS may have changed since the settings were saved)."""
    config = resolved_config(connection)
    check_config_urls(_connector(connection.connector), config, unresolved_ok=False)
    return config


def shown_config(connection: Connection) -> dict[str, Any]:
    """The config as users see it: secrets are stored masked in it."""
    return copy.deepcopy(connection.config)


def secret_settings(connection: Connection) -> list[str]:
    """Paths of the settings that hold a stored secret (shown masked in the config)."""
    found: list[str] = []

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))
        elif node == REDACTED and connection.secrets:
            found.append(_shown_path(path))

    walk(connection.config, ())
    return found


def secret_values(connection: Connection) -> list[str]:
    """The decrypted secret strings, to scrub them from a tool's output."""
    paths = secret_document(connection)["paths"]
    return [str(value) for _, value in paths if value not in (None, "")]


# ------------------------------------------------------------------ check


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """What a connection test found; `field` and `hint` point at the setting to fix."""

    ok: bool
    message: str
    details: tuple[str, ...] = ()
    field: str | None = None
    hint: str | None = None


def check_connection(connection: Connection) -> CheckOutcome:
    """Run the connector's test with the connection's settings (no database work).

    A wrong setting or an unreachable system is an outcome, not an error: the outcome
    says what to fix.
    """
    spec = _connector(connection.connector)
    try:
        config = resolved_config(connection)
        check_config_urls(spec, config, unresolved_ok=False)
        from scheduler.network import connector_network

        with connector_network():
            result = spec.check(config)
        return CheckOutcome(result.ok, result.message, tuple(result.details))
    except Exception as error:
        translated = user_error(error, "config.")
        if not isinstance(translated, HubError) or translated.category == "bug":
            raise translated from None
        named = translated.details.get("field")
        return CheckOutcome(
            False, translated.message, field=str(named) if named else None, hint=translated.hint
        )


def run_check(
    sessions: sessionmaker[Session], tenant_id: uuid.UUID, connection_id: uuid.UUID
) -> CheckOutcome:
    """Check a connection and store its status (`ok` or `needs_attention`).

    The test may take a minute (a tap's discovery), so it runs between two short
    transactions rather than inside one: on SQLite a transaction holds the write lock.
    A status is not stored over settings changed while the test ran.
    """
    with sessions.begin() as session:
        scope_to_tenant(session, tenant_id)
        connection = get_connection_by_id(session, tenant_id, connection_id)
        session.expunge(connection)
    outcome = check_connection(connection)
    with sessions.begin() as session:
        scope_to_tenant(session, tenant_id)
        stored = session.get(Connection, connection_id)
        if stored is not None and stored.updated_at == connection.updated_at:
            stored.status = "ok" if outcome.ok else "needs_attention"
    return outcome
