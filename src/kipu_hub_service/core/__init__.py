"""Errors and per-call options of the service gateway client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import api_error
from .api_error import *  # noqa: F403 (every exception class, where the reference puts them)
from .request_options import RequestOptions

if TYPE_CHECKING:
    from ._file_name_error import UnsafeResultFileNameError


def __getattr__(name: str) -> Any:
    """``UnsafeResultFileNameError``, loaded on first use (it needs the generated types)."""
    if name == "UnsafeResultFileNameError":
        from ._file_name_error import UnsafeResultFileNameError

        return UnsafeResultFileNameError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [*api_error.__all__, "RequestOptions", "UnsafeResultFileNameError"]
