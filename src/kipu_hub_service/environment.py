"""Where the service gateway lives."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["HubServiceClientEnvironment"]


class HubServiceClientEnvironment(StrEnum):
    """Gateway base URLs.

    ``DEFAULT`` is a template: the SDK never substitutes ``<context>``, ``<service>`` or
    ``<version>``, so pass the concrete URL of the service you invoke as ``base_url``.
    """

    DEFAULT = "https://gateway.hub.kipu-quantum.com/<context>/<service>/<version>"
    """The gateway URL template; not usable until its placeholders are filled in."""
