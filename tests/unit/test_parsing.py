"""Tolerant reading of good bodies, and ResponseValidationError for every malformed 2xx body."""

from __future__ import annotations

import datetime
import gc
import json
import re
import threading
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import pytest
from _client_support import BASE, TOKEN, Driver, execution_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qhub_service_gen.types import Unset

from kipu_hub_service import (
    ApiError,
    HalLink,
    HubServiceClient,
    LogEntry,
    LogEntrySeverity,
    ResponseValidationError,
    ResultResponse,
    ResultResponseEmbedded,
    ResultResponseLinks,
    ServiceExecution,
    ServiceExecutionStatus,
    ServiceExecutionType,
)
from kipu_hub_service.core.api_error import BODY_CAP


def _answer(body: Any, *, status: int = 200, raw: bytes | None = None, ctype: str | None = None):  # type: ignore[no-untyped-def]
    content = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": ctype or "application/json"}
    return lambda request: httpx.Response(status, content=content, headers=headers)


CALLS = {
    "list": ("get_service_executions", ()),
    "start": ("start_execution", ()),
    "status": ("get_status", ("exec-1",)),
    "result": ("get_result", ("exec-1",)),
    "logs": ("get_logs", ("exec-1",)),
}


def _call(driver: Driver, client: Any, op: str) -> Any:
    method, args = CALLS[op]
    if op == "start":
        return driver.call(client, method, request={"input": {}})
    return driver.call(client, method, *args)


# Malformed success bodies -----------------------------------------------------------------

GOOD_LINKS = {"status": {"href": "/exec-1"}}
BAD_EXECUTIONS = [
    pytest.param([], id="array"),
    pytest.param("exec-1", id="string"),
    pytest.param({"createdAt": "x", "status": "RUNNING"}, id="missing-id"),
    pytest.param({"id": 7, "createdAt": "x", "status": "RUNNING"}, id="id-int"),
    pytest.param({"id": None, "createdAt": "x", "status": "RUNNING"}, id="id-null"),
    pytest.param({"id": "e", "status": "RUNNING"}, id="missing-createdAt"),
    pytest.param({"id": "e", "createdAt": "x"}, id="missing-status"),
    pytest.param({"id": "e", "createdAt": "x", "status": 3}, id="status-int"),
    pytest.param({"id": "e", "createdAt": "x", "status": None}, id="status-null"),
    pytest.param(execution_json(startedAt=5), id="startedAt-number"),
    pytest.param(execution_json(type=["MANAGED"]), id="type-array"),
    pytest.param(execution_json(tags="demo"), id="tags-string"),
    pytest.param(execution_json(serviceId={"id": 1}), id="serviceId-object"),
    pytest.param(execution_json(tags=[1, 2]), id="tags-ints"),
    pytest.param(execution_json(tags=["ok", None]), id="tags-null-item"),
    pytest.param(execution_json(tags=[{"a": 1}]), id="tags-object-item"),
    pytest.param(execution_json(endedAt=True), id="endedAt-boolean"),
    pytest.param(execution_json(serviceDefinitionId=1), id="serviceDefinitionId-number"),
    pytest.param(execution_json(applicationId=[]), id="applicationId-array"),
]


@pytest.mark.parametrize("body", BAD_EXECUTIONS)
@pytest.mark.parametrize("op", ["start", "status"])
def test_bad_execution_bodies(driver: Driver, op: str, body: Any) -> None:
    client = driver.client(_answer(body, status=201 if op == "start" else 200))
    with pytest.raises(ResponseValidationError) as info:
        _call(driver, client, op)
    error = info.value
    assert error.status_code == (201 if op == "start" else 200)
    assert error.body == json.dumps(body)
    assert error.headers is not None and error.headers["content-type"] == "application/json"
    assert "does not match the API" in str(error)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"items": []}, id="object"),
        pytest.param([execution_json(), "exec-2"], id="item-string"),
        pytest.param([execution_json(), {"id": "e2", "status": "RUNNING"}], id="item-missing"),
        pytest.param(None, id="null"),
    ],
)
def test_bad_execution_lists(driver: Driver, body: Any) -> None:
    client = driver.client(_answer(body))
    with pytest.raises(ResponseValidationError) as info:
        _call(driver, client, "list")
    if isinstance(body, list):
        assert "item 1" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="array"),
        pytest.param({"_links": "x"}, id="links-string"),
        pytest.param({"_links": {"status": {}}}, id="link-no-href"),
        pytest.param({"_links": {"status": {"href": 1}}}, id="href-int"),
        pytest.param({"_links": {"f.bin": "url"}}, id="file-link-string"),
        pytest.param({"_embedded": []}, id="embedded-array"),
        pytest.param({"_embedded": {"status": {"id": "e"}}}, id="embedded-status-partial"),
        pytest.param({"_embedded": {"status": "SUCCEEDED"}}, id="embedded-status-string"),
        pytest.param(
            {"_embedded": {"status": execution_json(tags=[1])}}, id="embedded-status-tags-int"
        ),
        pytest.param(
            {"_links": {"status": {"href": "/x", "templated": "yes"}}}, id="templated-string"
        ),
        pytest.param({"_links": {"status": {"href": "/x", "templated": 1}}}, id="templated-int"),
        pytest.param({"_links": {"f.bin": {"href": "/x", "title": 5}}}, id="title-number"),
        pytest.param({"_links": {"f.bin": {"href": "/x", "type": ["a"]}}}, id="type-array"),
        pytest.param({"_links": {"f.bin": {"href": "/x", "name": {}}}}, id="name-object"),
        pytest.param({"_links": {"f.bin": {"href": "/x", "hreflang": 1}}}, id="hreflang-number"),
        pytest.param({"_links": {"f.bin": {"href": "/x", "profile": 1}}}, id="profile-number"),
        pytest.param(
            {"_links": {"f.bin": {"href": "/x", "deprecation": False}}}, id="deprecation-bool"
        ),
    ],
)
def test_bad_result_bodies(driver: Driver, body: Any) -> None:
    client = driver.client(_answer(body))
    with pytest.raises(ResponseValidationError):
        _call(driver, client, "result")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"message": "m"}, id="object"),
        pytest.param([{"timestamp": "2026-01-01T00:00:00Z"}], id="no-message"),
        pytest.param([{"message": 1, "timestamp": "2026-01-01T00:00:00Z"}], id="message-int"),
        pytest.param([{"message": "m"}], id="no-timestamp"),
        pytest.param([{"message": "m", "timestamp": "yesterday"}], id="timestamp-words"),
        pytest.param([{"message": "m", "timestamp": 1764072000}], id="timestamp-number"),
        pytest.param([{"message": "m", "timestamp": "2026-13-45T99:00:00Z"}], id="timestamp-range"),
        pytest.param(
            [{"message": "m", "timestamp": "2026-01-01T00:00:00Z", "severity": 3}],
            id="severity-int",
        ),
        pytest.param(["m"], id="item-string"),
    ],
)
def test_bad_log_bodies(driver: Driver, body: Any) -> None:
    client = driver.client(_answer(body))
    with pytest.raises(ResponseValidationError):
        _call(driver, client, "logs")


@pytest.mark.parametrize("op", list(CALLS))
@pytest.mark.parametrize(
    ("raw", "ctype"),
    [
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", "text/html", id="html"),
        pytest.param(b'{"id": "e", "createdAt":', None, id="truncated-json"),
        pytest.param(b"\xff\xfe\x00garbage", "application/octet-stream", id="binary"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, None, id="deep-nesting"),
        pytest.param(b"NaN-ish", None, id="not-json"),
    ],
)
def test_unparseable_success_bodies(driver: Driver, op: str, raw: bytes, ctype: str | None) -> None:
    client = driver.client(
        _answer(None, raw=raw, ctype=ctype, status=201 if op == "start" else 200)
    )
    with pytest.raises(ResponseValidationError) as info:
        _call(driver, client, op)
    error = info.value
    assert isinstance(error, ApiError)
    assert not isinstance(error, KeyError | ValueError | TypeError)
    assert error.status_code in (200, 201)
    assert isinstance(error.body, str)
    assert len(error.body) <= BODY_CAP


def test_empty_success_body_for_an_object_is_invalid(driver: Driver) -> None:
    client = driver.client(_answer(None, raw=b""))
    with pytest.raises(ResponseValidationError, match="empty"):
        _call(driver, client, "status")


def test_invalid_body_kept_capped(driver: Driver) -> None:
    raw = b"<html>" + b"x" * (3 * BODY_CAP)
    client = driver.client(_answer(None, raw=raw, ctype="text/html"))
    with pytest.raises(ResponseValidationError) as info:
        _call(driver, client, "status")
    assert len(info.value.body) == BODY_CAP
    assert info.value.body_truncated


# Tolerant reading -------------------------------------------------------------------------

ALL_NULL = {
    "startedAt": None,
    "endedAt": None,
    "type": None,
    "serviceId": None,
    "serviceDefinitionId": None,
    "applicationId": None,
    "tags": None,
}


def test_explicit_null_for_every_optional_execution_field(driver: Driver) -> None:
    client = driver.client(_answer(execution_json(**ALL_NULL)))
    execution = _call(driver, client, "status")
    assert execution.started_at is None
    assert execution.type_ is None
    assert execution.tags is None
    assert execution.application_id is None


def test_explicit_null_in_result_and_logs(driver: Driver) -> None:
    result_body = {
        "_links": {"status": None, "f.bin": {"href": "/f", "templated": None, "title": None}},
        "_embedded": {"status": None},
    }
    client = driver.client(_answer(result_body))
    result = _call(driver, client, "result")
    assert not result.links.status
    assert result.links["f.bin"].href == "/f"
    assert result.links["f.bin"].templated is None
    assert not result.embedded.status
    client = driver.client(_answer({"_links": None, "_embedded": None, "energy": None}))
    result = _call(driver, client, "result")
    assert not result.links
    assert not result.embedded
    assert result["energy"] is None
    logs = [{"message": "m", "timestamp": "2026-01-01T00:00:00Z", "severity": None}]
    client = driver.client(_answer(logs))
    assert _call(driver, client, "logs")[0].severity is None


def test_unknown_fields_are_preserved(driver: Driver) -> None:
    client = driver.client(_answer(execution_json(priority=3, labels={"a": "b"})))
    execution = _call(driver, client, "status")
    assert execution["priority"] == 3
    assert execution.additional_properties == {"priority": 3, "labels": {"a": "b"}}
    body = {
        "energy": -1.1,
        "nested": {"k": [1, 2]},
        "_links": {"status": {"href": "/e", "x-extra": 1}},
        "_embedded": {"status": execution_json(extra=True), "other": {"a": 1}},
    }
    client = driver.client(_answer(body))
    result = _call(driver, client, "result")
    assert result["nested"] == {"k": [1, 2]}
    assert result.links.status["x-extra"] == 1
    assert result.embedded["other"] == {"a": 1}
    assert result.embedded.status["extra"] is True
    logs = [{"message": "m", "timestamp": "2026-01-01T00:00:00Z", "traceId": "t"}]
    client = driver.client(_answer(logs))
    assert _call(driver, client, "logs")[0]["traceId"] == "t"


def test_unknown_enum_values_are_kept_raw(driver: Driver) -> None:
    client = driver.client(_answer(execution_json(status="PAUSED", type="BATCH")))
    execution = _call(driver, client, "status")
    assert execution.status == "PAUSED"
    assert isinstance(execution.status, ServiceExecutionStatus)
    assert execution.status != ServiceExecutionStatus.UNKNOWN
    assert execution.status.value == "PAUSED"
    assert execution.type_ == "BATCH"
    assert isinstance(execution.type_, ServiceExecutionType)
    logs = [{"message": "m", "timestamp": "2026-01-01T00:00:00Z", "severity": "CRITICAL"}]
    client = driver.client(_answer(logs))
    entry = _call(driver, client, "logs")[0]
    assert entry.severity == "CRITICAL"
    assert isinstance(entry.severity, LogEntrySeverity)


def test_enums_compare_and_hash_like_their_strings() -> None:
    terminal = {"SUCCEEDED", "FAILED", "CANCELLED"}
    assert ServiceExecutionStatus.SUCCEEDED in terminal
    assert ServiceExecutionStatus("PAUSED") not in terminal
    assert ServiceExecutionStatus.FAILED == "FAILED"
    assert f"{ServiceExecutionStatus.RUNNING}" == "RUNNING"
    assert LogEntrySeverity.WARNING == "WARNING"
    assert ServiceExecutionType.WORKFLOW == "WORKFLOW"


UTC = datetime.UTC
PLUS1 = datetime.timezone(datetime.timedelta(hours=1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T12:00:01Z", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25T12:00:01+00:00", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25 12:00:01", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25T12:00:01", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25t12:00:01z", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-11-25T12:00:01+01:00", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=PLUS1)),
        ("2026-11-25T12:00:01+0100", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=PLUS1)),
        ("2026-11-25T12:00:01+01", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=PLUS1)),
        ("2026-11-25T12:00:01 +01:00", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=PLUS1)),
        ("2026-11-25T12:00:01 Z", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        (
            "2026-11-25T12:00:01.123456789Z",
            datetime.datetime(2026, 11, 25, 12, 0, 1, 123456, tzinfo=UTC),
        ),
        ("2026-11-25T12:00:01,5Z", datetime.datetime(2026, 11, 25, 12, 0, 1, 500000, tzinfo=UTC)),
        ("2026-11-25T12:00Z", datetime.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("20261125T120001Z", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
        ("2026-W48-3T12:00:00Z", datetime.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        ("2026-329T12:00:00Z", datetime.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        (" 2026-11-25T12:00:01Z ", datetime.datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)),
    ],
)
def test_timestamp_variants(driver: Driver, text: str, expected: datetime.datetime) -> None:
    client = driver.client(_answer([{"message": "m", "timestamp": text}]))
    stamp = _call(driver, client, "logs")[0].timestamp
    assert stamp == expected
    assert stamp.utcoffset() == expected.utcoffset()


# Property: whatever JSON comes back, the caller sees a model or a ResponseValidationError.

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["RUNNING", "2026-01-01T00:00:00Z", "FOO", "/x", ""])
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "id",
        "createdAt",
        "status",
        "startedAt",
        "type",
        "tags",
        "message",
        "timestamp",
        "severity",
        "_links",
        "_embedded",
        "href",
        "templated",
        "extra",
        "endedAt",
        "serviceId",
        "serviceDefinitionId",
        "applicationId",
        "title",
        "name",
        "hreflang",
        "profile",
        "deprecation",
    ]
)
_shaped = st.dictionaries(_keys, _json, max_size=8)
_tags = st.lists(st.text(max_size=4), max_size=3) | st.lists(_scalars, min_size=1, max_size=3)


def _override(base: dict[str, Any], keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` (valid) with some of ``keys`` replaced by any JSON value: one wrong type in an
    otherwise valid object."""
    values = st.dictionaries(st.sampled_from(keys), _json | _tags, max_size=2)
    return values.map(lambda extra: {**base, **extra})


_near_execution = _override(
    execution_json(),
    [
        "id",
        "createdAt",
        "status",
        "startedAt",
        "endedAt",
        "type",
        "serviceId",
        "serviceDefinitionId",
        "applicationId",
        "tags",
    ],
)
_near_link = _override(
    {"href": "/exec-1"},
    ["href", "templated", "type", "deprecation", "name", "profile", "title", "hreflang"],
)
_near_log = _override(
    {"message": "m", "timestamp": "2026-01-01T00:00:00Z"}, ["message", "timestamp", "severity"]
)
_bodies = st.one_of(
    _json,
    _shaped,
    st.lists(_shaped, max_size=3),
    st.fixed_dictionaries(
        {"_links": st.dictionaries(st.text(max_size=4), _shaped, max_size=2), "_embedded": _shaped}
    ),
    st.fixed_dictionaries({"_embedded": st.fixed_dictionaries({"status": _shaped})}),
    _near_execution,
    st.lists(_near_execution, max_size=3),
    st.lists(_near_log, max_size=3),
    st.fixed_dictionaries(
        {
            "_links": st.dictionaries(st.sampled_from(["status", "f.bin"]), _near_link),
            "_embedded": st.fixed_dictionaries({"status": _near_execution}),
        }
    ),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_bodies, op=st.sampled_from(list(CALLS)))
def test_any_json_body_gives_a_model_or_a_validation_error(body: Any, op: str) -> None:
    payload = json.dumps(body).encode()
    status = 201 if op == "start" else 200
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=payload))
    with HubServiceClient(
        base_url=BASE, token=TOKEN, httpx_client=httpx.Client(transport=transport)
    ) as client:
        try:
            result = _call(Driver("sync"), client, op)
        except ResponseValidationError as error:
            assert error.status_code == status
            return
    if op in ("start", "status"):
        _assert_execution_types(result)
    elif op == "list":
        for execution in result:
            _assert_execution_types(execution)
    elif op == "result":
        _assert_result_types(result)
    elif op == "logs" and result is not None:
        for entry in result:
            assert type(entry.message) is str
            assert type(entry.timestamp) is datetime.datetime and entry.timestamp.tzinfo
            assert isinstance(entry.severity, LogEntrySeverity | None | Unset)


def _assert_execution_types(execution: Any) -> None:
    """Every documented field of a ServiceExecution has its documented type."""
    assert type(execution) is ServiceExecution
    assert type(execution.id) is str
    assert type(execution.created_at) is str
    assert isinstance(execution.status, ServiceExecutionStatus)
    for name in ("started_at", "ended_at", "service_id", "service_definition_id", "application_id"):
        assert isinstance(getattr(execution, name), str | None | Unset), name
    assert isinstance(execution.type_, ServiceExecutionType | None | Unset)
    tags = execution.tags
    assert (
        tags is None
        or isinstance(tags, Unset)
        or (type(tags) is list and all(type(tag) is str for tag in tags))
    )


def _assert_link_types(link: Any) -> None:
    """Every documented field of a HalLink has its documented type."""
    assert type(link) is HalLink
    assert type(link.href) is str
    assert isinstance(link.templated, bool | None | Unset)
    for name in ("type_", "deprecation", "name", "profile", "title", "hreflang"):
        assert isinstance(getattr(link, name), str | None | Unset), name


def _assert_result_types(result: Any) -> None:
    assert type(result) is ResultResponse
    if isinstance(result.links, ResultResponseLinks):
        if not isinstance(result.links.status, Unset):
            _assert_link_types(result.links.status)
        for link in result.links.additional_properties.values():
            _assert_link_types(link)
    if isinstance(result.embedded, ResultResponseEmbedded) and not isinstance(
        result.embedded.status, Unset
    ):
        _assert_execution_types(result.embedded.status)


# The garbage collector is process-wide state: parsing never touches it ----------------------

_LARGE_LIST = json.dumps([execution_json(f"exec-{i}") for i in range(5000)]).encode()


def _large_list_client() -> HubServiceClient:
    assert len(_LARGE_LIST) > 256 * 1024
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=_LARGE_LIST))
    return HubServiceClient(
        base_url=BASE, token=TOKEN, httpx_client=httpx.Client(transport=transport)
    )


def _hook_from_dict(monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
    """Call ``hook`` whenever an execution is built (by ``from_dict`` or the inlined list path,
    which both go through the model's constructor)."""
    original = ServiceExecution.__init__

    def init(self: ServiceExecution, *args: Any, **kwargs: Any) -> None:
        hook()
        original(self, *args, **kwargs)

    monkeypatch.setattr(ServiceExecution, "__init__", init)


def test_a_large_body_is_parsed_with_the_collector_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    states: list[bool] = []
    _hook_from_dict(monkeypatch, lambda: states.append(gc.isenabled()))
    assert gc.isenabled()
    with _large_list_client() as client:
        assert len(client.service_api.get_service_executions()) == 5000
        assert gc.isenabled()
        assert len(states) == 5000
        assert all(states)
        states.clear()
        gc.disable()
        try:
            client.service_api.get_service_executions()
            assert not gc.isenabled()
            assert states and not any(states)
        finally:
            gc.enable()


def test_overlapping_large_parses_leave_the_collector_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_in, second_in, first_done = threading.Event(), threading.Event(), threading.Event()
    seen_by_second: list[bool] = []
    blocked: set[str] = set()

    def hook() -> None:
        name = threading.current_thread().name
        if name in blocked:
            return
        blocked.add(name)
        if name == "first":
            first_in.set()
            assert second_in.wait(10)
        elif name == "second":
            second_in.set()
            assert first_done.wait(10)
            seen_by_second.append(gc.isenabled())

    _hook_from_dict(monkeypatch, hook)
    with _large_list_client() as client:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                client.service_api.get_service_executions()
            except BaseException as exc:
                errors.append(exc)

        first = threading.Thread(target=run, name="first")
        second = threading.Thread(target=run, name="second")
        first.start()
        assert first_in.wait(10)
        second.start()
        first.join(10)
        first_done.set()
        second.join(10)
    assert not errors
    assert seen_by_second == [True]
    assert gc.isenabled()


# The inlined path for long logs builds exactly what LogEntry.from_dict builds --------------

_STAMPS = st.sampled_from(
    [
        "2026-11-25T12:00:00Z",
        "2026-11-25T12:00:00.123456Z",
        "2026-11-25T12:00:00+01:00",
        "2026-11-25T12:00:00.5-03:30",
        "2026-11-25T12:00:00",
        "2026-11-25 12:00:00",
        "2026-11-25t12:00:00z",
        "2026-11-25T12:00:00 +01:00",
        " 2026-11-25T12:00:00Z",
    ]
)
_SEVERITIES = st.one_of(
    st.just("<absent>"),
    st.none(),
    st.sampled_from(["DEBUG", "NOTICE", "INFO", "WARNING", "ERROR", "CRITICAL", ""]),
    st.text(max_size=8),
)


@st.composite
def _log_entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = {"message": draw(st.text(max_size=20)), "timestamp": draw(_STAMPS)}
    severity = draw(_SEVERITIES)
    if severity != "<absent>":
        entry["severity"] = severity
    if draw(st.booleans()) and draw(st.booleans()):
        entry["extra"] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5)))
    return entry


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(_log_entries(), max_size=6))
def test_parsed_log_entries_equal_what_from_dict_builds(entries: list[dict[str, Any]]) -> None:
    from kipu_hub_service._parse import parse_logs

    parsed = parse_logs(json.dumps(entries).encode())
    assert parsed is not None
    expected = [LogEntry.from_dict(json.loads(json.dumps(entry))) for entry in entries]
    assert parsed == expected
    assert [entry.to_dict() for entry in parsed] == [entry.to_dict() for entry in expected]
    for got, want in zip(parsed, expected, strict=True):
        assert type(got.severity) is type(want.severity)
        assert got.timestamp.tzinfo is not None


# The inlined path for execution lists builds exactly what check + from_dict build ----------

_MAYBE_TEXT = st.one_of(
    st.just("<absent>"), st.none(), st.text(max_size=6), st.sampled_from(["2026-11-27 14:31:44"])
)


@st.composite
def _executions(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": draw(st.text(min_size=1, max_size=8)),
        "createdAt": draw(st.sampled_from(["2022-01-01 22:38:08", "2026-11-27T14:31:15.747Z"])),
        "status": draw(
            st.one_of(
                st.sampled_from(["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]),
                st.text(max_size=6),
            )
        ),
    }
    for key in ("startedAt", "endedAt", "serviceId", "serviceDefinitionId", "applicationId"):
        value = draw(_MAYBE_TEXT)
        if value != "<absent>":
            item[key] = value
    kind = draw(st.one_of(_MAYBE_TEXT, st.sampled_from(["MANAGED", "WORKFLOW"])))
    if kind != "<absent>":
        item["type"] = kind
    tags = draw(st.one_of(st.just("<absent>"), st.none(), st.lists(st.text(max_size=4))))
    if tags != "<absent>":
        item["tags"] = tags
    if draw(st.booleans()) and draw(st.booleans()):
        item["extra"] = draw(st.one_of(st.none(), st.integers(), st.text(max_size=5)))
    return item


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(_executions(), max_size=6))
def test_parsed_executions_equal_what_from_dict_builds(items: list[dict[str, Any]]) -> None:
    from kipu_hub_service._parse import parse_executions

    parsed = parse_executions(json.dumps(items).encode())
    expected = [ServiceExecution.from_dict(json.loads(json.dumps(item))) for item in items]
    assert parsed == expected
    assert [e.to_dict() for e in parsed] == [e.to_dict() for e in expected]
    for got, want in zip(parsed, expected, strict=True):
        assert type(got.status) is type(want.status)
        assert type(got.type) is type(want.type)
        assert got.additional_properties == want.additional_properties


@pytest.mark.parametrize(
    "item",
    [
        {"id": 1, "createdAt": "x", "status": "RUNNING"},
        {"id": "a", "createdAt": "x", "status": "RUNNING", "tags": [1]},
        {"id": "a", "createdAt": "x", "status": "RUNNING", "endedAt": 5},
        {"id": "a", "createdAt": "x", "status": "RUNNING", "type": ["MANAGED"]},
        {"id": "a", "createdAt": "x"},
    ],
)
def test_inlined_execution_list_refuses_what_the_checks_refuse(item: dict[str, Any]) -> None:
    from kipu_hub_service._errors import InvalidBody
    from kipu_hub_service._parse import parse_executions

    ok = {"id": "b", "createdAt": "2022-01-01 22:38:08", "status": "SUCCEEDED"}
    with pytest.raises(InvalidBody, match=r"^item 1: "):
        parse_executions(json.dumps([ok, item]).encode())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(_executions(), max_size=6), duplicate=st.booleans())
def test_execution_states_are_the_statuses_the_full_parse_reads(
    items: list[dict[str, Any]], duplicate: bool
) -> None:
    from kipu_hub_service._parse import parse_execution_states, parse_executions

    if duplicate and items:
        items.append({**items[0], "status": "CANCELLED"})  # the last one of an id wins
    body = json.dumps(items).encode()
    expected = {execution.id: str(execution.status) for execution in parse_executions(body)}
    assert parse_execution_states(body) == expected


@pytest.mark.parametrize(
    "item",
    [
        {"id": 1, "createdAt": "x", "status": "RUNNING"},
        {"id": "a", "createdAt": "x"},
        {"id": "a", "createdAt": "x", "status": ["RUNNING"]},
        ["not", "an", "object"],
    ],
)
def test_execution_states_refuse_what_the_full_parse_refuses(item: Any) -> None:
    from kipu_hub_service._errors import InvalidBody
    from kipu_hub_service._parse import parse_execution_states, parse_executions

    ok = {"id": "b", "createdAt": "2022-01-01 22:38:08", "status": "SUCCEEDED"}
    body = json.dumps([ok, item]).encode()
    with pytest.raises(InvalidBody) as full:
        parse_executions(body)
    with pytest.raises(InvalidBody) as states:
        parse_execution_states(body)
    assert str(states.value) == str(full.value) and str(full.value).startswith("item 1: ")
    with pytest.raises(InvalidBody, match="expected an array of executions"):
        parse_execution_states(b'{"id": "b"}')


@pytest.mark.parametrize(
    "field", [{"tags": [1]}, {"endedAt": 5}, {"type": ["MANAGED"]}, {"createdAt": None}]
)
def test_execution_states_read_id_and_status_only(field: dict[str, Any]) -> None:
    """What a sweep's poller needs is there, so a field it never reads does not fail a poll."""
    from kipu_hub_service._parse import parse_execution_states

    ok = {"id": "b", "createdAt": "2022-01-01 22:38:08", "status": "SUCCEEDED"}
    item = {"id": "a", "createdAt": "2022-01-01 22:38:08", "status": "RUNNING", **field}
    body = json.dumps([ok, item]).encode()
    assert parse_execution_states(body) == {"b": "SUCCEEDED", "a": "RUNNING"}


# Long lists cost the collector what raw json.loads costs: each model replaces its decoded object,
# so one new collected object per item (the W2/W3 lever), not two ----------------------------


def _collections(parse: Callable[[bytes], Any], body: bytes, every: int) -> tuple[int, Any]:
    """How many times the collector runs while ``parse`` runs, when it runs after every
    ``every`` net new collected objects (the threshold and callbacks are restored after)."""
    runs: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            runs.append(info["generation"])

    threshold = gc.get_threshold()
    gc.collect()
    gc.set_threshold(every, threshold[1], threshold[2])
    gc.callbacks.append(count)
    try:
        parsed = parse(body)
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*threshold)
    return len(runs), parsed


@pytest.mark.parametrize("kind", ["executions", "logs"])
def test_a_long_list_adds_one_collected_object_per_item(kind: str) -> None:
    from kipu_hub_service._parse import parse_executions, parse_logs

    count = 3000
    if kind == "executions":
        full = {
            "id": "e",
            "createdAt": "2026-11-25 12:00:00",
            "status": "SUCCEEDED",
            "startedAt": None,
            "endedAt": None,
            "type": "MANAGED",
            "serviceId": None,
            "serviceDefinitionId": None,
            "applicationId": None,
            "tags": None,
        }
        items: list[Any] = [{**full, "id": f"e{i}"} for i in range(count)]
        parse: Callable[[bytes], Any] = parse_executions
    else:
        items = [
            {"message": f"m{i}", "timestamp": "2026-11-25T12:00:00Z", "severity": "INFO"}
            for i in range(count)
        ]
        parse = parse_logs
    body = json.dumps(items).encode()
    floor, _ = _collections(json.loads, body, count // 8)
    runs, parsed = _collections(parse, body, count // 8)
    assert floor >= 6  # json.loads makes one collected object (a dict) per item
    assert runs <= floor + 1  # the models replace the dicts instead of joining them
    assert len(parsed) == count and parsed[0] == type(parsed[0]).from_dict(items[0])


def test_the_inlined_paths_take_the_fields_in_the_models_constructor_order() -> None:
    """The list fast paths take ``WIRE_NAMES`` in one step and pass them on positionally."""
    from qhub_service_gen.models import log_entry, service_execution

    for module, model in ((service_execution, ServiceExecution), (log_entry, LogEntry)):
        init_order = [field.name.rstrip("_") for field in attrs.fields(model) if field.init]
        snake = [re.sub("[A-Z]", lambda m: "_" + m[0].lower(), name) for name in module.WIRE_NAMES]
        assert snake == init_order
