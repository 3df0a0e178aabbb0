"""Rules of the code base itself: module sizes, no reliance on private internals of other
libraries or on process-wide switches, and no unresolved merge conflict."""

from __future__ import annotations

import os
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
    ``ClientCredentials.from_env()`` (``credentials``, only when called), and the CLI's own
    ``HUB_SERVICE_*`` settings."""
    reads = re.compile(r"os\.environ|os\.getenv|getenv\(")
    modules = [
        str(path.relative_to(SDK))
        for path in _hand_written()
        if not {"mock", "cli"} & set(path.relative_to(SDK).parts)
        and reads.search(path.read_text("utf-8"))
    ]
    assert modules == ["_backend.py", "_config.py", "credentials.py"]
    assert "QHUB_SERVICE_RETRY_NO_DELAY" not in "".join(
        path.read_text(encoding="utf-8") for path in SDK.rglob("*.py")
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The SDK modules ``path`` imports: every import, also inside functions and under
    ``TYPE_CHECKING`` (a lazy import still ties the two modules together). ``from p import m``
    of a module ``m`` counts as importing ``p.m``, a name from ``p`` as importing ``p``."""
    import ast

    parts = list(path.relative_to(SDK.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    package = parts if path.name == "__init__.py" else parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:
                name = f"{module}.{alias.name}"
                found.add(name if name in modules else module)
    return found


def _module_graph() -> dict[str, set[str]]:
    modules = {}
    for path in SDK.rglob("*.py"):
        parts = list(path.relative_to(SDK.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    names = set(modules)
    return {
        name: {t for t in _imports(path, names) & names if not name.startswith(t + ".")} - {name}
        for name, path in modules.items()
    }


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_only_point_down() -> None:
    """No import circles in the SDK: every import counts, also lazy ones and those made for
    type checking. A module importing a name from its own package (``from . import X``) is not
    counted: the package is always imported before its modules."""
    graph = _module_graph()
    assert "kipu_hub_service._async._funnel" in graph["kipu_hub_service.client"]
    assert _circles(graph) == []


def test_the_circle_check_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


CONFLICT_MARKER = re.compile(r"^(<{7}|>{7}) ", re.MULTILINE)
"""The first or last line of an unresolved merge conflict."""
NOT_OURS = {"site", "dist", "build", "node_modules", "__pycache__"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".jinja", ".cfg", ""}


def _project_text_files() -> list[Path]:
    """Every text file of the project: no hidden directory but ``.ci``, no virtual environment,
    cache or build output."""
    found = []
    for top, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in NOT_OURS and (d == ".ci" or not d.startswith("."))]
        found += [Path(top, n) for n in names if Path(n).suffix in TEXT_SUFFIXES]
    return found


def test_no_unresolved_merge_conflict_is_committed() -> None:
    files = _project_text_files()
    assert {ROOT / "CHANGELOG.md", ROOT / "Makefile", ROOT / ".ci" / "run"} <= set(files)
    marked = [
        str(path.relative_to(ROOT))
        for path in files
        if CONFLICT_MARKER.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert marked == []
