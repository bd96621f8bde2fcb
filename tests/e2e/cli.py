"""Run the real `l2c` executable of this virtualenv, with its own settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

L2C = str(Path(sys.executable).with_name("l2c"))


def l2c_env(database_url: str, data_dir: Path, tenant: str = "default") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("L2C_")}
    env.update(
        L2C_DATABASE_URL=database_url,
        L2C_DATA_DIR=str(data_dir),
        L2C_TENANT=tenant,
        COLUMNS="200",
        NO_COLOR="1",
    )
    return env


def l2c(
    *args: str, env: dict[str, str], input_: bytes | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        [L2C, *args], env=env, input=input_, capture_output=True, timeout=600, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"l2c {' '.join(args)} exited {result.returncode}\n"
            f"stdout: {result.stdout.decode()[-3000:]}\nstderr: {result.stderr.decode()[-3000:]}"
        )
    return result
