"""``qhub.api.service.core``: the drop-in path of :mod:`kipu_hub_service.core`.

The same objects, re-exported; no code of its own.
"""

from kipu_hub_service.core import *  # noqa: F403
from kipu_hub_service.core import __all__ as __all__
