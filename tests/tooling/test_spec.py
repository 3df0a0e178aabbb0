"""The hand-written spec is valid, generation is reproducible, and examples round-trip."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import qhub_service_gen.models as models
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "openapi" / "hub-service.yaml"
GENERATED = ROOT / "generated" / "qhub_service_gen"


def _spec() -> dict[str, Any]:
    with SPEC.open() as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


def test_spec_validates() -> None:
    spec_dict, _ = read_from_filename(str(SPEC))
    validate(spec_dict)


def test_every_operation_and_schema_is_documented() -> None:
    spec = _spec()
    operations = [
        op
        for item in spec["paths"].values()
        for method, op in item.items()
        if method in {"get", "post", "put", "delete", "patch"}
    ]
    assert {op["operationId"] for op in operations} == {
        "getServiceExecutions",
        "startExecution",
        "getStatus",
        "getResult",
        "getResultFile",
        "getLogs",
        "cancelExecution",
    }
    for op in operations:
        assert op.get("description"), op["operationId"]
        assert op["tags"] == ["serviceApi"]
        for code in ("400", "401", "403", "404", "429", "500", "503"):
            assert code in op["responses"], (op["operationId"], code)
    for name, schema in spec["components"]["schemas"].items():
        assert schema.get("description"), name
        assert "example" in schema, name


def _walk(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    diffs = [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]
    for sub in cmp.common_dirs:
        diffs += [f"{sub}/{d}" for d in _walk(a / sub, b / sub)]
    return diffs


def test_generation_is_reproducible(tmp_path: Path) -> None:
    out = tmp_path / "qhub_service_gen"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(
        [
            str(Path(sys.executable).parent / "openapi-python-client"),
            "generate",
            "--path",
            str(SPEC),
            "--config",
            str(ROOT / "generator-config.yaml"),
            "--custom-template-path",
            str(ROOT / "templates"),
            "--meta",
            "none",
            "--output-path",
            str(out),
        ],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
    )
    # Compare with a shallow=False walk so that content, not only stat, must match.
    filecmp.clear_cache()
    diffs = _walk(out, GENERATED)
    mismatched = [
        str(p.relative_to(out))
        for p in out.rglob("*.py")
        if (GENERATED / p.relative_to(out)).exists()
        and (GENERATED / p.relative_to(out)).read_bytes() != p.read_bytes()
    ]
    assert diffs == [] and mismatched == [], f"generated/ is stale: {diffs + mismatched}"


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, s in yaml.safe_load(SPEC.read_text())["components"]["schemas"].items()
        if s.get("type") == "object"
    ),
)
def test_schema_example_round_trips(name: str) -> None:
    example = _spec()["components"]["schemas"][name]["example"]
    model = getattr(models, name)
    parsed = model.from_dict(example)
    dumped = parsed.to_dict()
    assert model.from_dict(dumped) == parsed
    assert dumped.keys() == example.keys()
    for key, value in example.items():
        if key == "timestamp":  # "Z" is written back as "+00:00": same instant.
            assert model.from_dict(dumped).timestamp == parsed.timestamp
        else:
            assert dumped[key] == value, key


def _accepts_null(schema: dict[str, Any]) -> bool:
    if "type" not in schema and "$ref" not in schema and "anyOf" not in schema:
        return True  # any JSON value, null included
    types = schema.get("type", [])
    if "null" in (types if isinstance(types, list) else [types]):
        return True
    return any(_accepts_null(member) for member in schema.get("anyOf", []))


def test_every_optional_field_may_be_null() -> None:
    """Optional fields may arrive absent or as explicit null, and the spec says so."""
    not_nullable = [
        f"{name}.{field}"
        for name, schema in _spec()["components"]["schemas"].items()
        for field, prop in schema.get("properties", {}).items()
        if field not in schema.get("required", []) and not _accepts_null(prop)
    ]
    assert not_nullable == []
