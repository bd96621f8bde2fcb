"""Reading CSV, JSONL and XLSX: encodings, value shapes, and rows that cannot be read."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from connectors.files.fingerprint import file_error
from connectors.files.formats import cell_text
from connectors.sdk.embedding import Capture
from connectors.sdk.errors import ConfigError, TransientError

CUSTOMERS = {"name": "customers", "pattern": "customers*.csv", "key_properties": ["id"]}

Sync = Callable[..., Capture]  # the `sync` fixture of conftest.py


def records(capture, stream: str = "customers") -> list[dict]:
    return capture.records_of(stream)


# ------------------------------------------------------------------ CSV and encodings


def test_csv_values_are_strings_and_empty_cells_are_empty_strings(drop: Path, sync: Sync) -> None:
    (drop / "customers.csv").write_text("id,name,limit\n007,Acme,\n8,Beta,1.50\n", "utf-8")

    rows = records(sync(CUSTOMERS))

    assert rows == [
        {"id": "007", "name": "Acme", "limit": "", "_file": "customers.csv", "_row": 1},
        {"id": "8", "name": "Beta", "limit": "1.50", "_file": "customers.csv", "_row": 2},
    ]


def test_gb18030_csv_with_characters_outside_gbk_is_decoded(drop: Path, sync: Sync) -> None:
    name = "𠀾记商行（上海）有限公司：华东区"
    with pytest.raises(UnicodeEncodeError):
        name.encode("gbk")  # 𠀾 (CJK extension B) exists in GB18030 only
    (drop / "customers.csv").write_bytes(f"编号,名称\nC1,{name}\n".encode("gb18030"))

    rows = records(sync(CUSTOMERS | {"key_properties": ["编号"]}))

    assert rows[0]["编号"] == "C1"
    assert rows[0]["名称"] == name


def test_utf8_bom_is_not_part_of_the_first_column_name(drop: Path, sync: Sync) -> None:
    (drop / "customers.csv").write_bytes("\ufeffid,名称\r\nC1,华东\r\n".encode())

    capture = sync(CUSTOMERS)

    assert records(capture) == [{"id": "C1", "名称": "华东", "_file": "customers.csv", "_row": 1}]
    assert "id" in capture.schemas[0].schema["properties"]


def test_gbk_file_read_as_declared_utf8_is_a_config_error_naming_encoding(
    drop: Path, sync: Sync
) -> None:
    (drop / "customers.csv").write_bytes("id,名称\n1,华东\n".encode("gbk"))

    with pytest.raises(ConfigError) as caught:
        sync(CUSTOMERS | {"encoding": "utf-8"})

    assert caught.value.field == "streams[0].encoding"
    assert "customers.csv" in caught.value.message


def test_ragged_csv_row_becomes_an_error_record_and_reading_goes_on(drop: Path, sync: Sync) -> None:
    (drop / "customers.csv").write_text('id,name\n1,a\n2,"b, c",extra\n3,c\n', "utf-8")

    rows = records(sync(CUSTOMERS))

    assert rows[1] == {
        "_file": "customers.csv",
        "_row": 2,
        "_error": "row has 3 values but the header has 2 columns",
        "_raw": '2,"b, c",extra',
    }
    assert [r.get("id") for r in rows] == ["1", None, "3"]


def test_short_rows_get_none_and_empty_trailing_cells_are_ignored(drop: Path, sync: Sync) -> None:
    (drop / "customers.csv").write_text("id,name,city\n1\n2,b,c,,\n\n3,c,x\n", "utf-8")

    rows = records(sync(CUSTOMERS))

    assert rows[0] == {"id": "1", "name": None, "city": None, "_file": "customers.csv", "_row": 1}
    assert rows[1]["city"] == "c"
    assert "_error" not in rows[1]
    assert rows[2]["_row"] == 4  # the blank line is row 3 and yields nothing


def test_multiline_quoted_cell_is_one_row(drop: Path, sync: Sync) -> None:
    (drop / "customers.csv").write_text('id,address\n1,"line 1\nline 2"\n2,x\n', "utf-8")

    rows = records(sync(CUSTOMERS))

    assert rows[0]["address"] == "line 1\nline 2"
    assert rows[1]["_row"] == 2


def test_header_names_are_made_unique_and_never_shadow_row_metadata(drop: Path, sync: Sync) -> None:
    (drop / "customers.csv").write_text("id,name,,name,_row\n1,a,b,c,d\n", "utf-8")

    (row,) = records(sync(CUSTOMERS))

    assert row == {
        "id": "1",
        "name": "a",
        "column_3": "b",
        "name_2": "c",
        "_row_2": "d",
        "_file": "customers.csv",
        "_row": 1,
    }


def test_tsv_pattern_defaults_to_tab_delimiter(drop: Path, sync: Sync) -> None:
    (drop / "customers.tsv").write_text("id\tname\n1\tAcme, Inc\n", "utf-8")

    rows = records(sync({"name": "customers", "pattern": "*.tsv"}))

    assert rows[0]["name"] == "Acme, Inc"


def test_files_in_subfolders_carry_their_relative_path(drop: Path, sync: Sync) -> None:
    (drop / "2024" / "03").mkdir(parents=True)
    (drop / "2024" / "03" / "customers.csv").write_text("id\n1\n", "utf-8")

    rows = records(sync({"name": "customers", "pattern": "**/customers*.csv"}))

    assert rows[0]["_file"] == "2024/03/customers.csv"


def test_hidden_and_office_lock_files_are_not_read(drop: Path, sync: Sync) -> None:
    (drop / "customers.csv").write_text("id\n1\n", "utf-8")
    (drop / ".customers.csv").write_text("id\nhidden\n", "utf-8")
    (drop / "~$customers.csv").write_text("id\nlock\n", "utf-8")

    rows = records(sync(CUSTOMERS))

    assert [r["id"] for r in rows] == ["1"]


# ------------------------------------------------------------------ JSONL


ORDERS = {"name": "orders", "pattern": "*.jsonl"}


def test_jsonl_nested_records_pass_through_with_file_and_line(drop: Path, sync: Sync) -> None:
    (drop / "orders.jsonl").write_text(
        '{"no": "SO1", "items": [{"sku": "A", "qty": 2}], "ship": {"city": "上海"}}\n'
        "\n"
        '{"no": "SO2", "amount": 12.5, "big": 123456789012345678901234567890}\n',
        "utf-8",
    )

    capture = sync(ORDERS)

    assert capture.records_of("orders") == [
        {
            "no": "SO1",
            "items": [{"sku": "A", "qty": 2}],
            "ship": {"city": "上海"},
            "_file": "orders.jsonl",
            "_row": 1,
        },
        {
            "no": "SO2",
            "amount": 12.5,
            "big": 123456789012345678901234567890,
            "_file": "orders.jsonl",
            "_row": 3,
        },
    ]
    properties = capture.schemas[0].schema["properties"]
    assert properties["no"] == {"type": ["null", "string"]}
    assert properties["items"] == {"type": ["array", "null"]}
    assert properties["ship"] == {"type": ["null", "object"]}
    assert properties["amount"] == {"type": ["null", "number"]}
    assert properties["_row"]["type"] == "integer"


def test_malformed_jsonl_lines_become_error_records_with_raw_text(drop: Path, sync: Sync) -> None:
    (drop / "orders.jsonl").write_text(
        '{"no": "SO1"}\n{"no": "SO2",\n[1, 2]\n{"x": NaN}\n{"no": "SO3"}\n', "utf-8"
    )

    rows = sync(ORDERS).records_of("orders")

    assert [r.get("no") for r in rows] == ["SO1", None, None, None, "SO3"]
    bad = {r["_row"]: r for r in rows if "_error" in r}
    assert set(bad) == {2, 3, 4}
    assert bad[2]["_raw"] == '{"no": "SO2",'
    assert bad[2]["_error"].startswith("invalid JSON")
    assert bad[3]["_error"] == "line holds a JSON list, not an object"
    assert "NaN" in bad[4]["_error"]


# ------------------------------------------------------------------ XLSX


def write_workbook(path: Path, rows: list[list], *, sheets: dict[str, list[list]] | None = None):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "First"
    for row in rows:
        sheet.append(row)
    for title, extra in (sheets or {}).items():
        other = book.create_sheet(title)
        for row in extra:
            other.append(row)
    book.save(path)


XLSX = {"name": "customers", "pattern": "*.xlsx", "key_properties": ["id"]}


def test_xlsx_numbers_dates_and_empty_cells_become_what_a_person_sees(
    drop: Path, sync: Sync
) -> None:
    write_workbook(
        drop / "customers.xlsx",
        [
            ["id", "amount", "qty", "whole", "signed_on", "visited_at", "note", "vip"],
            [
                "C1",
                0.1 + 0.2,
                3,
                5.0,
                dt.date(2024, 3, 1),
                dt.datetime(2024, 3, 1, 9, 30),
                None,
                True,
            ],
        ],
    )

    (row,) = records(sync(XLSX))

    assert row == {
        "id": "C1",
        "amount": "0.3",
        "qty": "3",
        "whole": "5",
        "signed_on": "2024-03-01",
        "visited_at": "2024-03-01T09:30:00",
        "note": None,
        "vip": "true",
        "_file": "customers.xlsx",
        "_row": 1,
    }


def test_xlsx_sheet_and_header_row_settings_are_honoured(drop: Path, sync: Sync) -> None:
    write_workbook(
        drop / "book.xlsx",
        [["ignored"]],
        sheets={
            "Data": [
                ["客户清单 2024-03"],
                ["id", "名称"],
                ["C1", "华东"],
                [None, None],
                ["C2", "华南"],
            ]
        },
    )

    rows = records(sync(XLSX | {"sheet": "Data", "header_row": 2}))

    assert [(r["id"], r["名称"], r["_row"]) for r in rows] == [("C1", "华东", 1), ("C2", "华南", 3)]


def test_xlsx_values_beyond_the_header_become_an_error_record(drop: Path, sync: Sync) -> None:
    write_workbook(drop / "book.xlsx", [["id", "name"], ["C1", "a", "stray"], ["C2", "b"]])

    rows = records(sync(XLSX))

    assert rows[0]["_error"] == "row has values beyond the 2 header columns"
    assert rows[0]["_raw"] == '["C1", "a", "stray"]'
    assert rows[1]["id"] == "C2"


def test_missing_xlsx_sheet_is_a_config_error_listing_the_sheets(drop: Path, sync: Sync) -> None:
    write_workbook(drop / "book.xlsx", [["id"], ["C1"]])

    with pytest.raises(ConfigError) as caught:
        sync(XLSX | {"sheet": "Kunden"})

    assert caught.value.field == "streams[0].sheet"
    assert "First" in caught.value.hint


def test_corrupt_xlsx_is_a_config_error_naming_the_file(drop: Path, sync: Sync) -> None:
    (drop / "book.xlsx").write_bytes(b"not a zip at all")

    with pytest.raises(ConfigError) as caught:
        sync(XLSX)

    assert "book.xlsx" in caught.value.message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1 + 0.2, "0.3"),
        (1234567.891, "1234567.891"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (1.5e-7, "0.00000015"),
        (2 / 3, "0.666666666666667"),
        (42, "42"),
        (False, "false"),
        (dt.time(8, 15), "08:15:00"),
        (dt.timedelta(hours=26, minutes=5), "26:05:00"),
        ("", ""),
    ],
)
def test_cell_text_gives_the_shortest_exact_decimal_and_iso_dates(value, text) -> None:
    assert cell_text(value) == text


# ------------------------------------------------------------------ unreadable files


def test_unreadable_file_is_a_config_error_with_its_path(
    drop: Path, sync: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = drop / "customers.csv"
    locked.write_text("id\n1\n", "utf-8")
    real_open = Path.open

    def deny(self: Path, *args, **kwargs):
        if self == locked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", deny)

    with pytest.raises(ConfigError) as caught:
        sync(CUSTOMERS)

    assert str(locked) in caught.value.message
    assert caught.value.field == "path"


def test_file_that_vanished_is_a_transient_error() -> None:
    error = file_error(Path("/drop/gone.csv"), FileNotFoundError(2, "No such file"))

    assert isinstance(error, TransientError)
    assert "/drop/gone.csv" in error.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission_is_a_config_error(drop: Path, sync: Sync) -> None:
    locked = drop / "customers.csv"
    locked.write_text("id\n1\n", "utf-8")
    locked.chmod(0)

    with pytest.raises(ConfigError):
        sync(CUSTOMERS)
