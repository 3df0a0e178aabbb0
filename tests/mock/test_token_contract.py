"""Contract test of the token endpoint: schemathesis against the live mock gateway.

``openapi/token.yaml`` documents the gateway's ``POST /token`` (the client-credentials grant);
the mock serves it on its root. All phases, positive and negative data, every check, with the
access key as Basic credentials; deterministic (fixed seed, one worker, no example database).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from qhub.api.service.mock import MockGateway

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi" / "token.yaml"
KEY_ID, SECRET = "contract-key", "contract-secret"


@pytest.mark.timeout(240)
def test_token_endpoint_honours_its_openapi_contract(tmp_path: Path) -> None:
    with MockGateway(base_path="/context/service/v1", access_keys=[f"{KEY_ID}:{SECRET}"]) as gw:
        root = gw.token_url.removesuffix("/token")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                str(SPEC),
                "--url",
                root,
                "--auth",
                f"{KEY_ID}:{SECRET}",
                "--phases",
                "examples,coverage,fuzzing",
                "--checks",
                "all",
                "--mode",
                "all",
                "--seed",
                "20261127",
                "--max-examples",
                "60",
                "--workers",
                "1",
                "--generation-database",
                "none",
                "--request-timeout",
                "30",
                "--no-color",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=200,
            check=False,
        )
        stats = gw.stats()["tokens"]
    report = result.stdout[-15000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "No issues found" in result.stdout, report
    assert "1 selected / 1 total" in result.stdout, report
    for phase in ("Examples", "Coverage", "Fuzzing"):
        assert f"✅ {phase}" in result.stdout, report
    # Both kinds of answer were reached: tokens were issued, and bad requests rejected.
    assert stats["issued"] > 0, stats
    assert stats["rejected"] > 0, stats
