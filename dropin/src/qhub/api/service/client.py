"""``qhub.api.service.client``: the drop-in path of :mod:`kipu_hub_service.client`.

The same objects, re-exported; no code of its own.
"""

from kipu_hub_service.client import *  # noqa: F403
from kipu_hub_service.client import __all__ as __all__
