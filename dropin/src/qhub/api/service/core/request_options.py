"""``qhub.api.service.core.request_options``: the drop-in path of
:mod:`kipu_hub_service.core.request_options`.

The same objects, re-exported; no code of its own.
"""

from kipu_hub_service.core.request_options import *  # noqa: F403
from kipu_hub_service.core.request_options import __all__ as __all__
