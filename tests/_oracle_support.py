"""Subprocess runners shared by the contract and oracle tests: schemathesis and hub-service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HUB_SERVICE = Path(sys.executable).parent / "hub-service"


def run_schemathesis(
    spec: Path, url: str, token: str, config: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` of ``spec`` against ``url``, deterministic: one worker, no example
    database; ``options`` add phases, checks, mode, seed, reports. Runs in ``config``'s folder."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            str(spec),
            "--url",
            url,
            "--header",
            f"Authorization: Bearer {token}",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
            *options,
        ],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def run_hub_service(
    url: str, token: str, *args: str, cwd: Path, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """The installed ``hub-service`` command, configured through its environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_SERVICE_")}
    env.pop("COLUMNS", None)
    env.update(HUB_SERVICE_BASE_URL=url, HUB_SERVICE_TOKEN=token, NO_COLOR="1")
    return subprocess.run(
        [str(HUB_SERVICE), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
