"""The strict response checks of ``_parse`` against ``openapi/hub-service.yaml``.

The spec is the one truth for response shapes: this test reads it and fails when a check and
the spec disagree, in either direction. For every property of every response schema it sends
a body where the property is missing, null, of each wrong JSON type, or (for arrays) has an
item of a wrong type, and expects the parser to refuse exactly what the spec does not allow
(with ``InvalidBody``, which becomes ``ResponseValidationError``), and to accept the rest:
unknown enum values (kept, documented), unknown keys (``additionalProperties``), absent
optional properties. It also ties each operation to the parser its ``service_api`` method
uses. Deliberate tolerances are listed in ``TOLERATED``.
"""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kipu_hub_service import _parse
from kipu_hub_service._parse import InvalidBody

ROOT = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "openapi" / "hub-service.yaml").read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
SERVICE_API = ROOT / "src" / "kipu_hub_service" / "_async" / "service_api.py"

SAMPLES: dict[str, object] = {
    "number": 12345,
    "fraction": 1.5,
    "string": "text",
    "boolean": True,
    "array": ["x"],
    "object": {"k": "v"},
}
"""One value of each JSON type, to put where the spec allows another."""
KIND_OF_SAMPLE = {"number": "number", "fraction": "number"}

TOLERATED = {("ResultResponseLinks", "<file link>", "null")}
"""A null result-file link is dropped rather than refused (the spec allows null for
``status`` only): a gateway that nulls a file out loses nothing the client could use."""


def _ref(name_or_ref: str) -> str:
    return name_or_ref.rsplit("/", 1)[-1]


def _kinds(prop: dict[str, Any]) -> set[str]:
    """The JSON types ``prop`` allows (an enum of strings allows every string)."""
    if "$ref" in prop:
        schema = SCHEMAS[_ref(prop["$ref"])]
        return _kinds(schema)
    if "anyOf" in prop:
        return set().union(*(_kinds(alternative) for alternative in prop["anyOf"]))
    kind = prop.get("type")
    if kind is None:
        return set(SAMPLES) | {"null"}
    kinds = {kind} if isinstance(kind, str) else set(kind)
    if "integer" in kinds:
        kinds.add("number")
    return kinds


def _items(prop: dict[str, Any]) -> dict[str, Any] | None:
    for alternative in [prop, *prop.get("anyOf", [])]:
        if "items" in alternative:
            return alternative["items"]  # type: ignore[no-any-return]
    return None


def _object_ref(prop: dict[str, Any]) -> str | None:
    """The object schema ``prop`` refers to (itself or as an ``anyOf`` alternative)."""
    for alternative in [prop, *prop.get("anyOf", [])]:
        if "$ref" in alternative and SCHEMAS[_ref(alternative["$ref"])].get("type") == "object":
            return _ref(alternative["$ref"])
    return None


def valid(name: str) -> dict[str, Any]:
    """An instance of schema ``name`` with every property set to a valid value."""
    out: dict[str, Any] = {}
    for key, prop in SCHEMAS[name].get("properties", {}).items():
        out[key] = _valid_value(prop)
    additional = SCHEMAS[name].get("additionalProperties")
    if isinstance(additional, dict):
        out["file.bin"] = _valid_value(additional)
    return out


def _valid_value(prop: dict[str, Any]) -> Any:
    target = _object_ref(prop)
    if target is not None:
        return valid(target)
    schema = SCHEMAS[_ref(prop["$ref"])] if "$ref" in prop else prop
    for alternative in schema.get("anyOf", []):
        if alternative.get("type") != "null":
            return _valid_value(alternative)
    if "enum" in schema:
        return schema["enum"][0]
    kinds = _kinds(schema) - {"null"}
    if "array" in kinds:
        return [_valid_value(_items(schema) or {"type": "string"})]
    if "boolean" in kinds:
        return True
    if schema.get("format") == "date-time":
        return "2026-11-25T12:00:00Z"
    return "s"


# Where each schema is checked: the body around one instance, and the parser that reads it.
Place = Callable[[dict[str, Any]], Any]
PLACES: dict[str, list[tuple[str, Place]]] = {
    "ServiceExecution": [
        ("getStatus", lambda obj: obj),
        ("getServiceExecutions", lambda obj: [obj]),
        ("getResult _embedded.status", lambda obj: {"_embedded": {"status": obj}}),
    ],
    "LogEntry": [("getLogs", lambda obj: [obj])],
    "HalLink": [
        ("getResult _links file", lambda obj: {"_links": {"file.bin": obj}}),
        ("getResult _links.status", lambda obj: {"_links": {"status": obj}}),
    ],
    "ResultResponseLinks": [("getResult _links", lambda obj: {"_links": obj})],
    "ResultResponseEmbedded": [("getResult _embedded", lambda obj: {"_embedded": obj})],
    "ResultResponse": [("getResult", lambda obj: obj)],
}
PARSERS = {
    "getStatus": _parse.parse_execution,
    "getServiceExecutions": _parse.parse_executions,
    "getLogs": _parse.parse_logs,
    "getResult": _parse.parse_result,
}


def _parser(place: str) -> Callable[[bytes], Any]:
    return PARSERS[place.split(" ", 1)[0]]


def accepted(place: str, body: Any) -> bool:
    """Whether the parser of ``place`` takes ``body``; any failure but ``InvalidBody`` (a
    crash instead of a clear refusal) fails the test."""
    try:
        _parser(place)(json.dumps(body).encode())
    except InvalidBody:
        return False
    return True


def cases(name: str) -> Iterator[tuple[str, str, Any, bool]]:
    """(what, variant, instance, allowed by the spec) for schema ``name``."""
    schema = SCHEMAS[name]
    base = valid(name)
    required = set(schema.get("required", []))
    yield "<valid>", "all properties", base, True
    for key, prop in schema.get("properties", {}).items():
        kinds = _kinds(prop)
        missing = {k: v for k, v in base.items() if k != key}
        yield key, "missing", missing, key not in required
        yield key, "null", {**base, key: None}, "null" in kinds
        for sample, value in SAMPLES.items():
            kind = KIND_OF_SAMPLE.get(sample, sample)
            if kind == "object" and _object_ref(prop) is not None:
                continue  # what such an object must hold is that schema's own cases
            ok = kind in kinds and not (kind == "string" and prop.get("format") == "date-time")
            yield key, sample, {**base, key: value}, ok
        if prop.get("format") == "date-time":
            for stamp in ("2026-11-25T12:00:00+01:00", "2026-11-25 12:00:00.5Z"):
                yield key, f"date-time {stamp}", {**base, key: stamp}, True
        if "enum" in SCHEMAS.get(_ref(prop.get("$ref", "")), prop) or any(
            "enum" in SCHEMAS.get(_ref(a.get("$ref", "")), a) for a in prop.get("anyOf", [])
        ):
            yield key, "unknown enum value", {**base, key: "ADDED-LATER"}, True
        items = _items(prop)
        if items is not None:
            item_kinds = _kinds(items)
            for sample, value in SAMPLES.items():
                kind = KIND_OF_SAMPLE.get(sample, sample)
                yield key, f"item {sample}", {**base, key: [value]}, kind in item_kinds
            yield key, "item null", {**base, key: [None]}, "null" in item_kinds
    additional = schema.get("additionalProperties", False)
    if additional is True:
        for sample, value in SAMPLES.items():
            yield "<extra key>", sample, {**base, "zz-extra": value}, True
    elif isinstance(additional, dict):
        kinds = _kinds(additional)
        for sample, value in [*SAMPLES.items(), ("null", None)]:
            kind = KIND_OF_SAMPLE.get(sample, sample)
            if kind == "object" and _object_ref(additional) is not None:
                continue  # a valid one is in ``base``; its own cases check the rest
            yield "<file link>", sample, {**base, "zz.bin": value}, kind in kinds


@pytest.mark.parametrize("name", sorted(PLACES))
def test_the_checks_refuse_exactly_what_the_spec_does_not_allow(name: str) -> None:
    disagreements = []
    count = 0
    for what, variant, instance, allowed in cases(name):
        for place, wrap in PLACES[name]:
            count += 1
            got = accepted(place, wrap(copy.deepcopy(instance)))
            if got != allowed and (name, what, variant) not in TOLERATED:
                spec = "allows" if allowed else "forbids"
                check = "accepts" if got else "refuses"
                disagreements.append(f"{place}: {what} {variant}: the spec {spec}, _parse {check}")
            if (name, what, variant) in TOLERATED:
                assert got and not allowed, (name, what, variant)
    assert count > 10
    assert disagreements == []


def test_every_response_schema_with_a_check_is_covered() -> None:
    """Every object schema a 2xx response reaches is checked above (Error and RequestBody are
    not response bodies of a 2xx)."""
    reached: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                name = _ref(node["$ref"])
                if name not in reached and "/schemas/" in node["$ref"]:
                    reached.add(name)
                    walk(SCHEMAS[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for item in SPEC["paths"].values():
        for method, operation in item.items():
            if method in {"get", "post", "put", "delete"}:
                for code, response in operation["responses"].items():
                    if code.startswith("2"):
                        walk(response)
    objects = {name for name in reached if SCHEMAS[name].get("type") == "object"}
    assert objects == set(PLACES)


def test_each_operation_uses_the_parser_of_its_response_schema() -> None:
    """The spec's 2xx schema of each operation, and the parser its ``service_api`` method
    hands to the funnel."""
    expected = {
        "getServiceExecutions": ("array", "ServiceExecution", "parse_executions"),
        "startExecution": ("object", "ServiceExecution", "parse_execution"),
        "getStatus": ("object", "ServiceExecution", "parse_execution"),
        "getResult": ("object", "ResultResponse", "parse_result"),
        "getLogs": ("array", "LogEntry", "parse_logs"),
        "cancelExecution": ("none", "", "ignore_body"),
    }
    found: dict[str, tuple[str, str, str]] = {}
    used = _parsers_by_builder()
    for item in SPEC["paths"].values():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "delete"}:
                continue
            op = operation["operationId"]
            if op == "getResultFile":
                continue
            schema = next(
                (
                    r["content"]["application/json"]["schema"]
                    for code, r in operation["responses"].items()
                    if code.startswith("2") and "content" in r
                ),
                None,
            )
            if schema is None:
                shape = ("none", "")
            elif schema.get("type") == "array":
                shape = ("array", _ref(schema["items"]["$ref"]))
            else:
                shape = ("object", _ref(schema["$ref"]))
            builder = "_" + "".join("_" + c.lower() if c.isupper() else c for c in op)
            found[op] = (*shape, used[builder])
    assert found == expected


def _parsers_by_builder() -> dict[str, str]:
    """For each ``ServiceApi`` method: the generated builder it calls -> the parser it passes."""
    tree = ast.parse(SERVICE_API.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
            n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
        }
        builders = {
            n.value.id
            for n in ast.walk(node)
            if isinstance(n, ast.Attribute)
            and n.attr == "request_kwargs"
            and isinstance(n.value, ast.Name)
        }
        parsers = names & {*PARSERS_BY_NAME}
        if len(builders) == 1 and len(parsers) == 1:
            out[builders.pop()] = parsers.pop()
    return out


PARSERS_BY_NAME = {"parse_execution", "parse_executions", "parse_result", "parse_logs"} | {
    "ignore_body"
}
