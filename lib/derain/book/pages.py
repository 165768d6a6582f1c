"""What the book build does to an executed chapter before Jupyter Book renders it:
the parameters cell that only holds the smoke defaults is removed, a line under
the title gives the stage's measured wall time, code cells are folded, and the
results files the captions point at are copied beside the page.

The functions work on the notebook as JSON (``dict``, nbformat 4) and never touch
its outputs: the page shows what the run printed and drew.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

FOLD = "hide-input"
KEEP_OPEN = "show-input"
"""A code cell tagged ``show-input`` stays open on the page."""

# Tags that already say how a cell is shown: the build leaves such a cell alone.
_SHOWN_AS = {"hide-input", "hide-output", "hide-cell", "remove-input",
             "remove-output", "remove-cell", KEEP_OPEN}
_RESULTS_PATH = re.compile(r"(?<![\w./])/results/[^\s`<>()\[\]\"']+")


def _tags(cell: dict) -> list[str]:
    return cell.setdefault("metadata", {}).setdefault("tags", [])


def duration(seconds: float) -> str:
    """``42 s``, ``12.3 min``, ``1 h 05 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def read_wall_time(path: Path) -> dict | None:
    """The record ``run_chapter`` writes (``stage``, ``seconds`` and, from newer
    runs, ``profile``, ``cpus``, ``finished``); None when there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    record = yaml.safe_load(path.read_text()) or {}
    return record if "seconds" in record else None


def wall_time_note(stage: str, record: dict | None) -> str:
    """The line under a chapter's title: how long its stage took in the run that
    made the page, and how to run it again."""
    again = f"`dvc repro {stage}` runs it again."
    if record is None:
        return (f"*This chapter is the DVC stage `{stage}`; its run left no wall "
                f"time. {again}*")
    where = [f"profile `{record['profile']}`"] if record.get("profile") else []
    if record.get("cpus"):
        where.append(f"{record['cpus']} CPU cores")
    if record.get("device"):
        where.append(f"device `{record['device']}`")
    if record.get("finished"):
        where.append(str(record["finished"]))
    detail = f" ({', '.join(where)})" if where else ""
    return (f"*This chapter is the DVC stage `{stage}`; its last run took "
            f"{duration(float(record['seconds']))}{detail}. {again}*")


def add_wall_time(notebook: dict, note: str) -> None:
    """Puts ``note`` right under the chapter's title (the first ``# `` line of the
    first Markdown cell), or at the top when there is no title."""
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) \
            else cell["source"]
        lines = source.split("\n")
        if lines and lines[0].startswith("# "):
            cell["source"] = "\n".join([lines[0], "", note, *lines[1:]])
            return
        break
    notebook["cells"].insert(0, {"cell_type": "markdown", "metadata": {},
                                 "source": note})


def hide_default_parameters(notebook: dict) -> None:
    """Tags the ``parameters`` cell (the notebook's smoke defaults)
    ``remove-cell``: the page shows only the values papermill injected, the
    ones the run used."""
    for cell in notebook["cells"]:
        tags = _tags(cell)
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")


def fold_code(notebook: dict) -> int:
    """Folds the input of every code cell (tag ``hide-input``: one click shows
    it), so the page reads as prose, figures and tables. Left open: the
    parameters papermill injected (what the run used), cells tagged
    ``show-input``, and cells whose tags already say how they are shown.
    Returns the number of cells folded."""
    folded = 0
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = _tags(cell)
        if {"parameters", "injected-parameters"} & set(tags) or \
                _SHOWN_AS & set(tags):
            continue
        tags.append(FOLD)
        folded += 1
    return folded


def results_paths(notebook: dict) -> list[str]:
    """The ``/results/...`` paths the Markdown outputs refer to (figures and
    their data files shown through :class:`~derain.book.captions.Page`), in the
    order they appear, without repeats."""
    found: dict[str, None] = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/markdown")
            if text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            for match in _RESULTS_PATH.findall(text):
                found[match] = None
    return list(found)


def copy_results(paths: list[str], root: Path, src: Path) -> None:
    """Copies each ``/results/...`` file from the project ``root`` to the same
    path under the book's sources ``src``, where the page's directives find it."""
    for path in paths:
        source = Path(root) / path.lstrip("/")
        if not source.is_file():
            raise FileNotFoundError(f"{source}: a caption points at it but the "
                                    "stage did not write it")
        target = Path(src) / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def prepare_chapter(executed: Path, target: Path, stage: str, root: Path,
                    src: Path) -> dict:
    """Writes the page of one chapter to ``target``: the executed notebook with
    its default parameters removed, its wall time under the title and its code
    folded; copies the results files it refers to into ``src``. Returns the
    wall-time record (None when the run left none)."""
    notebook = json.loads(Path(executed).read_text())
    hide_default_parameters(notebook)
    record = read_wall_time(Path(executed).parent / "wall_time.yaml")
    add_wall_time(notebook, wall_time_note(stage, record))
    fold_code(notebook)
    copy_results(results_paths(notebook), root, src)
    Path(target).write_text(json.dumps(notebook, indent=1))
    return record
