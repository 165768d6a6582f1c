"""An interactive view of the trained models: pick a checkpoint and an image (a
Rain100L pair, a real rainy photograph, a synthetic scene whose rain is rendered
live from sliders, or an uploaded file) and see the rainy input, the derained
output, the estimated rain layer and, where ground truth exists, the error map
with PSNR/SSIM.

:class:`Explorer` builds the ipywidgets and keeps every result as plain attributes
(:attr:`Explorer.view`, the widgets' values), so it can be driven without a browser:
set a widget's ``value`` and read what the reader would see.

Images are ``(H, W, 3) float32 in [0, 1]`` throughout, as in the rest of the
project. The live view is downscaled to at most ``max_side`` pixels on its long
side, so its scores are those of the downscaled images, not of chapter 3's
full-size protocol.
"""

from __future__ import annotations

import html
import io
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ipywidgets as w
import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image

from derain.data import RAIN100L, REAL_RAIN, PairedFolder, UnpairedFolder
from derain.evaluation import derain, load_model, pick_device
from derain.images import ImageError, list_images, load_image
from derain.metrics import psnr, ssim
from derain.nets import DerainNet
from derain.rain import FrameRain, render_frame

__all__ = [
    "DEFAULT_RAIN",
    "FIXED_RAIN",
    "OFFLINE_CLASS",
    "RAIN_STRENGTHS",
    "REAL",
    "SOURCES",
    "SYNTHETIC",
    "UPLOAD",
    "Explorer",
    "OfflineControl",
    "View",
    "error_map",
    "find_models",
    "fit",
    "precompute",
    "states_figure",
    "to_png",
]

SYNTHETIC, UPLOAD, REAL = "synthetic", "upload", "real rain"
SOURCES = (RAIN100L, REAL, SYNTHETIC, UPLOAD)
"""Image sources in menu order; those whose folder is absent are left out."""

# Streak fields the sliders leave alone, and the sliders' start: about the middle
# of the training scenes' ranges (params.yaml, data.rain), so the view starts on
# rain like that the models learned from.
FIXED_RAIN = {"width": 0.9, "intensity": 0.5, "layers": 3}
DEFAULT_RAIN = {"angle": 15.0, "density": 0.002, "length": 25.0, "accumulation": 0.0}
# Three settings of the sliders for the control over precomputed views: light rain,
# the sliders' start, heavy slanted rain under a veil.
RAIN_STRENGTHS = {
    "light": {"angle": 10.0, "density": 0.0008, "length": 15.0, "accumulation": 0.0},
    "medium": DEFAULT_RAIN,
    "heavy": {"angle": -35.0, "density": 0.006, "length": 50.0, "accumulation": 0.3},
}
OFFLINE_CLASS = "derain-offline-control"
"""CSS class of the control over precomputed views (the browser test finds it)."""
RAIN_GAIN = 4.0  # the rain layer and the error map are faint: shown x4, as in ch. 3
_CONTROLS = ("model", "source", "image", "angle", "density", "length", "accumulation")


def find_models(results_dir: str | Path) -> dict[str, Path]:
    """Every ``model.pt`` up to two folders below ``results_dir``, labelled by its
    folder relative to it (``"train"``, ``"train/paper_loss"``); shallower paths
    first, so the main model of a stage comes before its variants. Empty when
    there is none."""
    root = Path(results_dir)
    # Two levels at most: a stage's model and its variants, not the dozens of
    # short runs the experiment chapters keep under <stage>/runs/.
    found = [*root.glob("model.pt"), *root.glob("*/model.pt"),
             *root.glob("*/*/model.pt")]
    paths = sorted(found,
                   key=lambda p: (len(p.relative_to(root).parts), p.as_posix()))
    models = {}
    for path in paths:
        label = path.parent.relative_to(root).as_posix()
        models[label if label != "." else path.name] = path
    return models


def fit(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscales (H, W, 3) float in [0, 1] so that max(H, W) <= max_side, keeping
    the aspect ratio (Lanczos, clipped back to [0, 1]); smaller images and
    ``max_side=None`` are returned unchanged. Returns (H', W', 3) float32."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return np.ascontiguousarray(image, dtype=np.float32)
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Per-channel float ("F") images keep the precision an 8-bit round trip loses.
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c], np.float32),
                                   mode="F").resize(size, Image.Resampling.LANCZOS))
        for c in range(image.shape[2])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def to_png(image: np.ndarray) -> bytes:
    """PNG bytes of (H, W, 3) or (H, W) float in [0, 1] (clipped, 8 bits). PNG, not
    JPEG: compression artefacts would look like, or hide, thin streaks."""
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def error_map(output: np.ndarray, target: np.ndarray,
              gain: float = RAIN_GAIN) -> np.ndarray:
    """|output - target| averaged over RGB, times ``gain``, in the magma colour map.
    output, target: (H, W, 3) float in [0, 1] -> (H, W, 3) float32 in [0, 1]; black
    is exact, yellow an error of 1 / gain or more."""
    error = np.abs(output.astype(np.float32) - target.astype(np.float32)).mean(-1)
    return colormaps["magma"](np.clip(error * gain, 0.0, 1.0))[..., :3].astype(
        np.float32)


@dataclass(frozen=True)
class View:
    """One state of the explorer: what the reader sees.

    Attributes:
        model: label of the checkpoint.
        source: one of :data:`SOURCES`; name: the image's name in it.
        rainy, output: (H, W, 3) float32 in [0, 1], at most max_side on a side.
        rain: (H, W, C) float32, the model's rain estimate (C its channels; about
            [-0.1, 1], a rain layer is non-negative only approximately).
        target, error: (H, W, 3) float32 in [0, 1], the clean image and
            :func:`error_map` of the output; None without ground truth.
        psnr, ssim, input_psnr, input_ssim: Y-channel scores of the output and of
            the rainy input against the target (dB; at most 1); None without it.
        rain_params: the FrameRain of a synthetic scene, else None.
    """

    model: str
    source: str
    name: str
    rainy: np.ndarray
    output: np.ndarray
    rain: np.ndarray
    target: np.ndarray | None = None
    error: np.ndarray | None = None
    psnr: float | None = None
    ssim: float | None = None
    input_psnr: float | None = None
    input_ssim: float | None = None
    rain_params: FrameRain | None = None

    @property
    def has_ground_truth(self) -> bool:
        return self.target is not None

    @property
    def title(self) -> str:
        """``"<source>: <name>"`` plus the rain sliders of a synthetic scene."""
        text = f"{self.source}: {self.name}"
        if self.rain_params is not None:
            r = self.rain_params
            text += (f" (angle {r.angle:.0f}°, density {r.density:.4f}, "
                     f"length {r.length:.0f} px, veil {r.accumulation:.2f})")
        return text

    @property
    def scores(self) -> str:
        """The scores as one line of text, or why there are none."""
        if not self.has_ground_truth:
            return "no ground truth: no PSNR/SSIM for this image"
        return (f"PSNR {self.psnr:.2f} dB, SSIM {self.ssim:.3f} "
                f"(rainy input: {self.input_psnr:.2f} dB, {self.input_ssim:.3f})")


class Explorer:
    """Widgets to compare models on chosen images, live.

    Args:
        models: label -> checkpoint path (see :func:`find_models`); at least one.
        data_root: folder with ``Rain100L/{input,target}`` and ``real_rain/``;
            None or absent folders leave those sources out.
        data_dir: the data stage's output; its ``clean/test/*.png`` backgrounds
            are the synthetic scenes. None leaves that source out.
        max_side: long side of the live view in pixels (None: full size).
        seed: seed of the synthetic rain; fixed, so that moving one slider
            redraws the same drops with the new setting (density excepted: more
            or fewer drops are drawn, so their positions change too).
        device: where the models run ("auto": CUDA when there is one).

    Attributes:
        model, source, image: Dropdowns (checkpoint label, source, image name).
        upload: FileUpload; a file put there becomes the ``upload`` source.
        angle, density, length, accumulation: the rain sliders (FrameRain's
            fields of the same names), enabled for the synthetic source only.
        rainy_image, output_image, rain_image, error_image: Image widgets (PNG).
        error_note: HTML in the error panel, "no ground truth" when there is
            none (the error image is then hidden).
        scores, status: HTML lines: the scores; what was absent or went wrong.
        widget: the whole layout, a VBox (displaying the Explorer shows it).
        view: the current :class:`View` (immutable: keep it to compare states),
            or None when no image is chosen.
        names: source -> image names available in it.
    """

    def __init__(self, models: Mapping[str, str | Path], *,
                 data_root: str | Path | None = None,
                 data_dir: str | Path | None = None,
                 max_side: int | None = 320, seed: int = 0,
                 device: str | torch.device = "auto"):
        if not models:
            raise ValueError("no models to explore: train one first (dvc repro)")
        self.models = {str(k): Path(v) for k, v in models.items()}
        self.max_side, self.seed = max_side, int(seed)
        self.device = pick_device(device) if isinstance(device, str) else device
        self.view: View | None = None
        self._nets: dict[str, DerainNet] = {}
        self._loaded: tuple[tuple[str, str], np.ndarray, np.ndarray | None] | None
        self._loaded = None
        self._held, self._dirty = 0, False
        self._find_images(data_root, data_dir)
        self._build()
        self.update()

    # ------------------------------------------------------------------ sources

    def _find_images(self, data_root, data_dir) -> None:
        """Fills ``names`` (source -> image names), ``_files`` (source -> name ->
        file, or (input, target) files of a pair) and ``absent`` (source -> why
        it is left out)."""
        def folder(path, what):
            if path is None:
                raise ImageError(f"no {what} given")
            return Path(path)

        def rain100l():
            pairs = PairedFolder(folder(data_root, "data root") / RAIN100L)
            return {n: (pairs.input_dir / n, pairs.target_dir / n)
                    for n in pairs.names}

        def real():
            paths = UnpairedFolder(folder(data_root, "data root") / REAL_RAIN).paths
            return {p.name: p for p in paths}

        def synthetic():
            clean = folder(data_dir, "data folder") / "clean" / "test"
            return {p.stem: p for p in list_images(clean)}

        self._files: dict[str, dict] = {UPLOAD: {}}
        self.absent: dict[str, str] = {}
        for source, find in ((RAIN100L, rain100l), (REAL, real),
                             (SYNTHETIC, synthetic)):
            try:
                self._files[source] = find()
            except ImageError as err:
                self.absent[source] = str(err)
        self.names = {s: list(self._files[s]) for s in SOURCES if s in self._files}

    def _load(self, source: str, name: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(image, target or None), both fitted to max_side. For a synthetic scene
        the image is the clean background the rain is rendered on."""
        key = (source, name)
        if self._loaded is not None and self._loaded[0] == key:
            return self._loaded[1], self._loaded[2]
        file, target = self._files[source][name], None
        if source == UPLOAD:
            image = file  # decoded and fitted when it was uploaded
        elif source == RAIN100L:
            image, target = load_image(file[0]), load_image(file[1])
            if image.shape != target.shape:
                raise ImageError(f"{file[0]}: size {image.shape[:2]} differs from "
                                 f"its target's {target.shape[:2]}")
            target = fit(target, self.max_side)
        else:
            image = load_image(file)
        image = fit(image, self.max_side)
        self._loaded = (key, image, target)
        return image, target

    def add_upload(self, name: str, data: bytes) -> None:
        """Adds an image file's bytes as ``name`` of the upload source and shows
        it; an unreadable file only sets the status line."""
        with tempfile.TemporaryDirectory() as tmp:
            # load_image reads paths; its checks (modes, bit depths) are wanted.
            path = Path(tmp) / "upload"
            path.write_bytes(data)
            try:
                image = load_image(path)
            except ImageError as err:
                reason = str(err).split(": ", 1)[-1]
                self.status.value = html.escape(f"{name}: {reason}")
                return
        self._files[UPLOAD][name] = fit(image, self.max_side)
        self.names[UPLOAD] = list(self._files[UPLOAD])
        if self._loaded is not None and self._loaded[0] == (UPLOAD, name):
            self._loaded = None  # a new file under a name already shown
        with self.hold():
            if self.source.value == UPLOAD:
                self.image.options = self.names[UPLOAD]
            self.source.value = UPLOAD
            self.image.value = name
            self._dirty = True

    # ------------------------------------------------------------------ widgets

    def _build(self) -> None:
        wide = {"description_width": "initial"}
        self.model = w.Dropdown(options=list(self.models), description="model",
                                style=wide)
        sources = [s for s in SOURCES if s in self.names]
        # The synthetic scene first: its sliders are what this view is for.
        filled = [s for s in (SYNTHETIC, *sources) if self.names.get(s)]
        first = filled[0] if filled else UPLOAD
        self.source = w.Dropdown(options=sources, value=first, description="source",
                                 style=wide)
        self.image = w.Dropdown(options=self.names[first], description="image",
                                style=wide)
        self.upload = w.FileUpload(accept="image/*", multiple=False,
                                   description="upload")
        slider = {"continuous_update": False, "style": wide}
        self.angle = w.FloatSlider(DEFAULT_RAIN["angle"], min=-60.0, max=60.0,
                                   step=1.0, description="angle (°)", **slider)
        self.density = w.FloatLogSlider(DEFAULT_RAIN["density"], base=10, min=-4,
                                        max=-2, step=0.05, readout_format=".4f",
                                        description="density (drops/px)", **slider)
        self.length = w.FloatSlider(DEFAULT_RAIN["length"], min=2.0, max=80.0,
                                    step=1.0, description="length (px)", **slider)
        self.accumulation = w.FloatSlider(DEFAULT_RAIN["accumulation"], min=0.0,
                                          max=0.6, step=0.02, description="veil",
                                          **slider)
        self.sliders = (self.angle, self.density, self.length, self.accumulation)

        def panel(title):
            image = w.Image(format="png", layout=w.Layout(width="100%"))
            caption = w.HTML(f"<b>{title}</b>")
            return image, caption, w.VBox([caption, image])

        self.rainy_image, _, rainy_box = panel("rainy input")
        self.output_image, self.output_caption, output_box = panel("derained")
        self.rain_image, _, rain_box = panel(f"estimated rain (x{RAIN_GAIN:g})")
        self.error_image, _, error_box = panel(
            f"|output − target| (x{RAIN_GAIN:g}, magma)")
        self.error_note = w.HTML()
        error_box.children = (*error_box.children, self.error_note)
        self.scores, self.status = w.HTML(), w.HTML()
        grid = w.GridBox(
            [rainy_box, output_box, rain_box, error_box],
            layout=w.Layout(grid_template_columns="repeat(2, minmax(0, 1fr))",
                            grid_gap="6px", max_width="760px"))
        self.widget = w.VBox([
            w.HBox([self.model, self.source, self.image, self.upload],
                   layout=w.Layout(flex_flow="row wrap")),
            w.HBox(list(self.sliders), layout=w.Layout(flex_flow="row wrap")),
            self.scores, grid, self.status,
        ])
        for control in (self.model, self.image, *self.sliders):
            control.observe(self._on_change, names="value")
        self.source.observe(self._on_source, names="value")
        self.upload.observe(self._on_upload, names="value")
        self._enable_sliders()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _enable_sliders(self) -> None:
        for slider in self.sliders:
            slider.disabled = self.source.value != SYNTHETIC

    def _on_change(self, _change) -> None:
        self.update()

    def _on_source(self, change) -> None:
        with self.hold():
            self.image.options = self.names[change["new"]]
            self._enable_sliders()
            self._dirty = True

    def _on_upload(self, change) -> None:
        for item in change["new"] or ():
            self.add_upload(str(item["name"]), bytes(item["content"]))

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Within it, widget changes render nothing; one update follows at the end
        if any change asked for one (several sliders moved by code, one derain)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._dirty:
                self.update()

    def set(self, **values) -> View | None:
        """Sets controls by name (``model``, ``source``, ``image``, ``angle``,
        ``density``, ``length``, ``accumulation``), source before image, then
        updates once. Returns the new :attr:`view`."""
        unknown = set(values) - set(_CONTROLS)
        if unknown:
            raise ValueError(f"unknown controls {sorted(unknown)}; "
                             f"known: {list(_CONTROLS)}")
        with self.hold():
            for name in _CONTROLS:
                if name in values:
                    getattr(self, name).value = values[name]
            self._dirty = True
        return self.view

    # ------------------------------------------------------------------ update

    def rain_params(self) -> FrameRain:
        """The FrameRain the sliders describe (plus :data:`FIXED_RAIN`)."""
        return FrameRain(angle=float(self.angle.value),
                         density=float(self.density.value),
                         length=float(self.length.value),
                         accumulation=float(self.accumulation.value), **FIXED_RAIN)

    def _net(self, label: str) -> DerainNet:
        if label not in self._nets:
            self._nets[label] = load_model(self.models[label], self.device)
        return self._nets[label]

    def compute(self) -> View | None:
        """The view of the current controls, without touching the widgets; None
        when no image is chosen (an empty upload source)."""
        source, name = self.source.value, self.image.value
        if name is None:
            return None
        image, target = self._load(source, name)
        params = None
        if source == SYNTHETIC:
            params = self.rain_params()
            target = image
            image = render_frame(image, params, np.random.default_rng(self.seed))
        output, rain = derain(self._net(self.model.value), image)
        output = np.clip(output, 0.0, 1.0)
        scores = {}
        if target is not None:
            scores = {"error": error_map(output, target),
                      "psnr": psnr(output, target), "ssim": ssim(output, target),
                      "input_psnr": psnr(image, target),
                      "input_ssim": ssim(image, target)}
        return View(model=self.model.value, source=source, name=name, rainy=image,
                    output=output, rain=rain, target=target, rain_params=params,
                    **scores)

    def update(self) -> None:
        """Recomputes the view and shows it; a failure (an unreadable file, an
        image too small for SSIM) is shown in the status line instead."""
        if self._held:
            self._dirty = True
            return
        self._dirty = False
        try:
            view = self.compute()
        except (ImageError, ValueError, FileNotFoundError) as err:
            self.status.value = html.escape(str(err))
            return
        self.view = view
        self._show(view)

    def _show(self, view: View | None) -> None:
        absent = "; ".join(f"{s} absent ({why})" for s, why in self.absent.items())
        self.status.value = html.escape(absent)
        if view is None:
            for image in (self.rainy_image, self.output_image, self.rain_image,
                          self.error_image):
                image.value = b""
            self.scores.value = "upload an image with the button above"
            self.error_note.value = ""
            return
        self.rainy_image.value = to_png(view.rainy)
        self.output_image.value = to_png(view.output)
        rain = view.rain[..., 0] if view.rain.shape[-1] == 1 else view.rain
        self.rain_image.value = to_png(rain * RAIN_GAIN)
        self.output_caption.value = f"<b>derained ({html.escape(view.model)})</b>"
        if view.has_ground_truth:
            self.error_image.value = to_png(view.error)
            self.error_image.layout.display = None
            self.error_note.value = ""
        else:
            self.error_image.value = b""
            self.error_image.layout.display = "none"
            self.error_note.value = "<i>no ground truth</i>"
        size = f"{view.rainy.shape[1]}x{view.rainy.shape[0]} px view"
        self.scores.value = html.escape(f"{view.title} — {view.scores} ({size})")


def states_figure(views: list[View], size: float = 2.4):
    """A static figure of several views, one row each: rainy input, output,
    estimated rain (x4), error map ("no ground truth" where there is none); the
    row titles give the source, the model and the scores."""
    from derain.book.plots import image_grid

    rows, titles = [], []
    for view in views:
        rain = view.rain[..., 0] if view.rain.shape[-1] == 1 else view.rain
        rows.append([view.rainy, view.output, np.clip(rain * RAIN_GAIN, 0, 1),
                     view.error])
        score = (f"{view.psnr:.2f} dB / {view.ssim:.3f}\n(input {view.input_psnr:.2f}"
                 f" / {view.input_ssim:.3f})" if view.has_ground_truth else
                 "no ground truth")
        titles.append(f"{view.source}: {view.name}\n{view.model}\n{score}")
    fig = image_grid(rows, col_titles=["rainy input", "derained",
                                       f"estimated rain (x{RAIN_GAIN:g})",
                                       f"|output − target| (x{RAIN_GAIN:g})"],
                     row_titles=titles, size=size)
    axes = np.asarray(fig.axes).reshape(len(rows), 4)
    for view, ax in zip(views, axes[:, 3], strict=True):
        if not view.has_ground_truth:
            ax.text(0.5, 0.5, "no ground truth", ha="center", va="center",
                    transform=ax.transAxes, fontsize=9)
    return fig



def precompute(explorer: Explorer, image: str | None = None,
               strengths: Mapping[str, Mapping[str, float]] = RAIN_STRENGTHS
               ) -> dict[tuple[str, str], View]:
    """The views of every model of ``explorer`` at every rain strength (slider
    settings by name) on one synthetic scene (``image``, default the first).
    Returns ``{(strength, model): View}``, strengths outermost, in order. Leaves
    the explorer on its last view."""
    if SYNTHETIC not in explorer.names or not explorer.names[SYNTHETIC]:
        raise ValueError("no synthetic scene to precompute views on")
    image = image or explorer.names[SYNTHETIC][0]
    views = {}
    for strength, rain in strengths.items():
        for model in explorer.models:
            views[(strength, model)] = explorer.set(model=model, source=SYNTHETIC,
                                                    image=image, **rain)
    return views


class OfflineControl:
    """A control over precomputed views that works in the rendered book, where
    no Python runs: a rain-strength slider, a model menu and a before/after
    slider choose among images computed beforehand. The choice is made in the
    browser (``jslink`` between each control and nested ``Stack`` widgets), so
    it works from the page's embedded widget state with no kernel and no
    network.

    Args:
        views: ``{(strength, model): View}`` as :func:`precompute` returns.

    Attributes:
        strength, side: SelectionSliders (rain strength; "before" the rainy
            input, "after" the derained output).
        model: Dropdown of the models.
        images: ``{(strength, "before"): Image}`` and
            ``{(strength, "after", model): Image}``: every image the control
            can show.
        links: the browser-side links (``jslink``'s Link widgets, each from a
            control's ``index`` to a Stack's ``selected_index``).
        widget: the whole control (a VBox with the CSS class
            :data:`OFFLINE_CLASS`).
    """

    BEFORE, AFTER = "before", "after"  # the rainy input, the derained output

    def __init__(self, views: Mapping[tuple[str, str], View]):
        if not views:
            raise ValueError("no precomputed views")
        strengths = list(dict.fromkeys(s for s, _ in views))
        models = list(dict.fromkeys(m for _, m in views))
        wide = {"description_width": "initial"}
        self.strength = w.SelectionSlider(options=strengths, description="rain",
                                          continuous_update=True, style=wide)
        self.model = w.Dropdown(options=models, description="model", style=wide)
        self.side = w.SelectionSlider(options=[self.BEFORE, self.AFTER],
                                      value=self.AFTER,
                                      description="rainy before / derained after",
                                      continuous_update=True, style=wide)
        self.images: dict[tuple, w.Image] = {}
        self.links: list[w.Widget] = []

        def panel(key, image, note):
            self.images[key] = w.Image(value=to_png(image), format="png",
                                       layout=w.Layout(width="100%"))
            return w.VBox([self.images[key], w.HTML(html.escape(note))])

        by_strength = []
        for strength in strengths:
            first = views[(strength, models[0])]
            before = panel((strength, "before"), first.rainy,
                           f"rainy input: {first.title}" + (
                               f"; PSNR {first.input_psnr:.2f} dB, SSIM "
                               f"{first.input_ssim:.3f}"
                               if first.has_ground_truth else ""))
            afters = w.Stack([panel((strength, "after", model),
                                    views[(strength, model)].output,
                                    f"derained by {model}: "
                                    f"{views[(strength, model)].scores}")
                              for model in models], selected_index=0)
            sides = w.Stack([before, afters], selected_index=1)
            self._link(self.model, afters)
            self._link(self.side, sides)
            by_strength.append(sides)
        shown = w.Stack(by_strength, selected_index=0)
        self._link(self.strength, shown)
        note = w.HTML("<i>Precomputed: moving these controls picks among images "
                      "computed when the book was built; no Python runs here.</i>")
        self.widget = w.VBox(
            [note, w.HBox([self.strength, self.model, self.side],
                          layout=w.Layout(flex_flow="row wrap")),
             w.Box([shown], layout=w.Layout(max_width="420px"))])
        self.widget.add_class(OFFLINE_CLASS)

    def _link(self, control: w.Widget, stack: w.Stack) -> None:
        self.links.append(w.jslink((control, "index"), (stack, "selected_index")))

    def shown(self) -> w.Image:
        """The image the page shows for the controls' current values (what the
        browser-side links select)."""
        strength = self.strength.value
        if self.side.value == self.BEFORE:
            return self.images[(strength, "before")]
        return self.images[(strength, "after", self.model.value)]

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
