"""``qhub.api.service.testing``: the drop-in path of :mod:`kipu_hub_service.testing`.

The same objects, re-exported; no code of its own.
"""

from kipu_hub_service.testing import *  # noqa: F403
from kipu_hub_service.testing import __all__ as __all__
