from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.result_response_embedded import ResultResponseEmbedded
    from ..models.result_response_links import ResultResponseLinks


T = TypeVar("T", bound="ResultResponse")

# The wire names of the declared properties; every other key is an additional property.
_KNOWN_KEYS = frozenset(
    {
        "_links",
        "_embedded",
    }
)


@_attrs_define
class ResultResponse:
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
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

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

        result_response.additional_properties = (
            {}
            if src_dict.keys() <= _KNOWN_KEYS
            else {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        )
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

    def __contains__(self, key: str) -> bool:
        """Whether ``key`` is an additional property (declared fields are not)."""
        return key in self.additional_properties
