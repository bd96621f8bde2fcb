import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.model.uscc import ALPHABET, check_character, validate_uscc

# Published codes of real companies (their registrations are public records).
REAL_CODES = [
    "91350100M000100Y43",  # the GB 32100-2015 worked example
    "914403001922038216",  # Huawei Technologies Co., Ltd.
    "91330100799655058B",  # Alibaba (China) Co., Ltd.
    "9144030071526726XG",  # Tencent Technology (Shenzhen) Co., Ltd.
]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert validate_uscc(code) == code


def test_code_is_trimmed_and_upper_cased() -> None:
    assert validate_uscc("  91350100m000100y43 ") == "91350100M000100Y43"


def test_wrong_check_character_names_the_expected_one() -> None:
    with pytest.raises(ValueError, match="check character is '4' but should be '3'"):
        validate_uscc("91350100M000100Y44")


def test_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="18 characters, got 17"):
        validate_uscc("91350100M000100Y4")


@pytest.mark.parametrize("letter", ["I", "O", "S", "V", "Z"])
def test_letters_outside_the_alphabet_are_named(letter: str) -> None:
    with pytest.raises(ValueError, match=f"found '{letter}'"):
        validate_uscc("91350100M000100" + letter + "43")


def test_check_character_example_by_hand() -> None:
    # weights 3**i mod 31: 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28; M = 21, Y = 30
    # 9*1 + 1*3 + 3*9 + 5*27 + 1*26 + 21*20 + 1*8 + 30*30 + 4*28 = 1640 = 52*31 + 28
    # 31 - 28 = 3, the character with value 3
    assert check_character("91350100M000100Y4") == "3"


@given(st.text(alphabet=ALPHABET, min_size=17, max_size=17))
def test_any_code_with_its_check_character_validates(first17: str) -> None:
    code = first17 + check_character(first17)
    assert validate_uscc(code) == code


@given(st.text(alphabet=ALPHABET, min_size=17, max_size=17), st.sampled_from(ALPHABET))
def test_a_changed_check_character_is_refused(first17: str, other: str) -> None:
    right = check_character(first17)
    if other != right:
        with pytest.raises(ValueError, match="check character"):
            validate_uscc(first17 + other)
