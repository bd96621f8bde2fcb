"""sap_idoc's writer: ORDERS05 files for SAP, once per idempotency key, never half-written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.sap.idoc import CONNECTOR, IdocTap
from connectors.sap.idoc.idoc import docnum_for_key, read_idocs
from connectors.sdk.embedding import run_embedded
from connectors.sdk.errors import ConfigError, DataError, TransientError
from connectors.sdk.writer import Writer, WriteRequest
from tests.connectors.sap.sftp_server import SftpTestServer, idoc_config, make_folders

KEY = uuid.UUID("3f2a9c1e-5b7d-4e6f-8a0b-1c2d3e4f5a6b").hex
ORDER = {
    "E1EDK01": [{"CURCY": "CNY", "BSART": "TA"}],
    "E1EDK14": [{"QUALF": "008", "ORGID": "1010"}, {"QUALF": "007", "ORGID": "10"}],
    "E1EDKA1": [{"PARVW": "AG", "PARTN": "0000100001"}],
    "E1EDK02": [{"QUALF": "001", "BELNR": KEY, "DATUM": "20240603"}],
    "E1EDP01": [
        {
            "POSEX": "000010",
            "MENGE": "10.000",
            "MENEE": "PCE",
            "E1EDP19": [{"QUALF": "002", "IDTNR": "TG-11"}],
        }
    ],
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_folders(tmp_path / "sftp")


@pytest.fixture
def server(root: Path) -> Iterator[SftpTestServer]:
    with SftpTestServer(root) as running:
        yield running


@pytest.fixture
def writer(server: SftpTestServer) -> Iterator[Writer]:
    assert CONNECTOR.writer is not None
    made = CONNECTOR.writer(idoc_config(server, outbound_processed_dir="/processed"))
    yield made
    made.close()


def order(key: str = KEY, **changes: Any) -> WriteRequest:
    return WriteRequest(object="orders05", payload={**ORDER, **changes}, idempotency_key=key)


def files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_the_same_key_writes_one_file_and_no_temp_file_remains(writer: Writer, root: Path) -> None:
    first = writer.upsert(order())
    second = writer.upsert(order())
    assert (first.created, second.created) == (True, False)
    assert first.remote_id == second.remote_id == f"ORDERS05_{KEY}.xml"
    assert files(root / "outbound") == [f"ORDERS05_{KEY}.xml"]
    assert first.details is not None and first.details["DOCNUM"] == docnum_for_key(KEY)


def test_the_written_file_reads_back_as_the_payload_with_our_control_record(
    writer: Writer, root: Path
) -> None:
    writer.upsert(order())
    data = (root / "outbound" / f"ORDERS05_{KEY}.xml").read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<ORDERS05>")
    (record,) = read_idocs(data, file="x", timezone=ZoneInfo("Asia/Shanghai"))
    control = record["EDI_DC40"]
    assert list(control)[:3] == ["TABNAM", "MANDT", "DOCNUM"]
    assert {k: control[k] for k in ("DOCNUM", "DIRECT", "IDOCTYP", "MESTYP", "MANDT")} == {
        "DOCNUM": docnum_for_key(KEY),
        "DIRECT": "2",
        "IDOCTYP": "ORDERS05",
        "MESTYP": "ORDERS",
        "MANDT": "100",
    }
    assert (control["SNDPOR"], control["SNDPRN"], control["RCVPRN"]) == (
        "L2CHUB",
        "L2CHUB",
        "S4HCLNT100",
    )
    assert len(control["CREDAT"]) == 8 and len(control["CRETIM"]) == 6
    assert {k: v for k, v in record.items() if k.startswith("E1")} == ORDER
    assert list(record)[6:-1] == list(ORDER)  # segment order as the payload gave it


def test_the_tap_reads_a_written_order_back_on_the_orders_stream(
    writer: Writer, root: Path, server: SftpTestServer
) -> None:
    writer.upsert(order())
    config = idoc_config(server, inbound_dir="/outbound", settle_seconds=0)
    (record,) = run_embedded(IdocTap, config).records_of("orders")
    assert record["DOCNUM"] == docnum_for_key(KEY)
    assert record["E1EDK02"] == ORDER["E1EDK02"]


def test_a_file_sap_already_processed_is_not_written_again(writer: Writer, root: Path) -> None:
    (root / "processed" / f"ORDERS05_{KEY}.xml").write_text("processed by SAP")
    result = writer.upsert(order())
    assert result.created is False
    assert result.remote_id == f"ORDERS05_{KEY}.xml"
    assert files(root / "outbound") == []


def test_an_order_the_hub_already_sent_is_not_sent_again(writer: Writer, root: Path) -> None:
    request = WriteRequest(
        object="orders05", payload=ORDER, idempotency_key=KEY, remote_id=f"ORDERS05_{KEY}.xml"
    )
    result = writer.upsert(request)
    assert (result.created, result.remote_id) == (False, f"ORDERS05_{KEY}.xml")
    assert files(root / "outbound") == []


def test_without_posix_rename_the_file_is_still_swapped_in(root: Path) -> None:
    with SftpTestServer(root, posix_rename=False) as server:
        assert CONNECTOR.writer is not None
        writer = CONNECTOR.writer(idoc_config(server))
        try:
            assert writer.upsert(order()).created is True
            assert writer.upsert(order()).created is False
        finally:
            writer.close()
    assert files(root / "outbound") == [f"ORDERS05_{KEY}.xml"]


def test_a_failed_rename_removes_the_temp_file(
    writer: Writer, root: Path, server: SftpTestServer
) -> None:
    server.fail_renames = True
    with pytest.raises(TransientError, match="rename"):
        writer.upsert(order())
    assert files(root / "outbound") == []
    server.fail_renames = False
    assert writer.upsert(order()).created is True  # reconnects and writes
    assert files(root / "outbound") == [f"ORDERS05_{KEY}.xml"]


def test_a_generic_idoc_names_its_type(writer: Writer, root: Path) -> None:
    request = WriteRequest(
        object="idoc",
        payload={"IDOCTYP": "DELVRY03", "MESTYP": "DESADV", "E1EDL20": [{"VBELN": "80000001"}]},
        idempotency_key=KEY,
    )
    assert writer.upsert(request).remote_id == f"DELVRY03_{KEY}.xml"
    (record,) = read_idocs(
        (root / "outbound" / f"DELVRY03_{KEY}.xml").read_bytes(), file="x", timezone=ZoneInfo("UTC")
    )
    assert (record["IDOCTYP"], record["MESTYP"]) == ("DELVRY03", "DESADV")
    assert record["E1EDL20"] == [{"VBELN": "80000001"}]


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        (order(E1EDP01=[]), DataError, "needs segment E1EDP01"),
        (order(key="../../etc/cron.d/x"), DataError, "idempotency key"),
        (order(E1EDK01=[{"FLAG": True}]), DataError, "booleans"),
        (
            WriteRequest(object="idoc", payload={"E1X": [{}]}, idempotency_key=KEY),
            DataError,
            "IDOCTYP '' is not an IDoc type name",
        ),
        (
            WriteRequest(object="sales_order", payload=ORDER, idempotency_key=KEY),
            ConfigError,
            "cannot write 'sales_order'",
        ),
    ],
    ids=["no-items", "path-in-key", "boolean", "no-type", "unknown-object"],
)
def test_unusable_requests_are_refused_before_anything_is_written(
    writer: Writer, root: Path, request_: WriteRequest, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        writer.upsert(request_)
    assert files(root / "outbound") == []


def test_the_writer_needs_an_outbound_folder_and_partners(server: SftpTestServer) -> None:
    assert CONNECTOR.writer is not None
    config = idoc_config(server)
    del config["outbound_dir"]
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.writer(config)
    assert caught.value.field == "outbound_dir"
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.writer({**idoc_config(server), "receiver": {"port": "SAPS4H"}})
    assert caught.value.field == "receiver.partner_number"
