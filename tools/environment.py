"""Writes environment.yml (conda) from requirements.txt, so that the two list the
same packages: `make environment.yml`, or
`python tools/environment.py requirements.txt > environment.yml`.

Standard library only: it runs before any environment exists.
"""

import sys
from pathlib import Path

PYTHON = "3.11"
# conda's pip takes this index too: PyPI has no CPU-only build of torch.
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def requirements(text: str) -> list[str]:
    """The requirement lines of a requirements file (no comments, no blanks)."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def environment_yml(text: str) -> str:
    """environment.yml for the requirements ``text``."""
    pip = "\n".join(f"      - {_quoted(r)}" for r in requirements(text))
    return f"""\
# Generated from requirements.txt by `make environment.yml` (tools/environment.py);
# edit requirements.txt instead. The pip route (make env) installs the exact
# versions of requirements.lock; conda resolves the same names.
# conda env create -f environment.yml && conda activate derain
# pip install --no-deps -e .
name: derain
channels:
  - conda-forge
dependencies:
  - python={PYTHON}
  - pip
  - pip:
      - --extra-index-url {TORCH_INDEX}
{pip}
"""


def _quoted(requirement: str) -> str:
    # YAML reads ">=2" and the like as plain strings, but not every character.
    return f'"{requirement}"' if any(c in requirement for c in ">:{}[]&*!|'%@`") \
        else requirement


if __name__ == "__main__":
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.txt")
    sys.stdout.write(environment_yml(source.read_text()))
