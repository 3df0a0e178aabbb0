"""``qhub.api.service.mock``: the drop-in path of :mod:`kipu_hub_service.mock` (the same objects).

Lazy, as the module it stands for: the server classes (starlette, uvicorn) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kipu_hub_service.mock as _impl

if TYPE_CHECKING:
    from kipu_hub_service.mock import *  # noqa: F403

__all__ = list(_impl.__all__)


def __getattr__(name: str) -> Any:
    if name in _impl.__all__:
        return getattr(_impl, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
