"""The ``hub-service`` CLI, run as real subprocesses against the mock gateway on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _docstrings import undocumented

from kipu_hub_service import HubServiceClient
from kipu_hub_service.mock import FaultConfig, FaultKind, MockGateway, Timing
from kipu_hub_service.testing import running_mock_gateway

TOKEN = "cli-test-token"
FAST_POLL = ["--poll-interval", "0.02", "--max-poll-interval", "0.05"]
RUN_TIMEOUT = 60


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """The base URL of a mock gateway that accepts only TOKEN and finishes runs quickly."""
    with running_mock_gateway(
        base_path="/acme/vqe/v1", tokens=[TOKEN], timing=Timing(pending=0.05, running=0.25)
    ) as url:
        yield url


@pytest.fixture(scope="module")
def client(gateway: str) -> Iterator[HubServiceClient]:
    with HubServiceClient(base_url=gateway, token=TOKEN) as sdk:
        yield sdk


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_SERVICE_")}
    env.pop("COLUMNS", None)
    env.update(extra)
    return env


class Result:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.code = done.returncode
        self.out = done.stdout
        self.err = done.stderr

    def json(self) -> Any:
        return json.loads(self.out)

    def assert_one_line_error(self, *fragments: str) -> None:
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        for fragment in fragments:
            assert fragment in lines[0], lines[0]


def cli(
    *args: str,
    gateway: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> Result:
    """Run ``python -m kipu_hub_service.cli`` with the gateway configured through env vars."""
    environment = _env() if env is None else env
    if gateway is not None:
        environment.setdefault("HUB_SERVICE_BASE_URL", gateway)
        environment.setdefault("HUB_SERVICE_TOKEN", TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "kipu_hub_service.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        input=stdin,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return Result(done)


def _finished(client: HubServiceClient, body: dict[str, Any]) -> str:
    execution = client.service_api.start_execution(request=body)
    client.service_api.wait_for_completion(execution.id, poll_interval=0.02)
    return execution.id


@pytest.fixture(scope="module")
def succeeded(client: HubServiceClient) -> str:
    return _finished(client, {"input": {"result_size": 5000}, "tags": ["fixture"]})


@pytest.fixture(scope="module")
def failed(client: HubServiceClient) -> str:
    return _finished(client, {"input": {"fail": True}})


# Usage errors (exit 2)


def test_help_lists_every_command() -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("list", "start", "status", "wait", "logs", "result", "download", "cancel"):
        assert command in result.out
    assert "exit codes" in result.out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((), "no command"),
        (("frobnicate",), "invalid choice"),
        (("status",), "required: ID"),
        (("wait", "x", "--poll-interval", "0"), "must be > 0"),
        (("start", "--input", "{not json"), "--input: the argument is not valid JSON"),
        (("start", "--input", "@/nonexistent/input.json"), "cannot read"),
        (("start", "--body", "[1]"), "--body must be a JSON object"),
        (("--token", "a", "--token-command", "b", "list"), "either --token or --token-command"),
        (("download", "some-id", "../escape"), "single file name"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    gateway: str, args: tuple[str, ...], fragment: str
) -> None:
    result = cli(*args, gateway=gateway)
    assert result.code == 2
    result.assert_one_line_error("hub-service: error:", fragment)


def test_missing_configuration_is_a_usage_error() -> None:
    no_url = cli("list", env=_env(HUB_SERVICE_TOKEN="t"))
    assert no_url.code == 2
    no_url.assert_one_line_error("HUB_SERVICE_BASE_URL")
    no_token = cli("list", env=_env(HUB_SERVICE_BASE_URL="http://127.0.0.1:9/x"))
    assert no_token.code == 2
    no_token.assert_one_line_error("HUB_SERVICE_TOKEN")


def test_json_mode_reports_errors_as_one_json_line() -> None:
    result = cli("--json", "list", env=_env(HUB_SERVICE_TOKEN="t"))
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    error = json.loads(line)["error"]
    assert error["exitCode"] == 2 and error["type"] == "UsageError"
    assert result.out == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--json", "status"), "required: ID"),
        (("--json", "bogus"), "invalid choice"),
        (("status", "--json"), "required: ID"),
        (("--json", "wait", "x", "--poll-interval", "0"), "must be > 0"),
    ],
)
def test_json_mode_reports_argparse_usage_errors_as_json(
    args: tuple[str, ...], fragment: str
) -> None:
    result = cli(*args, env=_env(HUB_SERVICE_TOKEN="t"))
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    error = json.loads(line)["error"]
    assert error["exitCode"] == 2 and error["type"] == "UsageError"
    assert fragment in error["message"]


_INTERRUPT_IMPORT = """
import sys
from importlib.abc import MetaPathFinder

class Interrupt(MetaPathFinder):
    def __init__(self, times):
        self.times = times

    def find_spec(self, name, path, target=None):
        if name == "kipu_hub_service.cli._commands" and self.times:
            self.times -= 1
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupt(int(sys.argv[1])))
from kipu_hub_service.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("times", [1, 1000])
@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_ctrl_c_while_main_imports_its_commands_exits_130_without_a_traceback(
    times: int, json_flag: tuple[str, ...]
) -> None:
    """Ctrl-C in the first moments (the commands still importing) is an interrupt like any other.

    ``times`` 1: the import works again when the error is reported; 1000: it never does.
    """
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_IMPORT, str(times), *json_flag, "list"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    if json_flag:
        error = json.loads(line)["error"]
        assert error["exitCode"] == 130 and error["type"] == "KeyboardInterrupt"
    else:
        assert line == "hub-service: error: interrupted"


# Commands (exit 0) and their --json shapes


def test_start_with_input_file_and_tags(gateway: str, tmp_path: Path) -> None:
    # with the byte order mark some Windows editors write: read as plain UTF-8
    (tmp_path / "input.json").write_bytes(b'\xef\xbb\xbf{"molecule": "H2"}')
    result = cli(
        "start", "--input", "@input.json", "--tag", "a", "--tag", "b", "--json",
        gateway=gateway, cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.err
    execution = result.json()
    assert execution["status"] in {"PENDING", "RUNNING"}
    assert execution["tags"] == ["a", "b"]
    assert execution["id"]


def test_start_reads_the_whole_body_from_stdin(gateway: str, client: HubServiceClient) -> None:
    body = {"input": {"x": 1}, "inputDataRefs": [{"dataPoolId": "p", "name": "f"}]}
    result = cli("--json", "start", "--body", "@-", gateway=gateway, stdin=json.dumps(body))
    assert result.code == 0, result.err
    execution_id = result.json()["id"]
    client.service_api.wait_for_completion(execution_id, poll_interval=0.02)
    output = client.service_api.get_result(execution_id)["output"]
    assert output == {"input": {"x": 1}, "inputDataRefs": body["inputDataRefs"]}


def test_human_start_prints_the_execution(gateway: str) -> None:
    result = cli("start", "--input", '{"a": 1}', gateway=gateway)
    assert result.code == 0, result.err
    assert "status" in result.out and "id" in result.out
    assert "hub-service wait" in result.err


def test_list(gateway: str, succeeded: str) -> None:
    machine = cli("list", "--json", gateway=gateway)
    assert machine.code == 0, machine.err
    listed = {item["id"]: item for item in machine.json()}
    assert listed[succeeded]["status"] == "SUCCEEDED"
    human = cli("list", gateway=gateway)
    assert human.code == 0
    assert human.out.splitlines()[0].split() == ["ID", "STATUS", "CREATED", "ENDED", "TAGS"]
    (row,) = [line for line in human.out.splitlines() if line.startswith(succeeded)]
    assert "SUCCEEDED" in row and "fixture" in row


def test_status(gateway: str, succeeded: str) -> None:
    machine = cli("--json", "status", succeeded, gateway=gateway)
    assert machine.code == 0
    assert machine.json()["id"] == succeeded
    assert machine.json()["status"] == "SUCCEEDED"
    human = cli("status", succeeded, gateway=gateway)
    assert "SUCCEEDED" in human.out and succeeded in human.out


def test_wait_exit_codes_follow_the_outcome(
    gateway: str, client: HubServiceClient, failed: str
) -> None:
    running = client.service_api.start_execution(request={"input": {}})
    ok = cli("wait", running.id, *FAST_POLL, gateway=gateway)
    assert ok.code == 0, ok.err
    assert ok.out.split() == [running.id, "SUCCEEDED"]
    assert ok.err.startswith(f"{running.id}: ")  # plain progress lines when piped
    bad = cli("wait", failed, "--json", gateway=gateway)
    assert bad.code == 1
    assert bad.json()["status"] == "FAILED"
    assert bad.err == ""


def test_wait_timeout_exits_4_and_names_the_execution(
    gateway: str, client: HubServiceClient
) -> None:
    slow = client.service_api.start_execution(request={"input": {"duration": 60}})
    try:
        result = cli("wait", slow.id, "--wait-timeout", "0.2", *FAST_POLL, gateway=gateway)
        assert result.code == 4
        assert slow.id in result.err.strip().splitlines()[-1]
        assert "Traceback" not in result.err
    finally:
        client.service_api.cancel_execution(slow.id)


def test_logs(gateway: str, succeeded: str) -> None:
    machine = cli("logs", succeeded, "--json", gateway=gateway)
    assert machine.code == 0
    entries = machine.json()
    assert entries[0]["message"] == "Execution started"
    assert {"message", "severity", "timestamp"} <= entries[0].keys()
    human = cli("logs", succeeded, gateway=gateway)
    first = human.out.splitlines()[0].split(maxsplit=2)
    assert first[1:] == ["INFO", "Execution started"]


def test_json_logs_keep_the_wire_form_of_timestamps(gateway: str, succeeded: str) -> None:
    """``--json logs`` writes timestamps as the gateway does (``…068Z``), like other JSON output."""
    wire = httpx.get(
        f"{gateway}/{succeeded}/log", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).json()
    assert all(entry["timestamp"].endswith("Z") for entry in wire)
    listed = cli("logs", succeeded, "--json", gateway=gateway)
    assert [e["timestamp"] for e in listed.json()] == [e["timestamp"] for e in wire]
    followed = cli("--json", "logs", "--follow", succeeded, gateway=gateway)
    stamps = [json.loads(line)["timestamp"] for line in followed.out.splitlines()]
    assert stamps == [e["timestamp"] for e in wire]


def test_logs_follow_streams_json_lines_until_the_end(
    gateway: str, client: HubServiceClient
) -> None:
    execution = client.service_api.start_execution(request={"input": {}})
    result = cli(
        "--json", "logs", "--follow", execution.id, "--poll-interval", "0.02", gateway=gateway
    )
    assert result.code == 0, result.err
    messages = [json.loads(line)["message"] for line in result.out.splitlines()]
    assert messages[0] == "Execution started"
    assert messages[-1] == "Execution succeeded"
    assert len(messages) == len(set(messages))


def test_result(gateway: str, succeeded: str) -> None:
    machine = cli("result", succeeded, "--json", gateway=gateway)
    assert machine.code == 0
    envelope = machine.json()
    assert envelope["_embedded"]["status"]["status"] == "SUCCEEDED"
    assert {"status", "result.json", "result.bin"} <= envelope["_links"].keys()
    human = cli("result", succeeded, gateway=gateway)
    assert "result.bin" in human.out and "SUCCEEDED" in human.out


@pytest.mark.parametrize("size", [100, 1_500_000])
def test_result_highlights_small_outputs_and_prints_large_ones_plain(
    gateway: str, client: HubServiceClient, tmp_path: Path, size: int
) -> None:
    blob = "x" * size
    execution_id = _finished(client, {"input": {"blob": blob}})
    env = _env(
        HUB_SERVICE_BASE_URL=gateway, HUB_SERVICE_TOKEN=TOKEN, FORCE_COLOR="1", COLUMNS="160"
    )
    env.pop("NO_COLOR", None)
    human = cli("result", execution_id, env=env)
    assert human.code == 0, human.err
    plain_line = f'"blob": "{blob}"'
    if size > 64 * 1024:
        assert plain_line in human.out  # no colour codes inside the JSON
    else:
        assert plain_line not in human.out and blob in human.out  # highlighted
    machine = cli("--json", "result", execution_id, gateway=gateway)
    assert machine.json()["output"] == {"input": {"blob": blob}}


def test_download_all_one_and_overwrite(
    gateway: str, client: HubServiceClient, succeeded: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    every = cli("download", succeeded, "-o", str(out), "--json", gateway=gateway)
    assert every.code == 0, every.err
    files = {item["name"]: item for item in every.json()["files"]}
    assert files.keys() == {"result.json", "result.bin"}
    assert files["result.bin"]["size"] == 5000
    expected = b"".join(client.service_api.get_result_file(succeeded, "result.bin"))
    assert (out / "result.bin").read_bytes() == expected
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "result.bin",
        "result.json",
    ]

    assert all(item["fetched"] for item in files.values())

    again = cli("download", succeeded, "result.json", "-o", str(out), gateway=gateway)
    assert again.code == 0, again.err  # already complete: kept
    assert "result.json" in again.out
    assert "already complete, kept result.json" in again.err
    assert "downloaded" not in again.err
    kept = cli("download", succeeded, "-o", str(out), "--json", gateway=gateway)
    assert [item["fetched"] for item in kept.json()["files"]] == [False, False]

    (out / "result.json").write_text("stale")
    refused = cli("download", succeeded, "result.json", "-o", str(out), gateway=gateway)
    assert refused.code == 2
    refused.assert_one_line_error("result.json", "not the server's file", "--overwrite")
    assert (out / "result.json").read_text() == "stale"
    replaced = cli(
        "download", succeeded, "result.json", "-o", str(out), "--overwrite", gateway=gateway
    )
    assert replaced.code == 0, replaced.err
    assert json.loads((out / "result.json").read_text())
    assert "result.json" in replaced.out


def test_cancel_and_cancel_conflict(gateway: str, client: HubServiceClient) -> None:
    slow = client.service_api.start_execution(request={"input": {"duration": 60}})
    ok = cli("cancel", slow.id, "--json", gateway=gateway)
    assert ok.code == 0, ok.err
    assert ok.json() == {"id": slow.id, "cancelRequested": True}
    assert client.service_api.get_status(slow.id).status == "CANCELLED"
    conflict = cli("cancel", slow.id, gateway=gateway)
    assert conflict.code == 3
    conflict.assert_one_line_error("409")


def test_run_downloads_into_a_directory_named_after_the_execution(
    gateway: str, tmp_path: Path
) -> None:
    result = cli(
        "run", "--input", '{"result_size": 1234}', "--tag", "run", "--json", *FAST_POLL,
        gateway=gateway, cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.err
    report = result.json()
    execution_id = report["execution"]["id"]
    assert report["execution"]["status"] == "SUCCEEDED"
    assert report["execution"]["tags"] == ["run"]
    assert report["result"]["output"] == {"input": {"result_size": 1234}}
    assert (tmp_path / execution_id / "result.bin").stat().st_size == 1234
    assert {f["name"] for f in report["files"]} == {"result.json", "result.bin"}


def test_run_human_output(gateway: str, tmp_path: Path) -> None:
    result = cli("run", "-o", "res", *FAST_POLL, gateway=gateway, cwd=tmp_path)
    assert result.code == 0, result.err
    assert "SUCCEEDED" in result.out
    assert "res/result.bin" in result.out
    assert result.err.startswith("started ")


def test_run_of_a_failing_execution_exits_1_and_shows_the_log_tail(
    gateway: str, tmp_path: Path
) -> None:
    result = cli("run", "--input", '{"fail": true}', *FAST_POLL, gateway=gateway, cwd=tmp_path)
    assert result.code == 1
    assert "FAILED" in result.out
    assert "Execution failed" in result.out
    assert "reason: The input asked for a failure (REQUESTED_FAILURE)" in result.out
    assert list(tmp_path.iterdir()) == []
    machine = cli(
        "run", "--input", '{"fail": true}', "--json", *FAST_POLL, gateway=gateway, cwd=tmp_path
    )
    assert machine.code == 1
    assert machine.json()["execution"]["status"] == "FAILED"
    assert machine.json()["files"] == []


# API and connection errors (exit 3)


def test_unknown_execution_is_an_api_error(gateway: str) -> None:
    result = cli("status", "00000000-0000-4000-8000-000000000000", gateway=gateway)
    assert result.code == 3
    result.assert_one_line_error("404")
    machine = cli("--json", "status", "00000000-0000-4000-8000-000000000000", gateway=gateway)
    error = json.loads(machine.err)["error"]
    assert error == {
        "type": "NotFoundError",
        "message": error["message"],
        "exitCode": 3,
        "statusCode": 404,
    }


def test_an_output_directory_that_cannot_be_created_exits_3(
    gateway: str, succeeded: str, tmp_path: Path
) -> None:
    # A path under a regular file (chmod would not stop root, who runs the tests).
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = cli("download", succeeded, "-o", str(blocker / "sub"), gateway=gateway)
    assert result.code == 3
    result.assert_one_line_error(str(blocker / "sub"), "Not a directory")
    assert blocker.read_text() == "not a directory"


def test_a_destination_that_is_not_a_regular_file_exits_3(
    gateway: str, succeeded: str, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "result.json")
    result = cli("download", succeeded, "result.json", "-o", str(tmp_path), gateway=gateway)
    assert result.code == 3
    result.assert_one_line_error("result.json", "FIFO, not a regular file")


def test_a_rejected_token_is_an_api_error_that_never_shows_the_token(gateway: str) -> None:
    result = cli("list", env=_env(HUB_SERVICE_BASE_URL=gateway, HUB_SERVICE_TOKEN="wrong-tok"))
    assert result.code == 3
    result.assert_one_line_error("401")
    assert "wrong-tok" not in result.err


def test_an_unreachable_gateway_is_a_connection_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli(
        "--max-retries", "0", "--base-url", f"http://127.0.0.1:{port}/x", "--token", "t", "list"
    )
    assert result.code == 3
    result.assert_one_line_error("hub-service: error:")


# Configuration: flags, env vars, --token-command


def test_flags_win_over_environment_variables(gateway: str) -> None:
    env = _env(HUB_SERVICE_BASE_URL="http://127.0.0.1:9/nowhere", HUB_SERVICE_TOKEN="wrong")
    result = cli("--base-url", gateway, "list", "--token", TOKEN, "--json", env=env)
    assert result.code == 0, result.err
    assert isinstance(result.json(), list)


TOKEN_SCRIPT = """\
import pathlib, sys
counter = pathlib.Path(sys.argv[1])
runs = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(runs))
tokens = sys.argv[2:]
print(tokens[min(runs, len(tokens)) - 1])
"""


def _token_command(tmp_path: Path, *tokens: str) -> tuple[str, Path]:
    script = tmp_path / "token.py"
    script.write_text(TOKEN_SCRIPT)
    counter = tmp_path / "runs"
    return f"{sys.executable} {script} {counter} {' '.join(tokens)}", counter


def test_token_command_runs_once_for_many_requests(
    gateway: str, client: HubServiceClient, tmp_path: Path
) -> None:
    command, counter = _token_command(tmp_path, TOKEN)
    execution = client.service_api.start_execution(request={"input": {}})
    result = cli(
        "wait", execution.id, *FAST_POLL, "--token-command", command,
        env=_env(HUB_SERVICE_BASE_URL=gateway),
    )  # fmt: skip
    assert result.code == 0, result.err
    assert counter.read_text() == "1"


def test_token_command_is_run_again_after_a_401(gateway: str, tmp_path: Path) -> None:
    command, counter = _token_command(tmp_path, "expired-token", TOKEN)
    env = _env(HUB_SERVICE_BASE_URL=gateway, HUB_SERVICE_TOKEN_COMMAND=command)
    result = cli("--json", "list", env=env)
    assert result.code == 0, result.err
    assert counter.read_text() == "2"


def test_a_failing_token_command_is_one_clear_line(gateway: str, tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text(
        "import sys\nprint('no credentials configured', file=sys.stderr)\nsys.exit(7)\n"
    )
    result = cli(
        "list", "--token-command", f"{sys.executable} {script}",
        env=_env(HUB_SERVICE_BASE_URL=gateway),
    )  # fmt: skip
    assert result.code == 3
    result.assert_one_line_error("exited with 7", "no credentials configured")
    missing = cli(
        "list", "--token-command", "/nonexistent/get-token",
        env=_env(HUB_SERVICE_BASE_URL=gateway),
    )  # fmt: skip
    assert missing.code == 3
    missing.assert_one_line_error("not found")


def test_a_token_command_printing_an_unusable_token_exits_3(gateway: str, tmp_path: Path) -> None:
    script = tmp_path / "spaced.py"
    script.write_text("print('two words')\n")
    result = cli(
        "list", "--token-command", f"{sys.executable} {script}",
        env=_env(HUB_SERVICE_BASE_URL=gateway),
    )  # fmt: skip
    assert result.code == 3
    result.assert_one_line_error("token command", "spaces or non-ASCII")
    assert "two words" not in result.err


# Closed stdout


@pytest.mark.parametrize("json_mode", [True, False])
def test_a_closed_stdout_pipe_ends_quietly_with_exit_141(
    gateway: str, succeeded: str, json_mode: bool
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| true` that has already exited: every write gets EPIPE
    try:
        done = subprocess.run(
            [
                sys.executable, "-m", "kipu_hub_service.cli",
                *(["--json"] if json_mode else []), "logs", "--follow", succeeded,
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(HUB_SERVICE_BASE_URL=gateway, HUB_SERVICE_TOKEN=TOKEN),
            timeout=RUN_TIMEOUT,
            check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141


# Interrupts and the plain fallback


def test_ctrl_c_while_waiting_exits_130_and_names_the_execution(
    gateway: str, client: HubServiceClient
) -> None:
    environment = _env(HUB_SERVICE_BASE_URL=gateway, HUB_SERVICE_TOKEN=TOKEN)
    process = subprocess.Popen(
        [sys.executable, "-m", "kipu_hub_service.cli", "run", "--input", '{"duration": 60}'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
        assert first.startswith("started "), first
        execution_id = first.split()[1]
        deadline = time.monotonic() + 30
        while client.service_api.get_status(execution_id).status == "PENDING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Traceback" not in rest
    assert f"hub-service cancel {execution_id}" in rest.strip().splitlines()[-1]
    client.service_api.cancel_execution(execution_id)


@pytest.fixture
def own_gateway() -> Iterator[MockGateway]:
    """A mock gateway of one's own (faults and counters), finishing executions at once."""
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=0.0, running=0.0)) as running:
        yield running


FILE_REQUESTS = frozenset({"getResultFile"})


def test_ctrl_c_while_run_downloads_says_how_to_resume_and_resuming_works(
    own_gateway: MockGateway, tmp_path: Path
) -> None:
    # Every file request hangs for a while, so the Ctrl-C lands in the download.
    own_gateway.set_faults(
        FaultConfig(rates={FaultKind.LATENCY: 1.0}, operations=FILE_REQUESTS, latency=3.0)
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "kipu_hub_service.cli", "run", "-o", "res", *FAST_POLL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(HUB_SERVICE_BASE_URL=own_gateway.url, HUB_SERVICE_TOKEN=TOKEN),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while own_gateway.stats()["faults"]["latency"] == 0:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Traceback" not in rest
    assert rest.startswith("started ")
    execution_id = rest.split()[1]
    message = rest.strip().splitlines()[-1]
    assert "keeps running" not in message and "cancel" not in message
    assert f"execution {execution_id} already SUCCEEDED" in message
    assert f"hub-service download {execution_id} -o res" in message
    own_gateway.set_faults(None)
    resumed = cli(
        "download", execution_id, "-o", "res",
        env=_env(HUB_SERVICE_BASE_URL=own_gateway.url, HUB_SERVICE_TOKEN=TOKEN), cwd=tmp_path,
    )  # fmt: skip
    assert resumed.code == 0, resumed.err
    with HubServiceClient(base_url=own_gateway.url, token=TOKEN) as sdk:
        for name in ("result.json", "result.bin"):
            expected = b"".join(sdk.service_api.get_result_file(execution_id, name))
            assert (tmp_path / "res" / name).read_bytes() == expected


def test_download_run_again_after_an_interruption_resumes(
    own_gateway: MockGateway, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    env = _env(HUB_SERVICE_BASE_URL=own_gateway.url, HUB_SERVICE_TOKEN=TOKEN)
    with HubServiceClient(base_url=own_gateway.url, token=TOKEN) as sdk:
        api = sdk.service_api
        execution = api.start_execution(request={"input": {"result_size": 300_000}})
        api.wait_for_completion(execution.id, poll_interval=0.01)
        expected = {
            name: b"".join(api.get_result_file(execution.id, name))
            for name in ("result.json", "result.bin")
        }

        def stop_early(written: int, total: int | None) -> None:
            if written >= 100_000:
                raise KeyboardInterrupt  # as if Ctrl-C hit the first run mid-file

        with pytest.raises(KeyboardInterrupt):
            api.download_result_file(
                execution.id, "result.bin", out / "result.bin", on_progress=stop_early
            )
    partial = (out / ".result.bin.part").stat().st_size
    assert 100_000 <= partial < 300_000
    first = cli("download", execution.id, "result.json", "-o", str(out), env=dict(env))
    assert first.code == 0, first.err

    before = own_gateway.stats()
    again = cli("download", execution.id, "-o", str(out), "--json", env=dict(env))
    after = own_gateway.stats()
    assert again.code == 0, again.err
    assert {f["name"]: f["size"] for f in again.json()["files"]} == {
        name: len(content) for name, content in expected.items()
    }
    fetched = {f["name"]: f["fetched"] for f in again.json()["files"]}
    assert fetched == {"result.json": False, "result.bin": True}
    for name, content in expected.items():
        assert (out / name).read_bytes() == content
    # One request per file: result.json is checked (a bodiless 416), result.bin goes on from
    # where it stopped; only the missing bytes are sent.
    sent = after["streams"]["bytes_sent"] - before["streams"]["bytes_sent"]
    assert sent == 300_000 - partial
    files = after["requests"]["getResultFile"] - before["requests"]["getResultFile"]
    assert files == 2


def test_without_rich_the_output_is_plain_text(
    gateway: str, succeeded: str, tmp_path: Path
) -> None:
    shim = tmp_path / "shim" / "rich"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ImportError("rich is hidden for this test")\n')
    env = _env(HUB_SERVICE_BASE_URL=gateway, HUB_SERVICE_TOKEN=TOKEN)
    env["PYTHONPATH"] = os.pathsep.join([str(shim.parent), env.get("PYTHONPATH", "")])
    status = cli("status", succeeded, env=dict(env))
    assert status.code == 0, status.err
    assert textwrap.dedent(status.out).splitlines()[:2] == [
        f"id           {succeeded}",
        "status       SUCCEEDED",
    ]
    listing = cli("list", env=dict(env))
    assert listing.out.splitlines()[0].split() == ["ID", "STATUS", "CREATED", "ENDED", "TAGS"]


def test_on_a_terminal_waiting_shows_a_spinner_and_downloads_show_progress_bars(
    gateway: str, tmp_path: Path
) -> None:
    # FORCE_COLOR makes rich treat the pipes as a terminal, so the live displays are drawn.
    env = _env(
        HUB_SERVICE_BASE_URL=gateway, HUB_SERVICE_TOKEN=TOKEN, FORCE_COLOR="1", COLUMNS="160"
    )
    env.pop("NO_COLOR", None)
    result = cli(
        "run", "--input", '{"result_size": 2000000}', "-o", "res", *FAST_POLL,
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.err
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.err)
    execution_id = drawn.split()[1]
    # The spinner line: the id, the current status and the elapsed time.
    spinner = re.compile(rf"Waiting for {execution_id}\s+(PENDING|RUNNING|SUCCEEDED) \d:\d\d:\d\d")
    assert spinner.search(drawn), drawn
    assert re.search(rf"Waiting for {execution_id}\s+SUCCEEDED", drawn), drawn
    # The progress bar of result.bin: bytes, transfer rate and time remaining, in binary units.
    bar = re.compile(
        r"result\.bin .*1\.9 MiB/1\.9 MiB\s+\d+(\.\d+)? (B|KiB|MiB|GiB)/s\s+\d:\d\d:\d\d"
    )
    drawn_bar = list(bar.finditer(drawn))
    assert drawn_bar, drawn
    # After the bars, the outcome.
    outcome = drawn.rindex(f"execution {execution_id} SUCCEEDED")
    assert outcome > drawn_bar[-1].end()
    assert "Traceback" not in drawn
    assert (tmp_path / "res" / "result.bin").stat().st_size == 2_000_000


# Version


def test_the_version_is_one_value_in_the_module_the_metadata_and_the_cli() -> None:
    from importlib.metadata import version

    import kipu_hub_service

    expected = version("kipu-hub-service")
    assert kipu_hub_service.__version__ == expected
    assert "__version__" not in kipu_hub_service.__all__  # a dunder, like the drop-in's
    result = cli("--version")
    assert result.code == 0 and result.err == ""
    assert result.out == f"hub-service {expected}\n"
    # Read on first access only: importing the package stays cheap.
    lazy = subprocess.run(
        [
            sys.executable, "-c",
            "import sys, kipu_hub_service as k\n"
            "print('kipu_hub_service._version' in sys.modules, k.__version__)",
        ],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, check=True,
    )  # fmt: skip
    assert lazy.stdout.split() == ["False", expected]


# Documentation


def test_every_public_name_of_the_command_line_is_documented() -> None:
    import kipu_hub_service.cli as package

    for path in sorted(Path(package.__file__).parent.glob("*.py")):
        assert undocumented(path) == [], path.name


def test_token_command_uses_the_sdk_refresh_protocol_not_a_client_hook(tmp_path: Path) -> None:
    """The CLI lets the SDK create its HTTP client (no event hook of its own): a 401 reaches the
    cached token through ``invalidate()``, so a 401 from another origin cannot reset it."""
    from kipu_hub_service.cli import build_parser
    from kipu_hub_service.cli._config import make_client

    command, _ = _token_command(tmp_path, TOKEN)
    args = build_parser().parse_args(["list", "--token-command", command])
    client = make_client(args, {"HUB_SERVICE_BASE_URL": "http://127.0.0.1:9/x"})
    with client:
        hooks = client.httpx_client.event_hooks["response"]
        assert hooks == []  # the SDK adds no hooks: its request loop follows redirects itself


@pytest.mark.parametrize("planted", ["result.json", ".result.json.part", "out"])
def test_download_never_follows_a_link_in_the_output_directory(
    gateway: str, succeeded: str, tmp_path: Path, planted: str
) -> None:
    """A link at a name the download writes (the file, its temp file) or at the output
    directory itself is refused with exit 3; nothing outside the directory changes."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("untouched")
    out = tmp_path / "out"
    if planted == "out":
        out.symlink_to(outside)
    else:
        out.mkdir()
        (out / planted).symlink_to(victim)
    result = cli("download", succeeded, "result.json", "-o", str(out), gateway=gateway)
    assert result.code == 3, (result.code, result.err)
    assert "link" in result.err
    assert victim.read_text() == "untouched"
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
