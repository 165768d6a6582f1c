"""The project's import graph, read from the source (every ``import`` statement,
those inside functions included): which modules of ``lib/derain`` a notebook or a
module needs, directly or not. Importing a module runs its packages'
``__init__`` too, so those count as needed."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "lib"
PACKAGE = "derain"


def module_file(name: str) -> Path | None:
    """The file of a project module (``derain.nets`` -> its ``__init__.py``)."""
    base = LIB / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def direct_imports(path: Path) -> set[str]:
    """The project modules a file imports (``from a import b`` counts ``a.b`` when
    that is a module, else ``a``), with the packages above them."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = []
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.append(sub if module_file(sub) else node.module)
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                if module_file(name):
                    found.add(name)
                    found.update(p for p in _parents(name) if module_file(p))
    return found


@cache
def closure(name: str) -> frozenset[str]:
    """A project module and every project module it needs, directly or not."""
    seen = {name, *(p for p in _parents(name) if module_file(p))}
    todo = list(seen)
    while todo:
        current = todo.pop()
        for dep in direct_imports(module_file(current)):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return frozenset(seen)


def needed_files(source: Path) -> set[Path]:
    """The files of ``lib/derain`` that running ``source`` (a notebook or a
    module) executes, relative to the project root."""
    modules: set[str] = set()
    for name in direct_imports(source):
        modules |= closure(name)
    return {module_file(m).relative_to(ROOT) for m in modules}


def covered(path: Path, deps: list[str]) -> bool:
    """Whether a DVC dependency list covers ``path``: the file itself or a folder
    above it."""
    return any(path == Path(d) or Path(d) in path.parents for d in deps)
