"""IDoc-XML <-> records (connectors.sap.idoc.idoc) and the safe parser (connectors.sap.xml)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.sap.idoc.idoc import build_idoc, created_at, docnum_for_key, read_idocs
from connectors.sap.xml import parse_xml
from connectors.sdk.errors import DataError
from tests.connectors.sap.sftp_server import IDOC_FIXTURES

SHANGHAI = ZoneInfo("Asia/Shanghai")

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE DEBMAS07 [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<DEBMAS07><IDOC BEGIN="1"><EDI_DC40 SEGMENT="1"><DOCNUM>&xxe;</DOCNUM></EDI_DC40></IDOC></DEBMAS07>
"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<lolz>&lol9;</lolz>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ORDERS05 SYSTEM "http://127.0.0.1:9/orders05.dtd">
<ORDERS05/>
"""


def fixture(name: str) -> bytes:
    return (IDOC_FIXTURES / name).read_bytes()


# ------------------------------------------------------------------ parse_xml


@pytest.mark.parametrize(
    "data",
    [XXE, BILLION_LAUGHS, EXTERNAL_DTD, "<!DOCTYPE r><r/>".encode("utf-16")],
    ids=["xxe", "billion-laughs", "external-dtd", "utf16-doctype"],
)
def test_any_dtd_is_refused(data: bytes) -> None:
    with pytest.raises(DataError) as caught:
        parse_xml(data, what="IDoc file evil.xml")
    assert caught.value.code == "dtd"
    assert "IDoc file evil.xml contains a DTD, which is refused" in caught.value.message
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd was read


def test_malformed_xml_names_line_and_column() -> None:
    with pytest.raises(DataError) as caught:
        parse_xml(b"<ORDERS05>\n  <IDOC>\n</ORDERS05>", what="IDoc file bad.xml")
    assert caught.value.code == "malformed"
    assert caught.value.details["line"] == 3
    assert "(line 3, column" in caught.value.message
    assert caught.value.message.startswith("IDoc file bad.xml is not well-formed XML: ")


def test_undeclared_entity_is_malformed_not_resolved() -> None:
    with pytest.raises(DataError) as caught:
        parse_xml(b"<r>&secret;</r>", what="x")
    assert caught.value.code == "malformed"


def test_empty_document_is_refused() -> None:
    with pytest.raises(DataError, match="is empty"):
        parse_xml(b"  \n", what="IDoc file empty.xml")


def test_plain_xml_parses_with_utf8_text() -> None:
    root = parse_xml('<?xml version="1.0" encoding="UTF-8"?><r>上海</r>'.encode(), what="x")
    assert root.tag == "r"
    assert root.text == "上海"


# ------------------------------------------------------------------ reading


def test_debmas_file_gives_one_record_per_idoc_with_segments_as_lists() -> None:
    records = read_idocs(fixture("DEBMAS07_0000000000401001.xml"), file="D.xml", timezone=SHANGHAI)
    assert [r["DOCNUM"] for r in records] == ["0000000000401001", "0000000000401002"]
    first = records[0]
    assert list(first)[:6] == ["DOCNUM", "IDOCTYP", "MESTYP", "CIMTYP", "_created_at", "EDI_DC40"]
    assert list(first)[-1] == "_file"
    assert (first["IDOCTYP"], first["MESTYP"], first["CIMTYP"]) == ("DEBMAS07", "DEBMAS", None)
    assert first["_created_at"] == "2024-06-03T01:15:00Z"  # 09:15:00 in Shanghai
    assert first["_file"] == "D.xml"
    assert first["EDI_DC40"]["SNDPRN"] == "S4HCLNT100"
    assert "SEGMENT" not in first["EDI_DC40"]
    (customer,) = first["E1KNA1M"]
    assert customer["KUNNR"] == "0000100001"  # leading zeros kept
    assert customer["NAME1"] == "上海明远精密机械有限公司"
    assert customer["E1KNB1M"] == [
        {"MSGFN": "009", "BUKRS": "1010", "AKONT": "0012100000", "ZTERM": "0001"}
    ]
    (sales_area,) = customer["E1KNVVM"]
    assert [p["PARVW"] for p in sales_area["E1KNVPM"]] == ["AG", "WE", "RE"]
    # the second IDoc has a sales area without partner functions: no key, not an empty list
    assert "E1KNVPM" not in records[1]["E1KNA1M"][0]["E1KNVVM"][0]


def test_invoice_and_order_confirmation_keep_repeated_segments_in_order() -> None:
    (invoice,) = read_idocs(
        fixture("INVOIC02_0000000000502001.xml"), file="I.xml", timezone=SHANGHAI
    )
    assert [k["QUALF"] for k in invoice["E1EDK02"]] == ["009", "002", "001"]
    assert [s["SUMID"] for s in invoice["E1EDS01"]] == ["010", "005", "011"]
    assert invoice["E1EDP01"][0]["E1EDP26"] == [{"QUALF": "003", "BETRG": "2000.00"}]
    (confirmation,) = read_idocs(
        fixture("ORDERS05_0000000000603001.xml"), file="O.xml", timezone=SHANGHAI
    )
    assert (confirmation["IDOCTYP"], confirmation["MESTYP"]) == ("ORDERS05", "ORDRSP")
    ours = [k["BELNR"] for k in confirmation["E1EDK02"] if k["QUALF"] == "001"]
    assert ours == ["3f2a9c1e5b7d4e6f8a0b1c2d3e4f5a6b"]


def test_comments_and_namespaces_do_not_disturb_the_record() -> None:
    data = (
        b'<o:ORDERS05 xmlns:o="urn:x"><!-- packet 1 --><o:IDOC BEGIN="1">'
        b"<o:EDI_DC40><o:DOCNUM>0000000000000007</o:DOCNUM><o:IDOCTYP>ORDERS05</o:IDOCTYP>"
        b"<o:MESTYP>ORDERS</o:MESTYP></o:EDI_DC40><?pi x?>"
        b'<o:E1EDK01 SEGMENT="1"><!-- header --><o:CURCY>CNY</o:CURCY><o:EMPTY/></o:E1EDK01>'
        b"</o:IDOC></o:ORDERS05>"
    )
    (record,) = read_idocs(data, file="n.xml", timezone=SHANGHAI)
    assert record["DOCNUM"] == "0000000000000007"
    assert record["E1EDK01"] == [{"CURCY": "CNY", "EMPTY": ""}]


def test_envelope_without_credat_and_with_free_text_docnum_is_read_as_is() -> None:
    (delivery,) = read_idocs(fixture("DELVRY03-example.xml"), file="X.xml", timezone=SHANGHAI)
    assert delivery["DOCNUM"] == "Avon"
    assert delivery["_created_at"] is None
    assert delivery["E1EDL20"][0]["NTGEW"] == "82"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<DEBMAS07><foo/></DEBMAS07>", "holds no <IDOC> element"),
        (b'<DEBMAS07><IDOC BEGIN="1"><E1KNA1M/></IDOC></DEBMAS07>', "no EDI_DC40"),
        (
            b'<DEBMAS07><IDOC BEGIN="1"><EDI_DC40><DOCNUM>1</DOCNUM></EDI_DC40></IDOC></DEBMAS07>',
            "lacks IDOCTYP, MESTYP",
        ),
        (
            b"<X><IDOC><EDI_DC40><DOCNUM>1</DOCNUM><IDOCTYP>X</IDOCTYP><MESTYP>X</MESTYP>"
            b"<CREDAT>20241399</CREDAT></EDI_DC40></IDOC></X>",
            "is not a date",
        ),
        (
            b"<X><IDOC><EDI_DC40><DOCNUM>1</DOCNUM><IDOCTYP>X</IDOCTYP><MESTYP>X</MESTYP>"
            b"</EDI_DC40><E1 SEGMENT='1'><F>a</F><F>b</F></E1></IDOC></X>",
            "appears more than once",
        ),
    ],
    ids=["no-idoc", "no-control", "no-type", "bad-date", "repeated-field"],
)
def test_what_is_not_idoc_xml_is_a_data_error(data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_idocs(data, file="bad.xml", timezone=SHANGHAI)


def test_created_at_converts_sap_local_time_to_utc() -> None:
    assert created_at("20240101", "003000", SHANGHAI) == "2023-12-31T16:30:00Z"
    assert created_at("20240101", None, ZoneInfo("UTC")) == "2024-01-01T00:00:00Z"
    assert created_at("", "120000", SHANGHAI) is None


# ------------------------------------------------------------------ writing


def test_built_idoc_reads_back_to_the_same_segments() -> None:
    segments = {
        "E1EDK01": [{"CURCY": "CNY", "BSART": "TA"}],
        "E1EDKA1": [{"PARVW": "AG", "PARTN": "0000100001"}],
        "E1EDK02": [{"QUALF": "001", "BELNR": "3f2a9c1e5b7d4e6f8a0b1c2d3e4f5a6b"}],
        "E1EDP01": [
            {
                "POSEX": "000010",
                "MENGE": Decimal("2.500"),
                "E1EDP19": [{"QUALF": "002", "IDTNR": "TG-11"}],
            },
            {"POSEX": "000020", "MENGE": 3, "E1EDP19": {"QUALF": "002", "IDTNR": "TG-12"}},
        ],
    }
    control = {
        "TABNAM": "EDI_DC40",
        "DOCNUM": "0000000000000042",
        "DIRECT": "2",
        "IDOCTYP": "ORDERS05",
        "MESTYP": "ORDERS",
        "CIMTYP": None,
        "CREDAT": "20240603",
        "CRETIM": "120000",
        "SNDPRN": "L2CHUB",
    }
    data = build_idoc("ORDERS05", control, segments)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    (record,) = read_idocs(data, file="out.xml", timezone=ZoneInfo("UTC"))
    assert record["EDI_DC40"] == {k: v for k, v in control.items() if v}
    assert list(record["EDI_DC40"])[:3] == ["TABNAM", "DOCNUM", "DIRECT"]
    assert record["E1EDP01"][0]["MENGE"] == "2.500"
    assert record["E1EDP01"][1]["E1EDP19"] == [{"QUALF": "002", "IDTNR": "TG-12"}]
    assert list(record["E1EDP01"][0]) == ["POSEX", "MENGE", "E1EDP19"]
    # the read record, written again, gives the same document
    again = build_idoc("ORDERS05", record["EDI_DC40"], record)
    assert again == data


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        ({"E1EDK01": [{"FLAG": True}]}, "booleans have no IDoc form"),
        ({"E1EDK01": "CNY"}, "must be a list of objects"),
        ({"E1EDK01": [{"BAD NAME": "x"}]}, "not a valid IDoc field name"),
        ({"E1EDK01": [{"CURCY": "\x00"}]}, "characters XML cannot carry"),
        ({"E1EDK01": [{"AMOUNT": float("nan")}]}, "not a number"),
    ],
)
def test_what_idoc_xml_cannot_carry_is_a_data_error(segments: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        build_idoc("ORDERS05", {"DOCNUM": "1"}, segments)


def test_docnum_is_sixteen_digits_and_stable_per_key() -> None:
    key = "3f2a9c1e5b7d4e6f8a0b1c2d3e4f5a6b"
    assert docnum_for_key(key) == docnum_for_key(key)
    assert len(docnum_for_key(key)) == 16
    assert docnum_for_key(key).isdigit()
    assert docnum_for_key(key) != docnum_for_key(key[::-1])
