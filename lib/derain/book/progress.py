"""What a reader sees on the terminal while a chapter runs: the cells' own output
(printed lines and progress bars, streamed by papermill), a line per code cell with
the time so far and, from the stage's previous run, about how long is left."""

from __future__ import annotations

import time
from pathlib import Path

from derain.book.chapters import RESULTS
from derain.book.pages import duration


class Terminal:
    """Where papermill streams a chapter's output: stdout and stderr of the
    process. The kernel flushes its two streams separately, so a progress bar
    (stderr, redrawn with carriage returns) may not have ended its line when the
    next printed line (stdout) arrives; that line then starts on a new one, and
    the bar's own late newline is dropped."""

    def __init__(self, out=None, err=None):
        import sys

        self.out_stream, self.err_stream = out or sys.stdout, err or sys.stderr
        self.open_line = False  # stderr's last write left a line unfinished
        self.owed = False  # a newline was written for stderr ahead of it

    def _break(self) -> None:
        if self.open_line:
            self.err_stream.write("\n")
            self.err_stream.flush()
            self.open_line, self.owed = False, True

    def write_out(self, text: str) -> None:
        self._break()
        self.out_stream.write(text)
        self.out_stream.flush()

    def write_err(self, text: str) -> None:
        if self.owed and text.startswith("\n"):
            text = text[1:]
        self.owed = False
        if text:
            self.err_stream.write(text)
            self.err_stream.flush()
            self.open_line = not text.endswith("\n")

    def line(self, text: str) -> None:
        """A line of its own on stderr (the per-cell progress)."""
        self._break()
        owed = self.owed
        self.write_err(text + "\n")
        self.owed = owed

    class _File:
        def __init__(self, write):
            self.write = write

        def flush(self):
            pass

    @property
    def stdout(self):
        return self._File(self.write_out)

    @property
    def stderr(self):
        return self._File(self.write_err)


class CellProgress:
    """One line per code cell on the terminal while papermill runs a chapter:
    which cell of how many, the time since the start and, when an earlier run
    of the stage left its cell timings, about how long is left.

    ``code_cells`` counts the cells papermill runs (the injected parameters
    included); ``previous`` is the record :func:`run_chapter` left last time."""

    def __init__(self, stage: str, code_cells: int, previous: dict | None,
                 terminal: Terminal | None = None):
        self.stage, self.n, self.terminal = stage, code_cells, terminal
        cells = (previous or {}).get("cells") or []
        # Earlier timings only count when the chapter has as many code cells.
        self.previous = cells if len(cells) == code_cells else None
        self.start = self.last = time.perf_counter()
        self.started = False
        self.durations: list[float] = []

    def opening(self) -> str:
        line = f"derain chapter {self.stage}: {self.n} code cells"
        if self.previous:
            line += f"; its last run took {duration(sum(self.previous))}"
        return line

    def on_cell_start(self, cell, **_):
        """nbclient's hook, before each cell."""
        if cell.cell_type != "code":
            return
        now = time.perf_counter()
        if self.started:
            self.durations.append(round(now - self.last, 2))
        self.started, self.last = True, now
        k = len(self.durations)
        line = f"[{self.stage} {k + 1}/{self.n} · {duration(now - self.start)}"
        if self.previous and k < len(self.previous):
            line += f" · about {duration(sum(self.previous[k:]))} left"
        if self.terminal is not None:
            self.terminal.line(line + "]")

    def finish(self) -> None:
        """After the last cell."""
        if self.started:
            self.durations.append(round(time.perf_counter() - self.last, 2))


def timings_file(stage: str) -> Path:
    """Cell timings of a stage's last run, outside the stage's outputs (which DVC
    deletes before it runs the stage again): what the next run's estimate uses."""
    return RESULTS / ".timings" / f"{stage}.yaml"
