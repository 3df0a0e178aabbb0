"""What a notebook user sees: concise reprs, results as read-only mappings, parsed times.

The models come from the templates (``templates/model.py.jinja``, ``templates/model_extras/``,
``templates/types_helpers.py.jinja``); these tests pin what they make.
"""

from __future__ import annotations

import copy
import datetime
import json
import pickle
from collections.abc import Mapping
from typing import Any

import attrs
import httpx
import pytest
from _client_support import BASE, TOKEN
from hypothesis import given
from hypothesis import strategies as st
from qhub_service_gen.models import Error, ResultResponseEmbedded
from qhub_service_gen.models import RequestBody as RequestBodyModel
from qhub_service_gen.models import service_execution as service_execution_module
from qhub_service_gen.types import (
    RESULT_FILE_NAME_MAX_BYTES,
    UnsafeFileNameError,
    parse_wire_time,
)
from rich.pretty import pretty_repr

from kipu_hub_service import (
    HalLink,
    HubServiceClient,
    LogEntry,
    ResultResponse,
    ResultResponseLinks,
    ServiceExecution,
    ServiceExecutionStatus,
)

UTC = datetime.UTC
ID = "6f1c2d3e-0000-4000-8000-000000000001"

# The vendor runtime (qhub-serve) writes platform times and explicit nulls for unset fields.
VENDOR_EXECUTION: dict[str, Any] = {
    "id": ID,
    "createdAt": "2026-11-27 14:31:44",
    "startedAt": "2026-11-27 14:31:45",
    "endedAt": "2026-11-27 14:31:47",
    "status": "SUCCEEDED",
    "type": None,
    "serviceId": None,
    "serviceDefinitionId": None,
    "applicationId": None,
    "tags": None,
}
VENDOR_RESULT: dict[str, Any] = {
    "energy": -1.137,
    "counts": {"00": 512, "11": 512},
    "_links": {
        "self": {"href": f"http://127.0.0.1:8081/{ID}/result", "templated": None},
        "status": {"href": f"http://127.0.0.1:8081/{ID}", "templated": None},
        "output.json": {"href": f"http://127.0.0.1:8081/{ID}/result/output.json"},
    },
    "_embedded": {"status": VENDOR_EXECUTION},
}


# Reprs ------------------------------------------------------------------------------------------


def test_execution_repr_shows_required_fields_only_when_nothing_else_is_set() -> None:
    execution = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "2022-01-01 22:38:08", "status": "PENDING"}
    )
    assert repr(execution) == (
        "ServiceExecution(id='e1', created_at='2022-01-01 22:38:08', status=PENDING)"
    )


def test_execution_repr_uses_documented_names_and_short_enum_values() -> None:
    execution = ServiceExecution.from_dict(
        {
            "id": "e1",
            "createdAt": "2022-01-01 22:38:08",
            "status": "SUCCEEDED",
            "type": "MANAGED",
            "tags": ["demo"],
            "serviceId": "s1",
        }
    )
    assert repr(execution) == (
        "ServiceExecution(id='e1', created_at='2022-01-01 22:38:08', status=SUCCEEDED, "
        "type=MANAGED, service_id='s1', tags=['demo'])"
    )
    assert "type_" not in repr(execution)


def test_explicit_nulls_are_left_out_like_absent_fields() -> None:
    assert repr(ServiceExecution.from_dict(VENDOR_EXECUTION)) == (
        f"ServiceExecution(id='{ID}', created_at='2026-11-27 14:31:44', status=SUCCEEDED, "
        "started_at='2026-11-27 14:31:45', ended_at='2026-11-27 14:31:47')"
    )


def test_set_but_empty_or_false_values_are_shown() -> None:
    execution = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "", "status": "RUNNING", "tags": []}
    )
    assert repr(execution) == "ServiceExecution(id='e1', created_at='', status=RUNNING, tags=[])"
    link = HalLink.from_dict({"href": "/x", "templated": False, "title": ""})
    assert repr(link) == "HalLink(href='/x', templated=False, title='')"


def test_values_are_never_shortened() -> None:
    long_id = "x" * 500
    execution = ServiceExecution.from_dict({"id": long_id, "createdAt": "t", "status": "RUNNING"})
    assert repr(long_id) in repr(execution)


def test_unknown_enum_values_show_raw() -> None:
    execution = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "t", "status": "PAUSED", "type": "BATCH"}
    )
    assert repr(execution) == (
        "ServiceExecution(id='e1', created_at='t', status=PAUSED, type=BATCH)"
    )


def test_extra_fields_are_shown_last_and_only_when_present() -> None:
    execution = ServiceExecution.from_dict(
        {"id": "e1", "createdAt": "t", "status": "RUNNING", "priority": 3, "region": None}
    )
    assert repr(execution) == (
        "ServiceExecution(id='e1', created_at='t', status=RUNNING, "
        "additional_properties={'priority': 3, 'region': None})"
    )


def test_hal_link_repr() -> None:
    link = HalLink.from_dict(
        {
            "href": "https://gw.test/e1/result/out.bin",
            "type": "application/octet-stream",
            "name": None,
        }
    )
    assert repr(link) == (
        "HalLink(href='https://gw.test/e1/result/out.bin', type='application/octet-stream')"
    )


def test_log_entry_repr_shows_the_time_in_iso_8601() -> None:
    entry = LogEntry.from_dict(
        {"message": "Execution started", "severity": "INFO", "timestamp": "2026-11-25T12:00:01Z"}
    )
    assert repr(entry) == (
        "LogEntry(message='Execution started', timestamp=2026-11-25T12:00:01+00:00, severity=INFO)"
    )
    fine = LogEntry.from_dict({"message": "m", "timestamp": "2026-11-25T12:00:01.5+01:00"})
    assert repr(fine) == "LogEntry(message='m', timestamp=2026-11-25T12:00:01.500000+01:00)"


def test_request_body_and_error_reprs() -> None:
    body = RequestBodyModel.from_dict({"input": {"molecule": "H2"}, "tags": ["demo"]})
    assert repr(body) == (
        "RequestBody(input={'molecule': 'H2'}, additional_properties={'tags': ['demo']})"
    )
    assert repr(RequestBodyModel.from_dict({})) == "RequestBody()"
    assert repr(Error.from_dict({"detail": "Not found"})) == "Error(detail='Not found')"


def test_nested_result_repr() -> None:
    result = ResultResponse.from_dict(
        {
            "energy": -1.137,
            "_links": {
                "status": {"href": "/e1"},
                "out.bin": {"href": "/e1/result/out.bin", "type": "application/octet-stream"},
            },
            "_embedded": {"status": {"id": "e1", "createdAt": "t", "status": "SUCCEEDED"}},
        }
    )
    assert repr(result) == (
        "ResultResponse(links=ResultResponseLinks(status=HalLink(href='/e1'), "
        "additional_properties={'out.bin': HalLink(href='/e1/result/out.bin', "
        "type='application/octet-stream')}), "
        "embedded=ResultResponseEmbedded(status=ServiceExecution(id='e1', created_at='t', "
        "status=SUCCEEDED)), additional_properties={'energy': -1.137})"
    )


def test_empty_envelope_parts_reprs() -> None:
    assert repr(ResultResponse.from_dict({})) == "ResultResponse()"
    assert repr(ResultResponse.from_dict({"_links": None, "_embedded": None})) == (
        "ResultResponse()"
    )
    assert repr(ResultResponseLinks.from_dict({})) == "ResultResponseLinks()"
    assert repr(ResultResponseEmbedded.from_dict({"status": None})) == "ResultResponseEmbedded()"


def test_a_model_inside_itself_reprs_as_an_ellipsis() -> None:
    result = ResultResponse.from_dict({"energy": 1})
    result["me"] = result
    assert repr(result) == "ResultResponse(additional_properties={'energy': 1, 'me': ...})"


_MODEL_BODIES: dict[type[Any], dict[str, Any]] = {
    ServiceExecution: {"id": "e1", "createdAt": "t", "status": "RUNNING"},
    HalLink: {"href": "/e1"},
    LogEntry: {"message": "m", "timestamp": "2026-11-25T12:00:01Z"},
    ResultResponse: {},
    ResultResponseLinks: {},
    ResultResponseEmbedded: {},
    RequestBodyModel: {},
    Error: {},
}


@pytest.mark.parametrize("cls", list(_MODEL_BODIES), ids=lambda cls: cls.__name__)
def test_every_model_repr_hides_unset_fields_and_generator_names(cls: type[Any]) -> None:
    shown = repr(cls.from_dict(_MODEL_BODIES[cls]))
    assert shown.startswith(f"{cls.__name__}(")
    for hidden in ("UNSET", "additional_properties={}", "type_=", "input_=", "None"):
        assert hidden not in shown


def test_rich_pretty_printing_shows_what_repr_shows() -> None:
    result = ResultResponse.from_dict(VENDOR_RESULT)
    assert pretty_repr(result, max_width=10_000) == repr(result)
    narrow = pretty_repr(ServiceExecution.from_dict(VENDOR_EXECUTION), max_width=40)
    assert narrow.splitlines() == [
        "ServiceExecution(",
        f"    id='{ID}',",
        "    created_at='2026-11-27 14:31:44',",
        "    status=SUCCEEDED,",
        "    started_at='2026-11-27 14:31:45',",
        "    ended_at='2026-11-27 14:31:47'",
        ")",
    ]


# Results as read-only mappings ------------------------------------------------------------------


def test_result_is_a_mapping_of_the_service_keys() -> None:
    result = ResultResponse.from_dict(VENDOR_RESULT)
    assert isinstance(result, Mapping)
    assert list(result) == ["energy", "counts"]
    assert len(result) == 2
    assert list(result.keys()) == ["energy", "counts"]
    assert list(result.values()) == [-1.137, {"00": 512, "11": 512}]
    assert list(result.items()) == [("energy", -1.137), ("counts", {"00": 512, "11": 512})]
    assert result.get("energy") == -1.137
    assert result.get("missing") is None
    assert result.get("missing", 0) == 0
    assert result.get("_links") is None and "_links" not in result
    assert result["counts"]["11"] == 512
    assert dict(result) == {"energy": -1.137, "counts": {"00": 512, "11": 512}}
    with pytest.raises(KeyError):
        result["_embedded"]


def test_data_is_a_fresh_plain_dict() -> None:
    result = ResultResponse.from_dict(VENDOR_RESULT)
    data = result.data
    assert type(data) is dict
    assert data == {"energy": -1.137, "counts": {"00": 512, "11": 512}}
    data["energy"] = 0
    del data["counts"]
    assert result.data == {"energy": -1.137, "counts": {"00": 512, "11": 512}}
    assert json.loads(json.dumps(result.data)) == result.data


def test_files_are_the_links_but_status_and_self() -> None:
    result = ResultResponse.from_dict(VENDOR_RESULT)
    assert result.files == ["output.json"]
    body = {"_links": {"b.bin": {"href": "/b"}, "status": {"href": "/"}, "a.json": {"href": "/a"}}}
    assert ResultResponse.from_dict(body).files == ["b.bin", "a.json"]


@pytest.mark.parametrize(
    "body", [{}, {"_links": None}, {"_links": {}}, {"_links": {"status": {"href": "/e1"}}}]
)
def test_a_result_without_file_links_has_no_files(body: dict[str, Any]) -> None:
    assert ResultResponse.from_dict(body).files == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape", "is not a single plain file name"),
        ("a\\b", "is not a single plain file name"),
        ("..", "is not a single plain file name"),
        ("", "is not a single plain file name"),
        ("bell\x07", "is not a single plain file name"),
        ("half\ud800", "is not valid Unicode text"),
        ("n" * (RESULT_FILE_NAME_MAX_BYTES + 1), "is 245 bytes long (at most 244 can be saved)"),
        (".out.bin.part", "is the name of the temp file that downloading 'out.bin' writes"),
    ],
)
def test_files_refuses_names_that_downloading_refuses(name: str, reason: str) -> None:
    links = {"out.bin": {"href": "/o"}, name: {"href": "/x"}}
    result = ResultResponse.from_dict({"_links": links})
    with pytest.raises(UnsafeFileNameError) as caught:
        _ = result.files
    assert isinstance(caught.value, ValueError)
    assert caught.value.name == name
    assert caught.value.reason == reason
    assert reason in str(caught.value)
    clone = pickle.loads(pickle.dumps(caught.value))
    assert (clone.name, clone.reason, str(clone)) == (name, reason, str(caught.value))


def test_longest_savable_name_is_a_file() -> None:
    name = "é" * (RESULT_FILE_NAME_MAX_BYTES // 2)
    assert ResultResponse.from_dict({"_links": {name: {"href": "/x"}}}).files == [name]


def test_status_is_the_embedded_execution_or_none() -> None:
    result = ResultResponse.from_dict(VENDOR_RESULT)
    assert isinstance(result.status, ServiceExecution)
    assert result.status.id == ID
    for body in ({}, {"_embedded": None}, {"_embedded": {}}, {"_embedded": {"status": None}}):
        assert ResultResponse.from_dict(body).status is None


def test_a_result_is_true_even_without_output() -> None:
    empty = ResultResponse.from_dict({"_links": {"status": {"href": "/e1"}}})
    assert len(empty) == 0 and list(empty) == []
    assert empty
    assert bool(empty) is True


def test_result_equality_pickling_and_to_dict_are_unchanged() -> None:
    result = ResultResponse.from_dict(VENDOR_RESULT)
    assert result.to_dict() == VENDOR_RESULT
    assert ResultResponse.from_dict(result.to_dict()) == result
    clone = pickle.loads(pickle.dumps(result))
    assert clone == result and clone.files == result.files and clone.data == result.data
    assert copy.deepcopy(result) == result
    other = ResultResponse.from_dict({**VENDOR_RESULT, "energy": 0})
    assert other != result
    assert result != result.data
    with pytest.raises(TypeError):
        hash(result)


def _vendor_client(body: dict[str, Any]) -> HubServiceClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    transport = httpx.MockTransport(answer)
    return HubServiceClient(
        base_url=BASE, token=TOKEN, httpx_client=httpx.Client(transport=transport)
    )


def test_vendor_runtime_result_through_the_client() -> None:
    with _vendor_client(VENDOR_RESULT) as client:
        result = client.service_api.get_result(ID)
    assert result.data == {"energy": -1.137, "counts": {"00": 512, "11": 512}}
    assert result.files == ["output.json"]
    assert result.status is not None and result.status.status == "SUCCEEDED"
    assert result.status.created == datetime.datetime(2026, 11, 27, 14, 31, 44, tzinfo=UTC)
    assert result.status.duration == datetime.timedelta(seconds=2)
    assert repr(result.status) == repr(ServiceExecution.from_dict(VENDOR_EXECUTION))


# Times ------------------------------------------------------------------------------------------


def _execution(**times: Any) -> ServiceExecution:
    return ServiceExecution.from_dict({"id": "e1", "status": "RUNNING", **times})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-01-01 22:38:08", datetime.datetime(2022, 1, 1, 22, 38, 8, tzinfo=UTC)),
        ("2022-01-01T22:38:08Z", datetime.datetime(2022, 1, 1, 22, 38, 8, tzinfo=UTC)),
        ("2022-01-01T22:38:08.250Z", datetime.datetime(2022, 1, 1, 22, 38, 8, 250000, UTC)),
        ("2022-01-01T23:38:08+01:00", datetime.datetime(2022, 1, 1, 22, 38, 8, tzinfo=UTC)),
        ("2022-01-01T22:38:08 -0130", datetime.datetime(2022, 1, 2, 0, 8, 8, tzinfo=UTC)),
        ("2022-01-01t22:38:08z", datetime.datetime(2022, 1, 1, 22, 38, 8, tzinfo=UTC)),
        (" 2022-01-01 22:38:08 ", datetime.datetime(2022, 1, 1, 22, 38, 8, tzinfo=UTC)),
        ("20220101T223808Z", datetime.datetime(2022, 1, 1, 22, 38, 8, tzinfo=UTC)),
    ],
)
def test_times_from_both_wire_formats_are_utc(text: str, expected: datetime.datetime) -> None:
    execution = _execution(createdAt=text, startedAt=text, endedAt=text)
    for moment in (execution.created, execution.started, execution.ended):
        assert moment == expected
        assert moment is not None and moment.utcoffset() == datetime.timedelta(0)
        assert moment.tzinfo is UTC
    assert execution.duration == datetime.timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "2022-13-01 00:00:00",
        "2022-01-01 25:00:00",
        "2022-01-01 22:38:08 CET",
        "2022-01-01T22:38:08+25:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "2022-01-01 22:38:08" + " " * 100,
        None,
        5,
        ["2022-01-01 22:38:08"],
    ],
)
def test_unparseable_times_are_none(value: Any) -> None:
    execution = _execution(createdAt=value, startedAt=value, endedAt=value)
    assert execution.created is None
    assert execution.started is None
    assert execution.ended is None
    assert execution.duration is None


@given(st.text(max_size=80))
def test_asking_for_a_time_never_raises(text: str) -> None:
    execution = _execution(createdAt=text, startedAt=text)
    moment = execution.created
    assert moment is None or moment.tzinfo is UTC
    assert execution.started == moment
    assert execution.ended is None


@given(st.text(max_size=80))
def test_the_wire_time_parser_never_raises(text: str) -> None:
    parsed = parse_wire_time(text)
    assert parsed is None or parsed.tzinfo is not None


def test_parser_keeps_the_offset_and_reads_no_offset_as_utc() -> None:
    plus1 = datetime.timezone(datetime.timedelta(hours=1))
    assert parse_wire_time("2022-01-01T23:38:08+01:00") == datetime.datetime(
        2022, 1, 1, 23, 38, 8, tzinfo=plus1
    )
    parsed = parse_wire_time("2022-01-01T23:38:08+01:00")
    assert parsed is not None and parsed.utcoffset() == datetime.timedelta(hours=1)
    assert parse_wire_time("2022-01-01 22:38:08") == datetime.datetime(
        2022, 1, 1, 22, 38, 8, tzinfo=UTC
    )


def test_absent_times_are_none() -> None:
    execution = _execution(createdAt="2022-01-01 22:38:08")
    assert execution.created is not None
    assert execution.started is None and execution.ended is None and execution.duration is None


def test_duration_is_ended_minus_started_across_formats() -> None:
    execution = _execution(
        createdAt="2022-01-01 22:38:00",
        startedAt="2022-01-01 22:38:08",
        endedAt="2022-01-01T23:40:10.5+01:00",
    )
    assert execution.duration == datetime.timedelta(minutes=2, seconds=2.5)


def test_a_running_execution_has_no_duration() -> None:
    execution = _execution(createdAt="2022-01-01 22:38:00", startedAt="2022-01-01 22:38:08")
    assert execution.started is not None
    assert execution.duration is None


@pytest.mark.parametrize(
    ("status", "terminal"),
    [
        ("SUCCEEDED", True),
        ("FAILED", True),
        ("CANCELLED", True),
        ("PENDING", False),
        ("RUNNING", False),
        ("UNKNOWN", False),
        ("PAUSED", False),
    ],
)
def test_is_terminal(status: str, terminal: bool) -> None:
    execution = ServiceExecution.from_dict({"id": "e1", "createdAt": "t", "status": status})
    assert execution.is_terminal is terminal
    execution.status = ServiceExecutionStatus.SUCCEEDED
    assert execution.is_terminal is True


class _CountingParser:
    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[object] = []

    def __call__(self, value: object) -> datetime.datetime | None:
        self.calls.append(value)
        return self.real(value)  # type: ignore[no-any-return]


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> _CountingParser:
    parser = _CountingParser(service_execution_module.utc_wire_time)
    monkeypatch.setattr(service_execution_module, "utc_wire_time", parser)
    return parser


def test_times_are_parsed_on_first_use_and_once(counting: _CountingParser) -> None:
    executions = [_execution(createdAt=f"2022-01-01 22:38:{i:02}") for i in range(50)]
    assert counting.calls == []
    first = executions[7]
    assert first.created == datetime.datetime(2022, 1, 1, 22, 38, 7, tzinfo=UTC)
    assert len(counting.calls) == 3
    for _ in range(5):
        assert first.created is not None
        assert first.started is None and first.ended is None and first.duration is None
    assert len(counting.calls) == 3


def test_setting_a_time_field_is_seen_by_the_next_access(counting: _CountingParser) -> None:
    execution = _execution(createdAt="2022-01-01 22:38:08", startedAt="2022-01-01 22:38:09")
    assert execution.duration is None
    execution.ended_at = "2022-01-01 22:38:19"
    assert execution.ended == datetime.datetime(2022, 1, 1, 22, 38, 19, tzinfo=UTC)
    assert execution.duration == datetime.timedelta(seconds=10)
    execution.created_at = "garbage"
    assert execution.created is None


def test_cached_times_stay_out_of_equality_pickles_copies_and_to_dict() -> None:
    body = {**VENDOR_EXECUTION, "priority": 3}
    asked = ServiceExecution.from_dict(body)
    fresh = ServiceExecution.from_dict(body)
    assert asked.duration == datetime.timedelta(seconds=2)
    assert asked == fresh and (asked != fresh) is False
    assert asked.to_dict() == body == fresh.to_dict()
    assert pickle.dumps(asked) == pickle.dumps(fresh)
    clone = pickle.loads(pickle.dumps(asked))
    assert clone == asked and clone.created == asked.created
    assert copy.copy(asked) == asked and copy.deepcopy(asked).ended == asked.ended
    assert attrs.asdict(asked) == attrs.asdict(fresh)
    assert [field.name for field in attrs.fields(ServiceExecution)] == [
        "id",
        "created_at",
        "status",
        "started_at",
        "ended_at",
        "type_",
        "service_id",
        "service_definition_id",
        "application_id",
        "tags",
        "additional_properties",
    ]
    assert attrs.evolve(asked, ended_at=None).duration is None
