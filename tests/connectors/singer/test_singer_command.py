"""The Singer connector: argv, config/catalog/state files, selection and check()."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.sdk.errors import ConfigError
from connectors.singer import CONNECTOR, tap_command
from connectors.singer import command as singer_command

FAKE_TAP = Path(__file__).parent / "fake_tap.py"


def settings(**overrides) -> dict:
    return {
        "executable": sys.executable,
        "args": [str(FAKE_TAP)],
        "tap_config": {"password": "s3cret", "count": 2},
        "secret_keys": ["password"],
    } | overrides


def run(argv: list[str]) -> list[dict]:
    """Run a tap command line the way the hub does and parse its Singer messages."""
    done = subprocess.run(argv, capture_output=True, check=True, timeout=60)
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def records(messages: list[dict]) -> list[tuple[str, int]]:
    return [(m["stream"], m["record"]["id"]) for m in messages if m["type"] == "RECORD"]


def catalog_of_fake_tap() -> dict:
    return json.loads(
        subprocess.run(
            [sys.executable, str(FAKE_TAP), "--config", "/dev/stdin", "--discover"],
            input=b'{"password": "s3cret"}',
            capture_output=True,
            check=True,
        ).stdout
    )


# ------------------------------------------------------------------ tap_command


def test_command_writes_a_private_config_file_and_returns_argv(tmp_path: Path) -> None:
    argv = tap_command(settings(), tmp_path, None)

    config_path = tmp_path / "config.json"
    assert argv == [sys.executable, str(FAKE_TAP), "--config", str(config_path)]
    assert json.loads(config_path.read_text("utf-8")) == {"password": "s3cret", "count": 2}
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    assert not (tmp_path / "state.json").exists()


def test_tap_runs_from_the_command_and_resumes_from_the_state_file(tmp_path: Path) -> None:
    first = run(tap_command(settings(), tmp_path / "run1", None))
    state = [m for m in first if m["type"] == "STATE"][-1]["value"]

    argv = tap_command(settings(), tmp_path / "run2", state)

    assert argv[-2:] == ["--state", str(tmp_path / "run2" / "state.json")]
    assert records(first) == [("users", 1), ("users", 2), ("orders", 1), ("orders", 2)]
    assert records(run(argv)) == [("users", 3), ("users", 4), ("orders", 3), ("orders", 4)]


def test_empty_state_is_still_passed(tmp_path: Path) -> None:
    argv = tap_command(settings(), tmp_path, {})

    assert json.loads((tmp_path / "state.json").read_text("utf-8")) == {}
    assert "--state" in argv


def test_catalog_is_written_and_passed_with_the_configured_flag(tmp_path: Path) -> None:
    catalog = catalog_of_fake_tap()
    for entry in catalog["streams"]:
        entry["schema"]["selected"] = entry["stream"] == "orders"

    argv = tap_command(settings(catalog=catalog, catalog_flag="--properties"), tmp_path, None)

    assert argv[-2:] == ["--properties", str(tmp_path / "catalog.json")]
    assert records(run(argv)) == [("orders", 1), ("orders", 2)]


def test_select_marks_only_the_named_streams_selected(tmp_path: Path) -> None:
    argv = tap_command(settings(catalog=catalog_of_fake_tap(), select=["users"]), tmp_path, None)

    written = json.loads((tmp_path / "catalog.json").read_text("utf-8"))
    chosen = {
        e["stream"]: m["metadata"]["selected"]
        for e in written["streams"]
        for m in e["metadata"]
        if m["breadcrumb"] == []
    }
    assert chosen == {"users": True, "orders": False}
    assert argv[-2:] == ["--catalog", str(tmp_path / "catalog.json")]
    assert records(run(argv)) == [("users", 1), ("users", 2)]


def test_select_without_a_catalog_runs_discovery_first(tmp_path: Path) -> None:
    argv = tap_command(settings(select=["orders"]), tmp_path, None)

    assert records(run(argv)) == [("orders", 1), ("orders", 2)]


def test_select_for_legacy_taps_also_marks_the_schema(tmp_path: Path) -> None:
    argv = tap_command(settings(select=["orders"], catalog_flag="--properties"), tmp_path, None)

    assert records(run(argv)) == [("orders", 1), ("orders", 2)]


def test_selecting_an_unknown_stream_is_a_config_error_naming_select(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        tap_command(settings(catalog=catalog_of_fake_tap(), select=["invoices"]), tmp_path, None)

    assert caught.value.field == "select"
    assert "users, orders" in caught.value.hint


# ------------------------------------------------------------------ executable


def test_executable_name_is_resolved_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tap-fake"
    script.write_text(f"#!{sys.executable}\n" + FAKE_TAP.read_text("utf-8"), "utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))

    argv = tap_command(settings(executable="tap-fake", args=[]), tmp_path / "work", None)

    assert argv[0] == str(script)
    assert CONNECTOR.check(settings(executable="tap-fake", args=[])).ok


def test_missing_executable_is_a_config_error_showing_the_path_searched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/opt/nothing-here:/usr/local/none")

    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(settings(executable="tap-missing"))

    assert caught.value.field == "executable"
    assert "/opt/nothing-here:/usr/local/none" in caught.value.hint


def test_a_path_that_is_not_executable_is_a_config_error(tmp_path: Path) -> None:
    plain = tmp_path / "tap-plain"
    plain.write_text("echo", "utf-8")

    with pytest.raises(ConfigError) as caught:
        tap_command(settings(executable=str(plain)), tmp_path, None)

    assert caught.value.field == "executable"


# ------------------------------------------------------------------ check


def test_check_reports_the_streams_discovery_found() -> None:
    result = CONNECTOR.check(settings())

    assert result.ok
    assert result.details == ["stream: users", "stream: orders"]


def test_check_fails_when_discovery_exits_non_zero_without_leaking_the_secret() -> None:
    result = CONNECTOR.check(settings(tap_config={"password": "wrong-pass"}))

    assert not result.ok
    assert "exited with code 1" in result.message
    assert result.details == ["login refused for password ********"]


def test_check_gives_up_when_discovery_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(singer_command, "DISCOVERY_TIMEOUT", 0.5)

    result = CONNECTOR.check(settings(tap_config={"hang": True}))

    assert not result.ok
    assert "did not finish within 0.5 s" in result.message


def test_check_refuses_a_selection_of_unknown_streams() -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.check(settings(select=["users", "invoices"]))

    assert caught.value.field == "select"


# ------------------------------------------------------------------ settings


def test_tap_config_keys_listed_as_secret_are_secret_fields() -> None:
    config = settings(secret_keys=["password", "api_token"])

    assert CONNECTOR.secret_fields(config) == ["tap_config.password", "tap_config.api_token"]
    assert CONNECTOR.redact(config)["tap_config"] == {"password": "********", "count": 2}


def test_catalog_flag_without_a_catalog_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        CONNECTOR.validate_config(settings(catalog_flag="--properties"))

    assert caught.value.field == "catalog_flag"


def test_connector_runs_as_an_external_command() -> None:
    assert CONNECTOR.tap is None
    assert CONNECTOR.capabilities == {"read", "incremental"}
