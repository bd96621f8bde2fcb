"""`check`: is the tap installed, and does its discovery work with these settings?"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.sdk.errors import ConfigError
from connectors.sdk.spec import CheckResult, validate_against
from connectors.singer.command import (
    resolve_executable,
    run_discovery,
    stream_names,
    write_private_json,
)
from connectors.singer.config import CONFIG_SCHEMA, parse_settings, secret_paths

__all__ = ["check"]


def check(config: Mapping[str, Any]) -> CheckResult:
    """ConfigError if the executable is missing; otherwise the outcome of discovery."""
    validate_against(CONFIG_SCHEMA, config, secrets=secret_paths(config))
    settings = parse_settings(config)
    executable = resolve_executable(settings.executable)
    with tempfile.TemporaryDirectory(prefix="l2c-singer-check-") as workdir:
        config_path = write_private_json(Path(workdir) / "config.json", settings.tap_config)
        found = run_discovery(settings, executable, config_path)
    if found.catalog is None:
        return CheckResult(
            ok=False, message=f"{executable}: {found.message}", details=found.stderr_tail
        )
    names = stream_names(found.catalog)
    unknown = [name for name in settings.select or () if name not in names]
    if unknown:
        raise ConfigError(
            f"unknown stream(s) in select: {', '.join(unknown)}",
            field="select",
            hint=f"streams of this tap: {', '.join(names) or '(none)'}",
        )
    return CheckResult(
        ok=True, message=f"{executable}: {found.message}", details=[f"stream: {n}" for n in names]
    )
