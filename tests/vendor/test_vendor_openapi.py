"""The vendor's own service document as an oracle for our mock gateway.

``qhub-commons`` (pinned in constraints.txt) ships the vendor's OpenAPI document of the
service gateway. It is read from the installed package, never copied here, and checked
against our mock with schemathesis: response schema and content-type conformance on every
answer the document describes. Two deviations are allowed, and only these:

- an optional field may be ``null`` (the vendor's runtime sends such nulls although its
  document's types leave null out): :func:`relax_optional_nulls` widens exactly those
  properties, in memory, before any run;
- error statuses the vendor's document leaves out (401, 404, 409, ...) may occur, provided
  our own spec documents them for that operation.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from importlib.metadata import distribution
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
import yaml
from _oracle_support import run_schemathesis
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import kipu_hub_service as our_service
from kipu_hub_service.mock import MockGateway, Timing

ROOT = Path(__file__).resolve().parents[2]
OUR_SPEC = ROOT / "openapi" / "hub-service.yaml"
TOKEN = "vendor-oracle-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_PATH = "/acme/vqe/v1"
CHECKS = [response_schema_conformance, content_type_conformance, status_code_conformance]
METHODS = ("get", "put", "post", "delete", "patch")


def vendor_document() -> dict[str, Any]:
    """The vendor's service document, as installed by ``qhub-commons``."""
    resource = files("qhub.commons.openapi").joinpath("service-api/openapi-service.yaml")
    loaded: dict[str, Any] = yaml.safe_load(resource.read_text(encoding="utf-8"))
    return loaded


def _relax(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_relax(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    relaxed = {key: _relax(value) for key, value in schema.items()}
    properties = relaxed.get("properties")
    if isinstance(properties, dict):
        required = set(relaxed.get("required", []))
        relaxed["properties"] = {
            name: prop if name in required else {"anyOf": [prop, {"type": "null"}]}
            for name, prop in properties.items()
        }
    return relaxed


def relax_optional_nulls(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` where every optional (not ``required``) property also accepts
    ``null``; nothing else changes."""
    return {
        key: _relax(copy.deepcopy(value)) if key in ("paths", "components") else value
        for key, value in document.items()
    }


def described_answers(document: dict[str, Any]) -> set[tuple[str, int]]:
    """Every (operationId, status) the document describes."""
    return {
        (operation["operationId"], int(status))
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in METHODS
        for status in operation["responses"]
    }


def our_error_statuses() -> dict[str, set[int]]:
    """operationId -> the error statuses our own spec documents for it."""
    spec = yaml.safe_load(OUR_SPEC.read_text())
    return {
        operation["operationId"]: {int(s) for s in operation["responses"] if int(s) >= 400}
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _start(gateway: MockGateway, body: dict[str, Any]) -> str:
    import httpx

    response = httpx.post(f"{gateway.url}/", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    execution_id: str = response.json()["id"]
    return execution_id


@pytest.fixture
def pool() -> Iterator[tuple[MockGateway, dict[str, str]]]:
    """A mock gateway, its clock frozen, with one execution in each state.

    PENDING (no log yet, startedAt/endedAt null), RUNNING, SUCCEEDED (with result files),
    FAILED and CANCELLED.
    """
    import httpx

    clock = Clock()
    with MockGateway(
        base_path=BASE_PATH, tokens=[TOKEN], timing=Timing(pending=10, running=10), clock=clock
    ) as gateway:
        ids = {
            "succeeded": _start(gateway, {"input": {"molecule": "H2"}, "tags": ["oracle"]}),
            "failed": _start(gateway, {"input": {"fail": True}}),
            "running": _start(gateway, {"input": {"duration": 86400}}),
            "cancelled": _start(gateway, {"input": {}}),
        }
        clock.now = 15.0
        cancelled = httpx.put(f"{gateway.url}/{ids['cancelled']}/cancel", headers=AUTH)
        assert cancelled.status_code == 204
        clock.now = 100.0
        ids["pending"] = _start(gateway, {"input": {"molecule": "LiH"}})
        yield gateway, ids


def _schema(document: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(document)


def _call(
    schema: Any,
    base_url: str,
    path: str,
    method: str,
    headers: dict[str, str] | None = None,
    **case: Any,
) -> tuple[Any, Any]:
    made = schema[path][method].Case(**case)
    response = made.call(base_url=base_url, headers=AUTH if headers is None else headers)
    return made, response


def test_the_vendor_package_coexists_with_ours() -> None:
    """qhub-commons adds qhub/commons/ only: neither our package nor the drop-in is shadowed."""
    import qhub.api.service as dropin
    import qhub.commons

    ours = Path(our_service.__file__ or "").resolve()
    assert ours == ROOT / "src" / "kipu_hub_service" / "__init__.py", ours
    dropin_file = Path(dropin.__file__ or "").resolve()
    assert dropin_file == ROOT / "dropin" / "src" / "qhub" / "api" / "service" / "__init__.py"
    vendor = distribution("qhub-commons")
    assert vendor.version == "1.2.2"
    assert (
        Path(qhub.commons.__file__ or "").resolve()
        == Path(str(vendor.locate_file("qhub/commons/__init__.py"))).resolve()
    )
    # It ships no qhub/__init__.py and nothing under qhub/api/: no file of ours is shadowed.
    shipped = [str(f) for f in vendor.files or []]
    assert not [f for f in shipped if f == "qhub/__init__.py" or f.startswith("qhub/api/")]
    assert vendor_document()["info"]["title"] == "Hub Service API"


def test_relaxing_only_lets_optional_fields_be_null() -> None:
    document = vendor_document()
    relaxed = relax_optional_nulls(document)
    execution = relaxed["components"]["schemas"]["ServiceExecution"]
    assert execution["required"] == ["id", "createdAt", "status"]
    for name in ("id", "createdAt", "status"):
        assert (
            execution["properties"][name]
            == (document["components"]["schemas"]["ServiceExecution"]["properties"][name])
        )
    assert execution["properties"]["endedAt"] == {
        "anyOf": [
            document["components"]["schemas"]["ServiceExecution"]["properties"]["endedAt"],
            {"type": "null"},
        ]
    }
    # Everything but the optional properties is untouched, and the input is not modified.
    assert relaxed["paths"].keys() == document["paths"].keys()
    assert relaxed["security"] == document["security"]
    assert relax_optional_nulls(vendor_document()) == relaxed
    assert "anyOf" not in json.dumps(vendor_document()["components"]["schemas"]["ServiceExecution"])


def _validate(made: Any, response: Any) -> None:
    made.validate_response(response, checks=CHECKS)


def test_every_answer_the_vendor_document_describes(
    pool: tuple[MockGateway, dict[str, str]],
) -> None:
    """Each answer the vendor's document describes, produced by our mock and validated."""
    gateway, ids = pool
    document = vendor_document()
    schema = _schema(relax_optional_nulls(document))
    url = gateway.url
    seen: set[tuple[str, int]] = set()

    def check(path: str, method: str, **case: Any) -> Any:
        made, response = _call(schema, url, path, method, **case)
        _validate(made, response)
        seen.add((made.operation.definition.raw["operationId"], response.status_code))
        return response

    listed = check("/", "GET").json()
    assert {e["id"] for e in listed} == set(ids.values())
    created = check("/", "POST", body={"input": {"molecule": "H2"}}, media_type="application/json")
    assert created.status_code == 201 and created.json()["status"] == "PENDING"
    statuses = {name: check("/{id}", "GET", path_parameters={"id": i}) for name, i in ids.items()}
    assert {name: r.json()["status"] for name, r in statuses.items()} == {
        "succeeded": "SUCCEEDED",
        "failed": "FAILED",
        "running": "RUNNING",
        "cancelled": "CANCELLED",
        "pending": "PENDING",
    }
    # The relaxation is needed: the pending execution's unset times are explicit nulls.
    assert statuses["pending"].json()["startedAt"] is None
    for name in ("succeeded", "failed", "cancelled"):
        check("/{id}/result", "GET", path_parameters={"id": ids[name]})
    for file in ("result.json", "result.bin"):
        answer = check(
            "/{id}/result/{file}", "GET", path_parameters={"id": ids["succeeded"], "file": file}
        )
        assert answer.status_code == 200 and answer.content
    assert check("/{id}/log", "GET", path_parameters={"id": ids["succeeded"]}).status_code == 200
    assert check("/{id}/log", "GET", path_parameters={"id": ids["pending"]}).status_code == 204
    assert check("/{id}/cancel", "PUT", path_parameters={"id": ids["running"]}).status_code == 204
    after = check("/{id}", "GET", path_parameters={"id": ids["running"]}).json()
    assert after["status"] == "CANCELLED" and after["endedAt"] is not None

    assert seen == described_answers(document)


@pytest.mark.parametrize(
    ("path", "method", "options", "status"),
    [
        ("/{id}", "GET", {"path_parameters": {"id": "no-such-execution"}}, 404),
        ("/{id}/result", "GET", {"path_parameters": {"id": "@pending"}}, 409),
        ("/{id}/cancel", "PUT", {"path_parameters": {"id": "@succeeded"}}, 409),
        ("/", "GET", {"headers": {}}, 401),
    ],
)
def test_error_statuses_outside_the_vendor_document_are_documented_in_ours(
    pool: tuple[MockGateway, dict[str, str]],
    path: str,
    method: str,
    options: dict[str, Any],
    status: int,
) -> None:
    gateway, ids = pool
    options = copy.deepcopy(options)
    parameters = options.get("path_parameters", {})
    for key, value in parameters.items():
        if value.startswith("@"):
            parameters[key] = ids[value[1:]]
    schema = _schema(relax_optional_nulls(vendor_document()))
    headers = options.pop("headers", None)
    made, response = _call(schema, gateway.url, path, method, headers, **options)
    assert response.status_code == status
    assert response.headers["content-type"] == ["application/json"]
    assert isinstance(response.json()["detail"], str)
    # The vendor's document does not describe it...
    with pytest.raises(FailureGroup, match="Undocumented status code"):
        _validate(made, response)
    # ...ours does.
    operation_id = made.operation.definition.raw["operationId"]
    assert status in our_error_statuses()[operation_id]


@pytest.mark.parametrize(
    ("gateway_options", "document", "violation"),
    [
        pytest.param(
            {"timestamp_format": "iso"},
            relax_optional_nulls,
            "does not match",
            id="iso-timestamps-break-the-pattern",
        ),
        pytest.param({}, lambda d: d, 'null is not of type "string"', id="unrelaxed-nulls"),
    ],
)
def test_the_oracle_catches_a_deviation(
    gateway_options: dict[str, Any],
    document: Callable[[dict[str, Any]], dict[str, Any]],
    violation: str,
) -> None:
    """The checks have teeth: ISO execution times, or a document without the null
    relaxation, fail the status answer of a pending execution."""
    schema = _schema(document(vendor_document()))
    with MockGateway(tokens=[TOKEN], timing=Timing(pending=3600), **gateway_options) as gateway:
        execution_id = _start(gateway, {"input": {}})
        made, response = _call(
            schema, gateway.url, "/{id}", "GET", path_parameters={"id": execution_id}
        )
        assert response.status_code == 200
        with pytest.raises(FailureGroup, match=violation):
            _validate(made, response)


# Positive data generated from the vendor's document. Path ids come mostly from live
# executions in every state, file names mostly from the mock's real result files (the first
# [[operations]] entry that matches an operation is the one used).
CONFIG = """
[dictionaries.executions]
values = {ids}

[dictionaries.result-files]
values = ["result.json", "result.bin"]

[[operations]]
include-operation-id = "getResultFile"
parameters = {{ "path.id" = {{ dictionary = "executions", probability = 0.8 }}, \
"path.file" = {{ dictionary = "result-files", probability = 0.8 }} }}

[[operations]]
include-path-regex = "\\\\{{id\\\\}}"
parameters = {{ "path.id" = {{ dictionary = "executions", probability = 0.8 }} }}
"""


def _har_answers(har: Path, base_url: str) -> list[tuple[str, str, int]]:
    """(method, path relative to the base URL, status) of every exchange in a HAR file."""
    base = urlsplit(base_url).path
    answers = []
    for entry in json.loads(har.read_text())["log"]["entries"]:
        path = urlsplit(entry["request"]["url"]).path
        assert path.startswith(base), path
        answers.append(
            (entry["request"]["method"], path[len(base) :] or "/", entry["response"]["status"])
        )
    return answers


def _operation_of(document: dict[str, Any], method: str, path: str) -> str:
    """The operationId of the document's path template and method that ``path`` matches."""
    segments = path.strip("/").split("/") if path.strip("/") else []
    for template, item in document["paths"].items():
        parts = template.strip("/").split("/") if template.strip("/") else []
        matches = len(parts) == len(segments) and all(
            part.startswith("{") or part == segment
            for part, segment in zip(parts, segments, strict=True)
        )
        if matches and method.lower() in item:
            operation_id: str = item[method.lower()]["operationId"]
            return operation_id
    raise AssertionError(f"no operation of the vendor's document answers {method} {path}")


@pytest.mark.timeout(300)
def test_generated_positive_data_conforms_to_the_vendor_document(
    pool: tuple[MockGateway, dict[str, str]], tmp_path: Path
) -> None:
    """schemathesis generates positive requests from the (relaxed) vendor document; every
    answer conforms, and every status the document leaves out is an error ours documents."""
    gateway, ids = pool
    document = relax_optional_nulls(vendor_document())
    spec = tmp_path / "vendor-relaxed.json"
    spec.write_text(json.dumps(document))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(ids=json.dumps(sorted(ids.values()))))
    har = tmp_path / "run.har"
    result = run_schemathesis(
        spec,
        gateway.url,
        TOKEN,
        config,
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        "response_schema_conformance,content_type_conformance",
        "--mode",
        "positive",
        "--seed",
        "20261127",
        "--max-examples",
        "40",
        "--report",
        "har",
        "--report-har-path",
        str(har),
    )
    report = result.stdout[-15000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    assert "7 selected / 7 total" in result.stdout, report
    # Warnings (ids that are not found answer 404) are expected; failures are not.
    cases = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed\s*$", result.stdout, re.M)
    assert cases is not None and cases.group(1) == cases.group(2), report
    assert int(cases.group(1)) >= 100, report

    vendor = vendor_document()
    described = described_answers(vendor)
    documented_errors = our_error_statuses()
    observed: dict[str, set[int]] = {}
    for method, path, status in _har_answers(har, gateway.url):
        observed.setdefault(_operation_of(vendor, method, path), set()).add(status)
    undescribed = {
        (operation, status)
        for operation, statuses in observed.items()
        for status in statuses
        if (operation, status) not in described
    }
    assert all(400 <= s < 500 and s in documented_errors[op] for op, s in undescribed), undescribed
    # Every operation was reached, and each answered with a described success at least once.
    assert observed.keys() == {op for op, _ in described}
    for operation, statuses in observed.items():
        assert any((operation, s) in described for s in statuses), (operation, statuses)
