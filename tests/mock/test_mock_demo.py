"""``make demo``: its module, end to end, as a subprocess."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
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


def test_demo_writes_sizes_and_times_as_the_cli_does(tmp_path: Path) -> None:
    out = run_demo("--output-dir", str(tmp_path)).stdout
    assert re.search(r"result\.bin -> .*  8\.0 MiB \(verified\)", out), out
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(rf"{stamp}  INFO     Execution started", out), out


def _exported(lines: list[str]) -> dict[str, str]:
    variables = {}
    for line in lines:
        words = shlex.split(line)
        if words[:1] == ["export"]:
            name, _, value = words[1].partition("=")
            variables[name] = value
    return variables


def test_demo_serve_prints_the_exports_another_shell_uses_then_stops_on_ctrl_c() -> None:
    demo = subprocess.Popen(
        [*DEMO, "--serve"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert demo.stdout is not None
        lines: list[str] = []
        while not lines or "until Ctrl-C" not in lines[-1]:
            line = demo.stdout.readline()
            assert line, "".join(lines)  # the demo ended without serving
            lines.append(line)
        lines.extend(demo.stdout.readline() for _ in range(6))
        variables = _exported(lines[-6:])
        assert set(variables) == {
            "HUB_SERVICE_BASE_URL",
            "HUB_SERVICE_TOKEN_ENDPOINT",
            "HUB_SERVICE_ACCESS_KEY_ID",
            "HUB_SERVICE_SECRET_ACCESS_KEY",
        }
        assert _exported(lines[:12]) == variables  # the header shows the same ones
        execution_id = "".join(lines).split("1. start_execution", 1)[1].split("id ", 1)[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_SERVICE_")}
        listed = subprocess.run(
            [sys.executable, "-m", "kipu_hub_service.cli", "--json", "list"],
            capture_output=True, text=True, timeout=120, check=False, env={**env, **variables},
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert [e["id"] for e in json.loads(listed.stdout)] == [execution_id.split()[0]]
        demo.send_signal(signal.SIGINT)
        rest, err = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, err
    assert "Traceback" not in err
    assert rest.rstrip().splitlines()[-2:] == [
        "Mock gateway stopped.",
        "Result files removed with their temporary folder "
        "(keep them: make demo OUT=DIR, or --output-dir DIR).",
    ]


ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_out_keeps_the_files_and_prints_no_installer_noise(tmp_path: Path) -> None:
    # -o: the venv counts as up to date (this test must not reinstall it).
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed-stamp", "demo",
         f"OUT={tmp_path / 'kept'}"],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith("Kipu Quantum Hub service gateway SDK")  # no command echo
    assert (tmp_path / "kept" / "result.bin").stat().st_size == RESULT_SIZE
    assert "removed with their temporary folder" not in done.stdout


def test_the_install_step_asks_pip_for_errors_only() -> None:
    # pip's second quiet level (-qq) is ERROR: no "WARNING: Location ... is ignored" lines.
    recipe = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", "install"],
        capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    (pip,) = [line for line in recipe.splitlines() if " pip install " in line]
    assert " -qq " in pip, pip
