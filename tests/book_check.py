"""Opens a built book in headless Chromium and reports what a reader would find
broken: images that do not load, internal links to nowhere, empty tables, files
fetched from the network, errors on the console with the network off, and an
explorer whose offline control does not change the image it shows."""

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
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
    """What a rendered page holds: its images, links, ids, tables (the count of
    their cells), the files it loads, and the tables, figures and images of its
    main text that carry no number (Sphinx's ``caption-number``)."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.ids = [], [], set()
        self.tables, self._cells = [], None
        self.fetched = []  # what the page loads: scripts, styles, frames, images
        self.unnumbered = []
        self._main = False
        # The tables and figures of the main text still open:
        # [tag, numbered, the first words of their text].
        self._open: list[list] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("script", "img", "iframe", "source") and attrs.get("src"):
            self.fetched.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.fetched.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        elif tag == "table":
            self._cells = 0
        elif tag == "td" and self._cells is not None:
            self._cells += 1
        self._numbering(tag, attrs)

    def _numbering(self, tag, attrs):
        if tag == "main":
            self._main = True
        if not self._main:
            return
        if tag in ("table", "figure"):
            self._open.append([tag, False, ""])
        elif tag == "img" and not any(t == "figure" for t, *_ in self._open):
            self.unnumbered.append(f"image: {attrs.get('src', '')[:100]}")
        if "caption-number" in (attrs.get("class") or "").split():
            for element in self._open:
                element[1] = True

    def handle_data(self, data):
        for element in self._open:
            if len(element[2]) < 100:
                element[2] = " ".join(f"{element[2]} {data}".split())

    def handle_endtag(self, tag):
        if tag == "table" and self._cells is not None:
            self.tables.append(self._cells)
            self._cells = None
        if tag == "main":
            self._main = False
        if tag in ("table", "figure") and self._open and self._open[-1][0] == tag:
            _, numbered, words = self._open.pop()
            if not numbered:
                self.unnumbered.append(f"{tag}: {words[:100]}")


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
    """Visits every page of the book in headless Chromium with the network off;
    returns the problems found (empty when the book is sound): console errors,
    uncaught exceptions, requests for the network, files a page would load from
    another host, images that do not load, broken links and anchors, empty
    tables. Leaves a screenshot of each page (1280x2000) in ``shots``."""
    shots.mkdir(parents=True, exist_ok=True)
    html_dir = html_dir.resolve()
    parsed = {}
    problems = []
    with Browser(chromium()) as browser:
        browser.send("Emulation.setDeviceMetricsOverride", width=1280, height=2000,
                     deviceScaleFactor=1, mobile=False)
        for page in book_pages(html_dir):
            try:
                browser.open(page.as_uri())
            except TimeoutError:
                problems.append(f"{page.name}: Chromium did not finish loading it")
                continue
            problems += [f"{page.name}: {problem}" for problem in browser.problems()]
            dom = browser.evaluate("document.documentElement.outerHTML") or ""
            if "<body" not in dom:
                problems.append(f"{page.name}: Chromium rendered no page")
                continue
            parser = _Page()
            parser.feed(dom)
            parsed[page] = parser
            name = page.relative_to(html_dir).with_suffix("").as_posix().replace(
                "/", "_")
            shot = browser.send("Page.captureScreenshot", format="png")
            (shots / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
    for page, parser in parsed.items():
        for src in parser.fetched:
            if urlparse(src).scheme in ("http", "https") or src.startswith("//"):
                problems.append(f"{page.name}: loads {src} from the network")
        for src in parser.images:
            # Images the widgets draw from the page's embedded state (blob URLs)
            # are checked by check_offline_control.
            if src.startswith("blob:"):
                continue
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


# ---------------------------------------------------------------- DevTools


class Browser:
    """Headless Chromium driven over the DevTools protocol, with the network
    off: open a page, run JavaScript in it, press keys, and collect what went
    wrong (console errors, uncaught exceptions, requests that left the
    machine)."""

    def __init__(self, browser: str, timeout: float = 60):
        import websocket  # websocket-client

        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory()
        self._process = subprocess.Popen(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile.name}",
             "--remote-debugging-port=0", "--remote-allow-origins=*",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # Its own process group: closing stops its helpers too (renderers,
            # crash handler), which otherwise write into the profile as it goes.
            start_new_session=True)
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                    timeout=timeout) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        self._socket = websocket.create_connection(page["webSocketDebuggerUrl"],
                                                   timeout=timeout)
        self._id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Network.emulateNetworkConditions", offline=True, latency=0,
                  downloadThroughput=-1, uploadThroughput=-1)

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self._socket.send(json.dumps({"id": self._id, "method": method,
                                      "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def _pump(self, seconds: float) -> None:
        """Reads events for ``seconds`` (they arrive between commands)."""
        self._socket.settimeout(0.1)
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                try:
                    self.events.append(json.loads(self._socket.recv()))
                except Exception:  # a receive timeout: nothing pending
                    pass
        finally:
            self._socket.settimeout(self.timeout)

    def open(self, url: str, settle: float = 1.0) -> None:
        """Navigates to ``url`` and waits for its load event and ``settle``
        seconds more (scripts that run after it)."""
        self.events = []
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired"
                      for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: no load event")
            self._pump(0.2)
        self._pump(settle)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}: "
                               f"{result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        """Evaluates ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            self._pump(0.2)

    def press(self, key: str, code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code)
        self._pump(0.5)

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and network requests since the
        last :meth:`open`."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in (
                    "error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", "")))
                                for a in params.get("args", []))
                found.append(f"console error: {text[:200]}")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or \
                    details.get("text")
                found.append(f"uncaught exception: {str(text)[:200]}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                found.append(f"console error: {entry.get('text', '')[:160]} "
                             f"{entry.get('url', '')}".rstrip())
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if urlparse(url).scheme in ("http", "https", "ws", "wss"):
                    found.append(f"network request: {url[:160]}")
        return found

    def close(self) -> None:
        try:
            self._socket.close()
        except Exception:
            pass
        group = self._process.pid  # the group this browser leads
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            try:
                self._process.wait(10)
                break
            except subprocess.TimeoutExpired:
                pass
        # A helper may still be closing its files in the profile for a moment.
        for _ in range(50):
            try:
                self._profile.cleanup()
                return
            except OSError:
                time.sleep(0.1)
        shutil.rmtree(self._profile.name, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def book_pages(html_dir: Path) -> list[Path]:
    """The book's pages (not the search page, the index, or the redirect)."""
    return sorted(p for p in Path(html_dir).resolve().rglob("*.html")
                  if "_static" not in p.parts
                  and p.name not in ("search.html", "genindex.html")
                  and 'http-equiv="Refresh"' not in p.read_text())


# What the offline control shows: a digest of the pixels of each visible image
# (the widgets draw images from blob URLs that change with every drawing).
_SHOWN = """(() => {
  const root = document.querySelector('.%s');
  if (!root) return null;
  const shown = [...root.querySelectorAll('img')].filter(
      i => i.offsetParent !== null && i.complete && i.naturalWidth > 0);
  if (!shown.length) return null;
  return shown.map(i => {
    const canvas = document.createElement('canvas');
    canvas.width = i.naturalWidth;
    canvas.height = i.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(i, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let digest = 0;
    for (let k = 0; k < pixels.length; k++) digest = (digest * 31 + pixels[k]) >>> 0;
    return canvas.width + 'x' + canvas.height + ':' + digest;
  }).join(' ');
})()"""
_FOCUS = """(() => {
  const handles = document.querySelectorAll('.%s .noUi-handle');
  if (handles.length <= %d) return false;
  handles[%d].focus();
  return document.activeElement === handles[%d];
})()"""


def check_offline_control(page: Path, css_class: str) -> dict:
    """Opens the explorer page with the network off, waits for the widgets to be
    drawn from the page's embedded state, moves the rain slider one step right,
    then the before/after slider one step left, and reads which image is shown
    after each move. Returns ``{"drawn", "shown": [three image ids], "problems"}``.
    """
    with Browser(chromium()) as browser:
        browser.open(Path(page).resolve().as_uri())
        first = browser.wait_for(_SHOWN % css_class, timeout=30)
        shown = [first]
        for index, key, code in ((0, "ArrowRight", 39), (1, "ArrowLeft", 37)):
            if not browser.evaluate(_FOCUS % (css_class, index, index, index)):
                shown.append(None)
                continue
            browser.press(key, code)
            shown.append(browser.wait_for(
                f"(v => v !== {json.dumps(shown[-1])} && v)({_SHOWN % css_class})",
                timeout=10) or browser.evaluate(_SHOWN % css_class))
        return {"drawn": bool(first), "shown": shown,
                "problems": browser.problems()}


def unnumbered(page: str) -> list[str]:
    """The tables, figures and images of a rendered page's main text that have
    no number (Sphinx's ``caption-number``): a reader could not point at them.
    An image counts as numbered inside a numbered figure."""
    parsed = _Page()
    parsed.feed(page)
    return parsed.unnumbered
