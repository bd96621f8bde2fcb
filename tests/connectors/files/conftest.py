"""Helpers for the files connector tests: a drop folder and an in-process sync."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from connectors.files import FilesTap
from connectors.sdk.embedding import Capture, run_embedded

Sync = Callable[..., Capture]


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """An empty folder files are dropped into."""
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def sync(drop: Path) -> Sync:
    """Run the files tap in-process on `drop` with the given streams (and state)."""

    def run(
        *streams: Mapping[str, Any],
        state: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> Capture:
        config = {"path": str(drop), "streams": list(streams), **settings}
        return run_embedded(FilesTap, config, state=state)

    return run
