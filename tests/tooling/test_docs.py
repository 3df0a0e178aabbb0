"""The documentation works: every ```python block of README.md and docs/ runs against a live
mock gateway. (The site itself is checked by test_site.py.)

Blocks of one page run in order in one namespace (``base_url`` and ``token`` provided), in a
fresh directory. The examples' gateway URL is replaced by the URL of the page's own mock
gateway, which serves under the same path, so examples show the real URL and still run. That
gateway also knows one access key, and the page runs with ``HUB_SERVICE_ACCESS_KEY_ID``,
``HUB_SERVICE_SECRET_ACCESS_KEY`` and ``HUB_SERVICE_TOKEN_ENDPOINT`` set to it, so
``ClientCredentials.from_env()`` in an example signs in at the page's gateway.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kipu_hub_service import HubServiceClient
from kipu_hub_service.mock import DEFAULT_RESULT_SIZE, MockGateway, Timing, iter_result_bin
from kipu_hub_service.testing import running_mock_gateway

# The checkout: the folder of mkdocs.yml, wherever in tests/ this file lives.
ROOT = next(p for p in Path(__file__).resolve().parents if (p / "mkdocs.yml").is_file())
EXAMPLE_URL = "https://gateway.hub.kipu-quantum.com/acme/vqe/v1"
EXAMPLE_TOKEN = "YOUR_GATEWAY_TOKEN"
BASE_PATH = "/acme/vqe/v1"
TOKEN = "docs-example-token"
ACCESS_KEY_ID = "docs-key-id"
SECRET_ACCESS_KEY = "docs-secret"

# How many ```python blocks each page has: a deleted (or no longer runnable) block fails the
# count. Every page is listed, so a new page is noticed too.
EXPECTED_BLOCKS = {
    "README.md": 4,
    "docs/architecture.md": 0,
    "docs/cli.md": 0,
    "docs/client.md": 19,
    "docs/data-types.md": 5,
    "docs/development.md": 0,
    "docs/downloads.md": 6,
    "docs/errors-and-retries.md": 3,
    "docs/index.md": 2,
    "docs/install.md": 2,
    "docs/limits.md": 1,
    "docs/migration.md": 1,
    "docs/mock-gateway-and-testing.md": 9,
    "docs/performance.md": 0,
    "docs/reference/clients.md": 0,
    "docs/reference/errors.md": 0,
    "docs/reference/models.md": 0,
    "docs/reference/testing.md": 0,
    "docs/sweeps.md": 3,
    "docs/wire-formats.md": 0,
    "docs/workflows.md": 2,
}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\s`{]*)")
_PYTHONISH = {"py", "python", "python3", "pycon", "py3"}


@dataclass(frozen=True)
class Block:
    line: int  # the first line of code in the page, 1-based
    code: str


def documentation_pages() -> list[str]:
    pages = ["README.md", *(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))]
    return sorted(pages)


def python_blocks(page: str) -> list[Block]:
    """The runnable blocks of ``page``: top-level fences whose language is exactly ``python``.

    Any other fence that looks like Python (``py``, ``pycon``, an indented ``python`` fence)
    is an error rather than a block that silently does not run.
    """
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, language = match["fence"], match["info"].lower()
        end = index + 1
        while end < len(lines) and not _closes(lines[end], fence):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{page}:{index + 1}: the code fence is never closed")
        if language in _PYTHONISH:
            if match["info"] != "python" or match["indent"]:
                raise AssertionError(
                    f"{page}:{index + 1}: use a top-level ```python fence for an example that "
                    "runs, or `console` / `text` for one that must not"
                )
            blocks.append(Block(index + 2, "\n".join(lines[index + 1 : end]) + "\n"))
        index = end + 1
    return blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(fence) and not stripped.strip(fence[0])


@pytest.fixture
def clean_logging() -> Iterator[None]:
    """Examples configure logging (``basicConfig``, logger levels); undo it afterwards."""
    manager = logging.Logger.manager
    levels = {
        name: logger.level
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    handlers, root_level = logging.root.handlers[:], logging.root.level
    yield
    for name, logger in manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))
    for handler in logging.root.handlers[:]:
        if handler not in handlers:
            logging.root.removeHandler(handler)
    logging.root.setLevel(root_level)


def run_page(page: str, gateway: MockGateway) -> dict[str, Any]:
    """Run every python block of ``page`` in order in one namespace; return the namespace."""
    namespace: dict[str, Any] = {
        "__name__": "__docs_example__",
        "base_url": gateway.url,
        "token": TOKEN,
    }
    for block in python_blocks(page):
        # Leading blank lines keep the page's line numbers in tracebacks.
        code = "\n" * (block.line - 1) + block.code.replace(EXAMPLE_URL, gateway.url)
        exec(compile(code, str(ROOT / page), "exec"), namespace)
    return namespace


def expected_bin(execution_id: str) -> bytes:
    return b"".join(iter_result_bin(execution_id, DEFAULT_RESULT_SIZE))


def status_of(gateway: MockGateway, execution_id: str) -> str:
    with HubServiceClient(base_url=gateway.url, token=TOKEN) as client:
        return str(client.service_api.get_status(execution_id).status)


# What each page's examples must have done, beyond not raising.
Check = Callable[[dict[str, Any], MockGateway, Path, str], None]


def signed_in_with_the_access_key(gateway: MockGateway, *, refused: int = 0) -> None:
    """One token was issued for the runner's access key (``from_env()``), and used."""
    tokens = gateway.stats()["tokens"]
    assert (tokens["issued"], tokens["rejected"]) == (1, refused)


def check_readme(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    # Quickstart (with the access key), run, start + download, async: all sent to the page's
    # gateway.
    assert gateway.stats()["executions_created"] == 4
    signed_in_with_the_access_key(gateway)
    execution_id = namespace["execution"].id
    assert status_of(gateway, execution_id) == "SUCCEEDED"
    folder = cwd / "results" / execution_id
    assert sorted(path.name for path in namespace["paths"]) == ["result.bin", "result.json"]
    assert (folder / "result.bin").read_bytes() == expected_bin(execution_id)
    assert "{'input': {'molecule': 'H2'}}" in out
    quickstart_prints_a_result(out)


def quickstart_prints_a_result(out: str) -> None:
    """The first example waited for the end: it printed SUCCEEDED, then the whole log."""
    lines = out.splitlines()
    assert lines[0].endswith(" SUCCEEDED")
    assert lines[1].endswith(" INFO Execution started")
    assert " INFO Execution succeeded" in "\n".join(lines[2:])


def check_index(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    assert gateway.stats()["executions_created"] == 1
    quickstart_prints_a_result(out)
    assert out.count("{'input': {'molecule': 'H2'}}") == 2  # the first call and the mock's run


def check_install(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    assert gateway.stats()["executions_created"] == 1
    assert out.startswith(f"{namespace['execution'].status}\n")
    assert logging.getLogger("kipu_hub_service").level == logging.WARNING


def check_client(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    execution_id = namespace["execution_id"]
    assert (cwd / "result.bin").read_bytes() == expected_bin(execution_id)
    assert status_of(gateway, namespace["long_run"].id) == "CANCELLED"
    assert "SUCCEEDED" in out
    assert "CANCELLED" in out
    assert "True True\nFalse\n" in out
    # Once by the get_result_file example; the request-options one is never iterated, and a
    # result file is requested only when iteration starts.
    assert gateway.stats()["requests"]["getResultFile"] == 1
    # Credentials: one token for the sync and the async client, then the wrong secret.
    signed_in_with_the_access_key(gateway, refused=1)
    assert "\n401 invalid_client\n" in out
    # A NaN in the body is refused before anything is sent, naming where it is.
    assert "request['input']['theta'] is nan" in out
    # The forked child's first request went through its own connections and succeeded.
    assert "child exit code 0" in out.splitlines()


def check_migration(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    signed_in_with_the_access_key(gateway)
    execution_id = namespace["execution"].id
    assert status_of(gateway, execution_id) == "SUCCEEDED"
    assert gateway.stats()["executions_created"] == 1
    assert (cwd / "out" / "result.json").is_file()
    assert "'n': 3" in out


def check_data_types(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    assert gateway.stats()["executions_created"] == 1
    execution = namespace["execution"]
    # The repr as the page shows it: documented names, raw enum values, only set fields.
    assert f"ServiceExecution(id='{execution.id}', " in out
    assert "status=SUCCEEDED" in out and "type=MANAGED" in out and "tags=['demo'])" in out
    assert "type_" not in out and "additional_properties" not in out
    assert "\noutput {'input': {'molecule': 'H2'}}\n" in out
    assert f"{execution.created} {execution.started} {execution.ended} " in out
    assert namespace["data"] == {"output": {"input": {"molecule": "H2"}}}
    assert f"{execution.id}  SUCCEEDED" in out
    assert "TIMESTAMP" in out


def check_workflows(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    execution_id = namespace["execution"].id
    assert (cwd / "results" / execution_id / "result.bin").read_bytes() == expected_bin(
        execution_id
    )
    assert "['result.json', 'result.bin']" in out or "['result.bin', 'result.json']" in out
    assert "{'input': {'molecule': 'H2'}}" in out
    assert gateway.stats()["executions_created"] == 3


def check_errors(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    assert out == "no such execution\n"
    assert namespace["waits"] == []
    # The retries_without_delay() example listed the page's executions through its own client.
    assert namespace["executions"] == []
    assert gateway.stats()["requests"]["getServiceExecutions"] == 1


def check_downloads(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    data = expected_bin(namespace["execution_id"])
    assert hashlib.sha256(data).hexdigest() in out
    assert (cwd / "result.bin").read_bytes() == data
    assert (cwd / "results" / "result.bin").read_bytes() == data
    assert f"\r{len(data)} of {len(data)} bytes\n" in out
    assert f"\nresult.bin {len(data)}\n" in out
    # Streamed for the digest, by download_result_file, for the overwrite=False comparison,
    # then result.bin and result.json into results/.
    assert gateway.stats()["streams"]["completed"] == 5
    # The symbolic link leading out of linked-results/ was refused before any download.
    assert "refused: linked-results/result.bin\n" in out
    assert not (cwd / "somewhere-else.bin").exists()


def check_limits(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    # The example ran its own gateway with its own limits, not the page's.
    assert namespace["response"].status_code == 400
    assert namespace["gateway"] is not gateway
    assert gateway.stats()["connections"]["accepted"] == 0


def check_mock(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    assert out.startswith("SUCCEEDED\n" * 5)
    # The wire-format example: an ISO mock of its own, and the page's gateway in its default form.
    assert "T" in namespace["iso_execution"].created_at
    assert "T" not in namespace["gateway_execution"].created_at
    assert status_of(gateway, namespace["gateway_execution"].id) is not None
    assert namespace["refused"].json()["detail"].startswith("Request body is not valid JSON:")
    # The sample tests of the page pass when pytest would run them.
    with running_mock_gateway() as url:
        namespace["test_energy"](url)
    namespace["test_survives_a_flaky_gateway"]()
    assert namespace["pytest_plugins"] == ["kipu_hub_service.testing"]
    # The access-key example ran its own gateway: one token request served both calls.
    assert namespace["gateway"] is not gateway
    assert namespace["token_stats"] == {"requests": 1, "issued": 1, "rejected": 0, "live": 1}


def check_sweeps(namespace: dict[str, Any], gateway: MockGateway, cwd: Path, out: str) -> None:
    assert [o.status for o in namespace["results"]] == ["SUCCEEDED"] * 5
    assert (cwd / "vqe-sweep.sqlite").is_file() and sorted(namespace["order"]) == list(range(5))
    assert (cwd / "energies" / "5" / "result.json").is_file()
    assert gateway.stats()["executions_created"] == 10


CHECKS: dict[str, Check] = {
    "README.md": check_readme,
    "docs/index.md": check_index,
    "docs/install.md": check_install,
    "docs/client.md": check_client,
    "docs/data-types.md": check_data_types,
    "docs/workflows.md": check_workflows,
    "docs/errors-and-retries.md": check_errors,
    "docs/downloads.md": check_downloads,
    "docs/limits.md": check_limits,
    "docs/migration.md": check_migration,
    "docs/mock-gateway-and-testing.md": check_mock,
    "docs/sweeps.md": check_sweeps,
}


def test_every_page_and_block_is_counted() -> None:
    found = {page: len(python_blocks(page)) for page in documentation_pages()}
    assert found == EXPECTED_BLOCKS


def test_every_page_with_examples_has_a_check() -> None:
    assert set(CHECKS) == {page for page, count in EXPECTED_BLOCKS.items() if count}


@pytest.mark.parametrize("page", sorted(CHECKS))
def test_page_examples_run_against_the_mock_gateway(
    page: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_logging: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    gateway = MockGateway(
        base_path=BASE_PATH,
        tokens=[TOKEN, EXAMPLE_TOKEN],
        access_keys={ACCESS_KEY_ID: SECRET_ACCESS_KEY},
        timing=Timing(pending=0, running=0),
    )
    with gateway:
        monkeypatch.setenv("HUB_SERVICE_ACCESS_KEY_ID", ACCESS_KEY_ID)
        monkeypatch.setenv("HUB_SERVICE_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        monkeypatch.setenv("HUB_SERVICE_TOKEN_ENDPOINT", gateway.token_url)
        monkeypatch.delenv("KQH_SERVICE_EXECUTION_TOKEN", raising=False)
        namespace = run_page(page, gateway)
        CHECKS[page](namespace, gateway, tmp_path, capsys.readouterr().out)


def test_a_failing_block_fails_with_its_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "broken.md"
    page.write_text(
        "# Broken\n\n```python\nx = 1\n```\n\ntext\n\n```python\nraise ValueError(x)\n```\n"
    )
    relative = os.path.relpath(page, ROOT)
    with MockGateway(base_path=BASE_PATH) as gateway, pytest.raises(ValueError) as info:
        run_page(relative, gateway)
    frame = info.traceback[-1]
    assert (Path(frame.path).name, frame.lineno + 1) == ("broken.md", 10)


@pytest.mark.parametrize(
    "fence", ["```py", "```pycon", "```python3", "    ```python", "~~~py", "```Python"]
)
def test_a_block_cannot_hide_from_the_runner(tmp_path: Path, fence: str) -> None:
    page = tmp_path / "hidden.md"
    closing = fence.strip()[:3]
    page.write_text(f"# Hidden\n\n{fence}\nraise SystemExit\n{closing}\n")
    with pytest.raises(AssertionError, match=r"hidden\.md:\d+:"):
        python_blocks(os.path.relpath(page, ROOT))
