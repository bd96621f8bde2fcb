"""The sap_idoc tap over a real SFTP server: records, routing, crash safety, bad files."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from connectors.sap.idoc import IdocTap
from connectors.sap.idoc.inbox import STREAMS
from connectors.sdk.embedding import CallbackWriter, Capture, embeddable
from connectors.sdk.errors import TransientError
from tests.connectors.sap.sftp_server import (
    IDOC_FIXTURES,
    SftpTestServer,
    drop,
    drop_fixture,
    idoc_config,
    make_folders,
)

DEBMAS = "DEBMAS07_0000000000401001.xml"
INVOIC = "INVOIC02_0000000000502001.xml"
ORDERS = "ORDERS05_0000000000603001.xml"
DELVRY = "DELVRY03-example.xml"

XXE = """<?xml version="1.0"?>
<!DOCTYPE ORDERS05 [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ORDERS05><IDOC BEGIN="1"><EDI_DC40 SEGMENT="1"><DOCNUM>&xxe;</DOCNUM>
<IDOCTYP>ORDERS05</IDOCTYP><MESTYP>ORDRSP</MESTYP></EDI_DC40></IDOC></ORDERS05>
"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<lolz>&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;</lolz>
"""


def idoc(docnum: str, idoctyp: str, mestyp: str, body: str = "") -> str:
    return (
        f'<IDOC BEGIN="1"><EDI_DC40 SEGMENT="1"><DOCNUM>{docnum}</DOCNUM>'
        f"<IDOCTYP>{idoctyp}</IDOCTYP><MESTYP>{mestyp}</MESTYP><CREDAT>20240603</CREDAT>"
        f"<CRETIM>120000</CRETIM></EDI_DC40>{body}</IDOC>"
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_folders(tmp_path / "sftp")


@pytest.fixture
def server(root: Path) -> Iterator[SftpTestServer]:
    with SftpTestServer(root) as running:
        yield running


@pytest.fixture
def config(server: SftpTestServer) -> dict[str, Any]:
    return idoc_config(server)


def sync(
    config: Mapping[str, Any],
    state: Mapping[str, Any] | None = None,
    streams: Collection[str] = STREAMS,
) -> Capture:
    """One run, as the hub does it: selected streams, the committed state, messages captured."""
    capture = Capture()
    tap = embeddable(IdocTap)(
        config=dict(config),
        state=copy.deepcopy(dict(state)) if state is not None else None,
        message_writer=CallbackWriter(capture.on_message),
    )
    for stream in tap.streams.values():
        stream.selected = stream.name in streams
    tap.sync_all()
    return capture


def docnums(capture: Capture, stream: str) -> list[str | None]:
    return [record["DOCNUM"] for record in capture.records_of(stream)]


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# ------------------------------------------------------------------ reading


def test_each_idoc_goes_to_its_stream_with_the_record_shape(
    root: Path, config: dict[str, Any]
) -> None:
    for name in (DEBMAS, INVOIC, ORDERS, DELVRY):
        drop_fixture(root, name)
    run = sync(config)
    assert docnums(run, "debmas") == ["0000000000401001", "0000000000401002"]
    assert docnums(run, "invoic") == ["0000000000502001"]
    assert docnums(run, "orders") == ["0000000000603001"]  # an ORDRSP confirmation
    customer = run.records_of("debmas")[0]
    assert customer["_file"] == DEBMAS
    assert customer["_created_at"] == "2024-06-03T01:15:00Z"
    assert customer["EDI_DC40"]["IDOCTYP"] == "DEBMAS07"
    assert customer["E1KNA1M"][0]["E1KNVVM"][0]["E1KNVPM"][1]["PARVW"] == "WE"
    invoice = run.records_of("invoic")[0]
    assert [s["SUMME"] for s in invoice["E1EDS01"]] == ["2000.00", "260.00", "2260.00"]
    assert [m.key_properties for m in run.schemas] == [["DOCNUM"]] * 3
    # nothing moves before the hub has committed
    assert names(root / "inbound") == sorted([DEBMAS, INVOIC, ORDERS, DELVRY])
    assert names(root / "archive") == []


def test_files_are_archived_on_the_next_run_only(root: Path, config: dict[str, Any]) -> None:
    for name in (DEBMAS, INVOIC, ORDERS, DELVRY):
        drop_fixture(root, name)
    first = sync(config)
    assert names(root / "archive") == []
    second = sync(config, state=first.last_state)
    assert second.records == []
    assert names(root / "archive") == sorted([DEBMAS, INVOIC, ORDERS])
    # a type no stream reads stays where SAP put it
    assert names(root / "inbound") == [DELVRY]
    assert second.last_state is not None
    for stream in STREAMS:
        assert list(second.last_state["bookmarks"][stream]["files"]) == [DELVRY]
    assert (root / "archive" / DEBMAS).read_bytes() == (IDOC_FIXTURES / DEBMAS).read_bytes()


def test_a_crash_before_commit_re_emits_the_same_docnums(
    root: Path, config: dict[str, Any]
) -> None:
    for name in (DEBMAS, INVOIC, ORDERS):
        drop_fixture(root, name)
    first = sync(config)
    # the hub committed the state written right after the DEBMAS file, then crashed
    after_debmas = next(
        s
        for s in first.states
        if DEBMAS in s.get("bookmarks", {}).get("debmas", {}).get("files", {})
    )
    assert INVOIC not in after_debmas["bookmarks"].get("invoic", {}).get("files", {})
    second = sync(config, state=after_debmas)
    assert names(root / "archive") == [DEBMAS]
    assert docnums(second, "debmas") == []
    assert docnums(second, "invoic") == docnums(first, "invoic")
    assert docnums(second, "orders") == docnums(first, "orders")
    # crash again, before anything of the second run was committed: same records again
    third = sync(config, state=after_debmas)
    assert [m.record for m in third.records] == [m.record for m in second.records]
    fourth = sync(config, state=third.last_state)
    assert fourth.records == []
    assert names(root / "archive") == sorted([DEBMAS, INVOIC, ORDERS])
    assert names(root / "inbound") == []


def test_a_file_changed_after_reading_is_read_again_not_archived(
    root: Path, config: dict[str, Any]
) -> None:
    drop(
        root,
        "ORDERS05_1.xml",
        f"<ORDERS05>{idoc('0000000000000001', 'ORDERS05', 'ORDRSP')}</ORDERS05>",
    )
    first = sync(config)
    changed = idoc("0000000000000002", "ORDERS05", "ORDRSP", "<E1EDK01 SEGMENT='1'/>")
    drop(root, "ORDERS05_1.xml", f"<ORDERS05>{changed}</ORDERS05>", age=30)
    second = sync(config, state=first.last_state)
    assert docnums(second, "orders") == ["0000000000000002"]
    assert names(root / "archive") == []
    sync(config, state=second.last_state)
    assert names(root / "archive") == ["ORDERS05_1.xml"]


def test_a_packet_of_two_types_waits_for_both_streams(root: Path, config: dict[str, Any]) -> None:
    body = idoc("0000000000000011", "DEBMAS07", "DEBMAS") + idoc(
        "0000000000000012", "ORDERS05", "ORDERS"
    )
    drop(root, "PACKET.xml", f"<DEBMAS07>{body}</DEBMAS07>")
    first = sync(config, streams=["debmas"])
    assert docnums(first, "debmas") == ["0000000000000011"]
    second = sync(config, state=first.last_state, streams=["debmas"])
    assert second.records == []
    assert names(root / "inbound") == ["PACKET.xml"]  # orders has not read it yet
    third = sync(config, state=second.last_state)
    assert docnums(third, "orders") == ["0000000000000012"]
    assert docnums(third, "debmas") == []
    sync(config, state=third.last_state)
    assert names(root / "archive") == ["PACKET.xml"]


def test_files_being_written_temp_and_hidden_files_are_left_alone(
    root: Path, config: dict[str, Any]
) -> None:
    doc = f"<ORDERS05>{idoc('0000000000000021', 'ORDERS05', 'ORDRSP')}</ORDERS05>"
    drop(root, "fresh.xml", doc, age=0)
    drop(root, "upload.xml.tmp", doc)
    drop(root, ".upload.xml", doc)
    drop(root, "notes.txt", doc)
    assert sync(config).records == []  # fresh.xml was modified less than 5 s ago
    assert docnums(sync({**config, "settle_seconds": 0}), "orders") == ["0000000000000021"]
    drop(root, "fresh.xml", doc, age=10)
    assert docnums(sync(config), "orders") == ["0000000000000021"]


def test_an_archive_name_clash_keeps_both_files(root: Path, config: dict[str, Any]) -> None:
    (root / "archive" / DEBMAS).write_text("an older file of the same name")
    drop_fixture(root, DEBMAS)
    first = sync(config)
    sync(config, state=first.last_state)
    archived = names(root / "archive")
    assert len(archived) == 2
    assert (root / "archive" / DEBMAS).read_text() == "an older file of the same name"
    (renamed,) = [name for name in archived if name != DEBMAS]
    assert renamed.startswith("DEBMAS07_0000000000401001.") and renamed.endswith(".xml")


def test_an_unreachable_server_fails_the_run_as_transient(
    root: Path, config: dict[str, Any]
) -> None:
    drop_fixture(root, DEBMAS)
    config["port"] = 1
    with pytest.raises(TransientError):
        sync(config)


# ------------------------------------------------------------------ bad files


def test_malformed_and_dtd_files_are_quarantined_then_moved_with_the_reason(
    root: Path, config: dict[str, Any]
) -> None:
    drop(root, "DEBMAS07_broken.xml", (IDOC_FIXTURES / DEBMAS).read_text()[:700])
    drop(root, "ORDERS05_xxe.xml", XXE)
    drop(root, "INVOIC02_laughs.xml", LAUGHS)
    drop(root, "garbage.xml", b"\x00\x01 not xml")
    drop_fixture(root, INVOIC)
    first = sync(config)
    errors = {
        record["_file"]: (stream, record)
        for stream in STREAMS
        for record in first.records_of(stream)
        if record.get("_error")
    }
    assert {name: stream for name, (stream, _) in errors.items()} == {
        "DEBMAS07_broken.xml": "debmas",
        "ORDERS05_xxe.xml": "orders",
        "INVOIC02_laughs.xml": "invoic",
        "garbage.xml": "debmas",  # no hint in the file: the first stream reports it
    }
    assert "is not well-formed XML" in errors["DEBMAS07_broken.xml"][1]["_error"]
    assert "contains a DTD, which is refused" in errors["ORDERS05_xxe.xml"][1]["_error"]
    assert "contains a DTD, which is refused" in errors["INVOIC02_laughs.xml"][1]["_error"]
    assert errors["ORDERS05_xxe.xml"][1]["_raw"] == XXE  # as found, entity not expanded
    assert errors["ORDERS05_xxe.xml"][1]["DOCNUM"] is None
    assert errors["garbage.xml"][1]["_raw"] == "\ufffd\x01 not xml"  # no NUL for the database
    assert "root:" not in repr([m.record for m in first.records])
    assert docnums(first, "invoic") == ["0000000000502001", None]  # the good file still read
    assert names(root / "error") == []  # moved only after the hub committed

    second = sync(config, state=first.last_state)
    assert second.records == []
    assert names(root / "inbound") == []
    assert names(root / "archive") == [INVOIC]
    bad = ["DEBMAS07_broken.xml", "INVOIC02_laughs.xml", "ORDERS05_xxe.xml", "garbage.xml"]
    assert names(root / "error") == sorted(bad + [f"{name}.error.txt" for name in bad])
    note = (root / "error" / "ORDERS05_xxe.xml.error.txt").read_text()
    assert "contains a DTD, which is refused" in note
    assert "sha256: " in note
    assert (root / "error" / "ORDERS05_xxe.xml").read_text() == XXE


def test_a_file_that_is_xml_but_not_an_idoc_is_quarantined(
    root: Path, config: dict[str, Any]
) -> None:
    drop(root, "orders-export.xml", "<orders><order id='1'/></orders>")
    run = sync(config)
    (record,) = [m.record for m in run.records]
    assert "holds no <IDOC> element" in record["_error"]
    assert record["_file"] == "orders-export.xml"
