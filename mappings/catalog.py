"""Find mapping documents: a file path, or a built-in name `<connector>/<name>`; and
compile a tenant's stored documents, whose YAML text the caller passes in (this
package does not read the store).

Built-in mappings ship as package data in `mappings/<connector>/<name>.yaml`. Compiled
mappings are cached by file and modification time, so a scheduler that loads the same
mapping for every run compiles it once, and an edited file is picked up. Stored
documents are cached by name and text, so a new version is compiled once.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from pathlib import Path

from core.errors import ConfigError
from mappings.errors import did_you_mean
from mappings.loader import load_file, load_text
from mappings.runtime import CompiledMapping

BUILTIN_DIR = Path(__file__).parent
_BUILTIN_NAME = re.compile(r"[a-z][a-z0-9_]*/[a-z0-9_][a-z0-9_\-]*")

_cache: dict[Path, tuple[int, int, CompiledMapping]] = {}
_stored: OrderedDict[tuple[str, bytes], CompiledMapping] = OrderedDict()
_STORED_MAX = 512
"""Compiled stored documents kept (least recently used dropped first)."""
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


def resolve(ref: str, *, files: bool = True) -> tuple[Path, str]:
    """(file, name) of a mapping reference: an existing file, else a built-in name.

    `files=False` accepts built-in names only: a tenant of the API must not make the
    hub read files of the server.
    """
    if files and Path(ref).is_file():
        return Path(ref), ref
    if _BUILTIN_NAME.fullmatch(ref):
        path = builtin_path(ref)
        if path.is_file():
            return path, ref
    known = list_builtin()
    hint = did_you_mean(ref, known) or f"built-in mappings: {', '.join(known) or 'none'}"
    what = "a file" if files else "a stored mapping"
    raise ConfigError(f"no mapping {ref!r}: not {what} and not a built-in mapping", hint=hint)


def load_stored(name: str, source: str) -> CompiledMapping:
    """Compile (or reuse) a stored mapping document given as YAML text; problems are
    located as `name:line:column`."""
    key = (name, hashlib.blake2b(source.encode("utf-8", "surrogatepass")).digest())
    with _lock:
        compiled = _stored.get(key)
        if compiled is not None:
            _stored.move_to_end(key)
            return compiled
    compiled = load_text(source, file=name, name=name)
    with _lock:
        _stored[key] = compiled
        while len(_stored) > _STORED_MAX:
            _stored.popitem(last=False)
    return compiled


def load_mapping(ref: str, *, files: bool = True) -> CompiledMapping:
    """Compile (or reuse) the mapping `ref`; raises ConfigError with every problem found."""
    path, name = resolve(ref, files=files)
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
        _stored.clear()
