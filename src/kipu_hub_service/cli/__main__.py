"""``python -m kipu_hub_service.cli``: the same as the ``hub-service`` command."""

from __future__ import annotations

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
