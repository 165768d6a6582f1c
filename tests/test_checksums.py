from collections import Counter

import pytest
from conftest import ROOT, data_sets

from derain.cli import main
from derain.data.checksums import (
    DATA_SETS,
    check_data,
    read_manifest,
    set_files,
    write_manifest,
)


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "datasets"
    for name, files in (("Rain100L/input", ["1.png", "2.png"]),
                        ("Rain100L/target", ["1.png", "2.png"]),
                        ("backgrounds/kodak24", ["kodim01.jpg"])):
        (root / name).mkdir(parents=True)
        for file in files:
            (root / name / file).write_bytes(f"{name}/{file}".encode())
    (root / "Rain100L" / "input" / "notes.txt").write_text("not an image")
    manifest = tmp_path / "datasets.sha256"
    assert write_manifest(root, manifest) == 5
    return root, manifest


def test_a_data_folder_as_published(data):
    root, manifest = data
    reports = check_data(root, manifest)
    assert [r.name for r in reports] == list(DATA_SETS)
    by_name = {r.name: r for r in reports}
    assert by_name["Rain100L/input"].as_published
    assert by_name["Rain100L/input"].matching == 2
    assert by_name["real_rain"].as_published  # nothing published, nothing there
    assert "Rain100L/input/notes.txt" not in read_manifest(manifest)


def test_missing_different_and_extra_files_are_named(data, capsys):
    root, manifest = data
    (root / "Rain100L" / "target" / "2.png").unlink()
    (root / "Rain100L" / "input" / "1.png").write_bytes(b"re-encoded")
    (root / "backgrounds" / "kodak24" / "kodim99.jpg").write_bytes(b"mine")
    by_name = {r.name: r for r in check_data(root, manifest)}
    assert by_name["Rain100L/target"].missing == ["Rain100L/target/2.png"]
    assert by_name["Rain100L/input"].different == ["Rain100L/input/1.png"]
    assert by_name["backgrounds/kodak24"].extra == ["backgrounds/kodak24/kodim99.jpg"]
    assert by_name["Rain100L/input"].line(10) == \
        "Rain100L/input 1 of 2 files as published; 1 different: 1.png"
    assert main(["data", "check", "--data-root", str(root), "--manifest",
                 str(manifest)]) == 1
    out = capsys.readouterr().out
    assert "1 missing: 2.png" in out and "1 not in the published set: kodim99.jpg" \
        in out
    assert "Comparable to the book's numbers: only what uses real_rain" in out


def test_an_absent_set_and_folder(data, tmp_path, capsys):
    root, manifest = data
    for path in set_files(root, "backgrounds/kodak24"):
        (root / path).unlink()
    report = {r.name: r for r in check_data(root, manifest)}["backgrounds/kodak24"]
    assert report.absent and report.line(20).endswith("absent (1 files expected)")
    assert main(["data", "check", "--data-root", str(tmp_path / "nowhere")]) == 2
    assert "no such data folder" in capsys.readouterr().err


def test_the_manifest_lists_the_published_sets():
    """The committed checksums: every set of the data README, with its count."""
    entries = read_manifest(ROOT / "datasets.sha256")
    counts = Counter(path.rsplit("/", 1)[0] for path in entries)
    assert counts == {"Rain100L/input": 100, "Rain100L/target": 100,
                      "real_rain": 147, "backgrounds/sun_hays80": 80,
                      "backgrounds/urban100": 100, "backgrounds/kodak24": 24}


def test_the_shared_data_sets_are_as_published():
    root = data_sets("Rain100L")
    if root is None:
        pytest.skip("no data sets linked at datasets/ (make data-link DATA=...)")
    reports = check_data(root, ROOT / "datasets.sha256")
    assert all(r.as_published for r in reports), [r.line() for r in reports]
