"""`l2c serve` refuses to start on an empty database, and its supervisor gives up on a
child that cannot start instead of restarting it forever."""

from __future__ import annotations

import sys

from api.cli.service import MAX_QUICK_EXITS, Child, Supervisor


def test_serve_asks_for_init_first(cli) -> None:
    result = cli("serve", "--port", "0")
    assert result.exit_code == 1
    assert "the database is not initialised" in result.stderr
    assert "run `l2c init` first" in result.stderr


def test_a_child_that_cannot_start_stops_the_service() -> None:
    broken = Child("api", [sys.executable, "-c", "import sys; sys.exit(3)"])
    healthy = Child("beat", [sys.executable, "-c", "import time; time.sleep(60)"])
    supervisor = Supervisor([broken, healthy], grace=5, poll=0.02, backoff_cap=0.02)
    assert supervisor.run() == 1
    assert broken.exits == [3] * MAX_QUICK_EXITS
    assert healthy.process is not None and healthy.process.returncode is not None  # stopped
