"""Glue between ``params.yaml``, the jupytext notebooks and DVC: run a chapter with
papermill, switch parameter profiles, and read a stage's section."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import yaml

PROFILES_DIR = "profiles"


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no parameters file")
    return yaml.safe_load(path.read_text()) or {}


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of ``base`` with ``override`` written over it, nested dicts merged."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_profile(name: str, params_path: str | Path = "params.yaml",
                  profiles_dir: str | Path | None = None) -> dict:
    """Writes profile ``name`` (``profiles/<name>.yaml``, the values it changes)
    over ``params.yaml`` and records ``profile: name``. ``profiles/cpu.yaml`` holds
    the default values of every key another profile changes, so applying ``cpu``
    restores the default."""
    params_path = Path(params_path)
    folder = Path(profiles_dir) if profiles_dir else params_path.parent / PROFILES_DIR
    profile = folder / f"{name}.yaml"
    if not profile.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise FileNotFoundError(f"{profile}: no such profile (known: {known})")
    merged = deep_merge(load_params(params_path), yaml.safe_load(profile.read_text()))
    merged["profile"] = name
    params_path.write_text(yaml.safe_dump(merged, sort_keys=False))
    return merged


def notebook_to_ipynb(source: str | Path, target: str | Path) -> Path:
    """Converts a jupytext percent ``.py`` notebook to ``.ipynb``."""
    import jupytext

    notebook = jupytext.read(source)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(notebook, target)
    return target


def run_notebook(source: str | Path, section: str, out_dir: str | Path,
                 params_path: str | Path = "params.yaml",
                 kernel: str = "python3") -> Path:
    """Executes ``source`` with papermill, its ``parameters`` cell replaced by the
    ``section`` of ``params_path``; writes ``<out_dir>/<name>.ipynb`` and the wall
    time to ``<out_dir>/wall_time.yaml``."""
    import os

    import papermill

    # Progress bars would be saved as dead widgets in the executed notebook.
    os.environ["TQDM_DISABLE"] = "1"
    source = Path(source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parameters = load_params(params_path).get(section)
    if parameters is None:
        raise KeyError(f"{params_path}: no section {section!r}")
    raw = notebook_to_ipynb(source, out_dir / f"{source.stem}.source.ipynb")
    executed = out_dir / f"{source.stem}.ipynb"
    start = time.perf_counter()
    papermill.execute_notebook(
        str(raw), str(executed), parameters=parameters, kernel_name=kernel,
        cwd=str(Path.cwd()), progress_bar=False,
    )
    raw.unlink()
    seconds = time.perf_counter() - start
    (out_dir / "wall_time.yaml").write_text(
        yaml.safe_dump({"stage": section, "seconds": round(seconds, 1)})
    )
    return executed


def _hide_default_parameters(source: Path, target: Path) -> None:
    """Copies an executed notebook, tagging its ``parameters`` cell (the smoke
    defaults) ``remove-cell``: the page shows only the values papermill injected,
    the ones the run used."""
    import json

    notebook = json.loads(source.read_text())
    for cell in notebook["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
    target.write_text(json.dumps(notebook, indent=1))


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
    lines += ["", f"Recorded stages together: {total / 60:.1f} min (the book stage "
              "itself takes well under a minute). A stage that DVC found up to date "
              "keeps the time of the run that made its outputs; a training stage "
              "that resumed from its checkpoint records only the resumed part."]
    path.write_text("\n".join(lines) + "\n")


def build_book(book_dir: str | Path, notebooks: list[str | Path],
               out_dir: str | Path, title: str | None = None) -> Path:
    """Builds the Jupyter Book (1.x) from the sources in ``book_dir`` and the
    executed ``notebooks`` (copied in as chapters, never re-executed: the config
    sets ``execute_notebooks: off``), with ``title`` when given. Returns the path
    of ``index.html``."""
    import shutil
    import subprocess
    import sys

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
    for notebook in notebooks:
        notebook = Path(notebook)
        if not notebook.is_file():
            raise FileNotFoundError(f"{notebook}: executed notebook missing; run its "
                                    "stage first (dvc repro)")
        _hide_default_parameters(notebook, chapters / notebook.name)
    write_reproduce_page(src / "reproduce.md", Path(book_dir).parent)
    from derain.plots import method_overview, savefig

    (src / "_static").mkdir(exist_ok=True)
    savefig(method_overview(), src / "_static" / "overview.png", dpi=120)
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
