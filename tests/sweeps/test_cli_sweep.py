"""``hub-service sweep`` in real processes against the real mock gateway."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _sweep_support import TOKEN, forwarding, request_kind

from kipu_hub_service.cli import main
from kipu_hub_service.mock import MockGateway, Timing
from kipu_hub_service.testing import sdk_transport


@pytest.fixture
def gateway() -> Iterator[MockGateway]:
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.1, running=0.3)) as gw:
        yield gw


def write_inputs(path: Path, count: int, *, fail: tuple[int, ...] = (), **extra: object) -> Path:
    lines = [
        json.dumps({"n": n, "result_size": 32, **({"fail": True} if n in fail else {}), **extra})
        for n in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(
    gateway: MockGateway, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUB_SERVICE_BASE_URL": gateway.url, "HUB_SERVICE_TOKEN": TOKEN}
    return subprocess.run(
        [sys.executable, "-m", "kipu_hub_service.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=120,
    )


def test_every_line_runs_and_its_files_go_to_its_line_number(
    gateway: MockGateway, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 4, fail=(2,))
    out = tmp_path / "out"
    done = cli(gateway, "--json", "sweep", str(inputs), "-o", str(out), "--tag", "grid")
    assert done.returncode == 1, done.stderr  # line 3 failed
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    items, summary = lines[:-1], lines[-1]["summary"]
    assert sorted(item["line"] for item in items) == [1, 2, 3, 4]
    assert {item["line"]: item["status"] for item in items}[3] == "FAILED"
    assert summary == {"total": 4, "counts": {"SUCCEEDED": 3, "FAILED": 1}, "exit_code": 1}
    for number in (1, 2, 4):
        assert (out / str(number) / "result.bin").stat().st_size == 32
    assert not (out / "3").exists() and (out / "sweep-journal.sqlite").exists()
    assert gateway.stats()["executions_created"] == 4
    # the rerun resumes: nothing is started again, the outcomes are the journal's
    again = cli(gateway, "sweep", str(inputs), "-o", str(out), "--tag", "grid")
    assert again.returncode == 1 and "4 items: 1 failed, 3 succeeded" in again.stdout
    assert "line 3: FAILED" in again.stderr and "REQUESTED_FAILURE" in again.stderr
    assert gateway.stats()["executions_created"] == 4
    # without --tag the bodies differ from the journal's: refused, not mixed
    changed = cli(gateway, "sweep", str(inputs), "-o", str(out))
    assert changed.returncode == 2 and "input 0 (line 1)" in changed.stderr


def test_the_resume_hint_never_shows_a_token_given_on_the_command_line(
    gateway: MockGateway, tmp_path: Path
) -> None:
    """``--token T`` and ``--token=T`` are shown as ``***`` in the command the hint repeats
    (stderr ends up in CI logs); the rest of the command is as given."""
    inputs = write_inputs(tmp_path / "in.jsonl", 1, duration=60)
    for spelling in (["--token", TOKEN], [f"--token={TOKEN}"]):
        out = tmp_path / f"o{len(spelling)}"
        command = ["sweep", str(inputs), "-o", str(out), "--wait-timeout", "0.3"]
        done = cli(gateway, *spelling, *command)
        assert done.returncode == 4, done.stderr
        assert TOKEN not in done.stderr and TOKEN not in done.stdout
        shown = "--token '***'" if len(spelling) == 2 else "'--token=***'"
        assert f"(hub-service {shown} sweep {inputs} -o {out} --wait-timeout 0.3)" in done.stderr
        assert "with your token for ***" in done.stderr


def test_all_succeeded_exits_0_and_bodies_and_stdin_work(
    gateway: MockGateway, tmp_path: Path
) -> None:
    lines = [json.dumps({"input": {"n": n, "result_size": 8}, "tags": ["a"]}) for n in range(2)]
    done = cli(gateway, "sweep", "-", "--bodies", "-o", str(tmp_path / "o"), stdin="\n".join(lines))
    assert done.returncode == 0, done.stderr
    assert "2 items: 2 succeeded" in done.stdout
    assert (tmp_path / "o" / "2" / "result.json").exists()


def test_wait_timeout_exits_4_and_says_how_to_resume(gateway: MockGateway, tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 2, duration=60)
    done = cli(gateway, "sweep", str(inputs), "-o", str(tmp_path / "o"), "--wait-timeout", "0.5")
    assert done.returncode == 4
    assert "resume with the same command" in done.stderr and "--cancel" in done.stderr
    # the unfinished are counted in the summary, not given a line each
    assert "2 items: 2 timed_out" in done.stdout and "line 1:" not in done.stderr
    shown = cli(gateway, "sweep", str(inputs), "-o", str(tmp_path / "o"), "--cancel")
    assert shown.returncode == 1 and "line 1: CANCELLED (execution " in shown.stderr
    cancelled = cli(gateway, "--json", "sweep", str(inputs), "-o", str(tmp_path / "o"), "--cancel")
    assert cancelled.returncode == 1
    summary = json.loads(cancelled.stdout.splitlines()[-1])["summary"]
    assert summary["counts"] == {"CANCELLED": 2}
    assert gateway.stats()["executions_created"] == 2
    # --cancel of a sweep never run: nothing to cancel, nothing started, exit 1
    fresh = cli(gateway, "--json", "sweep", str(inputs), "-o", str(tmp_path / "new"), "--cancel")
    assert fresh.returncode == 1
    assert json.loads(fresh.stdout.splitlines()[-1])["summary"]["counts"] == {"NOT_STARTED": 2}
    assert gateway.stats()["executions_created"] == 2


def test_a_refused_token_exits_3_once_and_a_rerun_resumes(
    gateway: MockGateway, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 3)
    out = tmp_path / "o"
    refused = cli(gateway, "--token", "not-issued-token", "sweep", str(inputs), "-o", str(out))
    assert refused.returncode == 3  # the CLI's exit code for refused credentials
    assert refused.stderr.count("401") == 1 and "line 1:" not in refused.stderr
    assert gateway.stats()["executions_created"] == 0
    done = cli(gateway, "sweep", str(inputs), "-o", str(out))
    assert done.returncode == 0 and "3 items: 3 succeeded" in done.stdout
    assert gateway.stats()["executions_created"] == 3


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_line_ends_before_the_error_that_stops_a_sweep(
    gateway: MockGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a terminal the progress line is rewritten in place; when the gateway refuses the
    token half-way (at the first result), the line is ended before the error is printed."""

    def refuse_results(request: httpx.Request) -> httpx.Response | None:
        if request_kind(request) == "result":
            return httpx.Response(401, json={"message": "Invalid token"})
        return None

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    inputs = write_inputs(tmp_path / "in.jsonl", 2)
    args = ["--base-url", gateway.url, "--token", TOKEN, "sweep", str(inputs), "-o", str(tmp_path)]
    with sdk_transport(forwarding(gateway.url, refuse_results)):
        assert main(args) == 3
    shown = terminal.getvalue()
    assert "\r\x1b[2K0/2 done" in shown  # the live line was drawn
    assert "\nhub-service: error: GET " in shown and "401" in shown


def test_json_lines_as_editors_write_them(gateway: MockGateway, tmp_path: Path) -> None:
    """A byte order mark, CRLF line ends and blank lines at the end are read as plain JSON
    Lines; U+2028 inside a JSON string is not a line break. One execution per input line,
    each input as written, its files in DIR/<line>/."""
    values = [{"n": 1, "result_size": 8}, {"n": "x\u2028y", "result_size": 8}]
    text = "\r\n".join(json.dumps(value, ensure_ascii=False) for value in values) + "\r\n\r\n\n"
    inputs = tmp_path / "in.jsonl"
    inputs.write_bytes(b"\xef\xbb\xbf" + text.encode())
    out = tmp_path / "out"
    done = cli(gateway, "--json", "sweep", str(inputs), "-o", str(out))
    assert done.returncode == 0, done.stderr
    items = [json.loads(line) for line in done.stdout.splitlines()[:-1]]
    assert sorted(item["line"] for item in items) == [1, 2]
    assert {item["line"]: item["output"] for item in items} == {
        n: {"input": value} for n, value in enumerate(values, 1)
    }
    assert (out / "2" / "result.json").exists() and not (out / "3").exists()
    assert gateway.stats()["executions_created"] == 2
    # one line: "1 item", not "1 items"
    single = tmp_path / "one.jsonl"
    single.write_text('{"n": 3}\n')
    done = cli(gateway, "sweep", str(single), "-o", str(tmp_path / "one"))
    assert done.returncode == 0 and "1 item: 1 succeeded" in done.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"n": 1}\nnot json\n', "line 2: not valid JSON"),
        ("", "no inputs"),
        ("\n \n\n", "no inputs"),
        ('{"n": 1}\n\n{"n": 2}\n', "line 2: blank; each line is one input"),
        ("[1]\n", "line 1: with --bodies each line is a JSON object"),
    ],
)
def test_bad_inputs_are_usage_errors_before_anything_starts(
    gateway: MockGateway,
    tmp_path: Path,
    content: str,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(content)
    args = ["--base-url", gateway.url, "--token", TOKEN, "sweep", str(inputs), "-o", str(tmp_path)]
    if "bodies" in message:
        args.append("--bodies")
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert gateway.stats()["executions_created"] == 0


def _kill_half_way(
    gateway: MockGateway, command: list[str], sig: signal.Signals
) -> subprocess.Popen[str]:
    env = {**os.environ, "HUB_SERVICE_BASE_URL": gateway.url, "HUB_SERVICE_TOKEN": TOKEN}
    child = subprocess.Popen(
        [sys.executable, "-m", "kipu_hub_service.cli", "--json", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    first = child.stdout.readline()  # one item is done
    assert json.loads(first)["status"] == "SUCCEEDED"
    child.send_signal(sig)
    child.wait(timeout=60)
    return child


def test_sigkill_half_way_then_rerun_ends_with_one_execution_per_line(
    gateway: MockGateway, tmp_path: Path
) -> None:
    count = 10
    inputs = write_inputs(tmp_path / "in.jsonl", count)
    command = ["sweep", str(inputs), "-o", str(tmp_path / "o"), "--max-in-flight", "3"]
    killed = _kill_half_way(gateway, command, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert gateway.stats()["executions_created"] < count
    done = cli(gateway, *command)
    assert done.returncode == 0, done.stderr
    assert gateway.stats()["executions_created"] == count
    numbers = sorted(
        json.loads((tmp_path / "o" / str(line) / "result.json").read_text())["output"]["input"]["n"]
        for line in range(1, count + 1)
    )
    assert numbers == list(range(count))


def test_ctrl_c_exits_130_and_says_how_to_resume_and_cancel(
    gateway: MockGateway, tmp_path: Path
) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl", 6)
    command = ["sweep", str(inputs), "-o", str(tmp_path / "o"), "--max-in-flight", "2"]
    interrupted = _kill_half_way(gateway, command, signal.SIGINT)
    assert interrupted.returncode == 130
    assert interrupted.stderr is not None
    error = json.loads(interrupted.stderr.read().splitlines()[-1])["error"]
    assert "resume with the same command" in error["message"] and "--cancel" in error["message"]
    assert cli(gateway, *command).returncode == 0
    assert gateway.stats()["executions_created"] == 6
