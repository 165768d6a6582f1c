"""Opens a built book in headless Chromium and reports what a reader would find
broken: images that do not load, internal links to nowhere, empty tables."""

import base64
import io
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.ids = [], [], set()
        self.tables, self._cells = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "table":
            self._cells = 0
        elif tag == "td" and self._cells is not None:
            self._cells += 1

    def handle_endtag(self, tag):
        if tag == "table" and self._cells is not None:
            self.tables.append(self._cells)
            self._cells = None


def _run(browser: str, *args: str, timeout: float = 60) -> str:
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                              *args], capture_output=True, text=True,
                             timeout=timeout)
    return out.stdout


def _image_ok(src: str, page: Path) -> bool:
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        path = (page.parent / unquote(urlparse(src).path)).resolve()
        if not path.is_file():
            return False
        data = path.read_bytes()
        if path.suffix == ".svg":
            return b"<svg" in data
    try:
        Image.open(io.BytesIO(data)).load()
    except Exception:
        return False
    return True


def check_book(html_dir: Path, shots: Path) -> list[str]:
    """Visits every page of the book; returns the problems found (empty when the
    book is sound) and leaves a screenshot of each page in ``shots``."""
    browser = chromium()
    shots.mkdir(parents=True, exist_ok=True)
    html_dir = html_dir.resolve()
    # index.html only redirects to the first page (a meta refresh).
    pages = sorted(p for p in html_dir.rglob("*.html")
                   if "_static" not in p.parts
                   and p.name not in ("search.html", "genindex.html")
                   and 'http-equiv="Refresh"' not in p.read_text())
    parsed = {}
    problems = []
    for page in pages:
        try:
            dom = _run(browser, "--dump-dom", page.as_uri())
        except subprocess.TimeoutExpired:
            problems.append(f"{page.name}: Chromium did not finish loading it")
            continue
        if "<body" not in dom:
            problems.append(f"{page.name}: Chromium rendered no page")
            continue
        parser = _Page()
        parser.feed(dom)
        parsed[page] = parser
        name = page.relative_to(html_dir).with_suffix("").as_posix().replace("/", "_")
        try:
            _run(browser, "--window-size=1280,2000",
                 f"--screenshot={shots / name}.png", page.as_uri())
        except subprocess.TimeoutExpired:
            problems.append(f"{page.name}: no screenshot (Chromium timed out)")
    for page, parser in parsed.items():
        for src in parser.images:
            if not _image_ok(src, page):
                problems.append(f"{page.name}: image does not load: {src[:80]}")
        for cells in parser.tables:
            if cells == 0:
                problems.append(f"{page.name}: empty table")
        for href in parser.links:
            url = urlparse(href)
            if url.scheme or href.startswith("mailto:"):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if not target.exists():
                problems.append(f"{page.name}: broken link {href}")
            elif url.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else None
                if ids is not None and url.fragment not in ids:
                    problems.append(f"{page.name}: missing anchor {href}")
    return problems
