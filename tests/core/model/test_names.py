import pytest

from core.model.names import normalize_company_name


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("华为技术有限公司", "华为技术"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴(中国)有限公司"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴有限公司"),
        ("腾讯科技（深圳）有限公司", "腾讯科技(深圳)有限公司"),
        ("ＡＢＣ 股份有限公司", "ABC有限公司"),
        ("Huawei Technologies Co., Ltd.", "HUAWEI TECHNOLOGIES CO LTD"),
        ("SAP (China) Co., Ltd", "SAP"),
        ("Siemens AG", "siemens"),
        ("Foo Company Limited", "Foo Ltd."),
        ("【测试】贸易有限公司", "[测试]贸易有限责任公司"),
    ],
)
def test_spellings_of_one_company_share_a_key(one: str, other: str) -> None:
    assert normalize_company_name(one) == normalize_company_name(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("腾讯科技（深圳）有限公司", "腾讯科技（北京）有限公司"),  # different legal persons
        ("华为技术有限公司", "华为终端有限公司"),
    ],
)
def test_different_companies_keep_different_keys(one: str, other: str) -> None:
    assert normalize_company_name(one) != normalize_company_name(other)


def test_latin_legal_form_must_be_a_whole_word() -> None:
    assert normalize_company_name("Hoffmag") == "hoffmag"


def test_a_name_that_is_only_a_legal_form_is_kept() -> None:
    assert normalize_company_name("有限公司") == "有限公司"
