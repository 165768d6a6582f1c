"""What the book build does to each executed chapter (derain.book.pages) and the
widget JavaScript it bundles (derain.book.static)."""

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from derain.book import static
from derain.book.pages import (
    add_wall_time,
    copy_results,
    duration,
    fold_code,
    prepare_chapter,
    results_paths,
    wall_time_note,
)


def _code(source, tags=(), outputs=()):
    return {"cell_type": "code", "metadata": {"tags": list(tags)},
            "source": source, "outputs": list(outputs), "execution_count": 1}


def _markdown(source):
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _notebook(*cells):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


def test_durations_read_naturally():
    assert [duration(s) for s in (42, 738, 3900)] == ["42 s", "12.3 min",
                                                      "1 h 05 min"]


def test_the_wall_time_sits_under_the_title():
    record = {"stage": "train", "seconds": 738.0, "profile": "cpu", "cpus": 2,
              "finished": "2026-01-05"}
    note = wall_time_note("train", record)
    assert note == ("*This chapter is the DVC stage `train`; its last run took "
                    "12.3 min (profile `cpu`, 2 CPU cores, 2026-01-05). "
                    "`dvc repro train` runs it again.*")
    notebook = _notebook(_markdown("# Train\n\nThe main model."), _code("x = 1"))
    add_wall_time(notebook, note)
    assert notebook["cells"][0]["source"] == f"# Train\n\n{note}\n\nThe main model."
    untitled = _notebook(_code("x = 1"))
    add_wall_time(untitled, wall_time_note("train", None))
    assert "left no wall time" in untitled["cells"][0]["source"]
    # An older record has only the stage and the seconds.
    assert "took 42 s." in wall_time_note("data", {"stage": "data", "seconds": 42})


def test_code_is_folded_except_the_parameters_and_what_the_author_opened():
    notebook = _notebook(
        _code("x = 1", ["parameters", "remove-cell"]),
        _code("# Parameters\nx = 2", ["injected-parameters"]),
        _code("import numpy as np"),
        _code("net  # the architecture", ["show-input"]),
        _code("secret = 1", ["remove-input"]),
        _markdown("text"),
    )
    assert fold_code(notebook) == 1
    assert [c["metadata"].get("tags") for c in notebook["cells"]] == [
        ["parameters", "remove-cell"], ["injected-parameters"], ["hide-input"],
        ["show-input"], ["remove-input"], None]


def _figure_output(path):
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/markdown": [f"```{{figure}} {path}.png\n",
                                       f":name: x\n\nCaption. {{download}}`Data "
                                       f"(CSV) <{path}.csv>`\n```\n"],
                     "text/plain": "x"}}


def test_results_the_captions_show_are_copied_into_the_book(tmp_path):
    root, src = tmp_path / "project", tmp_path / "src"
    out = root / "results" / "explore"
    out.mkdir(parents=True)
    (out / "fig_a.png").write_bytes(b"png")
    (out / "fig_a.csv").write_text("x\n1\n")
    notebook = _notebook(_code("page.figure(...)",
                               outputs=[_figure_output("/results/explore/fig_a")]))
    paths = results_paths(notebook)
    assert paths == ["/results/explore/fig_a.png", "/results/explore/fig_a.csv"]
    copy_results(paths, root, src)
    assert (src / "results" / "explore" / "fig_a.csv").read_text() == "x\n1\n"
    with pytest.raises(FileNotFoundError, match="did not write it"):
        copy_results(["/results/explore/gone.png"], root, src)


def test_prepare_chapter(tmp_path):
    root, src = tmp_path / "project", tmp_path / "src"
    out = root / "results" / "explore"
    out.mkdir(parents=True)
    (out / "fig_a.png").write_bytes(b"png")
    (out / "fig_a.csv").write_text("x\n")
    (out / "wall_time.yaml").write_text(yaml.safe_dump({"stage": "explore",
                                                        "seconds": 65.0}))
    executed = out / "05_explore.ipynb"
    executed.write_text(json.dumps(_notebook(
        _markdown("# Explore"), _code("max_side = 160", ["parameters"]),
        _code("page.figure(...)",
              outputs=[_figure_output("/results/explore/fig_a")]))))
    target = tmp_path / "page.ipynb"
    record = prepare_chapter(executed, target, "explore", root, src)
    assert record["seconds"] == 65.0
    page = json.loads(target.read_text())
    assert "its last run took 1.1 min" in page["cells"][0]["source"]
    assert page["cells"][1]["metadata"]["tags"] == ["parameters", "remove-cell"]
    assert page["cells"][2]["metadata"]["tags"] == ["hide-input"]
    assert page["cells"][2]["outputs"] == json.loads(executed.read_text())[
        "cells"][2]["outputs"]  # outputs untouched
    assert (src / "results" / "explore" / "fig_a.png").is_file()


def test_the_widget_package_is_pinned_once():
    package = json.loads((ROOT / "js" / "package.json").read_text())
    pinned = package["dependencies"][static.PACKAGE]
    assert static.locked_version(ROOT / "js") == pinned
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    scripts = config["sphinx"]["config"]["nb_ipywidgets_js"]
    assert list(scripts) == [f"{static.STATIC_DIR}/embed.js"]  # no CDN


def _fake_js(tmp_path, installed: str | None):
    js = tmp_path / "js"
    js.mkdir()
    (js / "package-lock.json").write_text(json.dumps(
        {"packages": {f"node_modules/{static.PACKAGE}": {"version": "1.0.15"}}}))
    if installed:
        dist = js / "node_modules" / static.PACKAGE / "dist"
        dist.mkdir(parents=True)
        (dist.parent / "package.json").write_text(json.dumps({"version":
                                                              installed}))
        for name in ("embed.js", "embed.js.LICENSE.txt", "a1.woff2", "a1.ttf",
                     "embed-amd.js"):
            (dist / name).write_text(name)
    return js


def test_the_widget_manager_copies_only_what_a_page_loads(tmp_path, monkeypatch):
    js = _fake_js(tmp_path, "1.0.15")
    monkeypatch.setattr(static, "install", lambda *a: pytest.fail("reinstalled"))
    copied = static.widget_manager(tmp_path / "static", js)
    assert sorted(p.name for p in copied) == ["a1.woff2", "embed.js",
                                              "embed.js.LICENSE.txt"]


def test_the_widget_manager_installs_the_locked_version(tmp_path, monkeypatch):
    js = _fake_js(tmp_path, "1.0.14")
    calls = []

    def install(js_dir, npm="npm"):
        calls.append(Path(js_dir))
        manifest = js_dir / "node_modules" / static.PACKAGE / "package.json"
        manifest.write_text(json.dumps({"version": "1.0.15"}))

    monkeypatch.setattr(static, "install", install)
    static.widget_manager(tmp_path / "static", js)
    assert calls == [js]


def test_without_npm_the_error_says_what_to_install(tmp_path, monkeypatch):
    js = _fake_js(tmp_path, None)
    monkeypatch.setattr(static.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="install Node.js and npm"):
        static.widget_manager(tmp_path / "static", js)


def test_each_script_is_listed_once():
    from types import SimpleNamespace as Script

    from derain.book.sphinx_assets import unique_scripts

    config = {"body": "const THEBE_JS_URL = 'x'"}
    scripts = [Script(filename=None, attributes=config),
               Script(filename="_static/a.js", attributes={}),
               Script(filename="", attributes=dict(config)),
               Script(filename="_static/a.js", attributes={"async": "async"})]
    assert unique_scripts(scripts) == [scripts[0], scripts[1], scripts[3]]
