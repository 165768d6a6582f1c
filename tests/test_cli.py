import json

import numpy as np
import pytest
from conftest import data_sets
from PIL import Image

from derain.cli import main
from derain.evaluation import save_model
from derain.metrics import evaluate_folders
from derain.nets import DerainNet


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    for sub in ("input", "target"):
        (tmp_path / sub).mkdir()
    for name in ("a.png", "b.png"):
        target = rng.integers(0, 200, (24, 20, 3), dtype=np.uint8)
        rainy = np.clip(target.astype(int) + rng.integers(0, 40, target.shape), 0, 255)
        Image.fromarray(target).save(tmp_path / "target" / name)
        Image.fromarray(rainy.astype(np.uint8)).save(tmp_path / "input" / name)
    ckpt = tmp_path / "model.pt"
    save_model(ckpt, DerainNet(width=2))
    return tmp_path, ckpt


def test_evaluate_json_matches_the_metrics_code(folders, capsys):
    root, ckpt = folders
    code = main(["evaluate", "--checkpoint", str(ckpt), "--input", str(root / "input"),
                 "--target", str(root / "target"), "--json"])
    assert code == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == {"psnr", "ssim", "n"} and scores["n"] == 2
    # An untrained model is the identity, so it scores exactly as the input does.
    reference = evaluate_folders(root / "input", root / "target")
    assert scores["psnr"] == pytest.approx(reference["psnr"], abs=0.02)
    assert scores["ssim"] == pytest.approx(reference["ssim"], abs=1e-3)


def test_evaluate_table(folders, capsys):
    root, ckpt = folders
    main(["evaluate", "--checkpoint", str(ckpt), "--input", str(root / "input"),
          "--target", str(root / "target")])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("a.png") and out[-1].startswith("mean")


def test_missing_checkpoint_is_one_clear_line(folders, capsys):
    root, _ = folders
    code = main(["evaluate", "--checkpoint", str(root / "nope.pt"), "--input",
                 str(root / "input"), "--target", str(root / "target")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "nope.pt" in err and len(err.splitlines()) == 1


def test_corrupt_image_names_the_file(folders, capsys):
    root, ckpt = folders
    (root / "input" / "b.png").write_bytes(b"not a png at all")
    code = main(["evaluate", "--checkpoint", str(ckpt), "--input", str(root / "input"),
                 "--target", str(root / "target"), "--json"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "b.png" in err and "Traceback" not in err


def test_not_a_checkpoint(tmp_path, folders, capsys):
    root, _ = folders
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"\x00" * 10)
    code = main(["evaluate", "--checkpoint", str(bogus), "--input", str(root / "input"),
                 "--target", str(root / "target")])
    assert code == 2 and "bogus.pt" in capsys.readouterr().err


def test_rain100l_input_check_through_the_cli_path():
    root = data_sets("Rain100L")
    if root is None:
        pytest.skip("Rain100L not present")
    scores = evaluate_folders(root / "Rain100L" / "input", root / "Rain100L" / "target")
    assert scores["psnr"] == pytest.approx(26.90, abs=0.01)
