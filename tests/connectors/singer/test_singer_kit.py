"""The connector test kit on the Singer connector, driving the fake tap."""

import sys
from pathlib import Path

from connectors.sdk.testing import connector_tests
from connectors.singer import CONNECTOR

FAKE_TAP = Path(__file__).parent / "fake_tap.py"

SAMPLE_CONFIG = {
    "executable": sys.executable,
    "args": [str(FAKE_TAP)],
    "tap_config": {"password": "s3cret", "count": 2},
    "secret_keys": ["password"],
}

TestSingerConnector = connector_tests(CONNECTOR, SAMPLE_CONFIG)
