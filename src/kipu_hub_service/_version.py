"""``kipu_hub_service.__version__``: the installed distribution's version, from its metadata.

Read once, on first access (``importlib.metadata`` is not imported by ``import
kipu_hub_service``), so the module, ``importlib.metadata.version("kipu-hub-service")`` and
``hub-service --version`` always agree.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kipu-hub-service")
except PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
    __version__ = "0+unknown"
