"""date, datetime and sap_datetime: every instant leaves as aware UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import DataError
from mappings.transforms import parse_step
from mappings.transforms.dates import local_to_utc, zone
from mappings.transforms.timefmt import compile_format

Make = Callable[..., Callable[[Any], Any]]


@pytest.mark.parametrize(
    ("step", "given", "expected"),
    [
        ("date", "2024-05-06", date(2024, 5, 6)),
        ("date", "20240506", date(2024, 5, 6)),
        ("date", 20240506, date(2024, 5, 6)),
        ("date", "00000000", None),
        ("date", "0000-00-00", None),
        ("date", "/Date(1714953600000)/", date(2024, 5, 6)),
        ("date", "2024-05-06T23:30:00+08:00", date(2024, 5, 6)),
        ("date", datetime(2024, 5, 6, 12, tzinfo=UTC), date(2024, 5, 6)),
        ({"date": {"format": "%Y/%m/%d"}}, "2024/05/06", date(2024, 5, 6)),
        ({"date": "%Y/%m/%d"}, "2024/5/6", date(2024, 5, 6)),
        ({"date": "%d.%m.%Y"}, "06.05.2024", date(2024, 5, 6)),
    ],
)
def test_date_reads_iso_sap_and_formats(make: Make, step: Any, given: Any, expected: date) -> None:
    assert make(step)(given) == expected


@pytest.mark.parametrize(
    "given", ["2024-02-30", "2024/05/06", "06.05.2024", "/Date(x)/", "yesterday", 1.5]
)
def test_date_refuses_what_it_cannot_read(make: Make, given: Any) -> None:
    with pytest.raises(DataError) as caught:
        make("date")(given)
    assert caught.value.code == "invalid_date"
    assert repr(given) in caught.value.message


def test_sap_date_with_offset_is_utc(make: Make) -> None:
    read = make("datetime")
    assert read("/Date(1700000000000)/") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert read("/Date(1700000000000+0000)/") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    # the suffix only says which offset the writer used; the milliseconds are UTC already
    assert read("/Date(1700000000000+0480)/") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert read("/Date(-86400000)/") == datetime(1969, 12, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-05-06T14:30:00+08:00", datetime(2024, 5, 6, 6, 30, tzinfo=UTC)),
        ("2024-05-06T06:30:00Z", datetime(2024, 5, 6, 6, 30, tzinfo=UTC)),
        ("2024-05-06T06:30:00.1234567Z", datetime(2024, 5, 6, 6, 30, 0, 123456, tzinfo=UTC)),
        ("2024-05-06 14:30:00", datetime(2024, 5, 6, 14, 30, tzinfo=UTC)),
        ("2024-05-06", datetime(2024, 5, 6, tzinfo=UTC)),
        (date(2024, 5, 6), datetime(2024, 5, 6, tzinfo=UTC)),
        (
            datetime(2024, 5, 6, 14, 30, tzinfo=timezone(timedelta(hours=8))),
            datetime(2024, 5, 6, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_datetime_is_aware_utc(make: Make, given: Any, expected: datetime) -> None:
    result = make("datetime")(given)
    assert result == expected
    assert result.tzinfo is UTC


def test_naive_datetime_is_read_in_the_transform_zone(make: Make) -> None:
    read = make({"datetime": {"tz": "Asia/Shanghai"}})
    assert read("2024-05-06 14:30:00") == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)


def test_naive_datetime_falls_back_to_the_mapping_zone(make: Make) -> None:
    read = make("datetime", tz="Asia/Shanghai")
    assert read("2024-05-06T14:30:00") == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)
    assert read("2024-05-06T14:30:00Z") == datetime(2024, 5, 6, 14, 30, tzinfo=UTC)


def test_datetime_format_reads_local_patterns(make: Make) -> None:
    read = make({"datetime": {"format": "%Y/%m/%d %H:%M", "tz": "Asia/Shanghai"}})
    assert read("2024/05/06 14:30") == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)
    assert read("2024/5/6 9:05") == datetime(2024, 5, 6, 1, 5, tzinfo=UTC)


def test_datetime_in_a_dst_gap_uses_the_earlier_offset(make: Make) -> None:
    read = make({"datetime": {"tz": "Europe/Berlin"}})
    # 02:30 does not exist on 2024-03-31 in Berlin; fold=0 takes the winter offset (+01:00)
    assert read("2024-03-31T02:30:00") == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert read("2024-10-27T02:30:00") == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("given", ["2024-13-01 10:00:00", "soon", "/Date(abc)/", 1700000000, ["x"]])
def test_datetime_refuses_what_it_cannot_read(make: Make, given: Any) -> None:
    with pytest.raises(DataError) as caught:
        make("datetime")(given)
    assert caught.value.code == "invalid_datetime"


def test_unknown_time_zone_is_a_mapping_problem() -> None:
    _, problems = parse_step({"datetime": {"tz": "Asia/Beijing"}}, ("t",))
    assert problems[0].path == ("t", "datetime", "tz")
    assert "unknown time zone 'Asia/Beijing'" in problems[0].message


def test_format_without_directive_is_a_mapping_problem() -> None:
    _, problems = parse_step({"date": "yyyy/MM/dd"}, ("t",))
    assert "no strftime directive" in problems[0].message


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["/Date(1714953600000)/", "PT14H30M05S"], datetime(2024, 5, 6, 14, 30, 5, tzinfo=UTC)),
        (["20240506", "143005"], datetime(2024, 5, 6, 14, 30, 5, tzinfo=UTC)),
        (["20240506", "PT9H"], datetime(2024, 5, 6, 9, tzinfo=UTC)),
        (["2024-05-06", "14:30"], datetime(2024, 5, 6, 14, 30, tzinfo=UTC)),
        (["20240506", None], datetime(2024, 5, 6, tzinfo=UTC)),
        (["00000000", "000000"], None),
        ([None, "PT1H"], None),
    ],
)
def test_sap_datetime_combines_date_and_time(
    make: Make, given: Any, expected: datetime | None
) -> None:
    assert make("sap_datetime")(given) == expected


def test_sap_datetime_reads_in_its_zone(make: Make) -> None:
    read = make({"sap_datetime": {"tz": "Asia/Shanghai"}})
    assert read(["20240506", "PT14H30M00S"]) == datetime(2024, 5, 6, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "given", ["20240506", ["20240506"], ["20240506", "PT25H"], ["2024x", "PT1H"]]
)
def test_sap_datetime_refuses_bad_input(make: Make, given: Any) -> None:
    with pytest.raises(DataError) as caught:
        make("sap_datetime")(given)
    assert caught.value.code == "invalid_datetime"


def test_local_to_utc_equals_replace_then_astimezone() -> None:
    shanghai = zone("Asia/Shanghai")
    # 1988 had summer time in China: the offset then was +09:00
    for naive in (datetime(1988, 7, 1, 12), datetime(2024, 5, 6, 14, 30, 0, 5)):
        assert local_to_utc(naive, shanghai) == naive.replace(tzinfo=shanghai).astimezone(UTC)


FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M",
    "%Y%m%d%H%M%S",
    "%y%m%d",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%H:%M",
    "%m/%d/%Y",
]
DIGITISH = st.text(alphabet="0123456789-/.:T %１２", max_size=22)


@pytest.mark.parametrize("fmt", FORMATS)
@given(text=DIGITISH)
def test_fast_format_parser_agrees_with_strptime(fmt: str, text: str) -> None:
    _agree(fmt, text)


@pytest.mark.parametrize("fmt", FORMATS)
@given(
    moment=st.datetimes(min_value=datetime(1950, 1, 1), max_value=datetime(2090, 1, 1)),
    pad=st.booleans(),
)
def test_fast_format_parser_reads_what_strftime_writes(
    fmt: str, moment: datetime, pad: bool
) -> None:
    text = moment.strftime(fmt)
    _agree(fmt, text if pad else text.replace("-0", "-").replace("/0", "/"))


def _agree(fmt: str, text: str) -> None:
    try:
        want: Any = datetime.strptime(text, fmt)  # noqa: DTZ007 - comparing naive parsers
    except ValueError:
        want = ValueError
    try:
        got: Any = compile_format(fmt)(text)
    except ValueError:
        got = ValueError
    assert got == want, (fmt, text)


def test_time_only_format_defaults_like_strptime() -> None:
    assert compile_format("%H:%M")("09:05") == datetime(1900, 1, 1, 9, 5)
    assert time(9, 5) == compile_format("%H:%M")("9:05").time()
