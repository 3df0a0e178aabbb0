from __future__ import annotations

from collections.abc import (
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import (
    UNSET,
    ExtrasOnFirstUse,
    Unset,
    check_result_file_names,
    model_repr,
    shown_fields,
)

if TYPE_CHECKING:
    from ..models.service_execution import ServiceExecution


if TYPE_CHECKING:
    from ..models.result_response_embedded import ResultResponseEmbedded
    from ..models.result_response_links import ResultResponseLinks


T = TypeVar("T", bound="ResultResponse")

WIRE_NAMES = (
    "_links",
    "_embedded",
)
"""The wire names of the declared properties, in the order the constructor takes them."""
_KNOWN_KEYS = frozenset(WIRE_NAMES)
"""Every other key is an additional property."""

# (attribute, documented name, required) of each field in declaration order, for the repr.
_REPR_FIELDS = (
    ("links", "links", False),
    ("embedded", "embedded", False),
)

_NOT_FILES = frozenset({"status", "self"})
"""``_links`` keys that are not result files: the execution's status and the result itself."""


@_attrs_define
class ResultResponse(Mapping[str, Any], ExtrasOnFirstUse):
    """HAL envelope of an execution's result. Unknown top-level keys, the
    service's own output, are preserved.

        Example:
            {'energy': -1.137, '_links': {'status': {'href': '/6f1c2d3e-0000-4000-8000-000000000001'}}, '_embedded':
                {'status': {'id': '6f1c2d3e-0000-4000-8000-000000000001', 'createdAt': '2026-11-25 12:00:00', 'status':
                'SUCCEEDED'}}}

    """

    links: None | ResultResponseLinks | Unset = UNSET
    """ `status` links to the execution, every other key to a result file; may be null. """
    embedded: None | ResultResponseEmbedded | Unset = UNSET
    """ `status` holds the full execution; may be null. """
    additional_properties: dict[str, Any] = _attrs_field(init=False)
    """The keys the schema does not declare, in arrival order. Made on first use (see
    ``ExtrasOnFirstUse``): an instance without extra keys carries no dict until one is asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object under wire names; unset fields left out, additional properties kept."""
        links: dict[str, Any] | None | Unset
        if self.links is None or isinstance(self.links, Unset):
            links = self.links
        else:
            links = self.links.to_dict()

        embedded: dict[str, Any] | None | Unset
        if self.embedded is None or isinstance(self.embedded, Unset):
            embedded = self.embedded
        else:
            embedded = self.embedded.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if links is not UNSET:
            field_dict["_links"] = links
        if embedded is not UNSET:
            field_dict["_embedded"] = embedded

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        """Build an instance from a decoded JSON object keyed by wire names.

        Absent optional keys become ``UNSET``; keys the schema does not declare are kept as
        additional properties. A missing required key raises ``KeyError``.
        """
        from ..models.result_response_embedded import ResultResponseEmbedded
        from ..models.result_response_links import ResultResponseLinks

        if src_dict.__class__ is not dict:
            src_dict = dict(src_dict)
        _src_get = src_dict.get
        links = _src_get("_links", UNSET)
        if links is not None and links is not UNSET:
            links_type_0 = ResultResponseLinks.from_dict(links)

            links = links_type_0

        embedded = _src_get("_embedded", UNSET)
        if embedded is not None and embedded is not UNSET:
            embedded_type_0 = ResultResponseEmbedded.from_dict(embedded)

            embedded = embedded_type_0

        result_response = cls(
            links,
            embedded,
        )

        if not src_dict.keys() <= _KNOWN_KEYS:
            result_response.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return result_response

    @property
    def additional_keys(self) -> list[str]:
        """The keys the schema does not declare, in arrival order."""
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        """The additional property ``key`` (``KeyError`` if absent); fields are attributes."""
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        """Set the additional property ``key``."""
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        """Remove the additional property ``key`` (``KeyError`` if absent)."""
        del self.additional_properties[key]

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is an additional property (declared fields are not)."""
        return key in self.additional_properties

    def __repr__(self) -> str:
        """The fields that are set (absent and null ones left out) under their documented names;
        enum members as their raw value; ``additional_properties`` only when not empty."""
        return model_repr(self, _REPR_FIELDS)

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        """The pairs ``repr()`` shows, for rich's pretty printer."""
        return shown_fields(self, _REPR_FIELDS)

    def __iter__(self) -> Iterator[str]:
        """The service's keys (all but ``_links`` and ``_embedded``) in arrival order."""
        return iter(self.additional_properties)

    def __len__(self) -> int:
        """How many keys the service's output has."""
        return len(self.additional_properties)

    def __bool__(self) -> bool:
        """Always true, as before results were mappings: ``if result:`` tests for a result,
        ``len(result)`` for output."""
        return True

    def keys(self) -> KeysView[str]:
        """The service's keys (a live, read-only view)."""
        return self.additional_properties.keys()

    def values(self) -> ValuesView[Any]:
        """The service's values (a live, read-only view)."""
        return self.additional_properties.values()

    def items(self) -> ItemsView[str, Any]:
        """The service's ``(key, value)`` pairs (a live, read-only view)."""
        return self.additional_properties.items()

    def get(self, key: str, default: Any = None, /) -> Any:
        """The service's value for ``key``, or ``default`` when it has none."""
        return self.additional_properties.get(key, default)

    @property
    def data(self) -> dict[str, Any]:
        """The service's output as a new plain ``dict`` (the vendor's ``data()``).

        Each access gives a fresh shallow copy, so changing it leaves the result as it was.
        """
        return dict(self.additional_properties)

    @property
    def files(self) -> list[str]:
        """The names of the result files (the vendor's ``files()``): the ``_links`` keys other
        than ``status`` and ``self``, in arrival order.

        Raises ``UnsafeFileNameError`` (a ``ValueError``) for a name that downloading would
        refuse: not one plain file name, too long to save, or another file's temp name.
        """
        links = self.links
        if links is None or isinstance(links, Unset):
            return []
        return check_result_file_names(
            name for name in links.additional_properties if name not in _NOT_FILES
        )

    @property
    def status(self) -> ServiceExecution | None:
        """The embedded execution: ``_embedded.status`` (the gateway's place), else
        ``_embedded._embedded`` (where the vendor's local runtime, qhub-serve, puts it); None
        when the result has neither, or the nested one is not an execution."""
        embedded = self.embedded
        if embedded is None or isinstance(embedded, Unset):
            return None
        status = embedded.status
        if not isinstance(status, Unset):
            return status
        nested = embedded.additional_properties.get("_embedded")
        if not isinstance(nested, dict):
            return None
        from ..models.service_execution import ServiceExecution

        try:
            return ServiceExecution.from_dict(nested)
        except (KeyError, TypeError, ValueError):
            return None
