"""`l2c demo` (what `make demo` runs) and the README's walkthrough commands after it."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cli import l2c
from fastapi.testclient import TestClient

from api.http.app import create_app
from core.settings import CoreSettings


def test_demo_loads_the_bundled_exports_and_the_walkthrough_works(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("L2C_")}
    env.update(L2C_DATA_DIR=str(tmp_path / ".l2c"), COLUMNS="200", NO_COLOR="1")

    out = l2c("demo", "--no-serve", env=env).stdout.decode()
    assert "completed_with_errors  read 355" in out  # first run: five exports
    assert "completed  read 0" in out  # same files: nothing read
    assert "read 2 · inserted 0 · updated 1 · unchanged 1" in out  # day 2: newer + older
    assert "check character is '0' but should be '1'" in out  # the bad USCC, quarantined

    assert "completed_with_errors" in l2c("sync", "runs", env=env).stdout.decode()
    assert "unknown_code" in l2c("quarantine", "list", env=env).stdout.decode()
    sample = tmp_path / ".l2c" / "demo-files" / "sample-customer.json"
    shown = l2c("mapping", "test", "files/demo_accounts", str(sample), env=env).stdout.decode()
    assert '"industry": "information_technology"' in shown
    lines = l2c("singer", "tap", "--entities", "account", env=env).stdout.splitlines()
    messages = [json.loads(line) for line in lines]
    assert [m["type"] for m in messages][:2] == ["SCHEMA", "RECORD"]
    assert sum(m["type"] == "RECORD" for m in messages) == 39

    key = re.search(r"l2c_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}", out)
    assert key is not None, "the demo prints an API key"
    settings = CoreSettings(data_dir=tmp_path / ".l2c", secret_key=None)
    with TestClient(create_app(settings, configure_logs=False)) as client:
        page = client.get(
            "/v1/accounts",
            params={"limit": 200},
            headers={"Authorization": f"Bearer {key.group()}"},
        )
    assert page.status_code == 200 and len(page.json()["items"]) == 39


def test_demo_runs_again_from_scratch(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("L2C_")}
    env.update(L2C_DATA_DIR=str(tmp_path / ".l2c"), COLUMNS="200", NO_COLOR="1")
    first = l2c("demo", "--no-serve", env=env).stdout.decode()
    second = l2c("demo", "--no-serve", env=env).stdout.decode()
    assert "completed_with_errors  read 355" in first
    assert "completed_with_errors  read 355" in second
