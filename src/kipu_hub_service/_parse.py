"""JSON bodies into the generated models, after checking their shape against the API.

Every check here restates ``openapi/hub-service.yaml`` (required fields, types, nullability,
enums as any string, array items); ``tests/test_spec_checks.py`` reads the spec and fails when a
check and the spec disagree in either direction. One deliberate tolerance: a null result-file
link in ``_links`` is dropped (the spec allows null for ``status`` only). A body that does not
pass raises ``InvalidBody``, which ``_errors`` turns into ``ResponseValidationError``.
"""

from __future__ import annotations

import datetime
import json
from operator import itemgetter
from typing import Any

from qhub_service_gen.models import (
    LogEntry,
    LogEntrySeverity,
    ResultResponse,
    ServiceExecution,
    ServiceExecutionStatus,
    ServiceExecutionType,
)
from qhub_service_gen.models import log_entry as log_model
from qhub_service_gen.models import service_execution as execution_model
from qhub_service_gen.types import wire_time

from ._errors import InvalidBody


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _blank(content: bytes) -> bool:
    """Whether a body is empty or only whitespace (without copying a large one)."""
    return not content or content.isspace()


def load_json(content: bytes) -> Any:
    """The parsed JSON of a body; ``InvalidBody`` when empty or not JSON."""
    if _blank(content):
        raise InvalidBody("the body is empty")
    try:
        return json.loads(content)
    except ValueError:
        raise InvalidBody("the body is not valid JSON") from None


_OPTIONAL_EXECUTION_STRINGS = (
    "startedAt",
    "endedAt",
    "serviceId",
    "serviceDefinitionId",
    "applicationId",
    "type",
)


_NONE_TYPE = type(None)
_STR_OR_NULL = frozenset({str, _NONE_TYPE})


def _all_str(items: list[Any]) -> bool:
    """Whether every item of a list is a str (``str.join`` checks that in C)."""
    try:
        "".join(items)
    except TypeError:
        return False
    return True


def check_execution(data: Any) -> None:
    """Type check of every documented field of one ServiceExecution object: required strings,
    nullable strings and ``tags`` (null or an array of strings). Cheap: it runs per list item."""
    if data.__class__ is dict:
        get = data.get
        tags = get("tags")
        if (
            get("id").__class__ is str
            and get("createdAt").__class__ is str
            and get("status").__class__ is str
            and get("startedAt").__class__ in _STR_OR_NULL
            and get("endedAt").__class__ in _STR_OR_NULL
            and get("type").__class__ in _STR_OR_NULL
            and get("serviceId").__class__ in _STR_OR_NULL
            and get("serviceDefinitionId").__class__ in _STR_OR_NULL
            and get("applicationId").__class__ in _STR_OR_NULL
            and (tags is None or (tags.__class__ is list and _all_str(tags)))
        ):
            return
    _explain_execution(data)


def _explain_execution(data: Any) -> None:
    """Raise ``InvalidBody`` saying what is wrong with an execution object."""
    if type(data) is not dict:
        raise InvalidBody(f"expected an execution object, got {_kind(data)}")
    for key in ("id", "createdAt", "status"):
        if type(data.get(key)) is not str:
            raise InvalidBody(f"execution {key!r} is missing or not a string")
    for key in _OPTIONAL_EXECUTION_STRINGS:
        value = data.get(key)
        if value is not None and type(value) is not str:
            raise InvalidBody(f"execution {key!r} is {_kind(value)}, expected a string")
    tags = data.get("tags")
    if tags is not None and type(tags) is not list:
        raise InvalidBody(f"execution 'tags' is {_kind(tags)}, expected an array")
    for index, tag in enumerate(tags or ()):
        if type(tag) is not str:
            raise InvalidBody(f"execution 'tags' item {index} is {_kind(tag)}, expected a string")
    raise InvalidBody("execution object has unexpected field types")


def parse_execution(content: bytes) -> ServiceExecution:
    """One ``ServiceExecution`` (``start_execution``, ``get_status``)."""
    data = load_json(content)
    check_execution(data)
    return ServiceExecution.from_dict(data)


_every_execution_field = itemgetter(*execution_model.WIRE_NAMES)  # the constructor's order


def parse_executions(content: bytes) -> list[ServiceExecution]:
    """An array of ``ServiceExecution`` (``get_service_executions``).

    One pass, inlined for long lists: an item with exactly the documented keys (the gateway
    writes every one, null when unset), each of its documented type, is checked and built with
    the model's constructor in one go, as ``check_execution`` and ``ServiceExecution.from_dict``
    would (``test_parsing`` holds the two equal); any other item goes through them, which
    explain what is wrong, fill in absent keys or keep unknown ones. Each model takes its
    object's place in the decoded list, so the object is freed as the model is made: the
    collector counts one new object per item, not two (as raw ``json.loads`` does).
    """
    data = load_json(content)
    if type(data) is not list:
        raise InvalidBody(f"expected an array of executions, got {_kind(data)}")
    statuses = ServiceExecutionStatus._value2member_map_
    types = ServiceExecutionType._value2member_map_
    every_field, size = _every_execution_field, len(execution_model.WIRE_NAMES)
    loose = _STR_OR_NULL
    for index, item in enumerate(data):
        if item.__class__ is dict and len(item) == size:
            try:
                fields = every_field(item)
            except KeyError:
                fields = None
            if fields is not None:
                id_, created, status, started, ended, kind, service, definition, app, tags = fields
                if (
                    id_.__class__ is str
                    and created.__class__ is str
                    and status.__class__ is str
                    and started.__class__ in loose
                    and ended.__class__ in loose
                    and kind.__class__ in loose
                    and service.__class__ in loose
                    and definition.__class__ in loose
                    and app.__class__ in loose
                    and (tags is None or (tags.__class__ is list and _all_str(tags)))
                ):
                    if kind is not None:
                        kind = types.get(kind) or ServiceExecutionType(kind)
                    data[index] = ServiceExecution(
                        id_,
                        created,
                        statuses.get(status) or ServiceExecutionStatus(status),
                        started,
                        ended,
                        kind,
                        service,
                        definition,
                        app,
                        tags,
                    )
                    continue
        try:
            check_execution(item)
        except InvalidBody as exc:
            raise exc.within(f"item {index}: ") from None
        data[index] = ServiceExecution.from_dict(item)
    executions: list[ServiceExecution] = data
    return executions


def parse_execution_states(content: bytes) -> dict[str, str]:
    """The ``id`` -> ``status`` of each item of a ``get_service_executions`` answer: all that a
    sweep's poller reads of it (``sweep.py``), without building a model per item, which costs a
    list of a thousand executions a few ms on every poll.

    Items with a string ``id`` and a documented status are read as they are; their other
    fields are not checked. Any other answer goes through :func:`parse_executions`, so it is
    refused with the same ``InvalidBody``, or read with the same statuses, as there.
    """
    data = load_json(content)
    if type(data) is list:
        known = ServiceExecutionStatus._value2member_map_
        states: dict[str, str] = {}
        for item in data:
            if item.__class__ is not dict:
                break
            id_, status = item.get("id"), item.get("status")
            if id_.__class__ is not str or status.__class__ is not str or status not in known:
                break
            states[id_] = known[status].value
        else:
            return states
    return {execution.id: str(execution.status) for execution in parse_executions(content)}


_LINK_STRINGS = ("type", "deprecation", "name", "profile", "title", "hreflang")
_BOOL_OR_NULL = frozenset({bool, _NONE_TYPE})


def _check_link(name: str, link: Any) -> None:
    """Type check of a HalLink: ``href`` a string, ``templated`` a boolean or null, every
    other documented field a string or null."""
    if type(link) is not dict or type(link.get("href")) is not str:
        raise InvalidBody(f"_links[{name!r}] must be an object with a string 'href'")
    templated = link.get("templated")
    if templated.__class__ not in _BOOL_OR_NULL:
        raise InvalidBody(f"_links[{name!r}].templated is {_kind(templated)}, expected a boolean")
    for key in _LINK_STRINGS:
        value = link.get(key)
        if value.__class__ not in _STR_OR_NULL:
            raise InvalidBody(f"_links[{name!r}].{key} is {_kind(value)}, expected a string")


def parse_result(content: bytes) -> ResultResponse:
    """The HAL ``ResultResponse``: ``_links`` of ``HalLink``, ``_embedded.status`` checked."""
    data = load_json(content)
    if type(data) is not dict:
        raise InvalidBody(f"expected a result object, got {_kind(data)}")
    links = data.get("_links")
    embedded = data.get("_embedded")
    if links is not None or embedded is not None or "_links" in data or "_embedded" in data:
        data = dict(data)
        if links is None:
            data.pop("_links", None)
        else:
            if type(links) is not dict:
                raise InvalidBody(f"'_links' is {_kind(links)}, expected an object")
            links = {name: link for name, link in links.items() if link is not None}
            for name, link in links.items():
                _check_link(name, link)
            data["_links"] = links
        if embedded is None:
            data.pop("_embedded", None)
        else:
            if type(embedded) is not dict:
                raise InvalidBody(f"'_embedded' is {_kind(embedded)}, expected an object")
            if embedded.get("status", 0) is None:
                embedded = {k: v for k, v in embedded.items() if k != "status"}
            elif "status" in embedded:
                try:
                    check_execution(embedded["status"])
                except InvalidBody as exc:
                    raise exc.within("_embedded.status: ") from None
            data["_embedded"] = embedded
    return ResultResponse.from_dict(data)


_every_log_field = itemgetter(*log_model.WIRE_NAMES)  # the constructor's order


def _explain_log(data: dict[str, Any]) -> str:
    severity = data.get("severity")
    return f"log entry 'severity' is {_kind(severity)}, expected a string"


def _log_entry(data: Any) -> LogEntry:
    """One entry, checked field by field (the slow path: it says what is wrong)."""
    if type(data) is not dict:
        raise InvalidBody(f"expected a log entry object, got {_kind(data)}")
    if type(data.get("message")) is not str:
        raise InvalidBody("log entry 'message' is missing or not a string")
    stamp = data.get("timestamp")
    if type(stamp) is not str:
        raise InvalidBody("log entry 'timestamp' is missing or not a string")
    severity = data.get("severity")
    if severity is not None and type(severity) is not str:
        raise InvalidBody(_explain_log(data))
    try:
        return LogEntry.from_dict(data)  # the timestamp is read by the one rule, ``wire_time``
    except ValueError:
        raise InvalidBody("timestamp {} is not an ISO-8601 date-time", stamp) from None


def parse_logs(content: bytes) -> list[LogEntry] | None:
    """An array of ``LogEntry``; None for an empty body or ``null``.

    One pass, inlined for long logs: an entry with exactly the documented keys, of their
    documented types, and a timestamp ``datetime.fromisoformat`` reads with an offset is built
    with the model's constructor, as ``LogEntry.from_dict`` would build it (``test_parsing``
    holds the two equal); a timestamp without an offset is read by ``wire_time``, the one rule;
    any other entry goes through ``_log_entry`` and ``from_dict``, which explain what is wrong,
    fill in an absent severity, keep unknown keys, or read the other timestamp forms. Each
    entry takes its object's place in the decoded list (see ``parse_executions``).
    """
    if _blank(content):
        return None
    data = load_json(content)
    if data is None:
        return None
    if type(data) is not list:
        raise InvalidBody(f"expected an array of log entries, got {_kind(data)}")
    fromisoformat = datetime.datetime.fromisoformat
    severities = LogEntrySeverity._value2member_map_
    every_field, size = _every_log_field, len(log_model.WIRE_NAMES)
    for index, item in enumerate(data):
        if item.__class__ is dict and len(item) == size:
            try:
                message, stamp, severity = every_field(item)
                when = fromisoformat(stamp) if message.__class__ is str else None
            except (KeyError, TypeError, ValueError):
                when = None
            if when is not None:
                if severity is not None:
                    if severity.__class__ is not str:
                        raise InvalidBody(f"item {index}: {_explain_log(item)}")
                    severity = severities.get(severity) or LogEntrySeverity(severity)
                data[index] = LogEntry(message, when if when.tzinfo else wire_time(stamp), severity)
                continue
        try:
            data[index] = _log_entry(item)
        except InvalidBody as exc:
            raise exc.within(f"item {index}: ") from None
    entries: list[LogEntry] = data
    return entries


def ignore_body(content: bytes) -> None:
    """The parser of an operation whose answer has no documented body (``cancel_execution``)."""
    return None
