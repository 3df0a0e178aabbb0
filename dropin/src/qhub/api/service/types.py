"""``qhub.api.service.types``: the drop-in path of :mod:`kipu_hub_service.types`.

The same objects, re-exported; no code of its own.
"""

from kipu_hub_service.types import *  # noqa: F403
from kipu_hub_service.types import __all__ as __all__
