"""Images to score a network on: paired ``input/`` + ``target/`` folders (the
Rain100L layout), the held-out synthetic scenes against their clean backgrounds,
and folders of real photographs without ground truth. Each iterates
``(name, rainy, target)`` (or ``(name, image)``) with (H, W, 3) float32 arrays in
[0, 1]; a file that cannot be read raises :class:`~derain.images.ImageError`
naming it.
"""

from __future__ import annotations

from pathlib import Path

from derain.data.scenes import load_manifest
from derain.images import ImageError, list_images, load_image


class PairedFolder:
    """Rainy images in ``input/`` and their clean targets in ``target/`` with the
    same file names (the Rain100L layout). Iterates ``(name, rainy, target)`` with
    (H, W, 3) float32 arrays in [0, 1]."""

    def __init__(self, root: str | Path | None = None, *, input_dir=None,
                 target_dir=None, limit: int | None = None):
        if root is not None:
            input_dir, target_dir = Path(root) / "input", Path(root) / "target"
        self.input_dir, self.target_dir = Path(input_dir), Path(target_dir)
        inputs = list_images(self.input_dir)
        targets = {p.name for p in list_images(self.target_dir)}
        missing = [p.name for p in inputs if p.name not in targets]
        if missing:
            raise ImageError(
                f"{self.target_dir / missing[0]}: no target for this input "
                f"({len(missing)} missing in all)"
            )
        self.names = [p.name for p in inputs][:limit]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        for name in self.names:
            rainy = load_image(self.input_dir / name)
            target = load_image(self.target_dir / name)
            if rainy.shape != target.shape:
                raise ImageError(
                    f"{self.input_dir / name}: size {rainy.shape[:2]} differs from "
                    f"its target's {target.shape[:2]}"
                )
            yield name, rainy, target


class SceneTestSet:
    """Held-out synthetic scenes as rainy/clean pairs: every frame of each scene of
    ``split`` against the scene's clean background. Iterates like PairedFolder."""

    def __init__(self, data_dir: str | Path, split: str = "test",
                 frames_per_scene: int | None = None):
        self.data_dir = Path(data_dir)
        manifest = load_manifest(data_dir)
        self.items = []
        for scene in manifest["scenes"]:
            if scene["split"] != split:
                continue
            folder = self.data_dir / "frames" / split / scene["name"]
            clean = self.data_dir / "clean" / split / f"{scene['name']}.png"
            for path in sorted(folder.iterdir())[:frames_per_scene]:
                self.items.append((f"{scene['name']}/{path.stem}", path, clean))
        self.names = [item[0] for item in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        for name, path, clean in self.items:
            yield name, load_image(path), load_image(clean)


class UnpairedFolder:
    """A folder of photographs without ground truth (real rain). Iterates
    ``(name, image)``; ``limit`` keeps the first images in name order."""

    def __init__(self, folder: str | Path, limit: int | None = None):
        self.paths = list_images(folder)[:limit]
        self.names = [p.name for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self):
        for path in self.paths:
            yield path.name, load_image(path)
