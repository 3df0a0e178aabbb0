"""``qhub.api.service``: the drop-in import path of :mod:`kipu_hub_service`.

For code written against the vendor's reference contract. Every public name is the very object
``kipu_hub_service`` defines (``qhub.api.service.HubServiceClient is
kipu_hub_service.HubServiceClient``); nothing here has logic of its own except the guard
below. Names load on first use, as in ``kipu_hub_service``, so the import stays cheap.

The guard: the vendor's ``qhub-api`` distribution ships ``qhub/api/service/`` too. When both are
installed, one overwrote the other's files and the two SDKs' classes would mix silently, so the
import fails with an ``ImportError`` that says what to do instead.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import kipu_hub_service as _impl

if TYPE_CHECKING:
    from kipu_hub_service import *  # noqa: F403

VENDOR_DISTRIBUTION = "qhub-api"
"""The vendor's distribution that also provides ``qhub.api.service``."""


def _refuse_beside_the_vendor() -> None:
    """Raise ImportError when the vendor's ``qhub-api`` is installed in this environment."""
    try:
        vendor_version = version(VENDOR_DISTRIBUTION)
    except PackageNotFoundError:
        return
    raise ImportError(
        "qhub.api.service cannot be imported: two distributions provide it in this "
        f"environment, kipu-hub-service-qhub (the drop-in of kipu-hub-service) and the "
        f"vendor's {VENDOR_DISTRIBUTION} {vendor_version}. They write the same files under "
        "qhub/api/service/, so this import would mix the two SDKs' classes and types, and "
        "uninstalling either one deletes files of the other. Fix: use a separate environment "
        f"for the drop-in (without {VENDOR_DISTRIBUTION}), or `pip uninstall "
        f"kipu-hub-service-qhub`, `pip install --force-reinstall "
        f"{VENDOR_DISTRIBUTION}=={vendor_version}` and `import kipu_hub_service`, which "
        "coexists with the vendor's packages."
    )


_refuse_beside_the_vendor()

__all__ = list(_impl.__all__)


def __getattr__(name: str) -> Any:
    if name in _impl.__all__:
        value = getattr(_impl, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API and the module's own dunder attributes."""
    dunders = (name for name in globals() if name.startswith("__") and name.endswith("__"))
    return sorted({*__all__, *dunders})
