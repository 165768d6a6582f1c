"""Glue between ``params.yaml``, the jupytext notebooks and DVC: run a chapter with
papermill (its parameters cell replaced by its section of ``params.yaml``) and
render the book from the executed chapters."""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import yaml

from derain.book.chapters import BOOK_PAGES, CHAPTERS, chapter, stage_dir
from derain.book.progress import CellProgress, Terminal, timings_file
from derain.config import SHARED_KEYS, load_params
from derain.data import RAIN100L, REAL_RAIN, data_root_summary, scenes_summary
from derain.params import check_params_file

# Parameters that cut a data set to its first images, by the set they cut.
LIMITS = {"rain100l_limit": RAIN100L, "real_limit": REAL_RAIN}


def notebook_to_ipynb(source: str | Path, target: str | Path) -> Path:
    """Converts a jupytext percent ``.py`` notebook to ``.ipynb``."""
    import jupytext

    notebook = jupytext.read(source)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, target)
    return target


def parameters_cell(source: str | Path) -> dict:
    """The names and default values assigned in the cell tagged ``parameters`` of a
    percent-format notebook (exactly one such cell)."""
    source = Path(source)
    cells = source.read_text().split("# %%")
    tagged = [c for c in cells if c.startswith(' tags=["parameters"]')]
    if not tagged:
        return {}  # a chapter without parameters
    if len(tagged) != 1:
        raise ValueError(f"{source}: at most one cell tagged 'parameters' expected, "
                         f"found {len(tagged)}")
    tree = ast.parse(tagged[0].split("\n", 1)[1])
    return {target.id: ast.literal_eval(node.value) for node in tree.body
            for target in node.targets}


def chapter_parameters(stage: str, params_path: str | Path = "params.yaml") -> dict:
    """What papermill passes to a chapter: its section of ``params_path`` and the
    shared keys (:data:`~derain.config.SHARED_KEYS`) its parameters cell names.
    A name of the cell that ``params_path`` does not give, or a key of the section
    the cell does not name, is an error: a chapter never runs on its notebook's
    smoke defaults."""
    params = load_params(params_path)
    source = chapter(stage).source
    wanted = parameters_cell(Path(params_path).parent / source)
    section = params.get(stage, {} if not wanted else None)
    if not isinstance(section, dict):
        raise KeyError(f"{params_path}: no section {stage!r}")
    given = dict(section)
    for key in SHARED_KEYS:
        if key in wanted:
            if key not in params:
                raise KeyError(f"{params_path}: no top-level key {key!r} "
                               f"(chapter {stage!r} needs it)")
            given[key] = params[key]
    missing = sorted(set(wanted) - set(given))
    if missing:
        raise KeyError(f"{params_path}: section {stage!r} lacks {missing} "
                       f"(the parameters of {source})")
    unknown = sorted(set(given) - set(wanted))
    if unknown:
        raise KeyError(f"{params_path}: section {stage!r} has unknown keys "
                       f"{unknown} (the parameters of {source} are "
                       f"{sorted(wanted)})")
    return given


def _say(stage: str, line: str) -> None:
    """A line on the console (the stage's stderr, which DVC shows), not only in
    the executed notebook."""
    print(f"derain chapter {stage}: {line}", file=sys.stderr, flush=True)


# How long to wait, once a cell has finished, for the outputs it sent (papermill
# stops the chapter after that). nbclient's 4 s is too short on a loaded machine
# for a cell that glues many numbers: each is a message of its own.
IOPUB_TIMEOUT_S = 120


def kernel_settings(stage: str, interactive: bool):
    """What the chapter's kernel runs with (a traitlets Config and extra kernel
    arguments): IPC sockets instead of unencrypted TCP on localhost, and text
    progress bars (``tqdm.auto`` as ``tqdm.std``) that papermill streams to the
    terminal: a widget bar would only be saved as a dead widget."""
    import os
    import tempfile

    from traitlets.config import Config

    sockets = Path(tempfile.mkdtemp(prefix=f"derain-{stage}-"))
    config = Config({"KernelManager": {"transport": "ipc",
                                       "ip": str(sockets / "kernel")}})
    # A bar redrawn every second suits a terminal; a log file (CI) gets a line
    # every half minute.
    os.environ.setdefault("TQDM_MININTERVAL", "1" if interactive else "30")
    os.environ.setdefault("TQDM_NCOLS", "100")
    os.environ.pop("TQDM_DISABLE", None)
    # One thread per process unless the user says otherwise: the experiment
    # chapters run one process per core, and a two-thread training step on a
    # machine that is busy with anything else slows to a fraction of one
    # thread's speed (the benchmark chapter measures both). The book's numbers
    # were made this way.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    arguments = ["--IPKernelApp.exec_lines=import tqdm.auto, tqdm.std; "
                 "tqdm.auto.tqdm, tqdm.auto.trange = tqdm.std.tqdm, tqdm.std.trange"]
    return config, arguments, sockets


def execute_notebook(source: str | Path, executed: str | Path, parameters: dict,
                     stage: str, kernel: str = "python3",
                     terminal: Terminal | None = None,
                     previous: dict | None = None) -> list[float]:
    """Runs the ``.ipynb`` ``source`` with papermill (``parameters`` injected)
    into ``executed``, in a kernel set up by :func:`kernel_settings`. With a
    ``terminal`` the cells' printed output and progress bars stream to it as they
    run, after one line per code cell (a
    :class:`~derain.book.progress.CellProgress`, whose estimate uses the
    ``previous`` cell timings). The saved notebook keeps each stream as one
    output with carriage returns resolved (a bar's last state). Returns the
    seconds each code cell took."""
    import shutil
    import sys

    import nbformat
    import papermill

    code_cells = sum(c.cell_type == "code"
                     for c in nbformat.read(str(source), as_version=4).cells)
    # papermill adds a cell with the injected parameters.
    progress = CellProgress(stage, code_cells + bool(parameters), previous, terminal)
    config, arguments, sockets = kernel_settings(stage, sys.stderr.isatty())
    streams = {}
    if terminal is not None:
        terminal.line(progress.opening())
        streams = {"stdout_file": terminal.stdout, "stderr_file": terminal.stderr}
    try:
        papermill.execute_notebook(
            str(source), str(executed), parameters=parameters,
            kernel_name=kernel, cwd=str(Path.cwd()), progress_bar=False,
            coalesce_streams=True, config=config, extra_arguments=arguments,
            on_cell_start=progress.on_cell_start, iopub_timeout=IOPUB_TIMEOUT_S,
            **streams)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    progress.finish()
    return progress.durations


def run_chapter(stage: str, params_path: str | Path = "params.yaml",
                kernel: str = "python3", stream: bool = True) -> Path:
    """Executes the chapter of ``stage`` with papermill, its ``parameters`` cell
    replaced by :func:`chapter_parameters` (see :func:`execute_notebook`; with
    ``stream`` its output appears on the terminal as it runs); writes the
    executed notebook and the wall time to ``results/<stage>/wall_time.yaml``
    (seconds, profile, CPU cores, date), which the book shows under the
    chapter's title."""
    import datetime
    import os

    from papermill.exceptions import PapermillExecutionError

    item = chapter(stage)
    check_params_file(params_path)
    parameters = chapter_parameters(stage, params_path)
    if "data_root" in parameters:
        limits = {LIMITS[k]: v for k, v in parameters.items() if k in LIMITS}
        _say(stage, data_root_summary(parameters["data_root"], limits))
    params = load_params(params_path)
    item.out_dir.mkdir(parents=True, exist_ok=True)
    raw = notebook_to_ipynb(item.source,
                            item.out_dir / f"{item.notebook}.source.ipynb")
    timings = timings_file(stage)
    previous = yaml.safe_load(timings.read_text()) if timings.is_file() else None
    start = time.perf_counter()
    try:
        durations = execute_notebook(raw, item.executed, parameters, stage, kernel,
                                     Terminal() if stream else None, previous)
    except PapermillExecutionError as err:
        message = (err.evalue or "").strip().splitlines()
        raise RuntimeError(
            f"{item.source}: cell [{err.exec_count}] raised {err.ename}"
            f"{': ' + message[0] if message else ''} (traceback in "
            f"{item.executed})") from None
    finally:
        raw.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    record = {"stage": stage, "seconds": round(seconds, 1),
              "profile": params.get("profile", "cpu"), "cpus": os.cpu_count(),
              "finished": datetime.date.today().isoformat()}
    (item.out_dir / "wall_time.yaml").write_text(yaml.safe_dump(record,
                                                                sort_keys=False))
    timings.parent.mkdir(parents=True, exist_ok=True)
    timings.write_text(yaml.safe_dump({"seconds": record["seconds"],
                                       "cells": durations}))
    if stage == "data":
        _say(stage, scenes_summary(stage_dir("data")))
    return item.executed


# A researcher's round trip with DVC: change one parameter, run what it reaches,
# compare. The reproduce page shows these commands; the end-to-end test runs them
# at smoke size. (command, what it does)
EXPERIMENT = (
    ("git add -A && git commit -qm baseline",
     "Experiments start from a commit: the baseline is the run you have."),
    ("dvc exp run -S evaluate.rain100l_limit=30 evaluate",
     "Changes one parameter (here: score Rain100L on its first 30 pairs) for this "
     "run only and runs the stage named, `evaluate`, with what it depends on "
     "reused from the cache. The workspace then holds the experiment's results; "
     "without the stage's name the run would also go on to every stage the "
     "change reaches (the book among them)."),
    ("dvc exp show --only-changed",
     "Every experiment in a table: the parameters that differ and the metrics "
     "they gave."),
    ("dvc params diff",
     "The parameters of the workspace (the experiment) against the commit."),
    ("dvc metrics diff",
     "Its metrics against the commit's, with the change."),
    ("dvc plots diff --out results/plots_diff",
     "The figures of both, side by side, in `results/plots_diff/index.html`: "
     "images only, it opens without a network."),
)


def write_reproduce_page(path: Path, root: Path) -> None:
    """The "reproduce this book" page: every DVC stage, what it makes and its
    measured wall time (from ``results/<stage>/wall_time.yaml``)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    params = load_params(root / "params.yaml")
    lines = [
        "# Reproduce this book", "",
        "Every table and figure comes from a stage of the DVC pipeline. From a",
        "fresh clone, `make book` sets up the environment and runs `dvc repro`;",
        "`dvc repro <stage>` runs one stage and what it depends on; `derain "
        "profile gpu` switches to the GPU profile. This build used the profile "
        f"`{params.get('profile', 'cpu')}`.", "",
        "```{table} Every stage of the pipeline: the command DVC runs, what it "
        "makes and the wall time of its last run.", ":name: reproduce_stages", "",
        "| stage | command | makes | wall time |", "| --- | --- | --- | --- |",
    ]
    total = 0.0
    for name, stage in stages.items():
        outs = [next(iter(o)) if isinstance(o, dict) else o
                for key in ("outs", "metrics", "plots") for o in stage.get(key, [])]
        made = ", ".join(f"`{Path(o).name}`" for o in outs)
        timing = root / "results" / name / "wall_time.yaml"
        seconds = yaml.safe_load(timing.read_text())["seconds"] if timing.is_file() \
            else None
        total += seconds or 0.0
        shown = f"{seconds / 60:.1f} min" if seconds else "-"
        lines.append(f"| `{name}` | `{stage['cmd']}` | {made} | {shown} |")
    lines += ["```", "",
              f"Recorded stages together: {total / 60:.1f} min (the book stage "
              "itself takes well under a minute). A stage that DVC found up to date "
              "keeps the time of the run that made its outputs; a training stage "
              "that resumed from its checkpoint records only the resumed part.",
              "", "## Change a parameter and compare", "",
              "A run is a commit of the parameters plus the outputs DVC keeps. To "
              "see what one parameter does, run an experiment and compare it with "
              "the commit; the steps below are run by the project's end-to-end "
              "test at smoke size.", ""]
    for command, what in EXPERIMENT:
        lines += ["```bash", command, "```", "", what, ""]
    lines += ["`dvc exp apply <name>` brings any experiment of `dvc exp show` back "
              "into the workspace, `dvc exp branch <name> <branch>` keeps it as a "
              "branch, and `git checkout . && dvc checkout` returns to the "
              "commit."]
    path.write_text("\n".join(lines) + "\n")


def library_layers(root: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The layers of the import contract in ``pyproject.toml`` (top first) and the
    modules of each package under ``lib/``: what the book's picture of the library
    shows, read from the same place the tests check."""
    import tomllib

    config = tomllib.loads((root / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    modules = {}
    for layer in layers:
        for package in (name.strip() for name in layer.split("|")):
            folder = root / "lib" / Path(*package.split("."))
            if folder.is_dir():
                modules[package] = sorted(p.name for p in folder.glob("*.py")
                                          if p.stem != "__init__")
            else:
                modules[package] = [f"{folder.name}.py"]
    return layers, modules


def write_toc(path: Path) -> None:
    """The book's table of contents: the introduction, every chapter of
    :data:`~derain.book.chapters.CHAPTERS` in order, then the other pages. The
    pages are numbered, so figures and tables are too by chapter ("Fig. 6.2")."""
    toc = {"format": "jb-book", "root": "intro", "options": {"numbered": True},
           "chapters": [{"file": f"chapters/{c.notebook}"} for c in CHAPTERS]
           + [{"file": page} for page in BOOK_PAGES]}
    path.write_text(yaml.safe_dump(toc, sort_keys=False))


def build_book(book_dir: str | Path, out_dir: str | Path,
               title: str | None = None) -> Path:
    """Builds the Jupyter Book (1.x) from the sources in ``book_dir`` and the
    executed chapters (copied in, never re-executed: the config sets
    ``execute_notebooks: off``), with ``title`` when given. Each chapter page is
    prepared by :func:`~derain.book.pages.prepare_chapter` (its wall time under
    the title, code folded, the results its captions show copied in); the
    widgets' JavaScript is bundled by :func:`~derain.book.static.widget_manager`.
    Returns the path of ``index.html``."""
    import shutil
    import subprocess
    import sys

    from derain.book.pages import prepare_chapter
    from derain.book.static import JS_DIR, STATIC_DIR, widget_manager

    root = Path(book_dir).parent
    out_dir = Path(out_dir)
    src = out_dir / "src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(book_dir, src)
    if title:
        config = yaml.safe_load((src / "_config.yml").read_text())
        config["title"] = title
        (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    chapters = src / "chapters"
    chapters.mkdir(exist_ok=True)
    for item in CHAPTERS:
        notebook = root / item.executed
        if not notebook.is_file():
            raise FileNotFoundError(f"{notebook}: executed notebook missing; run its "
                                    f"stage first (dvc repro {item.stage})")
        prepare_chapter(notebook, chapters / notebook.name, item.stage, root, src)
    write_toc(src / "_toc.yml")
    write_reproduce_page(src / "reproduce.md", root)
    from derain.book.plots import layers_diagram, method_overview, savefig

    (src / "_static").mkdir(exist_ok=True)
    widget_manager(src / "_static" / STATIC_DIR, root / JS_DIR)
    savefig(method_overview(), src / "_static" / "overview.png", dpi=120)
    savefig(layers_diagram(*library_layers(root)), src / "_static" / "layers.png",
            dpi=120)
    build = out_dir / "_build"
    if build.exists():
        shutil.rmtree(build)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jupyter_book), "build", str(src),
           "--path-output", str(out_dir), "--warningiserror", "--keep-going"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    (out_dir / "build.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise RuntimeError(f"jupyter-book build failed (see {out_dir}/build.log):\n"
                           f"{tail}")
    return build / "html" / "index.html"
