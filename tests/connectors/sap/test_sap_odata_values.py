"""Wire values → record values, and OData URI literals (connectors/sap/odata/values.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from connectors.sap.odata.values import (
    datetime_literal,
    datetimeoffset_literal,
    from_wire,
    key_predicate,
    parse_wire_datetime,
    quote,
    time_literal,
)
from connectors.sdk.errors import DataError


@pytest.mark.parametrize(
    ("wire", "edm_type", "display", "expected"),
    [
        ("/Date(1471392000000)/", "Edm.DateTime", None, "2016-08-17T00:00:00Z"),
        ("/Date(1471392000000)/", "Edm.DateTime", "Date", "2016-08-17"),
        ("/Date(1472796947125+0000)/", "Edm.DateTimeOffset", None, "2016-09-02T06:15:47.125Z"),
        # The ticks are the UTC instant; the offset only names the zone it was entered in.
        ("/Date(1472796947125+0120)/", "Edm.DateTimeOffset", None, "2016-09-02T06:15:47.125Z"),
        ("/Date(1472796947000-0300)/", "Edm.DateTimeOffset", None, "2016-09-02T06:15:47Z"),
        ("/Date(-86400000)/", "Edm.DateTime", None, "1969-12-31T00:00:00Z"),
        ("/Date(-2208988800000)/", "Edm.DateTime", "Date", "1900-01-01"),
        ("2024-05-01T10:00:00", "Edm.DateTime", None, "2024-05-01T10:00:00Z"),
        ("PT14H30M05S", "Edm.Time", None, "14:30:05"),
        ("PT0H0M0S", "Edm.Time", None, "00:00:00"),
        ("PT9H5M7.25S", "Edm.Time", None, "09:05:07.25"),
        ("PT23H59M59.1234567S", "Edm.Time", None, "23:59:59.123457"),
        ("52.65", "Edm.Decimal", None, "52.65"),
        ("0.10", "Edm.Decimal", None, "0.10"),
        ("9223372036854775807", "Edm.Int64", None, "9223372036854775807"),
        ("1.5E3", "Edm.Double", None, "1.5E3"),
        (7, "Edm.Int32", None, 7),
        ("7", "Edm.Int16", None, 7),
        (True, "Edm.Boolean", None, True),
        ("false", "Edm.Boolean", None, False),
        ("0000001000", "Edm.String", None, "0000001000"),
        (
            "005056a2-0b7f-1ed9-94f2-0d1e1c8c5a5d",
            "Edm.Guid",
            None,
            "005056a2-0b7f-1ed9-94f2-0d1e1c8c5a5d",
        ),
        (None, "Edm.DateTime", "Date", None),
        (None, "Edm.Decimal", None, None),
    ],
)
def test_wire_values_become_record_values(
    wire: object, edm_type: str, display: str | None, expected: object
) -> None:
    assert from_wire(wire, edm_type, display) == expected


def test_a_decimal_sent_as_a_json_number_becomes_text() -> None:
    assert from_wire(12.5, "Edm.Decimal") == "12.5"


@pytest.mark.parametrize(
    ("wire", "edm_type"),
    [
        ("/Date(abc)/", "Edm.DateTime"),
        ("yesterday", "Edm.DateTimeOffset"),
        ("14:30", "Edm.Time"),
        ("P1DT2H", "Edm.Time"),
        ("maybe", "Edm.Boolean"),
        ("seven", "Edm.Int32"),
        ({"x": 1}, "Edm.Decimal"),
    ],
)
def test_a_value_that_does_not_fit_its_type_is_a_data_error(wire: object, edm_type: str) -> None:
    with pytest.raises(DataError, match=edm_type):
        from_wire(wire, edm_type)


def test_parse_wire_datetime_keeps_milliseconds() -> None:
    parsed = parse_wire_datetime("/Date(1472796947125+0000)/")
    assert parsed == datetime(2016, 9, 2, 6, 15, 47, 125000, tzinfo=UTC)


def test_quote_doubles_single_quotes_and_adds_the_quotes() -> None:
    assert quote("O'Brien") == "'O''Brien'"
    assert quote("") == "''"


def test_key_predicate_single_and_compound() -> None:
    assert key_predicate({"BusinessPartner": "0000001000"}) == "('0000001000')"
    assert (
        key_predicate({"SalesOrder": "1", "SalesOrderItem": "10"})
        == "(SalesOrder='1',SalesOrderItem='10')"
    )
    assert key_predicate({"Product": "A'B"}) == "('A''B')"


def test_key_predicate_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one"):
        key_predicate({})


def test_datetimeoffset_literal_is_utc_with_seven_fraction_digits() -> None:
    moment = datetime(2016, 9, 2, 8, 15, 47, 125705, tzinfo=timezone(timedelta(hours=2)))
    assert datetimeoffset_literal(moment) == "datetimeoffset'2016-09-02T06:15:47.1257050Z'"
    assert (
        datetimeoffset_literal(datetime(2024, 5, 1, tzinfo=UTC))
        == "datetimeoffset'2024-05-01T00:00:00Z'"
    )


def test_datetime_literal_from_datetime_and_date() -> None:
    assert (
        datetime_literal(datetime(2024, 5, 1, 13, 45, tzinfo=UTC))
        == "datetime'2024-05-01T13:45:00'"
    )
    assert datetime_literal(date(2024, 5, 1)) == "datetime'2024-05-01T00:00:00'"


def test_time_literal_with_and_without_fraction() -> None:
    assert time_literal(time(13, 45)) == "time'PT13H45M00S'"
    assert time_literal(time(9, 5, 7, 500000)) == "time'PT09H05M07.5S'"
