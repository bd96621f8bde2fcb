"""T26: canary secrets go through the API — an API key, a connection password, a
subscription's signing secret, a webhook secret — with DEBUG logs of every library on,
and none of them appears in the logs."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.http.app import create_app
from core.settings import CoreSettings
from tests.api.http.support import make_caller

FAKE_TAP = Path(__file__).parents[2] / "connectors" / "singer" / "fake_tap.py"
CANARY_PASSWORD = "canary-pw-5f1e2d"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    yield stream
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def test_no_secret_reaches_the_logs(
    api_settings: CoreSettings, sessions: sessionmaker[Session], logs: io.StringIO
) -> None:
    settings = api_settings.model_copy(update={"log_level": "DEBUG", "log_format": "json"})
    app = create_app(settings)  # configures the redacting JSON logs
    ours = logging.getLogger().handlers[0]  # the redacting JSON handler it installed
    tee = logging.StreamHandler(logs)
    tee.setFormatter(ours.formatter)
    logging.getLogger().addHandler(tee)
    caller = make_caller(app, sessions, "alice")
    with TestClient(app, headers={"Authorization": f"Bearer {caller.key}"}) as client:
        tap = client.post(
            "/v1/connections",
            json={
                "name": "tap",
                "connector": "singer",
                "config": {
                    "executable": sys.executable,
                    "args": [str(FAKE_TAP)],
                    "tap_config": {"password": CANARY_PASSWORD},
                    "secret_keys": ["password"],
                },
            },
        )
        assert tap.status_code == 201, tap.text
        client.post(f"/v1/connections/{tap.json()['id']}/discover")
        client.post(f"/v1/connections/{tap.json()['id']}/check")
        sub = client.post(
            "/v1/subscriptions", json={"name": "crm", "url": "https://crm.example.com/h"}
        ).json()
        hook = client.post(f"/v1/webhooks/{tap.json()['id']}/secret", json={}).json()
        client.get("/v1/connections")
        client.get("/v1/nothing", headers={"X-API-Key": caller.key})
    text = logs.getvalue()
    assert '"event": "request"' in text  # the logs were captured
    leaked = [
        name
        for name, secret in [
            ("api key", caller.key),
            ("api key secret part", caller.key.rsplit("_", 1)[1]),
            ("connection password", CANARY_PASSWORD),
            ("subscription secret", sub["secret"]),
            ("webhook secret", hook.get("secret") or "no-webhook-secret-returned"),
            ("L2C_SECRET_KEY", settings.secret_key.get_secret_value()),
        ]
        if secret in text
    ]
    assert leaked == []
    assert "secret" in hook, hook  # the webhook secret really was issued
