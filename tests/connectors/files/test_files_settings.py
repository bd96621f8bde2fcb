"""Settings of the files connector: validation and check() name the setting to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.files import CONNECTOR
from connectors.sdk.errors import ConfigError


def config(drop: Path, *streams: dict, **settings) -> dict:
    return {"path": str(drop), "streams": list(streams), **settings}


CUSTOMERS = {"name": "customers", "pattern": "customers*.csv", "key_properties": ["id"]}
ORDERS = {"name": "orders", "pattern": "orders/*.jsonl"}


def test_check_reports_how_many_files_each_stream_matches(drop: Path) -> None:
    (drop / "customers_1.csv").write_text("id,name\n1,a\n", "utf-8")
    (drop / "customers_2.csv").write_text("id,name\n2,b\n", "utf-8")

    result = CONNECTOR.check(config(drop, CUSTOMERS, ORDERS))

    assert result.ok
    assert result.details == [
        "customers: 2 csv file(s) match 'customers*.csv'; 2 column(s)",
        "orders: 0 jsonl file(s) match 'orders/*.jsonl'",
    ]


def test_check_names_path_when_the_folder_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(config(tmp_path / "nowhere", CUSTOMERS))

    assert caught.value.field == "path"
    assert "does not exist" in caught.value.message


def test_check_names_the_pattern_that_escapes_the_folder(drop: Path) -> None:
    escaping = {"name": "orders", "pattern": "../elsewhere/*.csv"}

    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(config(drop, CUSTOMERS, escaping))

    assert caught.value.field == "streams[1].pattern"


def test_check_names_key_properties_missing_from_the_header(drop: Path) -> None:
    (drop / "customers_1.csv").write_text("customer_no,name\n1,a\n", "utf-8")

    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(config(drop, CUSTOMERS))

    assert caught.value.field == "streams[0].key_properties"
    assert "customer_no" in caught.value.hint


def test_misspelt_setting_is_named_with_its_path(drop: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config(config(drop, CUSTOMERS, {"name": "x", "patern": "*.csv"}))

    assert caught.value.field == "streams[1].patern"
    assert "pattern" in caught.value.hint


def test_missing_required_setting_is_named_with_its_path(drop: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config(config(drop, CUSTOMERS, {"name": "orders"}))

    assert caught.value.field == "streams[1].pattern"
    assert caught.value.hint.startswith("set it")


def test_unknown_format_lists_the_allowed_ones(drop: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config(config(drop, CUSTOMERS | {"format": "xls"}))

    assert caught.value.field == "streams[0].format"
    assert caught.value.hint == "use one of: csv, jsonl, xlsx"


def test_format_must_be_given_when_the_extension_does_not_tell(drop: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config(config(drop, {"name": "dump", "pattern": "export_*"}))

    assert caught.value.field == "streams[0].format"


def test_stream_names_must_be_unique(drop: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config(config(drop, CUSTOMERS, CUSTOMERS | {"pattern": "*.xlsx"}))

    assert caught.value.field == "streams[1].name"


def test_schema_offers_only_the_connectors_own_settings() -> None:
    assert list(CONNECTOR.config_schema["properties"]) == ["path", "streams", "state_every"]
    assert CONNECTOR.capabilities == {"read", "incremental"}
