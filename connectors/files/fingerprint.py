"""A file's identity (sha256 of its bytes) and its text encoding, in one streaming pass.

Identity by content, not by name or mtime, is what makes re-runs cheap and safe: a
file already read is skipped even if it was renamed or touched, and a file whose
content changed is read again. The same pass decides the encoding, because Chinese
ERP exports come as UTF-8 (often with a BOM, from Excel) or as GBK/GB18030:

* a UTF-8 BOM -> ``utf-8-sig`` (the BOM is dropped from the first header cell);
* else the whole file decodes as strict UTF-8 -> ``utf-8``;
* else ``gb18030``, a superset of GBK and GB2312 that also covers characters GBK
  lacks (CJK extension B such as 𠀾).
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from connectors.sdk.errors import ConfigError, TransientError

__all__ = ["Fingerprint", "detect_prefix_encoding", "file_error", "fingerprint"]

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Fingerprint:
    sha256: str
    encoding: str | None
    """Python codec to read the file with; None for binary formats (xlsx)."""
    size: int
    mtime_ns: int


def fingerprint(path: Path, *, encoding: str | None) -> Fingerprint:
    """Hash `path` and settle its encoding.

    `encoding` is the configured one: ``auto`` to detect, ``utf-8``/``gb18030`` to
    force (a BOM is still dropped), None for binary files.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    is_utf8 = True
    first = b""
    try:
        before = path.stat()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                if not first:
                    first = chunk[:3]
                digest.update(chunk)
                if encoding == "auto" and is_utf8:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError:
                        is_utf8 = False
        if encoding == "auto" and is_utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                is_utf8 = False
    except OSError as exc:
        raise file_error(path, exc) from exc
    return Fingerprint(
        sha256=digest.hexdigest(),
        encoding=_choose(encoding, first, is_utf8=is_utf8),
        size=before.st_size,
        mtime_ns=before.st_mtime_ns,
    )


def detect_prefix_encoding(path: Path, *, encoding: str) -> str:
    """Encoding judged from the first MiB only: enough to read a header or a sample."""
    try:
        with path.open("rb") as handle:
            prefix = handle.read(_CHUNK)
    except OSError as exc:
        raise file_error(path, exc) from exc
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(prefix, final=False)
        is_utf8 = True
    except UnicodeDecodeError:
        is_utf8 = False
    return _choose(encoding, prefix[:3], is_utf8=is_utf8) or "utf-8"


def _choose(encoding: str | None, first: bytes, *, is_utf8: bool) -> str | None:
    if encoding is None:
        return None
    if first.startswith(codecs.BOM_UTF8) and encoding in {"auto", "utf-8"}:
        return "utf-8-sig"
    if encoding != "auto":
        return encoding
    return "utf-8" if is_utf8 else "gb18030"


def file_error(path: Path, exc: OSError) -> ConfigError | TransientError:
    """Who acts on a file that cannot be read: the user (permissions) or time (a move)."""
    if isinstance(exc, PermissionError) or exc.errno in {errno.EACCES, errno.EPERM}:
        return ConfigError(
            f"cannot read {path}: permission denied",
            field="path",
            hint=f"let the user running the hub (uid {os.getuid()}) read the file",
            path=str(path),
        )
    if isinstance(exc, IsADirectoryError):
        return ConfigError(
            f"{path} is a folder, not a file", field="path", hint="narrow the pattern"
        )
    return TransientError(
        f"cannot read {path}: {exc.strerror or exc}",
        hint="the file may be being moved or written; the next run retries",
        path=str(path),
    )
