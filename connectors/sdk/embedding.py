"""Run a singer-sdk Tap inside the host process: messages as objects, no stdout.

singer-sdk sends every message through ``Tap.write_message`` ->
``self.message_writer.write_message``, so handing the Tap a `CallbackWriter` is the
whole hook: no JSON encoding, no pipe, no parsing on the other side (about twice
the throughput of a subprocess, see research/feasibility.md §1).

Two traps are handled here:

* Constructing a Tap in the main thread replaces the process's SIGINT/SIGTERM
  handlers with one that writes state and calls ``sys.exit(0)`` - inside a worker
  or a web server that hijacks shutdown. `embeddable` removes that. It overrides a
  private method, which is why pyproject pins singer-sdk to one minor version and
  a test checks the handlers are untouched.
* singer-sdk emits STATE messages holding the tap's *live* state dict, which keeps
  changing as the sync goes on. `CallbackWriter` hands out a deep copy, so a host
  may keep a STATE until it commits the records before it.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from singer_sdk import Tap
from singer_sdk.singerlib import Message, RecordMessage, SchemaMessage, StateMessage
from singer_sdk.singerlib.encoding import GenericSingerWriter

__all__ = ["CallbackWriter", "Capture", "embeddable", "run_embedded"]

TapT = TypeVar("TapT", bound=Tap)


class CallbackWriter(GenericSingerWriter[Any, Message]):
    """A message writer that calls `on_message(message)` for each Singer message."""

    def __init__(self, on_message: Callable[[Message], None]) -> None:
        self.on_message = on_message

    def serialize_message(self, message: Message) -> Message:
        return message

    def write_message(self, message: Message) -> None:
        if isinstance(message, StateMessage):
            message = StateMessage(value=copy.deepcopy(message.value))
        self.on_message(message)


@functools.cache
def embeddable(tap_cls: type[TapT]) -> type[TapT]:
    """A subclass of `tap_cls` that leaves the process's signal handlers alone."""

    def _setup_signal_handlers(self: Tap) -> None:
        """The host owns SIGINT/SIGTERM; it stops the sync by its own means."""

    return type(
        f"Embedded{tap_cls.__name__}",
        (tap_cls,),
        {"_setup_signal_handlers": _setup_signal_handlers, "__module__": tap_cls.__module__},
    )


@dataclass
class Capture:
    """Messages of one embedded run, sorted by kind (for tests and the test kit)."""

    schemas: list[SchemaMessage] = field(default_factory=list)
    records: list[RecordMessage] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)
    other: list[Message] = field(default_factory=list)

    def on_message(self, message: Message) -> None:
        if isinstance(message, RecordMessage):
            self.records.append(message)
        elif isinstance(message, StateMessage):
            self.states.append(dict(message.value))
        elif isinstance(message, SchemaMessage):
            self.schemas.append(message)
        else:
            self.other.append(message)

    def records_of(self, stream: str) -> list[dict[str, Any]]:
        return [m.record for m in self.records if m.stream == stream]

    @property
    def last_state(self) -> dict[str, Any] | None:
        return self.states[-1] if self.states else None


def run_embedded(
    tap_cls: type[Tap],
    config: Mapping[str, Any],
    *,
    state: Mapping[str, Any] | None = None,
    catalog: Mapping[str, Any] | None = None,
) -> Capture:
    """Sync every selected stream of `tap_cls` in-process and return what it emitted."""
    capture = Capture()
    tap = embeddable(tap_cls)(
        config=dict(config),
        state=copy.deepcopy(dict(state)) if state is not None else None,
        catalog=dict(catalog) if catalog is not None else None,
        message_writer=CallbackWriter(capture.on_message),
    )
    tap.sync_all()
    return capture
