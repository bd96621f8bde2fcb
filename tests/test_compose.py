"""docker-compose.yml and the Dockerfile describe a working distributed set-up: the
services, their images, health checks, environment and start order; and Compose itself
accepts the file where it is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HUB = ("api", "worker", "beat")
HUB_ENV = ("L2C_DATABASE_URL", "L2C_BROKER_URL", "L2C_SECRET_KEY")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]


def test_the_distributed_set_up_has_its_services(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "redis", "migrate", *HUB}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("migrate", *HUB):
        assert services[name]["build"] == "."
        assert services[name]["image"] == "l2c-hub:latest"


def test_redis_never_evicts_queued_tasks(services: dict[str, Any]) -> None:
    command = services["redis"]["command"]
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_each_hub_process_runs_its_command(services: dict[str, Any]) -> None:
    assert services["migrate"]["command"] == ["init"]
    assert services["migrate"]["restart"] == "no"
    api = services["api"]["command"]
    assert api[:2] == ["serve", "--no-worker"]
    assert api[api.index("--host") + 1] == "0.0.0.0"
    assert services["worker"]["command"][0] == "worker"
    assert services["beat"]["command"] == ["beat"]


def test_hub_services_share_the_store_broker_and_key(services: dict[str, Any]) -> None:
    for name in ("migrate", *HUB):
        env = services[name]["environment"]
        assert set(HUB_ENV) <= set(env), name
        assert (
            env["L2C_DATABASE_URL"].startswith("postgresql://")
            and "@postgres:" in env["L2C_DATABASE_URL"]
        )
        assert env["L2C_BROKER_URL"].startswith("redis://redis:6379/")
        # no placeholder secret: compose refuses to start without the operator's key
        assert env["L2C_SECRET_KEY"].startswith("${L2C_SECRET_KEY:?")


def test_health_checks_guard_the_start_order(services: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "api", "worker", "beat"):
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in HUB:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }


def test_the_image_installs_the_package_and_runs_l2c() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install ." in dockerfile
    assert 'ENTRYPOINT ["l2c"]' in dockerfile
    assert "USER l2c" in dockerfile
    for package in ("core", "connectors", "mappings", "scheduler", "api"):
        assert f"COPY {package} ./{package}" in dockerfile


def _compose() -> list[str] | None:
    """Compose v2 (the `docker compose` plugin); the legacy v1 predates `name:`."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, check=False, timeout=30
    )
    return [docker, "compose"] if probe.returncode == 0 else None


def test_compose_accepts_the_file() -> None:
    compose = _compose()
    if compose is None:
        pytest.skip("the `docker compose` plugin (Compose v2) is not installed")
    env = {**os.environ, "L2C_SECRET_KEY": "test-only-key"}
    result = subprocess.run(
        [*compose, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(
        [*compose, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k != "L2C_SECRET_KEY"},
        check=False,
        timeout=60,
    )
    assert missing.returncode != 0 and "L2C_SECRET_KEY" in missing.stderr
