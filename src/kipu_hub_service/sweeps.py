"""Sweeps: many executions as one job (``client.service_api.sweep`` / ``.watch``).

The names a sweep's user meets: the sweep objects, their :class:`SweepOptions`, each item's
:class:`Outcome`, the :class:`SweepResults` list, the :class:`Progress` snapshots and the
journal's errors. See
docs/sweeps.md.
"""

from __future__ import annotations

from ._async.sweep import AsyncSweep
from ._journal import JournalError, JournalLockedError, JournalMismatchError
from ._sweep_rules import (
    CANCELLED,
    ERROR,
    FAILED,
    NOT_STARTED,
    SUCCEEDED,
    TIMED_OUT,
    Outcome,
    Progress,
    SweepFailedError,
    SweepOptions,
    SweepResults,
    use_list,
)
from ._sweep_view import ProgressDisplay
from ._sync.sweep import Sweep

__all__ = [
    "CANCELLED",
    "ERROR",
    "FAILED",
    "NOT_STARTED",
    "SUCCEEDED",
    "TIMED_OUT",
    "AsyncSweep",
    "JournalError",
    "JournalLockedError",
    "JournalMismatchError",
    "Outcome",
    "Progress",
    "ProgressDisplay",
    "Sweep",
    "SweepFailedError",
    "SweepOptions",
    "SweepResults",
    "use_list",
]
