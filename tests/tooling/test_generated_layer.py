"""The generated layer fits the facade (issue #18, item 5).

- the generated package offers one public request builder per operation, the models and
  their parsers, and nothing that sends requests (no client, no errors, no sync/asyncio);
- the hand-written SDK uses only public names of it;
- each rule shared across the boundary has one home, in the generated package: the terminal
  statuses, the wire-time parsing and the result-file names (and the two sides agree).

The mock gateway (``kipu_hub_service/mock/``) plays the server, not the SDK: it keeps its own
statuses on purpose, so the mock and the SDK are never right or wrong together.
"""

from __future__ import annotations

import ast
import datetime
import importlib
import importlib.util
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qhub_service_gen
import qhub_service_gen.api.service_api as endpoints
import yaml
from qhub_service_gen import types as gen_types
from qhub_service_gen.models import LogEntry, ResultResponse, ServiceExecution
from qhub_service_gen.models.service_execution import TERMINAL_STATUSES

import kipu_hub_service
from kipu_hub_service import UnsafeResultFileNameError
from kipu_hub_service._files import partial_path
from kipu_hub_service._results import is_terminal, result_file_names
from kipu_hub_service._target import Target

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "kipu_hub_service"
GENERATED = ROOT / "generated" / "qhub_service_gen"
SPEC = yaml.safe_load((ROOT / "openapi" / "hub-service.yaml").read_text(encoding="utf-8"))
GEN = "qhub_service_gen"


def _sdk_modules() -> Iterator[tuple[Path, ast.Module]]:
    """Every hand-written module of the SDK (``_sync/`` is generated from ``_async/`` and
    checked with it), without the mock gateway."""
    for path in sorted(SRC.rglob("*.py")):
        if "mock" in path.relative_to(SRC).parts:
            continue
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def _snake(operation_id: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation_id)


# What the generated package offers ------------------------------------------------------------


def test_one_public_request_builder_per_operation_and_nothing_else() -> None:
    operations = {
        _snake(op["operationId"])
        for item in SPEC["paths"].values()
        for method, op in item.items()
        if method in {"get", "post", "put", "delete", "patch"}
    }
    modules = {info.name for info in pkgutil.iter_modules(endpoints.__path__)}
    assert modules == operations
    for name in sorted(modules):
        module = importlib.import_module(f"{endpoints.__name__}.{name}")
        defined = {
            attr
            for attr, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == module.__name__
        }
        assert defined == {"request_kwargs"}, name


def test_nothing_that_sends_a_request_is_generated() -> None:
    assert not (GENERATED / "client.py").exists()
    assert not (GENERATED / "errors.py").exists()
    for name in ("client", "errors"):
        assert importlib.util.find_spec(f"{GEN}.{name}") is None
    with pytest.raises(AttributeError):
        qhub_service_gen.Client  # type: ignore[attr-defined]  # noqa: B018
    source = "\n".join(path.read_text(encoding="utf-8") for path in GENERATED.rglob("*.py"))
    for word in ("import httpx", "def sync", "def asyncio", "_get_kwargs", "class Response"):
        assert word not in source, word


def test_a_builder_gives_what_httpx_builds_a_request_from() -> None:
    import httpx
    from qhub_service_gen.api.service_api import get_result_file

    kwargs = get_result_file.request_kwargs("..", "a/b.txt", range_="bytes=5-")
    request = httpx.Client(base_url="http://gw.test/base/").build_request(**kwargs)
    assert request.method == "GET"
    assert request.url.raw_path == b"/base/%2E%2E/result/a%2Fb.txt"
    assert request.headers["Range"] == "bytes=5-"


# The facade uses public names only -----------------------------------------------------------


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a name inside a module, not a submodule
        return False


def _generated_bindings(tree: ast.Module) -> set[str]:
    """Local names bound to a generated module: imported, or loaded lazily by name."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(GEN):
            for alias in node.names:
                if _is_module(f"{node.module}.{alias.name}"):
                    bound.add(alias.asname or alias.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            text = ast.unparse(node.value)
            if GEN in text or "_GENERATED" in text:
                bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return bound


def _private_uses(tree: ast.Module) -> list[str]:
    found = []
    bound = _generated_bindings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(GEN):
            parts = [*node.module.split("."), *(alias.name for alias in node.names)]  # type: ignore[union-attr]
            found += [part for part in parts if part.startswith("_")]
        elif isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.startswith(GEN) and "._" in alias.name
            ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound
            and node.attr.startswith("_")
        ):
            found.append(f"{node.value.id}.{node.attr}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(rf"{GEN}(\.\w+)*\.?", node.value)
            and "._" in node.value
        ):
            found.append(node.value)
    return found


def test_the_facade_calls_no_private_name_of_the_generated_package() -> None:
    private = {
        str(path.relative_to(SRC)): uses
        for path, tree in _sdk_modules()
        if (uses := _private_uses(tree))
    }
    assert private == {}


def test_the_private_name_check_sees_a_private_call() -> None:
    planted = ast.parse(
        "from qhub_service_gen.api.service_api import get_status as g\n"
        "g._get_kwargs('x')\n"
        "from qhub_service_gen.types import _SEPARATORS\n"
    )
    assert sorted(_private_uses(planted)) == ["_SEPARATORS", "g._get_kwargs"]


def test_the_facade_calls_every_builder() -> None:
    source = (SRC / "_async" / "service_api.py").read_text(encoding="utf-8")
    for info in pkgutil.iter_modules(endpoints.__path__):
        assert re.search(rf"\b_{info.name}\.request_kwargs\(", source), info.name


# Terminal statuses: one list -------------------------------------------------------------------


def _terminal_literals(tree: ast.Module) -> list[int]:
    """Lines of set/list/tuple literals naming SUCCEEDED, FAILED and CANCELLED together (an
    ``__all__`` exporting constants of those names is not a list of statuses)."""
    exported = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Set | ast.List | ast.Tuple) and id(node) not in exported:
            names = set()
            for element in node.elts:
                if isinstance(element, ast.Constant) and isinstance(element.value, str):
                    names.add(element.value)
                elif isinstance(element, ast.Attribute):
                    names.add(element.attr)
            if {"SUCCEEDED", "FAILED", "CANCELLED"} <= names:
                lines.append(node.lineno)
    return lines


def test_the_terminal_statuses_are_written_once() -> None:
    in_sdk = {
        str(path.relative_to(SRC)): lines
        for path, tree in _sdk_modules()
        if (lines := _terminal_literals(tree))
    }
    in_generated = {
        str(path.relative_to(GENERATED)): lines
        for path in sorted(GENERATED.rglob("*.py"))
        if (lines := _terminal_literals(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert in_sdk == {}
    assert list(in_generated) == ["models/service_execution.py"]
    assert len(in_generated["models/service_execution.py"]) == 1
    assert kipu_hub_service.TERMINAL_STATUSES is TERMINAL_STATUSES


def test_the_terminal_statuses_are_the_ones_the_spec_names() -> None:
    schema = SPEC["components"]["schemas"]["ServiceExecutionStatus"]
    text = schema["description"]
    named = re.search(r"terminal states ([A-Z, ]+?) or ([A-Z]+)", " ".join(text.split()))
    assert named is not None
    expected = {*named.group(1).replace(",", " ").split(), named.group(2)}
    assert {str(status) for status in TERMINAL_STATUSES} == expected
    enum = set(schema["enum"])
    assert expected < enum
    for status in enum:
        execution = ServiceExecution.from_dict({"id": "e", "createdAt": "", "status": status})
        assert execution.is_terminal is is_terminal(status) is (status in expected)


# Wire times: one rule --------------------------------------------------------------------------

UTC = datetime.UTC
STAMPS = [
    "2026-11-25 12:00:01",
    "2026-11-25T12:00:01Z",
    "2026-11-25t12:00:01z",
    "2026-11-25T12:00:01 +01:00",
    "2026-11-25T12:00:01.123456789Z",
    "20261125T120001Z",
    "2026-W48-3T12:00:00-03:30",
    " 2026-11-25T12:00:01Z ",
]


@pytest.mark.parametrize("text", STAMPS)
def test_every_timestamp_is_read_by_the_one_rule(text: str) -> None:
    from kipu_hub_service._parse import parse_logs

    expected = gen_types.wire_time(text)
    assert expected.tzinfo is not None
    assert LogEntry.from_dict({"message": "m", "timestamp": text}).timestamp == expected
    body = f'[{{"message": "m", "timestamp": "{text}", "severity": "INFO"}}]'.encode()
    parsed = parse_logs(body)
    assert parsed is not None and parsed[0].timestamp == expected
    assert parsed[0].timestamp.utcoffset() == expected.utcoffset()
    execution = ServiceExecution.from_dict({"id": "e", "createdAt": text, "status": "RUNNING"})
    assert execution.created == expected.astimezone(UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "9" * 65])
def test_what_the_rule_refuses_is_refused_everywhere(text: str) -> None:
    from kipu_hub_service._errors import InvalidBody
    from kipu_hub_service._parse import parse_logs

    with pytest.raises(ValueError):
        gen_types.wire_time(text)
    with pytest.raises(InvalidBody):
        parse_logs(f'[{{"message": "m", "timestamp": "{text}"}}]'.encode())
    execution = ServiceExecution.from_dict({"id": "e", "createdAt": text, "status": "RUNNING"})
    assert execution.created is None


def test_the_sdk_holds_no_second_timestamp_rule() -> None:
    """No offset regex, no ``dateutil`` and no "naive means UTC" in the SDK's parsers."""
    for path in (SRC / "_parse.py", SRC / "_results.py", SRC / "_display.py"):
        text = path.read_text(encoding="utf-8")
        for word in ("dateutil", "isoparse", "tzinfo=", "re.compile"):
            assert word not in text, (path.name, word)


# Result-file names: one rule -------------------------------------------------------------------


def _envelope(names: list[str]) -> ResultResponse:
    links: dict[str, Any] = {name: {"href": f"/e/result/{name}"} for name in names}
    return ResultResponse.from_dict({"_links": {"status": {"href": "/e"}, **links}})


@pytest.mark.parametrize(
    "names", [["self", "out.json"], ["a.bin", "b.txt"], [], ["self"], ["status.txt", "Self"]]
)
def test_the_facade_downloads_exactly_the_files_the_model_lists(names: list[str]) -> None:
    result = _envelope(names)
    assert result_file_names(result) == result.files == [n for n in names if n != "self"]


def test_the_facade_error_says_what_the_model_error_says() -> None:
    name, reason = "../up", "is not a single plain file name"
    model = gen_types.UnsafeFileNameError(name, reason)
    facade = UnsafeResultFileNameError(name, reason)
    assert str(facade) == f"{model}; refusing to write it"


def test_the_download_writes_the_temp_files_the_name_rule_reserves(tmp_path: Path) -> None:
    def names(name: str) -> tuple[str, str]:
        target = Target(None, name, tmp_path / name, (), owned=False)  # type: ignore[arg-type]
        return target.part, target.meta

    part, meta = names("result.json")
    assert part == partial_path(tmp_path / "result.json").name
    assert part == gen_types.partial_file_name("result.json")
    assert meta == gen_types.record_file_name(part)
    longest = "n" * gen_types.RESULT_FILE_NAME_MAX_BYTES
    assert len(names(longest)[1]) == 255
    with pytest.raises(gen_types.UnsafeFileNameError, match="temp file"):
        _ = _envelope(["result.json", part]).files
    with pytest.raises(gen_types.UnsafeFileNameError, match="temp file"):
        _ = _envelope(["result.json", meta]).files


def test_the_sdk_holds_no_second_temp_file_name() -> None:
    """Only the generated ``partial_file_name`` / ``record_file_name`` spell the temp names."""
    found = []
    for path, tree in _sdk_modules():
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and (".part" in node.value or node.value == ".json")
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []
