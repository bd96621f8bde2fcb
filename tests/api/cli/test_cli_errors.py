"""User mistakes give one line saying what is wrong and how to fix it, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path


def test_unknown_job_names_the_fix(cli) -> None:
    cli("init")
    result = cli("sync", "run", "nope")
    assert result.exit_code == 3
    assert "error: no sync job named 'nope'" in result.stderr
    assert "l2c job list" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_commands_before_init_say_to_run_init(cli) -> None:
    result = cli("job", "list")
    assert result.exit_code != 0
    assert "l2c init" in result.stderr


def test_invalid_connection_settings_name_the_field(cli, tmp_path: Path) -> None:
    cli("init")
    bad = {
        "path": str(tmp_path),
        "streams": [{"name": "x", "pattern": "*.csv", "format": "parquet"}],
    }
    result = cli("connection", "add", "erp", "--connector", "files", "--config", json.dumps(bad))
    assert result.exit_code == 2
    assert "streams[0].format" in result.stderr


def test_unknown_connector_lists_the_known_ones(cli) -> None:
    cli("init")
    result = cli("connection", "add", "x", "--connector", "sapp")
    assert result.exit_code == 2
    assert "files" in result.stderr and "singer" in result.stderr


def test_garbage_on_stdin_fails_the_target_run_with_the_line_number(cli) -> None:
    cli("init")
    lines = (
        '{"type": "SCHEMA", "stream": "customers", "schema": {}, "key_properties": []}\nnot json\n'
    )
    result = cli("singer", "target", "--mapping", "files/demo_accounts", input_=lines)
    assert result.exit_code == 1
    assert "stdin line 2 is not JSON" in result.stderr
    runs = cli("sync", "runs")
    assert "failed" in runs.stdout


def test_mapping_test_prints_the_record_or_the_precise_error(cli, tmp_path: Path) -> None:
    sample = tmp_path / "sample.json"
    sample.write_text(
        json.dumps(
            [
                {
                    "customer_code": "C1",
                    "company_name": "华为技术有限公司",
                    "uscc": "914403001922038216",
                    "industry_code": "02",
                    "credit_limit": "1,000.50",
                    "currency": "RMB",
                    "updated_at": "2024-05-06 14:30:00",
                },
                {
                    "customer_code": "C2",
                    "company_name": "坏公司",
                    "uscc": "91350100M000100Y44",
                    "industry_code": "02",
                    "updated_at": "2024-05-06 14:30:00",
                },
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    result = cli("mapping", "test", "files/demo_accounts", str(sample))
    assert result.exit_code == 65
    assert '"credit_limit": "1000.50"' in result.stdout
    assert '"credit_currency": "CNY"' in result.stdout
    assert '"source_ts": "2024-05-06T06:30:00+00:00"' in result.stdout  # Beijing time -> UTC
    assert "record 2 uscc:" in result.stderr and "should be '3'" in result.stderr


def test_mapping_check_reports_file_line_and_field(cli, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "version: 1\nsource: {connector: files, stream: s}\ntarget: account\nkey: id\n"
        "fields:\n  nmae: company\n",
        encoding="utf-8",
    )
    result = cli("mapping", "check", str(spec))
    assert result.exit_code == 2
    assert "bad.yaml:6:3" in result.stderr
    assert "did you mean 'name'" in result.stderr
