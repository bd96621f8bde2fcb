import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.sales.phones import Phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # mobile: 11 digits 1[3-9]… → +86 + the 11 digits
        ("13800138000", Phone("+8613800138000", "mobile")),
        ("+86 138-0013-8000", Phone("+8613800138000", "mobile")),
        ("+86-138 0013 8000", Phone("+8613800138000", "mobile")),
        ("8613800138000", Phone("+8613800138000", "mobile")),
        ("0086 138 0013 8000", Phone("+8613800138000", "mobile")),
        ("013800138000", Phone("+8613800138000", "mobile")),  # trunk 0 once dialled
        ("１３８００１３８０００", Phone("+8613800138000", "mobile")),  # full-width
        ("＋８６　１３８－００１３－８０００", Phone("+8613800138000", "mobile")),
        ("tel:+8619912345678", Phone("+8619912345678", "mobile")),
    ],
)
def test_mobiles_become_plus_86_and_eleven_digits(raw: str, expected: Phone) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Beijing: area 10 (2 digits) + 8 digits → +86 10 12345678
        ("010-12345678", Phone("+861012345678", "landline")),
        ("(010) 12345678", Phone("+861012345678", "landline")),
        ("1012345678", Phone("+861012345678", "landline")),  # without the trunk 0
        ("010-12345678转123", Phone("+861012345678", "landline", "123")),
        ("010 1234 5678 分机 88", Phone("+861012345678", "landline", "88")),
        ("010-12345678-123", Phone("+861012345678", "landline", "123")),  # "-" extension
        # Shanghai: 0086 prefix, area 21 + 8 digits → +86 21 55556666
        ("0086 21 5555 6666", Phone("+862155556666", "landline")),
        ("+86 (0)21 5555 6666", Phone("+862155556666", "landline")),
        ("+86 021-5555-6666 x12", Phone("+862155556666", "landline", "12")),
        ("021-5555-6666-12", Phone("+862155556666", "landline", "12")),
        ("０２１－５５５５６６６６", Phone("+862155556666", "landline")),
        # Shenzhen: area 755 (3 digits) + 8 digits, or a 7-digit subscriber
        ("0755-8888 9999 ext. 5", Phone("+8675588889999", "landline", "5")),
        ("0755-88889999 EXT 5", Phone("+8675588889999", "landline", "5")),
        ("0755-2345678-12", Phone("+867552345678", "landline", "12")),  # 3 + 7 digits
        ("400-810-8888", Phone("+864008108888", "landline")),  # service number, same shape
    ],
)
def test_landlines_keep_area_code_and_split_extension(raw: str, expected: Phone) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (650) 253-0000", Phone("+16502530000", "unknown")),
        ("+44 20 7946 0958 ext 12", Phone("+442079460958", "unknown", "12")),
    ],
)
def test_foreign_numbers_are_kept_only_with_a_plus(raw: str, expected: Phone) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "abc",
        "138-0013-800a",
        "12345678",  # local number, area unknown
        "12800138000",  # 12x is not a mobile range
        "1380013800",  # ten digits
        "138001380001",  # twelve digits
        "+86 10 0234 5678",  # subscriber cannot start with 0
        "0044 20 7946 0958",  # foreign numbers need a +
        "+0123456789",
        "+123",  # too short for E.164
        "+1234567890123456",  # 16 digits: too long for E.164
        "13800138000-123",  # a "-" extension only follows a landline
        "010+12345678",
        "١٣٨٠٠١٣٨٠٠٠",  # Arabic-Indic digits are not folded by NFKC
    ],
)
def test_unsure_or_invalid_input_gives_none(raw: str | None) -> None:
    assert normalize_phone(raw) is None


@given(st.text(max_size=30))
def test_any_text_gives_none_or_a_plus_and_digits(raw: str) -> None:
    phone = normalize_phone(raw)
    if phone is not None:
        assert phone.e164.startswith("+")
        assert phone.e164[1:].isdigit() and phone.e164[1:].isascii()
        assert 8 <= len(phone.e164) <= 16


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from([" ", "-", ""]))
def test_every_mobile_with_separators_normalises_to_the_same_key(mobile: str, sep: str) -> None:
    spaced = f"+86 {mobile[:3]}{sep}{mobile[3:7]}{sep}{mobile[7:]}"
    assert normalize_phone(spaced) == normalize_phone(mobile) == Phone(f"+86{mobile}", "mobile")
