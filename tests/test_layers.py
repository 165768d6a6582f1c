"""The library's layers (pyproject.toml, [tool.importlinter]): nothing imports
upwards and there is no cycle. Checked with import-linter on the package as it is,
and on a copy with one upward import, to show the check can fail."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

LINT = Path(sys.executable).parent / "lint-imports"


def lint(lib: Path, config: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(lib))
    return subprocess.run([str(LINT), "--config", str(config), "--no-cache"],
                          capture_output=True, text=True, env=env, cwd=lib.parent)


def test_layers_contract_is_kept():
    result = lint(ROOT / "lib", ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "lib" / "derain", lib / "derain",
                    ignore=shutil.ignore_patterns("__pycache__"))
    metrics = lib / "derain" / "metrics.py"
    # A leaf that reaches up into the training loop, as gt_rain_loss once did.
    metrics.write_text(metrics.read_text() + "\n\ndef _late():\n"
                       "    from derain.training import train\n\n    return train\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = lint(lib, tmp_path / "pyproject.toml")
    assert result.returncode != 0
    assert "derain.metrics -> derain.training" in result.stdout
