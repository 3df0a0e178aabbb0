"""Public model types keep the documented Python names, even where the generator renames, and
every public name and model method is documented."""

from __future__ import annotations

import enum
import inspect
import json
import pickle
from typing import Any

import attrs
import pytest
from qhub_service_gen.types import Unset

import kipu_hub_service as sdk
from kipu_hub_service import (
    HalLink,
    ResultResponse,
    ResultResponseEmbedded,
    ResultResponseLinks,
    ServiceExecution,
    ServiceExecutionType,
)


def test_execution_type_is_reachable_as_documented() -> None:
    execution = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "2026-11-25T12:00:00Z", "status": "RUNNING", "type": "MANAGED"}
    )
    assert execution.type == ServiceExecutionType.MANAGED
    assert execution.type == "MANAGED"
    execution.type = ServiceExecutionType.WORKFLOW
    assert execution.to_dict()["type"] == "WORKFLOW"


def test_hal_link_type_is_reachable_as_documented() -> None:
    link = HalLink.from_dict({"href": "/e1/result/result.json", "type": "application/json"})
    assert link.type == "application/json"
    assert link.to_dict() == {"href": "/e1/result/result.json", "type": "application/json"}


def test_absent_type_is_falsy_and_null_type_is_none() -> None:
    absent = ServiceExecution.from_dict({"id": "e1", "createdAt": "t", "status": "PENDING"})
    assert not absent.type
    null = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "t", "status": "PENDING", "type": None}
    )
    assert null.type is None


def _exported(predicate: Any) -> list[str]:
    return sorted(name for name in sdk.__all__ if predicate(getattr(sdk, name)))


@pytest.mark.parametrize(
    "name", _exported(lambda obj: inspect.isclass(obj) or inspect.isfunction(obj))
)
def test_every_exported_class_and_function_has_a_docstring(name: str) -> None:
    obj = getattr(sdk, name)
    assert vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__, name
    assert inspect.getdoc(obj), name


# The mapping protocol of additional properties and the enums' str() are public too.
_PUBLIC_DUNDERS = {"__getitem__", "__setitem__", "__delitem__", "__contains__", "__str__"}


def _methods(cls: type) -> list[tuple[str, Any]]:
    found = []
    for attr, value in vars(cls).items():
        if attr.startswith("_") and attr not in _PUBLIC_DUNDERS:
            continue
        if isinstance(value, classmethod | staticmethod):
            found.append((attr, value.__func__))
        elif isinstance(value, property):
            found.append((attr, value.fget))
            if value.fset is not None:
                found.append((f"{attr}.setter", value.fset))
        elif inspect.isfunction(value):
            found.append((attr, value))
    return found


_MODELS = _exported(
    lambda obj: inspect.isclass(obj) and obj.__module__.startswith("qhub_service_gen.models.")
)


def test_the_models_are_all_found() -> None:
    assert {"ServiceExecution", "ResultResponse", "ServiceExecutionStatus"} <= set(_MODELS)
    classes = [getattr(sdk, name) for name in _MODELS]
    assert all(attrs.has(cls) or issubclass(cls, enum.Enum) for cls in classes)


@pytest.mark.parametrize("name", _MODELS)
def test_every_public_model_method_has_a_docstring(name: str) -> None:
    methods = _methods(getattr(sdk, name))
    assert methods, name
    undocumented = [attr for attr, func in methods if not (func.__doc__ or "").strip()]
    assert undocumented == [], name


@pytest.mark.parametrize("name", _exported(lambda obj: inspect.isclass(obj) and not attrs.has(obj)))
def test_every_public_method_of_other_exported_classes_has_a_docstring(name: str) -> None:
    methods = [(a, f) for a, f in _methods(getattr(sdk, name)) if not a.startswith("_")]
    undocumented = [attr for attr, func in methods if not (func.__doc__ or "").strip()]
    assert undocumented == [], name


def test_result_envelope_parts_may_be_absent_or_null() -> None:
    absent = ResultResponse.from_dict({"energy": -1.1})
    assert isinstance(absent.links, Unset) and isinstance(absent.embedded, Unset)
    assert absent.to_dict() == {"energy": -1.1}
    null = ResultResponse.from_dict({"energy": -1.1, "_links": None, "_embedded": None})
    assert null.links is None and null.embedded is None
    assert null["energy"] == -1.1
    assert null.to_dict() == {"energy": -1.1, "_links": None, "_embedded": None}
    assert ResultResponseLinks.from_dict({"status": None}).status is None
    assert ResultResponseEmbedded.from_dict({"status": None}).status is None


def test_result_envelope_parts_are_models_when_present() -> None:
    body = {
        "energy": -1.1,
        "_links": {"status": {"href": "/e1"}, "r.json": {"href": "/e1/result/r.json"}},
        "_embedded": {"status": {"id": "e1", "createdAt": "t", "status": "SUCCEEDED"}},
    }
    result = ResultResponse.from_dict(body)
    assert isinstance(result.links, ResultResponseLinks)
    assert isinstance(result.links.status, HalLink)
    assert result.links["r.json"].href == "/e1/result/r.json"
    assert isinstance(result.embedded, ResultResponseEmbedded)
    assert isinstance(result.embedded.status, ServiceExecution)
    assert result.embedded.status.status == "SUCCEEDED"
    assert result.to_dict() == body


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"_links": "x"}, ValueError),
        ({"_links": {"status": {}}}, KeyError),
        ({"_embedded": {"status": {"id": "e1"}}}, KeyError),
    ],
)
def test_malformed_envelope_part_raises_instead_of_staying_a_raw_value(
    body: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        ResultResponse.from_dict(body)


def test_models_survive_pickling_with_unset_fields() -> None:
    execution = ServiceExecution.from_dict({"id": "e1", "createdAt": "t", "status": "PENDING"})
    assert pickle.loads(pickle.dumps(execution)) == execution
    result = ResultResponse.from_dict({"energy": -1.0})
    clone = pickle.loads(pickle.dumps(result))
    assert clone == result
    assert clone["energy"] == -1.0
    assert not clone.links


# Extra keys: no dict is made for an instance without them until one is asked for (W2/W3), and
# nothing a caller can see changes.

_EXECUTION = {"id": "e1", "createdAt": "2026-11-25 12:00:00", "status": "RUNNING"}


def _built_without_extras() -> ServiceExecution:
    from kipu_hub_service._parse import parse_executions

    body = {**_EXECUTION, "startedAt": None, "endedAt": None, "type": None, "serviceId": None}
    full = {**body, "serviceDefinitionId": None, "applicationId": None, "tags": None}
    (execution,) = parse_executions(json.dumps([full]).encode())
    return execution


@pytest.mark.parametrize(
    "build",
    [
        lambda: ServiceExecution.from_dict(_EXECUTION),
        lambda: ServiceExecution("e1", "2026-11-25 12:00:00", sdk.ServiceExecutionStatus.RUNNING),
        _built_without_extras,
    ],
)
def test_an_instance_without_extra_keys_makes_its_dict_on_first_use(build: Any) -> None:
    execution = build()
    slot = type(execution).__dict__["additional_properties"]
    with pytest.raises(AttributeError):
        slot.__get__(execution)  # nothing stored yet: no dict was built
    other = build()
    assert execution == other
    assert "x" not in execution and execution.additional_keys == []
    with pytest.raises(KeyError):
        execution["x"]
    assert execution.additional_properties == {}
    assert slot.__get__(execution) is execution.additional_properties  # made once, then kept
    assert execution == other and other == execution
    execution["x"] = 1
    assert execution["x"] == 1 and execution.to_dict()["x"] == 1 and execution != other
    assert other.additional_properties == {}  # not shared between instances
    assert repr(execution).endswith("additional_properties={'x': 1})")
    clone = pickle.loads(pickle.dumps(execution))
    assert clone == execution and clone["x"] == 1
    assert attrs.asdict(other)["additional_properties"] == {}
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        execution.nope  # type: ignore[attr-defined]  # noqa: B018


def test_extra_keys_arrive_in_their_dict() -> None:
    execution = ServiceExecution.from_dict({**_EXECUTION, "priority": 3, "zone": "eu"})
    assert execution.additional_properties == {"priority": 3, "zone": "eu"}
    assert execution.additional_keys == ["priority", "zone"]
    assert execution != ServiceExecution.from_dict(_EXECUTION)
