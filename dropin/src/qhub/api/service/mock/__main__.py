"""``python -m qhub.api.service.mock``: the same as ``hub-service-mock``."""

from kipu_hub_service.mock.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
