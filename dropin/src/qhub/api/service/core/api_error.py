"""``qhub.api.service.core.api_error``: the drop-in path of :mod:`kipu_hub_service.core.api_error`.

The same objects, re-exported; no code of its own.
"""

from kipu_hub_service.core.api_error import *  # noqa: F403
from kipu_hub_service.core.api_error import __all__ as __all__
