"""Published Singer programs from PyPI, each in its own virtualenv (as in a real user's
pipeline: they pin other singer-sdk versions than ours).

Virtualenvs are cached under .cache/peers/ keyed by the requirement, so only the first
run on a machine downloads anything. bench/ uses the same helper.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "peers"

TAP_JSONL = "tap-jsonl==0.3.1"
TARGET_CSV = "meltanolabs-target-csv==0.5.0"
TARGET_POSTGRES = "meltanolabs-target-postgres==0.8.1"


def peer_bin(name: str, requirement: str) -> Path:
    """The bin/ folder of a virtualenv holding `requirement` (created on first use)."""
    home = CACHE / name
    marker = home / ".requirement"
    if marker.exists() and marker.read_text() == requirement:
        return home / "bin"
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    result = subprocess.run(
        [
            str(home / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip install {requirement} failed:\n{result.stderr[-3000:]}")
    marker.write_text(requirement)
    return home / "bin"


if __name__ == "__main__":
    for spec in sys.argv[1:]:
        print(peer_bin(spec.split("==")[0], spec))
