"""The progress-bar columns of downloads, in the units of everything else the CLI prints.

rich's own ``DownloadColumn`` and ``TransferSpeedColumn`` count in decimal units (``MB``);
these two show sizes and rates through :func:`kipu_hub_service._display.human_bytes`
(binary units, ``MiB``), as the tables and notes do. Imported only when bars are drawn.
"""

from __future__ import annotations

from rich.progress import ProgressColumn, Task
from rich.text import Text

from .._display import human_bytes


class SizeColumn(ProgressColumn):
    """Bytes written and the file's size: ``1.0 MiB/2.0 MiB`` (``?`` while unknown)."""

    def render(self, task: Task) -> Text:
        """The cell of ``task``."""
        total = "?" if task.total is None else human_bytes(task.total)
        return Text(f"{human_bytes(task.completed)}/{total}", style="progress.download")


class RateColumn(ProgressColumn):
    """The transfer rate: ``12.3 MiB/s`` (``?`` until it is known)."""

    def render(self, task: Task) -> Text:
        """The cell of ``task``."""
        speed = task.finished_speed or task.speed
        shown = "?" if speed is None else f"{human_bytes(speed)}/s"
        return Text(shown, style="progress.data.speed")
