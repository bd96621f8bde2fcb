"""Embedding a singer-sdk tap: messages as objects, signal handlers left alone."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.singerlib import RecordMessage, SchemaMessage, StateMessage

from connectors.sdk import CallbackWriter, embeddable, run_embedded


class CountStream(Stream):
    name = "numbers"
    schema = th.PropertiesList(th.Property("n", th.IntegerType)).to_dict()
    replication_key = "n"
    is_sorted = True

    def get_records(self, context) -> Iterator[dict]:
        start = self.get_starting_replication_key_value(context) or 0
        for n in range(start + 1, start + 1 + self.config["count"]):
            yield {"n": n}


class CountTap(Tap):
    name = "tap-count"
    config_jsonschema = th.PropertiesList(th.Property("count", th.IntegerType)).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [CountStream(self)]


@pytest.fixture
def handlers() -> Iterator[dict]:
    """The current SIGINT/SIGTERM handlers, put back after the test whatever it did."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield saved
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def current_handlers() -> dict:
    return {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}


def test_a_plain_tap_replaces_the_process_signal_handlers(handlers: dict) -> None:
    CountTap(config={"count": 1})

    assert current_handlers() != handlers  # why embeddable() exists


def test_an_embeddable_tap_leaves_the_process_signal_handlers_alone(handlers: dict) -> None:
    embeddable(CountTap)(config={"count": 1}, message_writer=CallbackWriter(lambda m: None))

    assert current_handlers() == handlers


def test_embeddable_returns_one_cached_subclass() -> None:
    cls = embeddable(CountTap)

    assert cls is embeddable(CountTap)
    assert issubclass(cls, CountTap)
    assert cls.name == "tap-count"


def test_callback_writer_hands_over_message_objects() -> None:
    messages: list = []
    tap = embeddable(CountTap)(config={"count": 2}, message_writer=CallbackWriter(messages.append))

    tap.sync_all()

    assert isinstance(messages[0], SchemaMessage)
    assert [m.record for m in messages if isinstance(m, RecordMessage)] == [{"n": 1}, {"n": 2}]
    assert isinstance(messages[-1], StateMessage)


def test_state_messages_are_snapshots_not_the_live_state() -> None:
    states: list[dict] = []

    def keep(message) -> None:
        if isinstance(message, StateMessage):
            states.append(message.value)

    tap = embeddable(CountTap)(config={"count": 3}, message_writer=CallbackWriter(keep))
    tap.sync_all()

    assert states[-1]["bookmarks"]["numbers"]["replication_key_value"] == 3
    assert all(s is not tap.state for s in states)


def test_run_embedded_resumes_from_a_state() -> None:
    first = run_embedded(CountTap, {"count": 2})
    second = run_embedded(CountTap, {"count": 2}, state=first.last_state)

    assert [r["n"] for r in second.records_of("numbers")] == [3, 4]
