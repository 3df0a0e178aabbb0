"""The CLI against a hostile gateway: stdout stays valid JSON, server text never drives the
terminal, and exit codes say what happened (closed pipes, malformed base URLs, Ctrl-C).

The gateway here is a scripted HTTP server on loopback that answers with canned bodies
(``Infinity``, lone surrogates, escape sequences), which the real mock would refuse to store.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from kipu_hub_service.cli import main

TOKEN = "safety-token"
RUN_TIMEOUT = 60
HOLD_LIMIT = 30.0
STAMP = "2026-11-25T12:00:00Z"

# Server text that would drive a terminal if printed raw: an OSC title change ending in BEL,
# a CSI screen clear, an 8-bit CSI, DEL, a carriage return, bidi overrides and isolates,
# and rich markup.
HOSTILE = "a\x1b]0;pwned\x07b\x1b[2Jc\x9b2Jd\x7fe\rf\u202eg\u2066h\u200fi[bold red]j[/]"
# The raw characters that must never reach a terminal (ESC, BEL, C1 CSI, DEL, CR, bidi).
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
ESCAPES = ("\\x1b]0;pwned\\x07", "\\x1b[2J", "\\x9b2J", "\\x7f", "\\r", "\\u202e", "\\u2066")
# rich's own styling (SGR sequences and its cursor control for live displays).
RICH_CONTROL = re.compile(r"\x1b\[[0-9;?]*[mAKGlh]|\r")


def _reject_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def strict_json(text: str) -> Any:
    """Parse ``text`` as RFC 8259 JSON: ``NaN``/``Infinity`` fail the test."""
    return json.loads(text, parse_constant=_reject_constant)


def execution(execution_id: str = "e1", **fields: Any) -> dict[str, Any]:
    return {"id": execution_id, "createdAt": STAMP, "status": "SUCCEEDED", **fields}


def result(base: str, files: dict[str, dict[str, Any]] | None = None, **extra: Any) -> Any:
    links: dict[str, Any] = {"status": {"href": f"{base}/e1"}}
    for name, link in (files or {}).items():
        links[name] = {"href": f"{base}/e1/result/{name}", **link}
    return {"_links": links, "_embedded": {"status": execution()}, **extra}


class Script:
    """What the scripted gateway answers: ``routes`` maps "METHOD /path" (below the base
    path, decoded) to (status, body); a body that is not bytes is sent as JSON, written by
    Python's json module (which writes NaN and Infinity, and \\ud800 for a lone surrogate).
    A route in ``hold`` waits for ``release`` (at most HOLD_LIMIT s) before answering."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any]] = {}
        self.hold: set[str] = set()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.url = ""


@contextmanager
def scripted_gateway() -> Iterator[Script]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            path = unquote(self.path.split("?")[0].removeprefix("/gw"))
            key = f"{self.command} {path}"
            if key in script.hold:
                script.arrived.set()
                script.release.wait(HOLD_LIMIT)
            status, body = script.routes.get(key, (404, {"detail": f"no route {key}"}))
            if isinstance(body, bytes):
                data, kind = body, "application/octet-stream"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}/gw"
    try:
        yield script
    finally:
        script.release.set()
        server.shutdown()
        server.server_close()
        thread.join(HOLD_LIMIT)


@pytest.fixture
def gateway() -> Iterator[Script]:
    with scripted_gateway() as script:
        yield script


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_SERVICE_")}
    for name in ("FORCE_COLOR", "NO_COLOR", "COLUMNS", "TERM"):
        env.pop(name, None)
    env.update(HUB_SERVICE_BASE_URL=url, HUB_SERVICE_TOKEN=TOKEN)
    env.update(extra)
    return env


def _hide_rich(env: dict[str, str], tmp_path: Path) -> None:
    """Make ``import rich`` fail in the subprocesses that get ``env``."""
    shim = tmp_path / "shim" / "rich"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ImportError("rich is hidden for this test")\n')
    env["PYTHONPATH"] = os.pathsep.join([str(shim.parent), env.get("PYTHONPATH", "")])


@contextmanager
def started(args: list[str], env: dict[str, str], **options: Any) -> Iterator[Any]:
    """``python -m kipu_hub_service.cli *args`` with piped stdout and stderr, killed at the
    end of the block if it is still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kipu_hub_service.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        **options,
    )
    with process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def cli(url: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """Run ``python -m kipu_hub_service.cli`` as a subprocess against ``url``."""
    return subprocess.run(
        [sys.executable, "-m", "kipu_hub_service.cli", "--max-retries", "0", *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=_env(url) if env is None else env,
        cwd=cwd,
        timeout=RUN_TIMEOUT,
        check=False,
    )


# --json: stdout is always valid JSON (item 9)


def test_non_finite_numbers_are_written_as_strings_in_every_json_output(gateway: Script) -> None:
    inf, nan = float("inf"), float("nan")
    odd = execution(score=inf, spread=-inf, error=nan)
    gateway.routes = {
        "GET /": (200, [odd]),
        "GET /e1": (200, odd),
        "POST /": (200, odd),
        "GET /e1/result": (200, result(gateway.url, output={"energy": -inf, "fit": nan})),
        "GET /e1/log": (200, [{"message": "m", "timestamp": STAMP, "value": inf}]),
    }
    expected = {"score": "Infinity", "spread": "-Infinity", "error": "NaN"}
    runs = {
        "list": ("--json", "list"),
        "status": ("--json", "status", "e1"),
        "wait": ("--json", "wait", "e1"),
        "result": ("--json", "result", "e1"),
        "logs": ("--json", "logs", "e1"),
        "run": ("--json", "run", "--no-download"),
    }
    for name, args in runs.items():
        done = cli(gateway.url, *args)
        assert done.returncode == 0, (name, done.stderr)
        data = strict_json(done.stdout)
        if name == "list":
            data = data[0]
        elif name == "result":
            assert data["output"] == {"energy": "-Infinity", "fit": "NaN"}
            continue
        elif name == "logs":
            assert data[0]["value"] == "Infinity"
            continue
        elif name == "run":
            assert data["result"]["output"] == {"energy": "-Infinity", "fit": "NaN"}
            data = data["execution"]
        assert {key: data[key] for key in expected} == expected, name


def test_lone_surrogates_are_escaped_in_json_and_never_a_usage_error(gateway: Script) -> None:
    odd = execution(tags=["\ud800 high", "low \udfff"])
    gateway.routes = {
        "GET /": (200, [odd]),
        "GET /e1": (200, odd),
        "GET /e1/log": (200, [{"message": "half \udbff a pair", "timestamp": STAMP}]),
    }
    status = cli(gateway.url, "--json", "status", "e1")
    assert status.returncode == 0, status.stderr
    assert "\\ud800 high" in status.stdout and "low \\udfff" in status.stdout
    assert strict_json(status.stdout)["tags"] == ["\ud800 high", "low \udfff"]
    logs = cli(gateway.url, "--json", "logs", "e1")
    assert logs.returncode == 0, logs.stderr
    assert strict_json(logs.stdout)[0]["message"] == "half \udbff a pair"
    human = cli(gateway.url, "status", "e1")
    assert human.returncode == 0, human.stderr
    assert "\\ud800 high, low \\udfff" in human.stdout
    listing = cli(gateway.url, "list")
    assert listing.returncode == 0, listing.stderr
    assert "\\ud800 high, low \\udfff" in listing.stdout
    human_logs = cli(gateway.url, "logs", "e1")
    assert human_logs.returncode == 0, human_logs.stderr
    assert "half \\udbff a pair" in human_logs.stdout


def test_a_stream_that_cannot_encode_unicode_still_gets_valid_json(gateway: Script) -> None:
    gateway.routes = {"GET /e1": (200, execution(tags=["café \ud800 \u202e"]))}
    env = _env(gateway.url, PYTHONIOENCODING="ascii")
    done = cli(gateway.url, "--json", "status", "e1", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.isascii()
    assert strict_json(done.stdout)["tags"] == ["café \ud800 \u202e"]
    human = cli(gateway.url, "status", "e1", env=env)
    assert human.returncode == 0, human.stderr
    assert "caf\\xe9 \\ud800 \\u202e" in human.stdout


def _interrupted(command: list[str], script: Script, cwd: Path) -> tuple[int, str]:
    """Run ``command``, press Ctrl-C once the held request has reached the gateway."""
    with started(command, _env(script.url), text=True, cwd=cwd) as process:
        assert script.arrived.wait(RUN_TIMEOUT), "the request never arrived"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=RUN_TIMEOUT)
    return process.returncode, err


@pytest.mark.parametrize("command", ["download", "run"])
def test_ctrl_c_in_json_mode_names_no_private_type(
    gateway: Script, tmp_path: Path, command: str
) -> None:
    files = {"out.bin": {"type": "application/octet-stream"}}
    gateway.routes = {
        "POST /": (200, execution(status="RUNNING")),
        "GET /e1": (200, execution(status="RUNNING")),
        "GET /e1/result": (200, result(gateway.url, files)),
        "GET /e1/result/out.bin": (200, b"x" * 10),
    }
    if command == "download":
        gateway.hold = {"GET /e1/result/out.bin"}
        args = ["--json", "download", "e1", "-o", "out"]
    else:
        gateway.hold = {"GET /e1"}
        args = ["--json", "run", "--poll-interval", "0.01"]
    code, err = _interrupted(args, gateway, tmp_path)
    assert code == 130
    (line,) = err.splitlines()
    error = strict_json(line)["error"]
    assert error["type"] == "KeyboardInterrupt"
    assert error["exitCode"] == 130
    assert "_Interrupted" not in line
    assert "interrupted" in error["message"]
    assert error["executionId"] == "e1"


@pytest.mark.parametrize("command", ["wait", "run"])
def test_ctrl_c_while_waiting_gives_the_id_and_the_hint_in_json_as_in_text(
    gateway: Script, tmp_path: Path, command: str
) -> None:
    gateway.routes = {
        "POST /": (200, execution(status="RUNNING")),
        "GET /e1": (200, execution(status="RUNNING")),
    }
    gateway.hold = {"GET /e1"}
    args = [command, *(["e1"] if command == "wait" else []), "--poll-interval", "0.01"]
    code, text = _interrupted(args, gateway, tmp_path)
    assert code == 130
    hint = "wait again with: hub-service wait e1; stop it with: hub-service cancel e1"
    message = f"interrupted; execution e1 keeps running ({hint})"
    assert text.splitlines()[-1] == f"hub-service: error: {message}"
    gateway.arrived.clear()
    code, err = _interrupted(["--json", *args], gateway, tmp_path)
    assert code == 130
    (line,) = err.splitlines()
    assert strict_json(line)["error"] == {
        "type": "KeyboardInterrupt",
        "message": message,
        "exitCode": 130,
        "executionId": "e1",
        "hint": hint,
    }


# No terminal injection (item 10)


# A result file name the SDK accepts (no C0 controls, no DEL) that still needs escaping.
FILE_NAME = "[bold]x\x9b2J\u202etxt.exe"
FILE_NAME_SHOWN = "[bold]x\\x9b2J\\u202etxt.exe"


def _assert_no_raw_controls(text: str, *, terminal: bool) -> str:
    """``text`` without rich's own control sequences (on a terminal), checked for raw ones."""
    shown = RICH_CONTROL.sub("", text) if terminal else text
    assert not UNSAFE.search(shown), repr(shown)
    return shown


def _hostile_gateway(script: Script) -> None:
    files = {
        FILE_NAME: {"type": HOSTILE},
        "plain.bin": {"type": "application/octet-stream"},
    }
    script.routes = {
        "GET /": (200, [execution(tags=[HOSTILE], serviceId=HOSTILE)]),
        "GET /e1": (200, execution(tags=[HOSTILE], serviceId=HOSTILE)),
        "GET /e1/result": (200, result(script.url, files, output={"note": HOSTILE})),
        "GET /e1/log": (200, [{"message": HOSTILE, "severity": "INFO", "timestamp": STAMP}]),
        f"GET /e1/result/{FILE_NAME}": (200, b"x" * 5000),
        "GET /e1/result/plain.bin": (200, b"y" * 5000),
    }


@pytest.mark.parametrize("display", ["terminal", "piped", "no-rich"])
def test_server_text_is_escaped_in_human_output(
    gateway: Script, tmp_path: Path, display: str
) -> None:
    _hostile_gateway(gateway)
    env = _env(gateway.url)
    if display == "terminal":  # rich draws as on a terminal: colours, live progress bars
        env.update(FORCE_COLOR="1", COLUMNS="200", TERM="xterm-256color")
    elif display == "no-rich":
        _hide_rich(env, tmp_path)
    commands = [["list"], ["status", "e1"], ["logs", "e1"], ["result", "e1"]]
    commands.append(["download", "e1", "-o", str(tmp_path / "out")])
    for command in commands:
        done = cli(gateway.url, *command, env=dict(env), cwd=tmp_path)
        assert done.returncode == 0, (command, done.stderr)
        assert "Traceback" not in done.stderr
        shown = _assert_no_raw_controls(done.stdout + done.stderr, terminal=display == "terminal")
        if command[0] == "download":
            # In the progress display (stderr) and the table of saved files (stdout).
            assert FILE_NAME_SHOWN in done.stdout and FILE_NAME_SHOWN in done.stderr, shown
            continue
        for escape in ESCAPES:
            assert escape in shown, (command, escape, shown)
        assert "[bold red]j[/]" in shown, (command, shown)  # markup shown, not applied
    assert (tmp_path / "out" / FILE_NAME).read_bytes() == b"x" * 5000
    assert (tmp_path / "out" / "plain.bin").read_bytes() == b"y" * 5000


def test_an_execution_id_from_the_gateway_is_escaped_in_notes_and_summaries(
    gateway: Script,
) -> None:
    execution_id = "e\x1b[2J\u202e1"
    finished = execution(execution_id)
    gateway.routes = {
        "POST /": (200, finished),
        f"GET /{execution_id}/result": (200, {"_embedded": {"status": finished}}),
    }
    done = cli(gateway.url, "run", "--no-download")
    assert done.returncode == 0, done.stderr
    assert not UNSAFE.search(done.stdout + done.stderr), repr(done.stdout + done.stderr)
    assert done.stderr.splitlines()[0] == "started e\\x1b[2J\\u202e1"
    assert done.stdout.splitlines()[0] == "e\\x1b[2J\\u202e1 SUCCEEDED"


@pytest.mark.parametrize("json_mode", [False, True])
def test_error_details_are_escaped_on_stderr(gateway: Script, json_mode: bool) -> None:
    gateway.routes = {"GET /e1": (500, {"detail": HOSTILE})}
    done = cli(gateway.url, *(["--json"] if json_mode else []), "status", "e1")
    assert done.returncode == 3
    assert not UNSAFE.search(done.stderr), repr(done.stderr)
    (line,) = done.stderr.splitlines()
    if json_mode:
        message = strict_json(line)["error"]["message"]
        assert "a\x1b]0;pwned\x07b\x1b[2Jc\x9b2Jd\x7fe f\u202eg\u2066h\u200fi" in message
    else:
        assert "\\x1b]0;pwned\\x07b\\x1b[2Jc\\x9b2Jd\\x7fe f\\u202eg\\u2066h\\u200fi" in line


def test_json_output_escapes_what_could_drive_a_terminal_losslessly(gateway: Script) -> None:
    _hostile_gateway(gateway)
    for args in (["--json", "status", "e1"], ["--json", "logs", "e1"]):
        done = cli(gateway.url, *args)
        assert done.returncode == 0, done.stderr
        assert not UNSAFE.search(done.stdout), repr(done.stdout)
        data = strict_json(done.stdout)
        assert HOSTILE in (data["tags"] if args[1] == "status" else [data[0]["message"]])


def test_verbose_request_lines_are_escaped(gateway: Script) -> None:
    execution_id = "e\x1b[2J\u202e1"
    gateway.routes = {f"GET /{execution_id}": (200, execution(execution_id))}
    done = cli(gateway.url, "-v", "--json", "status", execution_id)
    assert done.returncode == 0, done.stderr
    assert "GET /gw/e\\x1b[2J\\u202e1 -> 200" in done.stderr
    assert not UNSAFE.search(done.stderr), repr(done.stderr)


# Honest exit codes (item 11)


def _big_listing(count: int) -> list[dict[str, Any]]:
    return [execution(f"e{i:06d}", tags=["t" * 200]) for i in range(count)]


LISTING = 1500  # about 450 kB of output: far more than a pipe holds (64 KiB)


@pytest.mark.parametrize("display", ["json", "rich", "no-rich"])
def test_a_pipe_closed_early_exits_141_without_noise(
    gateway: Script, tmp_path: Path, display: str
) -> None:
    # The CLI is still writing when the reader leaves.
    gateway.routes = {"GET /": (200, _big_listing(LISTING))}
    env = _env(gateway.url)
    if display == "no-rich":
        _hide_rich(env, tmp_path)
    args = ["--json", "list"] if display == "json" else ["list"]
    with started(args, env) as process:
        first = process.stdout.read(100)  # like `head -c 100`: read a little, then leave
        process.stdout.close()
        err = process.stderr.read()
        process.wait(RUN_TIMEOUT)
    assert len(first) == 100
    assert err == b""
    assert process.returncode == 141


def test_a_shell_pipeline_into_head_reports_141_through_pipestatus(gateway: Script) -> None:
    gateway.routes = {"GET /": (200, _big_listing(LISTING))}
    command = (
        f"{sys.executable} -m kipu_hub_service.cli --json list | head -1; "
        'echo "status=${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env=_env(gateway.url),
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert done.stdout == "[\n"
    assert done.stderr == "status=141\n"


def test_help_documents_the_closed_pipe_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    from kipu_hub_service.cli import EXIT_EXECUTION_FAILED, EXIT_STDOUT_CLOSED

    assert main(["--help"]) == 0
    epilog = " ".join(capsys.readouterr().out.split())
    assert "1 the execution FAILED or was CANCELLED; 2 usage error" in epilog
    assert "141 stdout was a pipe closed by its reader" in epilog
    assert (EXIT_STDOUT_CLOSED, EXIT_EXECUTION_FAILED) == (141, 1)


BAD_BASE_URLS = {
    "http://127.0.0.1:99999/x": "invalid port '99999'",
    "http://127.0.0.1:65536": "invalid port '65536'",
    "http://h:0/x": "invalid port '0'",
    "http://h:-1/x": "invalid port '-1'",
    "http://h:+80/x": "invalid port '+80'",
    "http://h:\u0663/x": "invalid port",
    "http://[::1]:99999/x": "invalid port '99999'",
    "http://h:abc/x": "not a valid URL",
    "127.0.0.1:8080/x": "must be an http:// or https:// URL",
    "localhost:8080": "must be an http:// or https:// URL",
    "ftp://h/x": "must be an http:// or https:// URL",
    "http:///x": "must be an http:// or https:// URL",
    "http://h h/x": "spaces or control characters",
    "http://h\u202e/x": "spaces or control characters",
}


def test_malformed_base_urls_are_usage_errors_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = {}
    for url, fragment in BAD_BASE_URLS.items():
        code = main(["--base-url", url, "--token", "t", "--max-retries", "0", "list"])
        err = capsys.readouterr().err
        lines = err.splitlines()
        if not (
            code == 2
            and len(lines) == 1
            and lines[0].startswith("hub-service: error: --base-url ")
            and fragment in lines[0]
        ):
            wrong[url] = (code, err)
    assert wrong == {}


def test_a_malformed_base_url_from_the_environment_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SERVICE_BASE_URL", "http://127.0.0.1:99999/x")
    monkeypatch.setenv("HUB_SERVICE_TOKEN", "t")
    assert main(["--json", "list"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    error = strict_json(captured.err)["error"]
    assert error["type"] == "UsageError" and error["exitCode"] == 2
    assert (
        error["message"] == "$HUB_SERVICE_BASE_URL has an invalid port '99999' (must be 1 to 65535)"
    )
