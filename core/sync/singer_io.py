"""Singer messages as JSON lines: from stdin (`l2c singer target`) or a tap subprocess.

Only the protocol lives here; what to do with each message is the sink's business.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from core.errors import ConfigError, TransientError


class MessageSink(Protocol):
    def schema(
        self, stream: str, schema: dict[str, Any], key_properties: Sequence[str]
    ) -> None: ...
    def record(self, stream: str, record: dict[str, Any]) -> None: ...
    def state(self, value: dict[str, Any]) -> None: ...


IGNORED = frozenset({"ACTIVATE_VERSION"})


def consume_lines(lines: Iterable[bytes], sink: MessageSink, *, source: str = "input") -> int:
    """Feed JSON lines to `sink`; returns the number of lines read.

    A line that is not a Singer message stops the run: it means the producing program
    is broken, and guessing would risk losing data.
    """
    number = 0
    record = sink.record
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            message = orjson.loads(line)
            kind = message["type"]
            if kind == "RECORD":
                record(message["stream"], message["record"])
            elif kind == "STATE":
                sink.state(message["value"])
            elif kind == "SCHEMA":
                sink.schema(
                    message["stream"], message["schema"], message.get("key_properties") or []
                )
            elif kind not in IGNORED:
                raise ConfigError(
                    f"{source} line {number}: Singer message type {kind!r} is not supported",
                    hint="use RECORD, SCHEMA and STATE messages (BATCH is not supported yet)",
                )
        except orjson.JSONDecodeError as error:
            raise ConfigError(
                f"{source} line {number} is not JSON: {error}",
                hint="the producing program must write one Singer message per line",
            ) from None
        except (KeyError, TypeError) as error:
            raise ConfigError(
                f"{source} line {number} is not a Singer message (missing {error})",
                hint="see https://hub.meltano.com/singer/spec for the message format",
            ) from None
    return number


def run_tap_process(
    argv: Sequence[str],
    sink: MessageSink,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Run an external Singer tap and feed its stdout to `sink`.

    stderr goes to a temporary file (a full pipe would stall the tap); its last lines
    are shown when the tap fails.
    """
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(  # noqa: S603 - argv comes from a configured connection
                list(argv), stdout=subprocess.PIPE, stderr=errors, cwd=cwd, env=env
            )
        except FileNotFoundError:
            raise ConfigError(
                f"tap executable {argv[0]!r} not found",
                hint="install the tap or give its full path in the connection's 'executable'",
            ) from None
        assert process.stdout is not None
        try:
            consume_lines(process.stdout, sink, source=Path(argv[0]).name)
        except BaseException:
            process.kill()
            process.wait()
            raise
        code = process.wait()
        if code != 0:
            errors.seek(0)
            tail = errors.read()[-2000:].decode("utf-8", "replace").strip()
            raise TransientError(
                f"tap {Path(argv[0]).name} exited with code {code}: {tail or 'no output'}",
                hint="the last committed state is kept; fix the cause and run the job again",
            )
