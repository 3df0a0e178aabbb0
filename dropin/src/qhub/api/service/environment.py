"""``qhub.api.service.environment``: the drop-in path of :mod:`kipu_hub_service.environment`.

The same objects, re-exported; no code of its own.
"""

from kipu_hub_service.environment import *  # noqa: F403
from kipu_hub_service.environment import __all__ as __all__
