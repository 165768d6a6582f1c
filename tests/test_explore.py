import datetime
import io

import numpy as np
import pytest
import torch
from PIL import Image

from derain.book.explore import (
    OFFLINE_CLASS,
    RAIN_STRENGTHS,
    REAL,
    SYNTHETIC,
    UPLOAD,
    Explorer,
    OfflineControl,
    error_map,
    find_models,
    fit,
    precompute,
    states_figure,
    to_png,
)
from derain.evaluation import save_model
from derain.metrics import psnr, ssim
from derain.nets import DerainNet
from derain.rain import FrameRain, render_frame

MAX_SIDE = 48


def _scene(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth colour image, (h, w, 3) float32 in [0.1, 0.7]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    phase = rng.uniform(0, np.pi, 3)
    return (0.4 + 0.3 * np.sin(3 * x[..., None] + 2 * y[..., None] + phase)).astype(
        np.float32)


def _save(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(rgb * 255).astype(np.uint8)).save(path)


def _model(path, seed):
    torch.manual_seed(seed)
    net = DerainNet(width=2)
    # A zero last layer (the constructor's) is the identity; a random one derains
    # visibly, so a change of model changes the output.
    torch.nn.init.normal_(net.dec1[-1].weight, std=0.05)
    save_model(path, net)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explore")
    models = tmp / "results"
    _model(models / "m" / "model.pt", 0)
    _model(models / "m" / "variant" / "model.pt", 1)
    root = tmp / "datasets"
    target = _scene(40, 44, 0)
    rain = FrameRain(angle=10, density=0.01, length=8, width=0.8, intensity=0.8)
    _save(root / "Rain100L" / "target" / "1.png", target)
    _save(root / "Rain100L" / "input" / "1.png",
          render_frame(target, rain, np.random.default_rng(0)))
    # Larger than MAX_SIDE, so the live view must downscale it.
    _save(root / "real_rain" / "photo.png",
          render_frame(_scene(64, 96, 1), rain, np.random.default_rng(1)))
    data_dir = tmp / "data"
    _save(data_dir / "clean" / "test" / "kodak_bg.png", _scene(40, 40, 2))
    return {"models": find_models(models), "root": root, "data_dir": data_dir}


@pytest.fixture
def explorer(setup):
    return Explorer(setup["models"], data_root=setup["root"],
                    data_dir=setup["data_dir"], max_side=MAX_SIDE, device="cpu")


def test_find_models_labels_by_folder_main_model_first(setup, tmp_path):
    assert list(setup["models"]) == ["m", "m/variant"]
    assert find_models(tmp_path) == {}


def test_fit_downscales_the_long_side_only():
    image = np.random.default_rng(0).random((30, 90, 3), dtype=np.float32)
    small = fit(image, 45)
    assert small.shape == (15, 45, 3) and small.dtype == np.float32
    assert 0 <= small.min() and small.max() <= 1
    assert np.array_equal(fit(image, 100), image)
    assert fit(image, None).shape == image.shape


def test_error_map_is_black_where_exact():
    a = np.full((4, 4, 3), 0.5, np.float32)
    b = a.copy()
    b[0, 0] = 1.0
    error = error_map(a, b)
    assert error.shape == (4, 4, 3)
    assert error[1, 1].max() < 0.05 and error[0, 0].sum() > 1.5


def test_starts_on_the_synthetic_scene_with_every_source(explorer):
    assert list(explorer.source.options) == ["Rain100L", REAL, SYNTHETIC, UPLOAD]
    assert list(explorer.model.options) == ["m", "m/variant"]
    assert explorer.source.value == SYNTHETIC
    assert explorer.image.value == "kodak_bg"
    assert not any(s.disabled for s in explorer.sliders)
    view = explorer.view
    assert view.rainy.shape == (40, 40, 3) and view.has_ground_truth
    assert bytes(explorer.rainy_image.value).startswith(b"\x89PNG")
    assert "PSNR" in explorer.scores.value and explorer.error_note.value == ""


def test_sliders_rerender_the_rain_and_the_scores(explorer):
    before_png, before_scores = explorer.rainy_image.value, explorer.scores.value
    before = explorer.view
    explorer.angle.value = 40
    after = explorer.view
    assert after.rain_params.angle == 40
    assert explorer.rainy_image.value != before_png
    assert explorer.scores.value != before_scores
    # The clean target is untouched; only the rain moved.
    assert np.array_equal(after.target, before.target)
    assert not np.array_equal(after.rainy, before.rainy)
    # A fixed seed: back to the old angle, back to the very same frame.
    explorer.angle.value = before.rain_params.angle
    assert np.array_equal(explorer.view.rainy, before.rainy)


def test_veil_brightens_the_frame(explorer):
    dry = explorer.view.rainy.mean()
    explorer.accumulation.value = 0.4
    assert explorer.view.rain_params.accumulation == pytest.approx(0.4)
    assert explorer.view.rainy.mean() > dry + 0.05


def test_set_changes_several_controls_with_one_render(explorer, monkeypatch):
    calls = []
    compute = explorer.compute
    monkeypatch.setattr(explorer, "compute", lambda: calls.append(1) or compute())
    view = explorer.set(angle=-20, density=0.005, length=30)
    assert len(calls) == 1
    assert (view.rain_params.angle, view.rain_params.length) == (-20, 30)
    with pytest.raises(ValueError, match="unknown controls"):
        explorer.set(colour=1)


def test_model_choice_changes_the_output_only(explorer):
    before = explorer.view
    explorer.model.value = "m/variant"
    after = explorer.view
    assert after.model == "m/variant"
    assert np.array_equal(after.rainy, before.rainy)
    assert not np.array_equal(after.output, before.output)
    assert "m/variant" in explorer.output_caption.value


def test_rain100l_scores_match_the_metrics(explorer):
    explorer.source.value = "Rain100L"
    view = explorer.view
    assert view.name == "1.png" and view.rain_params is None
    assert all(s.disabled for s in explorer.sliders)
    assert view.psnr == pytest.approx(psnr(view.output, view.target))
    assert view.ssim == pytest.approx(ssim(view.output, view.target))
    assert view.input_psnr == pytest.approx(psnr(view.rainy, view.target))
    assert f"PSNR {view.psnr:.2f} dB" in explorer.scores.value
    assert explorer.error_image.layout.display is None
    # Sliders do nothing to a photograph.
    explorer.angle.value = -45
    assert np.array_equal(explorer.view.rainy, view.rainy)


def test_real_photo_has_no_ground_truth(explorer):
    explorer.source.value = REAL
    view = explorer.view
    assert not view.has_ground_truth and view.psnr is None
    assert view.rainy.shape == (32, 48, 3)  # 64x96 downscaled to MAX_SIDE
    assert "no ground truth" in explorer.error_note.value
    assert "no ground truth" in explorer.scores.value
    assert explorer.error_image.layout.display == "none"
    assert bytes(explorer.rain_image.value).startswith(b"\x89PNG")


def _upload_item(name, data):
    return {"name": name, "type": "image/png", "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime.now(datetime.UTC)}


def test_upload_becomes_the_shown_image(explorer):
    explorer.source.value = UPLOAD
    assert explorer.view is None and "upload" in explorer.scores.value
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 100, 3), 90, np.uint8)).save(buffer, format="PNG")
    explorer.source.value = SYNTHETIC
    explorer.upload.value = (_upload_item("mine.png", buffer.getvalue()),)
    assert explorer.source.value == UPLOAD and explorer.image.value == "mine.png"
    assert explorer.view.rainy.shape == (10, 48, 3)
    assert "no ground truth" in explorer.error_note.value


def test_unreadable_upload_only_sets_the_status(explorer):
    before = explorer.view
    explorer.add_upload("notes.png", b"not an image")
    assert "notes.png" in explorer.status.value
    assert "not a recognised image" in explorer.status.value
    assert explorer.view is before and explorer.source.value == SYNTHETIC


def test_absent_sources_are_left_out_and_said(setup):
    explorer = Explorer(setup["models"], data_root=None, data_dir=setup["data_dir"],
                        max_side=MAX_SIDE, device="cpu")
    assert list(explorer.source.options) == [SYNTHETIC, UPLOAD]
    assert "Rain100L absent" in explorer.status.value
    only_upload = Explorer(setup["models"], max_side=MAX_SIDE, device="cpu")
    assert list(only_upload.source.options) == [UPLOAD]
    assert only_upload.view is None
    with pytest.raises(ValueError, match="no models"):
        Explorer({})


def test_displays_as_a_widget_and_draws_a_static_figure(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    views = [explorer.view, explorer.set(source=REAL)]
    fig = states_figure(views)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["no ground truth"]
    assert len(fig.axes) == 8


def test_precompute_every_model_at_every_rain_strength(explorer):
    views = precompute(explorer)
    assert list(views) == [(s, m) for s in RAIN_STRENGTHS for m in ("m", "m/variant")]
    light, heavy = views[("light", "m")], views[("heavy", "m")]
    assert light.rain_params.density < heavy.rain_params.density
    assert np.array_equal(light.target, heavy.target)  # one scene
    assert not np.array_equal(views[("light", "m")].output,
                              views[("light", "m/variant")].output)


def test_offline_control_links_every_control_to_the_images_in_the_browser(
        explorer):
    """The page has no kernel: each control is jslinked to the stacks that hold
    the precomputed images, and following the stacks' selected indices for any
    setting of the controls lands on that setting's image."""
    views = precompute(explorer)
    control = OfflineControl(views)
    assert OFFLINE_CLASS in control.widget._dom_classes
    # One link from the rain slider to the outer stack; per strength one from
    # the before/after slider and one from the model menu.
    assert len(control.links) == 1 + 2 * len(RAIN_STRENGTHS)
    for link in control.links:
        assert type(link).__name__ == "Link"  # jslink: kept in the widget state
        assert link.source[0] in (control.strength, control.side, control.model)
        assert link.source[1] == "index"
        assert type(link.target[0]).__name__ == "Stack"
        assert link.target[1] == "selected_index"
    outer = control.widget.children[-1].children[0]
    for i, strength in enumerate(control.strength.options):
        for j, side in enumerate(control.side.options):
            for k, model in enumerate(control.model.options):
                chosen = outer.children[i].children[j]
                if side == OfflineControl.AFTER:
                    chosen = chosen.children[k]
                image = chosen.children[0]
                control.strength.value, control.side.value = strength, side
                control.model.value = model
                assert image is control.shown()
                expected = views[(strength, model)]
                pixels = expected.output if side == OfflineControl.AFTER \
                    else expected.rainy
                assert bytes(image.value) == to_png(pixels)
    with pytest.raises(ValueError, match="no precomputed views"):
        OfflineControl({})



def test_offline_control_moves_in_chromium_without_a_network(explorer, tmp_path):
    """The control as a page of its own (its widget state embedded, the book's
    bundled widget manager beside it), opened in headless Chromium with the
    network off: moving each slider changes the image shown, and nothing is
    fetched or logged as an error."""
    import shutil

    from book_check import check_offline_control, chromium
    from conftest import ROOT
    from ipywidgets.embed import embed_minimal_html

    from derain.book import static

    if chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    if static.installed_version(ROOT / "js") is None and shutil.which("npm") is None:
        pytest.skip("the widget manager is not installed and npm is absent")
    static.widget_manager(tmp_path / "widgets", ROOT / "js")
    control = OfflineControl(precompute(explorer))
    page = tmp_path / "control.html"
    # cors=False: a crossorigin script is refused from a file:// page.
    embed_minimal_html(page, views=[control.widget], requirejs=False, cors=False,
                       embed_url="widgets/embed.js")
    assert "http" not in page.read_text().split("<body>")[0]
    result = check_offline_control(page, OFFLINE_CLASS)
    assert not result["problems"], result
    first, stronger_rain, before = result["shown"]
    assert first and stronger_rain and before, result
    assert len({first, stronger_rain, before}) == 3, result
