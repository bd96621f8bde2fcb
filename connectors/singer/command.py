"""Build the command line of an external Singer tap, and run its discovery.

The hub gives `tap_command` a private work dir; the files written there hold the
tap's secrets, so they are created readable by the owner only.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sdk.errors import ConfigError, TransientError
from connectors.sdk.spec import SECRET_MASK
from connectors.singer.config import SingerSettings, parse_settings

__all__ = [
    "DISCOVERY_TIMEOUT",
    "Discovery",
    "resolve_executable",
    "run_discovery",
    "select_streams",
    "stream_names",
    "tap_command",
    "write_private_json",
]

DISCOVERY_TIMEOUT = 60.0
"""Seconds a tap may take to print its catalog."""

_STDERR_LINES = 20


def tap_command(
    config: Mapping[str, Any], workdir: Path, state: dict[str, Any] | None
) -> list[str]:
    """Write config.json (and catalog.json, state.json) into `workdir`; return argv.

    With `select` and no catalog, the tap's discovery is run first to get one.
    """
    settings = parse_settings(config)
    executable = resolve_executable(settings.executable)
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = write_private_json(workdir / "config.json", settings.tap_config)
    argv = [executable, *settings.args, "--config", str(config_path)]

    catalog = settings.catalog
    if settings.select is not None:
        if catalog is None:
            found = run_discovery(settings, executable, config_path)
            if found.catalog is None:
                raise (TransientError if found.timed_out else ConfigError)(
                    f"cannot select streams: {found.message}",
                    field="select",
                    hint="fix the tap settings or give a catalog",
                    stderr=found.stderr_tail,
                )
            catalog = found.catalog
        catalog = select_streams(
            catalog, settings.select, legacy=settings.catalog_flag != "--catalog"
        )
    if catalog is not None:
        argv += [settings.catalog_flag, str(write_private_json(workdir / "catalog.json", catalog))]
    if state is not None:
        argv += ["--state", str(write_private_json(workdir / "state.json", state))]
    return argv


def resolve_executable(executable: str) -> str:
    """The path to run: a name is searched on PATH, a path must be an executable file."""
    if os.sep in executable or "/" in executable:
        path = Path(executable).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise ConfigError(
            f"{executable} is not an executable file",
            field="executable",
            hint="give the full path of the tap's executable (chmod +x if needed)",
        )
    found = shutil.which(executable)
    if found is None:
        searched = os.environ.get("PATH", "")
        raise ConfigError(
            f"{executable!r} was not found on PATH",
            field="executable",
            hint=f"install it (e.g. pipx install {executable}) or give its full path; "
            f"PATH searched: {searched}",
            path=searched,
        )
    return found


def write_private_json(path: Path, value: Any) -> Path:
    """Write JSON readable by the owner only (it may hold credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return path


@dataclass(frozen=True, slots=True)
class Discovery:
    """Outcome of ``<tap> --config ... --discover``."""

    catalog: dict[str, Any] | None
    message: str
    stderr_tail: list[str] = field(default_factory=list)
    timed_out: bool = False


def run_discovery(
    settings: SingerSettings,
    executable: str,
    config_path: Path,
    *,
    timeout: float | None = None,
) -> Discovery:
    """Run the tap's discovery (`DISCOVERY_TIMEOUT` s at most); the tap's failures are
    reported in the result, not raised."""
    timeout = DISCOVERY_TIMEOUT if timeout is None else timeout
    argv = [executable, *settings.args, "--config", str(config_path), "--discover"]
    try:
        # The executable is the user's chosen tap, resolved above; no shell is involved.
        proc = subprocess.run(  # noqa: S603
            argv,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
            cwd=config_path.parent,
        )
    except subprocess.TimeoutExpired as exc:
        tail = _tail(exc.stderr, settings)
        return Discovery(None, f"discovery did not finish within {timeout:g} s", tail, True)
    except OSError as exc:
        return Discovery(None, f"cannot start {executable}: {exc.strerror or exc}")
    tail = _tail(proc.stderr, settings)
    if proc.returncode != 0:
        return Discovery(None, f"discovery exited with code {proc.returncode}", tail)
    catalog = _parse_catalog(proc.stdout.decode("utf-8", errors="replace"))
    if catalog is None:
        return Discovery(None, "discovery did not print a JSON catalog on stdout", tail)
    return Discovery(catalog, f"discovered {len(catalog['streams'])} stream(s)", tail)


def stream_names(catalog: Mapping[str, Any]) -> list[str]:
    return [_stream_id(entry) for entry in catalog.get("streams") or []]


def select_streams(
    catalog: Mapping[str, Any], names: tuple[str, ...], *, legacy: bool
) -> dict[str, Any]:
    """A copy of `catalog` with exactly the streams in `names` selected.

    Selection goes in the root (breadcrumb ``[]``) metadata, as the Singer spec
    says; `legacy` taps (``--properties``) read ``schema.selected`` instead.
    """
    result = copy.deepcopy(dict(catalog))
    entries = result.get("streams") or []
    available = {name for entry in entries for name in (_stream_id(entry), entry.get("stream"))}
    unknown = [name for name in names if name not in available]
    if unknown:
        raise ConfigError(
            f"unknown stream(s) in select: {', '.join(unknown)}",
            field="select",
            hint=f"streams of this tap: {', '.join(stream_names(result)) or '(none)'}",
        )
    wanted = set(names)
    for entry in entries:
        chosen = _stream_id(entry) in wanted or entry.get("stream") in wanted
        metadata = entry.setdefault("metadata", [])
        root = next((m for m in metadata if list(m.get("breadcrumb") or []) == []), None)
        if root is None:
            root = {"breadcrumb": [], "metadata": {}}
            metadata.append(root)
        root.setdefault("metadata", {})["selected"] = chosen
        if legacy:
            entry.setdefault("schema", {})["selected"] = chosen
    return result


def _stream_id(entry: Mapping[str, Any]) -> str:
    return str(entry.get("tap_stream_id") or entry.get("stream") or "")


def _parse_catalog(stdout: str) -> dict[str, Any] | None:
    """The catalog object; tolerates taps that log to stdout before printing it."""
    candidates = [stdout, *reversed(stdout.splitlines())]
    for text in candidates:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("streams"), list):
            return value
    return None


def _tail(stderr: bytes | str | None, settings: SingerSettings) -> list[str]:
    """The last lines of a tap's stderr, secret values masked."""
    if not stderr:
        return []
    text = stderr.decode("utf-8", errors="replace") if isinstance(stderr, bytes) else stderr
    for secret in settings.secret_values:
        text = text.replace(secret, SECRET_MASK)
    return text.splitlines()[-_STDERR_LINES:]
