"""The CLI's token sources are bounded: a secret file that is not a small regular file, and a
token command that hangs, floods or leaves children behind, all end, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from kipu_hub_service.mock import MockGateway

TOKEN = "token-sources-token"
GUARD = 120
"""Seconds after which a run is stopped: a "finishes at all" guard, never a measurement."""
CLI = [sys.executable, "-m", "kipu_hub_service.cli"]

# Runs a command as a child subreaper (orphans of the token command become its children, so
# the ones that were killed are reaped), then reports whether the token command's process
# group still exists. In "cleanup" mode it first says whether the group outlived the CLI,
# then kills it.
HARNESS = """
import ctypes, json, os, signal, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pgid_file, mode, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
pgid = int(open(pgid_file).read())

def alive():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True

outlived = alive()
if mode == "cleanup":
    os.killpg(pgid, signal.SIGKILL)
deadline = time.monotonic() + 30
while alive() and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({"code": done.returncode, "out": done.stdout, "err": done.stderr,
                  "outlived": outlived, "gone": not alive()}))
"""

# A token command that records its process group, starts a child in it that inherits stdout,
# and then either prints the token and exits at once, or hangs.
COMMAND = """
import os, subprocess, sys, time
open(sys.argv[1], "w").write(str(os.getpgrp()))
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
if sys.argv[2] == "exit":
    print(sys.argv[3], flush=True)
    os._exit(0)
time.sleep(300)
"""


@pytest.fixture(scope="module")
def gateway() -> Iterator[MockGateway]:
    with MockGateway(tokens=[TOKEN]) as running:
        yield running


def _env(gateway: MockGateway) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_SERVICE_")}
    env["HUB_SERVICE_BASE_URL"] = gateway.url
    return env


def _through_harness(tmp_path: Path, mode: str, *cli_args: str, env: dict[str, str]) -> dict:
    harness = tmp_path / "harness.py"
    harness.write_text(HARNESS)
    pgid_file = tmp_path / "pgid"
    try:
        done = subprocess.run(
            [sys.executable, str(harness), str(pgid_file), mode, *CLI, *cli_args],
            capture_output=True, text=True, env=env, timeout=GUARD, check=True,
        )  # fmt: skip
        report: dict = json.loads(done.stdout)
        return report
    finally:
        with suppress(OSError, ValueError):
            os.killpg(int(pgid_file.read_text()), signal.SIGKILL)


def _command(tmp_path: Path, how: str) -> str:
    script = tmp_path / "command.py"
    script.write_text(COMMAND)
    return f"{sys.executable} {script} {tmp_path / 'pgid'} {how} {TOKEN}"


# --secret-access-key-file


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_secret_file_that_is_not_a_regular_file_is_a_usage_error_at_once(
    tmp_path: Path, kind: str
) -> None:
    if kind == "fifo":
        path = tmp_path / "secret.fifo"
        os.mkfifo(path)  # no writer ever opens it: a blocking read would wait for ever
        shown = "a FIFO"
    elif kind == "directory":
        path, shown = tmp_path, "a directory"
    else:
        path, shown = Path(os.devnull), "a character device"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_SERVICE_")}
    env.update(HUB_SERVICE_BASE_URL="http://127.0.0.1:9/x", HUB_SERVICE_ACCESS_KEY_ID="key")
    done = subprocess.run(
        [*CLI, "--secret-access-key-file", str(path), "list"],
        capture_output=True, text=True, env=env, timeout=GUARD, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert f"--secret-access-key-file {path}: not a regular file ({shown})" in lines[0]


# --token-command


def test_a_command_that_exits_is_not_waited_on_for_a_child_holding_its_output(
    gateway: MockGateway, tmp_path: Path
) -> None:
    report = _through_harness(
        tmp_path, "cleanup", "--json", "--token-command", _command(tmp_path, "exit"), "list",
        env=_env(gateway),
    )  # fmt: skip
    # The token was read and used, not the timeout path (which exits 3, "did not finish").
    assert report["code"] == 0, report["err"]
    assert json.loads(report["out"]) == []
    assert report["err"] == ""
    # The CLI returned while the child still held the command's stdout open.
    assert report["outlived"] is True


def test_at_its_timeout_the_whole_process_group_of_the_command_is_killed(
    gateway: MockGateway, tmp_path: Path
) -> None:
    report = _through_harness(
        tmp_path, "check", "--token-command", _command(tmp_path, "hang"),
        "--token-command-timeout", "1", "list",
        env=_env(gateway),
    )  # fmt: skip
    assert report["code"] == 3
    assert report["err"].strip().splitlines() == [
        f"hub-service: error: token command {sys.executable} did not finish within 1 s"
    ]
    # The command and the child it started are gone: os.killpg(pgid, 0) raises
    # ProcessLookupError once the killed processes are reaped.
    assert report["gone"] is True


FLOOD = (
    "import sys\n"
    "block = b'x' * 65536\n"
    "for _ in range(1600):  # 100 MiB\n"
    "    sys.stdout.buffer.write(block)\n"
)


def _peak_rss_kib(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Exit code's stderr and the peak resident memory (KiB) of one CLI process."""
    process = subprocess.Popen(
        [*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    assert process.stderr is not None
    err = process.stderr.read().decode()  # the CLI closes it when it exits
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 3, err
    return usage.ru_maxrss, err


def test_a_command_printing_100_mib_is_refused_at_the_cap_with_bounded_memory(
    gateway: MockGateway, tmp_path: Path
) -> None:
    flood = tmp_path / "flood.py"
    flood.write_text(FLOOD)
    small = tmp_path / "small.py"
    small.write_text("import sys\nsys.exit(5)\n")
    env = _env(gateway)
    baseline, _ = _peak_rss_kib(["--token-command", f"{sys.executable} {small}", "list"], env)
    peak, err = _peak_rss_kib(["--token-command", f"{sys.executable} {flood}", "list"], env)
    assert err.strip().endswith("printed more than 65536 bytes (64 KiB)"), err
    # Reading all 100 MiB would hold them at least once; the cap keeps the CLI near its
    # usual size (16 MiB of slack for allocator noise).
    assert peak < baseline + 16 * 1024, (peak, baseline)
