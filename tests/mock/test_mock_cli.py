"""``hub-service-mock`` / ``python -m kipu_hub_service.mock`` as a real subprocess."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kipu_hub_service.mock.__main__ import build_parser, fault_config

MODULE = [sys.executable, "-m", "kipu_hub_service.mock"]
URL = re.compile(r"listening on (http://\S+)")


class Mock:
    """A running mock gateway process whose stdout is read line by line in the background."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*MODULE, "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._wait_for_url()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _wait_for_url(self) -> str:
        while True:
            try:
                line = self.lines.get(timeout=30)
            except queue.Empty:
                self.process.kill()
                raise AssertionError("the mock printed no URL within 30 s") from None
            if line is None:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(f"the mock exited early: {stderr}")
            self.output.append(line)
            match = URL.search(line)
            if match:
                return match.group(1)

    def stop(self, signum: int) -> tuple[int, str]:
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        while (line := self.lines.get(timeout=10)) is not None:
            self.output.append(line)
        return code, "".join(self.output)


@pytest.fixture
def mocks() -> Iterator[list[Mock]]:
    started: list[Mock] = []
    yield started
    for mock in started:
        if mock.process.poll() is None:
            mock.process.kill()
            mock.process.wait(timeout=10)
        for stream in (mock.process.stdout, mock.process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_stops_cleanly_on_a_signal(mocks: list[Mock], signum: int) -> None:
    mock = Mock("--base-path", "/acme/vqe/v1", "--token", "secret", "--token", "other")
    mocks.append(mock)
    assert mock.url.startswith("http://127.0.0.1:") and mock.url.endswith("/acme/vqe/v1")
    with httpx.Client(base_url=mock.url, timeout=30) as client:
        ok = {"Authorization": "Bearer secret"}
        created = client.post("/", json={"input": {"x": 1}}, headers=ok)
        assert created.status_code == 201
        execution_id = created.json()["id"]
        assert client.get(f"/{execution_id}", headers=ok).json()["id"] == execution_id
        assert client.get("/", headers={"Authorization": "Bearer other"}).status_code == 200
        assert client.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    code, output = mock.stop(signum)
    assert code == 0, output
    assert "Mock gateway stopped." in output
    with pytest.raises(httpx.ConnectError):
        httpx.get(mock.url + "/")


def test_fault_and_timing_flags(mocks: list[Mock]) -> None:
    mock = Mock(
        "--pending-seconds",
        "0",
        "--running-seconds",
        "0",
        "--fault",
        "error=1",
        "--error-status",
        "502",
        "--fault-operation",
        "getServiceExecutions",
        "--seed",
        "3",
    )
    mocks.append(mock)
    auth = {"Authorization": "Bearer t"}
    with httpx.Client(base_url=mock.url, headers=auth, timeout=30) as client:
        assert client.get("/").status_code == 502
        execution_id = client.post("/", json={}).json()["id"]
        assert client.get(f"/{execution_id}").json()["status"] == "SUCCEEDED"
        faults = httpx.get(mock.url + "/_mock/faults").json()
        assert faults["rates"] == {"error": 1.0} and faults["seed"] == 3
        assert httpx.get(mock.url + "/_mock/stats").json()["faults"]["error"] == 1
    code, output = mock.stop(signal.SIGTERM)
    assert code == 0 and "Injecting faults (seed 3): error=1" in output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "hub-service-mock"
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    for flag in ("--base-path", "--token", "--fault-rate", "--fault-kind", "--seed"):
        assert flag in result.stdout


def test_help_explains_every_option() -> None:
    """Each option in ``--help`` has a line of explanation, not just its metavar."""
    result = subprocess.run(
        [*MODULE, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0
    lines = result.stdout.split("\n\n", 1)[1].splitlines()  # past the usage
    option = re.compile(r"  -\S+(?: \S+)?(?:, -\S+(?: \S+)?)*")
    bare = [
        line.strip()
        for line, following in zip(lines, [*lines[1:], ""], strict=True)
        if option.fullmatch(line) and not following.startswith(" " * 8)
    ]
    assert bare == []
    for flag in ("--pending-seconds", "--running-seconds", "--fault-latency", "--retry-after"):
        assert flag in result.stdout
    assert "--fault-limit" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--fault", "error=2"], "between 0 and 1"),
        (["--fault", "meteor=0.1"], "unknown fault kind"),
        (["--fault", "error"], "KIND=RATE"),
        (["--fault", "error=x"], "must be a number"),
        (["--fault-kind", "error"], "needs --fault-rate"),
        (["--fault-rate", "0.5", "--fault-kind", "meteor"], "invalid choice"),
        (["--pending-seconds", "-1"], "pending"),
        (["--base-path", "/a b"], "base path"),
        (["--token", ""], "tokens"),
        (["--port", "70000"], "--port"),
        (["--fault", "error=0.5", "--error-status", "404"], "5xx"),
        (["--error-status", "404"], "5xx code (500-599)"),
        (["--error-status", "600"], "5xx code (500-599)"),
        (["--error-status", "x"], "not an integer"),
    ],
)
def test_bad_flags_exit_2_with_a_message(args: list[str], fragment: str) -> None:
    result = subprocess.run(
        [*MODULE, "--port", "0", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_exits_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*MODULE, "--port", str(port)], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_fault_rate_is_shared_among_kinds() -> None:
    args = build_parser().parse_args(
        ["--fault-rate", "0.4", "--fault-kind", "error", "--fault-kind", "truncate"]
    )
    config = fault_config(args)
    assert config is not None
    assert {k.value: v for k, v in config.rates.items()} == {"error": 0.2, "truncate": 0.2}
    assert fault_config(build_parser().parse_args([])) is None
    everything = fault_config(build_parser().parse_args(["--fault-rate", "0.6"]))
    assert everything is not None and len(everything.rates) == 6


_WITHOUT_EXTRA = "import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None; "


def test_missing_mock_extra_is_one_line_not_a_traceback() -> None:
    code = _WITHOUT_EXTRA + (
        "from kipu_hub_service.mock.__main__ import main; sys.exit(main(['--port', '0']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "hub-service-mock: the mock gateway needs the 'mock' extra (starlette, uvicorn): "
        "pip install 'kipu-hub-service[mock]'"
    ]


def test_missing_mock_extra_names_the_extra_on_import() -> None:
    code = _WITHOUT_EXTRA + (
        "import kipu_hub_service.mock as m\n"
        "assert m.FaultConfig and m.Timing\n"
        "try:\n    m.MockGateway\n"
        "except ModuleNotFoundError as exc:\n    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'kipu-hub-service[mock]'" in proc.stdout
