from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="HalLink")


@_attrs_define
class HalLink:
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
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
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
        d = dict(src_dict)
        href = d.pop("href")

        def _parse_templated(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        templated = _parse_templated(d.pop("templated", UNSET))

        def _parse_type_(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        type_ = _parse_type_(d.pop("type", UNSET))

        def _parse_deprecation(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        deprecation = _parse_deprecation(d.pop("deprecation", UNSET))

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        def _parse_profile(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        profile = _parse_profile(d.pop("profile", UNSET))

        def _parse_title(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        title = _parse_title(d.pop("title", UNSET))

        def _parse_hreflang(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        hreflang = _parse_hreflang(d.pop("hreflang", UNSET))

        hal_link = cls(
            href=href,
            templated=templated,
            type_=type_,
            deprecation=deprecation,
            name=name,
            profile=profile,
            title=title,
            hreflang=hreflang,
        )

        hal_link.additional_properties = d
        return hal_link

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
