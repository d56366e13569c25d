"""A seeded synthetic scene set for captioning: coloured shapes on a plain black background, described by templates.

Each image (``image_size`` x ``image_size`` RGB) holds 1..``max_objects`` shapes, each with a colour, a shape and a
size (the side of its square bounding box: ``small`` 16%, ``medium`` 23%, ``large`` 30% of the image), at
non-overlapping positions. Shapes are drawn without anti-aliasing, so every pixel of a shape has its colour exactly.
Objects are listed in drawing order; the relation of one object to the next is read from their box centres along
the axis where they differ most (``left of`` / ``right of`` / ``above`` / ``below``), and placements where the two
axes differ by less than 8% of the image are redrawn, so the relation is never a close call. References:

- one object: ``a small red circle``, ``there is a small red circle``, ``a picture of a small red circle``;
- several: ``A left of B [and B above C ...]``, the same pairs the other way round (``B right of A ...``), and the
  list ``A , B and C``.

Held out: a seeded ``held_out_fraction`` of the (colour, shape) pairs, chosen so every colour and every shape keeps
a pair in training, never occurs in train. In val and test every second image (odd positions) is ``heldout`` (at
least one of its objects is a held-out pair, the others anything), the rest ``seen`` (seen pairs only).

Split ``i`` (train, val, test) is drawn from ``numpy.random.default_rng([seed, i + 1])``, the held-out pairs from
``[seed, 0]``: the same keys give the same bytes. The set is cached in
``cache_dir()/synthetic-scenes/<hash of the keys>/`` (``$SEQLAB_CACHE_DIR``, default ``~/.cache/seqlab``; not the
data directory, which may be a shared read-only copy) as ``scenes.npz`` (uint8 ``(N, S, S, 3)`` per split, written
with fixed zip timestamps) and ``scenes.json`` (keys, held-out pairs, and per image its objects with their boxes,
its captions and its group). The folder is written under a temporary name and renamed into place, reused by the
next run, and a folder at that place that seqlab did not write is refused, never overwritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from seqlab.data.locate import cache_dir
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.caption.config import SceneConfig

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 50),
    "blue": (40, 80, 240),
    "yellow": (240, 220, 30),
    "purple": (150, 50, 210),
    "orange": (245, 140, 20),
    "cyan": (30, 210, 220),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
}
BACKGROUND = (0, 0, 0)
SHAPES = ("circle", "square", "triangle", "diamond")
SIZE_FRACTIONS = {"small": 0.16, "medium": 0.23, "large": 0.30}
SPLITS = ("train", "val", "test")
GENERATOR = "seqlab synthetic scenes"
VERSION = 1  # raise when the drawing or the captions change: the folder hash changes with it
KEY = "task.data.scenes"
GAP = 2  # pixels between two boxes
AMBIGUOUS = 0.08  # of the image: the least difference between |dx| and |dy| of two consecutive objects
TRIES = 200
CROWDED = 0.5  # the most of the image that max_objects boxes of the largest size (and their gaps) may cover


@dataclass(frozen=True)
class SceneObject:
    """One drawn shape; ``box`` is ``(x0, y0, x1, y1)`` in pixels of the image, ``x1`` and ``y1`` exclusive."""

    shape: str
    colour: str
    size: str
    box: tuple[int, int, int, int]

    @property
    def phrase(self) -> str:
        return f"a {self.size} {self.colour} {self.shape}"

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2


@dataclass
class Scene:
    objects: list[SceneObject]
    captions: list[str]
    group: str  # seen | heldout


@dataclass
class SceneSet:
    """Images ``(N, S, S, 3)`` uint8 and scenes per split, the held-out (colour, shape) pairs, the cache folder."""

    images: dict[str, np.ndarray]
    scenes: dict[str, list[Scene]]
    held_out: list[tuple[str, str]]
    folder: Path | None = None


def check_scene_config(cfg: SceneConfig, image_size: int) -> None:
    """ConfigError for a key the generator cannot use."""
    if image_size < 16:
        raise ConfigError("task.data.image_size", f"scenes need at least 16 pixels, got {image_size}")
    if cfg.max_objects < 1:
        raise ConfigError(f"{KEY}.max_objects", f"must be at least 1, got {cfg.max_objects}")
    for name, values, allowed in (
        ("shapes", cfg.shapes, SHAPES),
        ("colours", cfg.colours, tuple(PALETTE)),
        ("sizes", cfg.sizes, tuple(SIZE_FRACTIONS)),
    ):
        if not values:
            raise ConfigError(f"{KEY}.{name}", "must not be empty", allowed=allowed)
        for value in values:
            if value not in allowed:
                raise ConfigError(f"{KEY}.{name}", f"unknown {name[:-1]} '{value}'", allowed=allowed)
        if len(set(values)) != len(values):
            raise ConfigError(f"{KEY}.{name}", f"lists a {name[:-1]} twice: {list(values)}")
    largest = max(_side(size, image_size) for size in cfg.sizes) + GAP
    if cfg.max_objects * largest**2 > CROWDED * (image_size - 2) ** 2:
        raise _crowded(cfg, image_size)
    for name in ("num_train", "num_val", "num_test"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{KEY}.{name}", f"must be at least 1, got {getattr(cfg, name)}")
    if not 0.0 <= cfg.held_out_fraction < 1.0:
        raise ConfigError(f"{KEY}.held_out_fraction", f"must be in [0, 1), got {cfg.held_out_fraction}")


def held_out_pairs(cfg: SceneConfig) -> list[tuple[str, str]]:
    """The held-out (colour, shape) pairs: a seeded ``held_out_fraction`` of all (at least one when the fraction is
    above 0), skipping a pair whose colour or shape would otherwise have no pair left in training."""
    pairs = [(c, s) for c in cfg.colours for s in cfg.shapes]
    wanted = max(1, round(cfg.held_out_fraction * len(pairs))) if cfg.held_out_fraction > 0 else 0
    seen_colour = {c: len(cfg.shapes) for c in cfg.colours}
    seen_shape = {s: len(cfg.colours) for s in cfg.shapes}
    held: list[tuple[str, str]] = []
    for i in np.random.default_rng([cfg.seed, 0]).permutation(len(pairs)):
        if len(held) == wanted:
            break
        colour, shape = pairs[int(i)]
        if seen_colour[colour] > 1 and seen_shape[shape] > 1:
            held.append((colour, shape))
            seen_colour[colour] -= 1
            seen_shape[shape] -= 1
    if len(held) < wanted:
        raise ConfigError(
            f"{KEY}.held_out_fraction",
            f"{cfg.held_out_fraction} of the {len(pairs)} (colour, shape) pairs is {wanted}, but only {len(held)} "
            "can be held out while every colour and every shape keeps a pair in training",
        )
    return sorted(held)


def relation(a: SceneObject, b: SceneObject) -> str:
    """Where ``a`` is seen from ``b``: along the axis where their centres differ most (image y grows downwards)."""
    (ax, ay), (bx, by) = a.centre, b.centre
    if abs(ax - bx) > abs(ay - by):
        return "left of" if ax < bx else "right of"
    return "above" if ay < by else "below"


def captions_for(objects: list[SceneObject]) -> list[str]:
    """The reference captions of a scene (objects in drawing order)."""
    phrases = [o.phrase for o in objects]
    if len(objects) == 1:
        return [phrases[0], f"there is {phrases[0]}", f"a picture of {phrases[0]}"]
    pairs = list(zip(objects, objects[1:]))
    forward = " and ".join(f"{a.phrase} {relation(a, b)} {b.phrase}" for a, b in pairs)
    backward = " and ".join(f"{b.phrase} {relation(b, a)} {a.phrase}" for a, b in pairs)
    listing = " , ".join(phrases[:-1]) + f" and {phrases[-1]}"
    return [forward, backward, listing]


def draw(objects: list[SceneObject], image_size: int) -> np.ndarray:
    """The scene as ``(S, S, 3)`` uint8 (no anti-aliasing)."""
    image = Image.new("RGB", (image_size, image_size), BACKGROUND)
    pen = ImageDraw.Draw(image)
    for o in objects:
        x0, y0, x1, y1 = o.box
        x1, y1 = x1 - 1, y1 - 1
        fill = PALETTE[o.colour]
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        if o.shape == "circle":
            pen.ellipse((x0, y0, x1, y1), fill=fill)
        elif o.shape == "square":
            pen.rectangle((x0, y0, x1, y1), fill=fill)
        elif o.shape == "triangle":
            pen.polygon([(x0, y1), (x1, y1), (mx, y0)], fill=fill)
        else:  # diamond
            pen.polygon([(mx, y0), (x1, my), (mx, y1), (x0, my)], fill=fill)
    return np.asarray(image, dtype=np.uint8).copy()


def _side(size: str, image_size: int) -> int:
    return max(4, round(SIZE_FRACTIONS[size] * image_size))


def _place(rng: np.random.Generator, kinds: list[tuple[str, str, str]], image_size: int) -> list[SceneObject] | None:
    """Objects of ``kinds`` (colour, shape, size) at random non-overlapping positions, or None if one cannot fit."""
    placed: list[SceneObject] = []
    for colour, shape, size in kinds:
        side = _side(size, image_size)
        for _ in range(TRIES):
            x0, y0 = (int(v) for v in rng.integers(1, image_size - side, size=2))
            obj = SceneObject(shape, colour, size, (x0, y0, x0 + side, y0 + side))
            if any(_overlap(obj.box, o.box) for o in placed):
                continue
            if placed and _ambiguous(placed[-1], obj, image_size):
                continue
            placed.append(obj)
            break
        else:
            return None
    return placed


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return a[0] < b[2] + GAP and b[0] < a[2] + GAP and a[1] < b[3] + GAP and b[1] < a[3] + GAP


def _ambiguous(a: SceneObject, b: SceneObject, image_size: int) -> bool:
    (ax, ay), (bx, by) = a.centre, b.centre
    return abs(abs(ax - bx) - abs(ay - by)) < AMBIGUOUS * image_size


def _scene(
    rng: np.random.Generator,
    cfg: SceneConfig,
    image_size: int,
    group: str,
    held: list[tuple[str, str]],
    seen: list[tuple[str, str]],
) -> Scene:
    count = int(rng.integers(1, cfg.max_objects + 1))
    pool = seen if group == "seen" else seen + held
    pairs = [pool[int(rng.integers(len(pool)))] for _ in range(count)]
    if group == "heldout":
        pairs[int(rng.integers(count))] = held[int(rng.integers(len(held)))]
    kinds = [(c, s, cfg.sizes[int(rng.integers(len(cfg.sizes)))]) for c, s in pairs]
    for _ in range(TRIES):
        objects = _place(rng, kinds, image_size)
        if objects is not None:
            return Scene(objects, captions_for(objects), group)
    raise _crowded(cfg, image_size)


def _crowded(cfg: SceneConfig, image_size: int) -> ConfigError:
    return ConfigError(
        f"{KEY}.max_objects",
        f"{cfg.max_objects} objects of sizes {list(cfg.sizes)} do not fit apart in a {image_size}x{image_size} image",
    )


def generate(cfg: SceneConfig, image_size: int = 64) -> SceneSet:
    """The scene set of these keys (no cache)."""
    check_scene_config(cfg, image_size)
    held = held_out_pairs(cfg)
    seen = [(c, s) for c in cfg.colours for s in cfg.shapes if (c, s) not in held]
    images: dict[str, np.ndarray] = {}
    scenes: dict[str, list[Scene]] = {}
    for index, split in enumerate(SPLITS):
        rng = np.random.default_rng([cfg.seed, index + 1])
        count = getattr(cfg, f"num_{split}")
        groups = ["heldout" if split != "train" and held and i % 2 == 1 else "seen" for i in range(count)]
        scenes[split] = [_scene(rng, cfg, image_size, group, held, seen) for group in groups]
        images[split] = np.stack([draw(s.objects, image_size) for s in scenes[split]])
    return SceneSet(images, scenes, held)


def scene_keys(cfg: SceneConfig, image_size: int) -> dict[str, Any]:
    """Everything that decides the set's bytes."""
    return {"version": VERSION, "image_size": image_size, **asdict(cfg)}


def scene_folder(cfg: SceneConfig, image_size: int, root: Path | None = None) -> Path:
    """``root`` (default ``cache_dir()/synthetic-scenes``) / the first 16 hex digits of the keys' sha256."""
    text = json.dumps(scene_keys(cfg, image_size), sort_keys=True)
    return (root or cache_dir() / "synthetic-scenes") / hashlib.sha256(text.encode()).hexdigest()[:16]


def load_or_generate(cfg: SceneConfig, image_size: int = 64, root: Path | None = None) -> SceneSet:
    """The cached set of these keys, generated and written (atomically) the first time."""
    check_scene_config(cfg, image_size)
    folder = scene_folder(cfg, image_size, root)
    if folder.exists():
        return read_scene_set(folder, scene_keys(cfg, image_size))
    scene_set = generate(cfg, image_size)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.part-"))
    try:
        write_scene_set(scene_set, scene_keys(cfg, image_size), tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.exists():
                raise
            return read_scene_set(folder, scene_keys(cfg, image_size))  # another process wrote it first
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    scene_set.folder = folder
    return scene_set


def write_scene_set(scene_set: SceneSet, keys: dict[str, Any], folder: Path) -> None:
    """``scenes.npz`` (fixed timestamps: the same set gives the same bytes) and ``scenes.json`` into ``folder``."""
    with zipfile.ZipFile(folder / "scenes.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        for split in SPLITS:
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(scene_set.images[split]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{split}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())
    record = {
        "generator": GENERATOR,
        "keys": keys,
        "held_out": [list(pair) for pair in scene_set.held_out],
        "splits": {
            split: [
                {"objects": [asdict(o) for o in s.objects], "captions": s.captions, "group": s.group}
                for s in scene_set.scenes[split]
            ]
            for split in SPLITS
        },
    }
    (folder / "scenes.json").write_text(json.dumps(record, sort_keys=True) + "\n", encoding="utf-8")


def read_scene_set(folder: Path, keys: dict[str, Any]) -> SceneSet:
    """The set cached in ``folder``; DataError (one line) when it is not a set seqlab wrote with these keys."""

    def refuse(why: str) -> DataError:
        return DataError(
            f"{KEY}: {folder} is not a scene set seqlab wrote for these keys ({why}); it is left as it is: "
            "move it away or set SEQLAB_DATA_DIR to another folder"
        )

    try:
        record = json.loads((folder / "scenes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise refuse(f"scenes.json: {type(exc).__name__}") from None
    if not isinstance(record, dict) or record.get("generator") != GENERATOR or record.get("keys") != keys:
        raise refuse("scenes.json has other keys")
    try:
        with np.load(folder / "scenes.npz", allow_pickle=False) as archive:
            images = {split: archive[split] for split in SPLITS}
        scenes = {
            split: [
                Scene(
                    [SceneObject(o["shape"], o["colour"], o["size"], tuple(o["box"])) for o in s["objects"]],
                    list(s["captions"]),
                    s["group"],
                )
                for s in record["splits"][split]
            ]
            for split in SPLITS
        }
        held = [(c, s) for c, s in record["held_out"]]
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise refuse(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    size = keys["image_size"]
    for split in SPLITS:
        if images[split].shape != (len(scenes[split]), size, size, 3) or images[split].dtype != np.uint8:
            raise refuse(f"{split} images of shape {images[split].shape}")
    return SceneSet(images, scenes, held, folder)
