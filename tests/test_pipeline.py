"""The pipeline's wiring: the one list of chapters against dvc.yaml, the notebooks
and the book; parameters cells against params.yaml; profiles; the stages' code
dependencies; and one end-to-end run of the whole pipeline and the book at smoke
size."""

import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import yaml
from book_check import book_pages, check_book, chromium, unnumbered
from conftest import ROOT
from import_graph import covered, needed_files

from derain.book.chapters import CHAPTERS, chapter
from derain.book.pipeline import (
    EXPERIMENT,
    chapter_parameters,
    parameters_cell,
    write_toc,
)
from derain.book.progress import CellProgress, Terminal
from derain.config import SHARED_KEYS, apply_profile, deep_merge, load_params

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_the_chapter_list_is_the_pipeline_and_the_notebooks():
    assert [c.stage for c in CHAPTERS] + ["book"] == list(STAGES)
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.py"))
    assert notebooks == sorted(c.source.name for c in CHAPTERS)
    for item in CHAPTERS:
        assert STAGES[item.stage]["cmd"] == f"derain chapter {item.stage}"
        outs = [next(iter(o)) if isinstance(o, dict) else o
                for o in STAGES[item.stage]["outs"]]
        assert str(item.executed) in outs
    book_deps = STAGES["book"]["deps"]
    assert [d for d in book_deps if d.endswith(".ipynb")] == \
        [str(c.executed) for c in CHAPTERS]
    claims = [d for d in STAGES["what_reproduces"]["deps"]
              if d.endswith("claims.csv")]
    assert claims == [f"{c.out_dir}/claims.csv" for c in CHAPTERS if c.claims]


def test_the_table_of_contents_lists_every_chapter_in_order(tmp_path):
    write_toc(tmp_path / "_toc.yml")
    toc = yaml.safe_load((tmp_path / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc["chapters"]]
    assert files[:len(CHAPTERS)] == [f"chapters/{c.notebook}" for c in CHAPTERS]
    for page in files[len(CHAPTERS):]:
        # The reproduce page is written at build time from dvc.yaml.
        assert page == "reproduce" or (ROOT / "book" / f"{page}.md").is_file()
    assert (ROOT / "book" / f"{toc['root']}.md").is_file()


class _Lines:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_a_line_printed_after_a_progress_bar_starts_on_its_own_line():
    out, err = _Lines(), _Lines()
    terminal = Terminal(out, err)
    terminal.stderr.write("\rtraining:  50%|█    | 3/6")
    terminal.stdout.write("0.76 steps/s\n")
    terminal.stderr.write("\n")  # the bar's own newline, arriving late
    terminal.line("[train 6/9 · 22 s]")
    assert err.text == "\rtraining:  50%|█    | 3/6\n[train 6/9 · 22 s]\n"
    assert out.text == "0.76 steps/s\n"


def test_progress_counts_code_cells_and_estimates_from_the_last_run():
    from types import SimpleNamespace

    out, err = _Lines(), _Lines()
    progress = CellProgress("train", 3, {"cells": [1.0, 100.0, 20.0]},
                         Terminal(out, err))
    assert progress.opening() == "derain chapter train: 3 code cells; its last " \
        "run took 2.0 min"
    for kind in ("markdown", "code", "code", "markdown", "code"):
        progress.on_cell_start(cell=SimpleNamespace(cell_type=kind), cell_index=0)
    progress.finish()
    lines = err.text.splitlines()
    assert [line.split(" · ")[0] for line in lines] == ["[train 1/3", "[train 2/3",
                                                         "[train 3/3"]
    assert lines[0].endswith("about 2.0 min left]")
    assert lines[2].endswith("about 20 s left]")
    assert len(progress.durations) == 3
    # Timings of a chapter with another number of cells are no estimate.
    assert CellProgress("train", 4, {"cells": [1.0, 2.0, 3.0]}).previous is None


TINY = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
n = 2

# %%
from tqdm.auto import tqdm

for _ in tqdm(range(n), desc="steps"):
    pass
print("done", n)
"""


def test_a_chapter_streams_its_output_without_the_tcp_warning(tmp_path):
    """The kernel talks over IPC sockets (no "running over TCP without
    encryption" warning), progress bars are text streamed to the terminal, and
    the saved notebook keeps each bar's last state only."""
    (tmp_path / "tiny.py").write_text(TINY)
    script = f"""
import sys
from derain.book.pipeline import execute_notebook, notebook_to_ipynb
from derain.book.progress import Terminal
raw = notebook_to_ipynb({str(tmp_path / "tiny.py")!r}, {str(tmp_path / "tiny.ipynb")!r})
execute_notebook(raw, {str(tmp_path / "out.ipynb")!r}, {{"n": 5}}, "tiny",
                 terminal=Terminal())
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "lib"))
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "TCP" not in run.stderr and "TCP" not in run.stdout
    assert "done 5" in run.stdout
    assert "derain chapter tiny: 3 code cells" in run.stderr
    assert "[tiny 3/3 · " in run.stderr and "steps: 100%" in run.stderr
    notebook = json.loads((tmp_path / "out.ipynb").read_text())
    streams = [o for c in notebook["cells"] for o in c.get("outputs", [])
               if o["output_type"] == "stream"]
    bar = "".join(next(o for o in streams if o["name"] == "stderr")["text"])
    assert "\r" not in bar and bar.startswith("steps: 100%")
    assert "widgets" not in notebook["metadata"]  # no widget bar was saved


def test_an_unknown_stage_is_named():
    with pytest.raises(KeyError, match="no chapter 'fuse'"):
        chapter("fuse")


@pytest.mark.parametrize("item", CHAPTERS, ids=lambda c: c.stage)
def test_parameters_cell_matches_params_section(item):
    cell = parameters_cell(ROOT / item.source)
    params = load_params(ROOT / "params.yaml")
    given = chapter_parameters(item.stage, ROOT / "params.yaml")
    assert set(cell) == set(given)
    shared = [k for k in SHARED_KEYS if k in cell]
    expected = shared + ([item.stage] if item.stage in params else [])
    assert STAGES[item.stage].get("params", []) == expected


def test_a_deleted_or_unknown_key_stops_the_chapter(tmp_path):
    params = load_params(ROOT / "params.yaml")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    del params["train"]["paper_loss_steps"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(KeyError, match=r"section 'train' lacks \['paper_loss_steps'\]"):
        chapter_parameters("train", tmp_path / "params.yaml")
    params["train"]["paper_loss_steps"] = 5
    params["train"]["stepz"] = 7
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(KeyError, match=r"unknown keys \['stepz'\]"):
        chapter_parameters("train", tmp_path / "params.yaml")
    del params["data_root"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(KeyError, match="no top-level key 'data_root'"):
        chapter_parameters("data", tmp_path / "params.yaml")


@pytest.mark.parametrize("stage", [*[c.stage for c in CHAPTERS], "book"])
def test_every_stage_depends_on_the_code_it_runs(stage):
    """A change of any library module a notebook imports, directly or not, must
    make DVC run its stage again."""
    source = ROOT / (chapter(stage).source if stage != "book"
                     else "lib/derain/book/pipeline.py")
    deps = STAGES[stage]["deps"]
    needed = needed_files(source) | ({source.relative_to(ROOT)}
                                     if stage == "book" else set())
    missing = sorted(str(p) for p in needed if not covered(p, deps))
    assert not missing, f"dvc.yaml, stage {stage}: add to deps {missing}"
    if stage != "book":
        assert covered(chapter(stage).source, deps)


def test_the_dependency_check_can_fail():
    deps = [d for d in STAGES["train"]["deps"] if d != "lib/derain/training"]
    needed = needed_files(ROOT / chapter("train").source)
    assert any(not covered(p, deps) for p in needed)
    assert Path("lib/derain/training/objectives.py") in needed


@pytest.mark.parametrize("profile", ["smoke", "gpu"])
def test_profiles_only_change_known_keys(profile):
    params = load_params(ROOT / "params.yaml")
    override = yaml.safe_load((ROOT / "profiles" / f"{profile}.yaml").read_text())

    def check(base, over, path):
        for key, value in over.items():
            assert key in base, f"{profile}: unknown key {path + key}"
            if isinstance(value, dict) and isinstance(base[key], dict):
                check(base[key], value, f"{path}{key}.")

    check(params, override, "")


def test_cpu_profile_restores_the_default(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    original = load_params(tmp_path / "params.yaml")
    gpu = apply_profile("gpu", tmp_path / "params.yaml")
    assert gpu["profile"] == "gpu" and gpu["train"]["training"]["model"]["width"] == 64
    smoke = apply_profile("smoke", tmp_path / "params.yaml")
    assert smoke["train"]["training"]["steps"] < original["train"]["training"]["steps"]
    restored = apply_profile("cpu", tmp_path / "params.yaml")
    assert restored == original
    with pytest.raises(FileNotFoundError, match="no such profile"):
        apply_profile("tpu", tmp_path / "params.yaml")


def test_deep_merge_keeps_unrelated_keys():
    merged = deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}})
    assert merged == {"a": {"b": 5, "c": 2}, "d": 3}


def test_every_stage_writes_under_its_own_folder():
    for name, stage in STAGES.items():
        outs = [next(iter(o)) if isinstance(o, dict) else o
                for key in ("outs", "metrics", "plots") for o in stage.get(key, [])]
        assert outs and all(o.startswith(f"results/{name}") for o in outs), name


def canonicalize_name(name: str) -> str:
    """A package's name as pip compares it (PEP 503: ``ruamel.yaml`` is
    ``ruamel-yaml``)."""
    from packaging.utils import canonicalize_name as canonical

    return canonical(name)


def _lock_pins(text: str) -> dict[str, tuple[str, list[str], set[str]]]:
    """name -> (version, hashes, what pulled it in) of a pip-compile lock."""
    pins, name = {}, None
    for line in text.splitlines():
        if line and not line.startswith((" ", "#")):
            pinned = line.split(" ")[0]
            name, _, version = pinned.partition("==")
            name = canonicalize_name(name)
            pins[name] = (version, [], set())
        elif name and line.strip().startswith("--hash=sha256:"):
            pins[name][1].append(line.strip().split(":", 1)[1].rstrip(" \\"))
        elif name and line.strip().startswith("#") and "-r requirements.txt" in line:
            pins[name][2].add("requirements.txt")
    return pins


def test_requirements_lock_and_environment_agree():
    """requirements.txt names the packages; requirements.lock (pip-compile) pins
    every one of them and everything they need, each with its hashes; and
    environment.yml is what tools/environment.py makes of requirements.txt."""
    import importlib.util

    from packaging.requirements import Requirement

    text = (ROOT / "requirements.txt").read_text()
    req = [line.strip() for line in text.splitlines()
           if line.strip() and not line.startswith("#")]
    assert "torch==2.13.0" in req
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert sorted(req) == sorted(p for p in pip if not p.startswith("--"))
    spec = importlib.util.spec_from_file_location("environment",
                                                  ROOT / "tools" / "environment.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert (ROOT / "environment.yml").read_text() == generator.environment_yml(text)

    lock = (ROOT / "requirements.lock").read_text()
    pins = _lock_pins(lock)
    direct = {name for name, (_, _, via) in pins.items() if via}
    names = {canonicalize_name(Requirement(r).name) for r in req}
    assert direct == names, "requirements.lock is stale: run `make lock`"
    for r in map(Requirement, req):
        version = pins[canonicalize_name(r.name)][0]
        assert r.specifier.contains(version, prereleases=True), (r, version)
    assert all(hashes for _, hashes, _ in pins.values())
    assert pins["torch"][0] == "2.13.0+cpu"  # the CPU build, not CUDA's
    # Made by `make lock`, with the options the Makefile gives pip-compile.
    makefile = (ROOT / "Makefile").read_text()
    for option in ("--generate-hashes", "--allow-unsafe", "--strip-extras",
                   "--no-emit-index-url", "--no-emit-find-links"):
        assert option in makefile and option in lock.split("\n", 6)[4]


def test_the_default_data_folder_is_the_repositorys_own():
    makefile = (ROOT / "Makefile").read_text()
    assert "\nDATA ?= datasets\n" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert "DATA=../shared/datasets" in ci


SMOKE_DATA = ("linked", "empty")


def _start_smoke(data: str, tmp_path_factory) -> dict:
    """Starts ``dvc repro`` of a clean copy of the project (its files in git) at
    smoke size, with the data folder linked to the real sets or left empty; the
    run's output goes to a log file beside the copy."""
    linked = data == "linked"
    shared = ROOT / "datasets"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    work = tmp_path_factory.mktemp(f"smoke_{data}") / "project"
    for name in filter(None, files):
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    modules = ROOT / "js" / "node_modules"
    if modules.is_dir():
        (work / "js" / "node_modules").symlink_to(modules)
    if linked:
        (work / "datasets").symlink_to(shared.resolve())
    else:
        (work / "datasets").mkdir()
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               GIT_AUTHOR_NAME="derain test", GIT_AUTHOR_EMAIL="test@derain.invalid",
               GIT_COMMITTER_NAME="derain test",
               GIT_COMMITTER_EMAIL="test@derain.invalid")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    apply_profile("smoke", work / "params.yaml")
    log = work.parent / "dvc_repro.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["dvc", "repro"], cwd=work, env=env, stdout=out,
                                stderr=subprocess.STDOUT, text=True)
    return {"work": work, "env": env, "linked": linked, "label": data,
            "data": shared, "proc": proc, "log_file": log}


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """Both smoke runs, started at once: each is mostly one process at a time
    (a notebook's kernel, Sphinx), so on two cores the pair takes little more
    than the longer one. The linked run is left out when there are no data sets
    to link."""
    runs = {data: _start_smoke(data, tmp_path_factory) for data in SMOKE_DATA
            if data != "linked" or (ROOT / "datasets" / "Rain100L").is_dir()}
    yield runs
    for run in runs.values():
        if run["proc"].poll() is None:
            run["proc"].kill()
            run["proc"].wait()


@pytest.mark.slow
def test_the_smoke_pipelines_start(smoke_runs):
    """Goes first when the smoke tests are selected (conftest.py): both
    pipelines start here and run while the other tests do."""
    assert smoke_runs, "no smoke pipeline started"
    for run in smoke_runs.values():
        assert run["log_file"].is_file()
        returncode = run["proc"].poll()
        assert returncode in (None, 0), run["log_file"].read_text()[-3000:]


@pytest.fixture(scope="module", params=SMOKE_DATA)
def smoke(request, smoke_runs):
    """The finished smoke run of the data folder linked to the real sets (when
    present) or left empty, book included."""
    data = request.param
    if data not in smoke_runs:
        pytest.skip("no data sets to link at datasets/ (make data-link DATA=...)")
    run = smoke_runs[data]
    # About 7 minutes on an idle 2-core CPU; the limit only stops a hung run, and
    # a CI machine shared with other jobs is several times slower.
    try:
        returncode = run["proc"].wait(timeout=2400)
    except subprocess.TimeoutExpired:
        run["proc"].kill()
        raise
    console = run["log_file"].read_text()
    assert returncode == 0, console[-6000:]
    # The console says what the data stage read and rendered.
    assert "derain chapter data: data_root datasets: " in console
    assert "derain chapter data: results/data: scenes 6 train" in console
    assert ("bundled photographs" in console) is not run["linked"]
    return {key: run[key] for key in ("work", "env", "linked", "label", "data")} | {
        "log": console}


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(smoke):
    work, env, linked = smoke["work"], smoke["env"], smoke["linked"]
    results = work / "results"
    data_metrics = json.loads((results / "data" / "metrics.json").read_text())
    assert data_metrics["training_pairs"] == 6 * 3  # 6 scenes x C(3, 2)
    assert data_metrics["bundled_fallback"] is not linked
    train_metrics = json.loads((results / "train" / "metrics.json").read_text())
    assert train_metrics["steps"] == 6 and train_metrics["steps_per_second"] > 0
    assert (results / "train" / "model.pt").is_file()
    scores = json.loads((results / "evaluate" / "metrics.json").read_text())
    assert scores["synthetic"]["n"] > 0 and 5 < scores["synthetic"]["psnr"] < 60
    assert ("rain100l" in scores) is linked
    for item in CHAPTERS:
        wall = yaml.safe_load((results / item.stage / "wall_time.yaml").read_text())
        assert wall["seconds"] > 0 and wall["profile"] == "smoke"
        # Progress on the terminal: a line per cell, and no kernel warning.
        assert f"derain chapter {item.stage}: " in smoke["log"]
        assert f"[{item.stage} 1/" in smoke["log"]
    assert "TCP" not in smoke["log"]
    assert "training: 100%" in smoke["log"]
    html = results / "book" / "_build" / "html"
    assert (html / "index.html").is_file()
    chapters = sorted((html / "chapters").glob("*.html"))
    assert len(chapters) == len(CHAPTERS)
    assert "<img" in (html / "chapters" / "01_data.html").read_text()
    for page in chapters:
        text = page.read_text()
        assert "This chapter is the DVC stage" in text and "its last run took" in text
    # Every page, the introduction, the library and the reproduce page included:
    # each table and figure has a number a reader can point at.
    pages = book_pages(html)
    assert {"intro.html", "library.html", "reproduce.html"} <= {p.name for p in pages}
    for page in pages:
        missing = unnumbered(page.read_text())
        assert not missing, (page.name, missing)
    explore = (html / "chapters" / "05_explore.html").read_text()
    # Numbered and captioned, with the data a click away; the widget manager
    # comes from the book itself.
    for expected in ('<span class="caption-number">Fig. 5.1', "Table 5.1",
                     "Made by stage <code", 'class="reference download internal"',
                     "_static/widgets/embed.js", 'class="cell tag_hide-input'):
        assert expected in explore, expected
    assert "cdn.jsdelivr" not in explore and "cdnjs" not in explore
    assert (html / "_static" / "widgets" / "embed.js").is_file()
    reproduce = unescape(re.sub(r"<[^>]+>", "", (html / "reproduce.html").read_text()))
    for command, _ in EXPERIMENT:  # the commands the round trip test runs
        assert command in reproduce, command
    assert "dvc plots diff" in reproduce
    if not linked:
        page = (html / "chapters" / "01_data.html").read_text()
        assert "bundled photographs" in page
        return
    # The evaluation command uses the same code and agrees with the chapter.
    data = smoke["data"]
    out = subprocess.run(
        ["derain", "evaluate", "--checkpoint", str(results / "train" / "model.pt"),
         "--input", str(data / "Rain100L" / "input"),
         "--target", str(data / "Rain100L" / "target"), "--json"],
        cwd=work, env=env, capture_output=True, text=True, check=True)
    cli = json.loads(out.stdout)
    assert cli["n"] == 100 and 20 < cli["psnr"] < 40


@pytest.mark.slow
def test_the_book_in_chromium_with_the_network_off(smoke):
    """Every page: images load, links and anchors resolve, tables have cells,
    nothing is fetched from the network, no console error; the explorer's
    offline control changes the image it shows when its sliders move."""
    if chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium): "
                    "the browser checks of the book did not run")
    from book_check import check_offline_control

    from derain.book.explore import OFFLINE_CLASS

    html = smoke["work"] / "results" / "book" / "_build" / "html"
    shots = ROOT / "artifacts" / "book" / smoke["label"]
    shutil.rmtree(shots, ignore_errors=True)  # no pages of an older book
    problems = check_book(html, shots)
    assert not problems, "\n".join(problems)
    assert len(list(shots.glob("chapters_*.png"))) == len(CHAPTERS)
    control = check_offline_control(html / "chapters" / "05_explore.html",
                                    OFFLINE_CLASS)
    assert not control["problems"], control
    first, stronger_rain, before = control["shown"]
    assert first, "the offline control was not drawn"
    assert stronger_rain and stronger_rain != first, control
    assert before and before != stronger_rain, control


@pytest.mark.slow
def test_the_dvc_round_trip_of_the_reproduce_page(smoke):
    """The commands of the reproduce page at smoke size: one parameter changed by
    an experiment, its parameters, metrics and plots compared with the commit."""
    if not smoke["linked"]:
        pytest.skip("the example changes how much of Rain100L is scored: it needs "
                    "the data sets")
    work, said = smoke["work"], {}
    for command, _ in EXPERIMENT:
        run = subprocess.run(command, shell=True, cwd=work, env=smoke["env"],
                             capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, (command, run.stdout[-2000:], run.stderr[-2000:])
        said[command] = run.stdout
    outputs = dict(zip(["commit", "run", "show", "params", "metrics", "plots"],
                       said.values(), strict=True))
    assert "rain100l_limit" in outputs["params"] and "30" in outputs["params"]
    assert "rain100l" in outputs["metrics"]
    assert "rain100l_limit" in outputs["show"]
    page = work / "results" / "plots_diff" / "index.html"
    text = page.read_text()
    assert "<img" in text and "http://" not in text and "https://" not in text
