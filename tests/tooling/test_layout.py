"""Rules of the code base itself: module sizes, and no reliance on private internals of other
libraries or on process-wide switches."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "src" / "kipu_hub_service"
MAX_LINES = 450

PRIVATE_INTERNALS = re.compile(
    r"_build_redirect_request|gc\.disable|tb_frame|f_back|httpx\._[a-z]|\._content\b"
    r"|__self__\.transport|\bhttpx_aiohttp\.\w+\._"
)
"""Private functions/attributes of httpx, httpx-aiohttp, uvicorn or the interpreter's frames,
and the garbage-collector switch."""


def _hand_written() -> list[Path]:
    return sorted(path for path in SDK.rglob("*.py") if "_sync" not in path.parts)


def test_no_hand_written_module_is_over_the_limit() -> None:
    sizes = {
        str(path.relative_to(SDK)): len(path.read_text(encoding="utf-8").splitlines())
        for path in _hand_written()
    }
    assert "_async/_funnel.py" in sizes
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_no_private_internals_or_process_wide_switches_in_the_sdk() -> None:
    found = [
        f"{path.relative_to(SDK)}:{number}: {line.strip()}"
        for path in sorted(SDK.rglob("*.py"))
        if "mock" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE_INTERNALS.search(line)
    ]
    assert found == []


def test_no_environment_switch_changes_a_library_default() -> None:
    """The environment variables the SDK reads are documented features, none of them a switch
    of a library default: the aiohttp opt-out (``_backend``), the parent execution token of a
    running Hub service (``_config``, with a constructor switch), the access key of
    ``ClientCredentials.from_env()`` (``_credentials``, only when called), and the CLI's own
    ``HUB_SERVICE_*`` settings."""
    reads = re.compile(r"os\.environ|os\.getenv|getenv\(")
    modules = [
        str(path.relative_to(SDK))
        for path in _hand_written()
        if not {"mock", "cli"} & set(path.relative_to(SDK).parts)
        and reads.search(path.read_text("utf-8"))
    ]
    assert modules == ["_backend.py", "_config.py", "_credentials.py"]
    assert "QHUB_SERVICE_RETRY_NO_DELAY" not in "".join(
        path.read_text(encoding="utf-8") for path in SDK.rglob("*.py")
    )
