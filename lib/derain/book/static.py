"""The JavaScript the rendered book serves itself, so that no page needs the
network: the Jupyter widgets HTML manager, which draws the widgets whose state a
page embeds (the explorer's controls).

The package is pinned by ``js/package.json`` and ``js/package-lock.json`` (with
its integrity hash); :func:`widget_manager` installs it with ``npm ci`` when
``js/node_modules`` lacks that version, and copies what a page loads: the
self-contained ``embed.js`` (the base and core widgets built in, no RequireJS),
its licence and the web fonts its styles name. ``book/_config.yml`` points
myst-nb's ``nb_ipywidgets_js`` at the copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

PACKAGE = "@jupyter-widgets/html-manager"
JS_DIR = Path("js")
STATIC_DIR = "widgets"
"""Folder under the book's ``_static`` that holds the copy."""


def locked_version(js_dir: Path) -> str:
    """The version of :data:`PACKAGE` that ``package-lock.json`` pins."""
    lock = json.loads((Path(js_dir) / "package-lock.json").read_text())
    return lock["packages"][f"node_modules/{PACKAGE}"]["version"]


def installed_version(js_dir: Path) -> str | None:
    manifest = Path(js_dir) / "node_modules" / PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text())["version"]


def install(js_dir: Path, npm: str = "npm") -> None:
    """``npm ci`` in ``js_dir``: exactly the packages of its lock file, no
    install scripts."""
    if shutil.which(npm) is None:
        raise RuntimeError(
            f"the book bundles {PACKAGE} (its widgets work offline) and installs "
            f"it with npm, which is not on PATH: install Node.js and npm (Debian: "
            f"apt-get install npm), or run `make widgets-js` where npm exists")
    result = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund",
         "--loglevel=error"], cwd=js_dir, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"npm ci in {js_dir} failed:\n{result.stderr[-2000:]}")


def widget_manager(dest: Path, js_dir: Path = JS_DIR, npm: str = "npm"
                   ) -> list[Path]:
    """Copies the widgets HTML manager into ``dest`` (installing the locked
    version first when needed). Returns the files copied."""
    js_dir = Path(js_dir)
    if installed_version(js_dir) != locked_version(js_dir):
        install(js_dir, npm)
    dist = js_dir / "node_modules" / PACKAGE / "dist"
    files = [dist / "embed.js", dist / "embed.js.LICENSE.txt",
             *sorted(dist.glob("*.woff2"))]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for file in files:
        shutil.copy2(file, dest / file.name)
        copied.append(dest / file.name)
    return copied
