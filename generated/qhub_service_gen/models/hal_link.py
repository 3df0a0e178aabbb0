from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, ExtrasOnFirstUse, Unset, model_repr, shown_fields

T = TypeVar("T", bound="HalLink")

WIRE_NAMES = (
    "href",
    "templated",
    "type",
    "deprecation",
    "name",
    "profile",
    "title",
    "hreflang",
)
"""The wire names of the declared properties, in the order the constructor takes them."""
_KNOWN_KEYS = frozenset(WIRE_NAMES)
"""Every other key is an additional property."""

# (attribute, documented name, required) of each field in declaration order, for the repr.
_REPR_FIELDS = (
    ("href", "href", True),
    ("templated", "templated", False),
    ("type_", "type", False),
    ("deprecation", "deprecation", False),
    ("name", "name", False),
    ("profile", "profile", False),
    ("title", "title", False),
    ("hreflang", "hreflang", False),
)


@_attrs_define
class HalLink(ExtrasOnFirstUse):
    """A HAL link.

    Example:
        {'href': '/6f1c2d3e-0000-4000-8000-000000000001'}

    """

    href: str
    """ Target URL, absolute or relative to the gateway base URL. """
    templated: bool | None | Unset = UNSET
    """ Whether href is a URI template. """
    type_: None | str | Unset = UNSET
    """ Media type of the target. """
    deprecation: None | str | Unset = UNSET
    """ URL explaining the link's deprecation. """
    name: None | str | Unset = UNSET
    """ Secondary key of the link. """
    profile: None | str | Unset = UNSET
    """ Profile of the target. """
    title: None | str | Unset = UNSET
    """ Human-readable title. """
    hreflang: None | str | Unset = UNSET
    """ Language of the target. """
    additional_properties: dict[str, Any] = _attrs_field(init=False)
    """The keys the schema does not declare, in arrival order. Made on first use (see
    ``ExtrasOnFirstUse``): an instance without extra keys carries no dict until one is asked for."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object under wire names; unset fields left out, additional properties kept."""
        href = self.href

        templated: bool | None | Unset
        if isinstance(self.templated, Unset):
            templated = UNSET
        else:
            templated = self.templated

        type_: None | str | Unset
        if isinstance(self.type_, Unset):
            type_ = UNSET
        else:
            type_ = self.type_

        deprecation: None | str | Unset
        if isinstance(self.deprecation, Unset):
            deprecation = UNSET
        else:
            deprecation = self.deprecation

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        profile: None | str | Unset
        if isinstance(self.profile, Unset):
            profile = UNSET
        else:
            profile = self.profile

        title: None | str | Unset
        if isinstance(self.title, Unset):
            title = UNSET
        else:
            title = self.title

        hreflang: None | str | Unset
        if isinstance(self.hreflang, Unset):
            hreflang = UNSET
        else:
            hreflang = self.hreflang

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "href": href,
            }
        )
        if templated is not UNSET:
            field_dict["templated"] = templated
        if type_ is not UNSET:
            field_dict["type"] = type_
        if deprecation is not UNSET:
            field_dict["deprecation"] = deprecation
        if name is not UNSET:
            field_dict["name"] = name
        if profile is not UNSET:
            field_dict["profile"] = profile
        if title is not UNSET:
            field_dict["title"] = title
        if hreflang is not UNSET:
            field_dict["hreflang"] = hreflang

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        """Build an instance from a decoded JSON object keyed by wire names.

        Absent optional keys become ``UNSET``; keys the schema does not declare are kept as
        additional properties. A missing required key raises ``KeyError``.
        """
        if src_dict.__class__ is not dict:
            src_dict = dict(src_dict)
        _src_get = src_dict.get
        href = src_dict["href"]

        templated = _src_get("templated", UNSET)

        type_ = _src_get("type", UNSET)

        deprecation = _src_get("deprecation", UNSET)

        name = _src_get("name", UNSET)

        profile = _src_get("profile", UNSET)

        title = _src_get("title", UNSET)

        hreflang = _src_get("hreflang", UNSET)

        hal_link = cls(
            href,
            templated,
            type_,
            deprecation,
            name,
            profile,
            title,
            hreflang,
        )

        if not src_dict.keys() <= _KNOWN_KEYS:
            hal_link.additional_properties = {
                key: value for key, value in src_dict.items() if key not in _KNOWN_KEYS
            }
        return hal_link

    @property
    def type(self) -> None | str | Unset:
        """``type_`` under its documented name ``type``."""
        return self.type_

    @type.setter
    def type(self, value: None | str | Unset) -> None:
        """Set ``type_``."""
        self.type_ = value

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

    def __repr__(self) -> str:
        """The fields that are set (absent and null ones left out) under their documented names;
        enum members as their raw value; ``additional_properties`` only when not empty."""
        return model_repr(self, _REPR_FIELDS)

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        """The pairs ``repr()`` shows, for rich's pretty printer."""
        return shown_fields(self, _REPR_FIELDS)
