"""Find mapping documents: a file path, or a built-in name `<connector>/<name>`.

Built-in mappings ship as package data in `mappings/<connector>/<name>.yaml`. Compiled
mappings are cached by file and modification time, so a scheduler that loads the same
mapping for every run compiles it once, and an edited file is picked up.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from core.errors import ConfigError
from mappings.errors import did_you_mean
from mappings.loader import load_file
from mappings.runtime import CompiledMapping

BUILTIN_DIR = Path(__file__).parent
_BUILTIN_NAME = re.compile(r"[a-z][a-z0-9_]*/[a-z0-9_][a-z0-9_\-]*")

_cache: dict[Path, tuple[int, int, CompiledMapping]] = {}
_lock = threading.Lock()


def builtin_path(name: str) -> Path:
    """Where the built-in mapping `name` ('files/demo_accounts') lives (may not exist)."""
    connector, _, stem = name.partition("/")
    return BUILTIN_DIR / connector / f"{stem}.yaml"


def list_builtin() -> list[str]:
    """Names of all shipped mappings, e.g. ['files/demo_accounts', ...]."""
    return sorted(
        f"{path.parent.name}/{path.stem}"
        for path in BUILTIN_DIR.glob("*/*.yaml")
        if not path.parent.name.startswith(("_", "."))
    )


def resolve(ref: str) -> tuple[Path, str]:
    """(file, name) of a mapping reference: an existing file, else a built-in name."""
    candidate = Path(ref)
    if candidate.is_file():
        return candidate, ref
    if _BUILTIN_NAME.fullmatch(ref):
        path = builtin_path(ref)
        if path.is_file():
            return path, ref
    known = list_builtin()
    hint = did_you_mean(ref, known) or f"built-in mappings: {', '.join(known) or 'none'}"
    raise ConfigError(f"no mapping {ref!r}: not a file and not a built-in mapping", hint=hint)


def load_mapping(ref: str) -> CompiledMapping:
    """Compile (or reuse) the mapping `ref`; raises ConfigError with every problem found."""
    path, name = resolve(ref)
    key = path.resolve()
    stat = key.stat()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            compiled = cached[2]
            if compiled.name == name:
                return compiled
    compiled = load_file(path, name=name)
    with _lock:
        _cache[key] = (stat.st_mtime_ns, stat.st_size, compiled)
    return compiled


def clear_cache() -> None:
    """Forget compiled mappings (tests; a long-lived process never needs it)."""
    with _lock:
        _cache.clear()
