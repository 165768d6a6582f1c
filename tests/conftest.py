from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def data_sets(required: str = "") -> Path | None:
    """The project's data folder (``datasets/``, which ``make test`` links to the
    data sets) when it holds ``required``; None otherwise, and the tests that need
    it skip."""
    folder = ROOT / "datasets"
    return folder.resolve() if (folder / required).is_dir() else None

TINY_RAIN = {}  # RainSampler defaults


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A few small time-lapse scenes on scikit-image's bundled photographs."""
    from derain.data import render_dataset

    out = tmp_path_factory.mktemp("data")
    render_dataset(out, None, train_frames=4, test_frames=2, scene_size=48,
                   test_size=48, n_val=1, crops_per_image=1, max_train_scenes=4,
                   rain=TINY_RAIN, seed=0)
    return out


# The test that starts the smoke pipelines (tests/test_pipeline.py).
SMOKE_START = "test_the_smoke_pipelines_start"


def pytest_collection_modifyitems(config, items):
    """The two smoke pipelines run for minutes, mostly on one core each: when a
    selected test waits for them, the test that starts them goes first, so the
    rest of the suite runs while they do instead of before them."""
    start = [item for item in items if item.name == SMOKE_START]
    if start and any("smoke" in item.fixturenames for item in items):
        items.remove(start[0])
        items.insert(0, start[0])
