"""Are a reader's data sets the ones the book used? ``datasets.sha256`` (in the
repository, in ``sha256sum`` format, paths relative to the data folder) lists
every image file of the published sets with its SHA-256. :func:`check_data`
compares a data folder against it, set by set: which files are missing, which
differ, which are extra. Only then are numbers computed on the sets comparable to
the book's: a background set with one photograph more or less gives other
scenes, and a re-encoded Rain100L image other scores.

The data sets themselves are never part of the repository (see the README);
their checksums are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from derain.data.scenes import RAIN100L, REAL_RAIN, TEST_SETS, TRAIN_SETS
from derain.images import IMAGE_SUFFIXES

DATA_SETS = (f"{RAIN100L}/input", f"{RAIN100L}/target", REAL_RAIN, *TRAIN_SETS,
             *TEST_SETS)
"""The folders of a data root whose files the manifest lists."""
MANIFEST = Path("datasets.sha256")


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def set_files(data_root: str | Path, name: str) -> list[str]:
    """The image files of one set, as paths relative to ``data_root`` (POSIX),
    sorted; empty when the folder is absent."""
    root = Path(data_root)
    folder = root / name
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def write_manifest(data_root: str | Path, manifest: str | Path = MANIFEST,
                   sets: tuple[str, ...] = DATA_SETS) -> int:
    """Writes the checksums of every file of ``sets`` under ``data_root`` to
    ``manifest``; returns the number of files."""
    lines = [f"{sha256(Path(data_root) / path)}  {path}"
             for name in sets for path in set_files(data_root, name)]
    if not lines:
        raise FileNotFoundError(f"{data_root}: none of the sets {list(sets)}")
    Path(manifest).write_text("\n".join(lines) + "\n")
    return len(lines)


def read_manifest(manifest: str | Path = MANIFEST) -> dict[str, str]:
    """path -> SHA-256, from a ``sha256sum``-format file."""
    entries = {}
    for number, line in enumerate(Path(manifest).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, path = line.partition("  ")
        if len(digest) != 64 or not path:
            raise ValueError(f"{manifest}:{number}: not '<sha256>  <path>'")
        entries[path] = digest
    return entries


@dataclass
class SetReport:
    """One set of a data folder against the manifest. ``missing``, ``different``
    and ``extra`` hold paths relative to the data folder."""

    name: str
    expected: int
    matching: int = 0
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def absent(self) -> bool:
        return self.matching == 0 and not self.different and not self.extra

    @property
    def as_published(self) -> bool:
        return not (self.missing or self.different or self.extra)

    def line(self, width: int = 24, shown: int = 5) -> str:
        """One line of the report: the set and what differs from the published
        set (at most ``shown`` file names per kind)."""
        if self.as_published:
            return f"{self.name:<{width}} as published ({self.expected} files)"
        if self.absent:
            return f"{self.name:<{width}} absent ({self.expected} files expected)"

        def some(paths):
            names = ", ".join(Path(p).name for p in paths[:shown])
            return names + (f" and {len(paths) - shown} more"
                            if len(paths) > shown else "")

        parts = [f"{self.matching} of {self.expected} files as published"]
        for label, paths in (("missing", self.missing),
                             ("different", self.different),
                             ("not in the published set", self.extra)):
            if paths:
                parts.append(f"{len(paths)} {label}: {some(paths)}")
        return f"{self.name:<{width}} " + "; ".join(parts)


def check_data(data_root: str | Path, manifest: str | Path = MANIFEST
               ) -> list[SetReport]:
    """Compares the sets under ``data_root`` with ``manifest``, one report per
    set of :data:`DATA_SETS` (in that order)."""
    expected = read_manifest(manifest)
    reports = []
    for name in DATA_SETS:
        listed = {p: d for p, d in expected.items()
                  if p.rsplit("/", 1)[0] == name}
        found = set(set_files(data_root, name))
        report = SetReport(name, len(listed))
        for path, digest in sorted(listed.items()):
            if path not in found:
                report.missing.append(path)
            elif sha256(Path(data_root) / path) != digest:
                report.different.append(path)
            else:
                report.matching += 1
        report.extra = sorted(found - set(listed))
        reports.append(report)
    return reports
