"""``make demo``: its module, end to end, as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kipu_hub_service.mock import iter_result_bin
from kipu_hub_service.mock.demo import RESULT_SIZE

DEMO = [sys.executable, "-m", "kipu_hub_service.mock.demo"]


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEMO, *args], capture_output=True, text=True, timeout=120, check=False)


def test_demo_runs_the_quickstart_against_the_mock(tmp_path: Path) -> None:
    result = run_demo("--output-dir", str(tmp_path))
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in result.stderr
    assert "Mock gateway        http://127.0.0.1:" in out
    for step in ("1. start_execution", "2. get_status", "3. get_result", "4. get_logs"):
        assert step in out
    assert "-> SUCCEEDED" in out
    assert "INFO     Execution started" in out
    assert '"molecule": "H2"' in out
    assert "(verified)" in out and "MISMATCH" not in out
    assert out.rstrip().endswith("Mock gateway stopped.")

    execution_id = out.split("1. start_execution", 1)[1].split("id ", 1)[1].split()[0]
    written = (tmp_path / "result.bin").read_bytes()
    assert len(written) == RESULT_SIZE
    assert written == b"".join(iter_result_bin(execution_id, RESULT_SIZE))
    assert (tmp_path / "result.json").read_text().startswith("{")


def test_demo_shows_a_failed_execution(tmp_path: Path) -> None:
    result = run_demo("--output-dir", str(tmp_path), "--fail")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-> FAILED" in result.stdout
    assert "ERROR    Execution failed" in result.stdout
    assert "no result files" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_demo_without_output_dir_leaves_no_temporary_folder(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path))
    result = subprocess.run(DEMO, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "result.bin" in result.stdout
    assert "removed with their temporary folder" in result.stdout
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("hub-service-demo-")] == []
