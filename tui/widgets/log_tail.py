"""The tail of a job's log, followed with ``job_logs(after_id=...)``."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from ..host import host
from .. import format as fmt

LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "dark_orange", "error": "red1"}


class LogTail(RichLog):
    """The newest log lines of one job, oldest at the top; new lines are appended."""

    def __init__(self, job_id: int, *, limit: int = 200, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=limit * 2, wrap=False, markup=False, highlight=False, auto_scroll=True)
        self.job_id = job_id
        self.limit = limit
        self.last_id = 0
        self.lines_read = 0

    def on_mount(self) -> None:
        self.border_title = "Log"

    def retarget(self, job_id: int) -> None:
        """Follow job ``job_id``'s log (its screen is reused): from its start, or on from the lines shown
        when it is the job shown already."""
        if job_id == self.job_id:
            return
        self.job_id = job_id
        self.last_id = 0
        self.lines_read = 0
        self.clear()

    async def reload(self) -> None:
        """Append the lines written since the last read."""
        queue = host(self).queue
        lines = await queue.job_logs(self.job_id, limit=self.limit, after_id=self.last_id)
        for line in lines:
            text = Text(no_wrap=True)
            text.append(fmt.timestamp(line.ts)[11:] + " ", style="dim")
            text.append(f"{line.level:<7} ", style=LEVEL_STYLE.get(line.level, ""))
            text.append(line.message)
            self.write(text)
        if lines:
            self.last_id = lines[-1].id
            self.lines_read += len(lines)
        subtitle = f"{self.lines_read} line(s) read" if self.lines_read else "no lines yet"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
