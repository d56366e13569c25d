"""Where captioned images come from; every loader returns the same :class:`CaptionExample` list.

- Karpathy split JSON (``dataset_flickr8k.json``, ``dataset_flickr30k.json``, ``dataset_coco.json``):
  ``{"images": [{"filename", "filepath"?, "split", "sentences": [{"raw", "tokens"}]}]}`` plus the image folder; an
  image is ``images/<filepath>/<filename>``. ``restval`` (COCO's images outside Karpathy's 5k val and 5k test)
  counts as train, as in Karpathy's and most published COCO results. A sentence's text is ``raw`` (else its
  ``tokens`` joined by spaces).
- A folder of images with a captions file: CSV with ``image`` and ``caption`` columns (several rows per image), or
  JSON ``{"image.png": ["caption", ...]}``. The images are split into train/val/test by a seeded shuffle of their
  names, so all captions of an image stay in one split.
- Precomputed features (:func:`load_features`): a folder of ``.npy``/``.npz`` per image (same stem as the image)
  or one ``.npz`` whose keys are the image names; each a vector ``(C,)``, a grid ``(H, W, C)`` or regions
  ``(R, C)``, all of one shape. The captions come from a Karpathy JSON or a CSV/JSON as above.

Images (:func:`read_image`) are converted to RGB (grayscale repeated, alpha dropped), center-cropped to the largest
square (the aspect ratio is kept, the borders of the longer side are lost) and resized (bicubic) to ``size``.
Bad input is a :class:`DataError` of one line naming the file, and the line or the entry where there is one.
"""

from __future__ import annotations

import csv
import json
import random
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from seqlab.data.splits import split_sizes
from seqlab.data.text_files import utf8_or_error
from seqlab.errors import DataError
from seqlab.tasks.caption.scenes import SceneObject, SceneSet

SPLITS = ("train", "val", "test")
KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "test": "test"}


@dataclass
class CaptionExample:
    """One image and its reference captions. ``image``: a file, or a ``(H, W, 3)`` uint8 array (generated scenes);
    with precomputed features the image is not read and ``id`` names its features. ``boxes``: the objects drawn
    (generated scenes); ``group``: ``seen`` or ``heldout`` (generated scenes), else None."""

    image: Path | np.ndarray
    captions: list[str]
    split: str
    id: str
    boxes: list[SceneObject] | None = None
    group: str | None = None


# ---- images ----------------------------------------------------------------------------------------------------
def image_array(path: Path, size: int, key: str = "task.data.images") -> np.ndarray:
    """``(size, size, 3)`` uint8: RGB, center-cropped to a square, resized."""
    try:
        with Image.open(path) as image:
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")
            image = image.convert("RGB")
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            if side != width or side != height:
                image = image.crop((left, top, left + side, top + side))
            if side != size:
                image = image.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(image, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(f"{key}: image not found: {path}") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{key}: {path}: cannot read the image ({_reason(exc)})") from None


def read_image(path: Path, size: int, key: str = "task.data.images") -> torch.Tensor:
    """The image as a float tensor ``(3, size, size)`` in [0, 1]."""
    return to_tensor(image_array(path, size, key))


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(3, H, W)`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(255.0)


def check_image(path: Path, where: str, key: str = "task.data.images") -> None:
    """DataError unless ``path`` is a file whose image header PIL reads (cheap: the pixels are not decoded)."""
    if not path.is_file():
        raise DataError(f"{key}: image not found: {path} ({where})")
    try:
        with Image.open(path):  # reads the header only
            pass
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{key}: {path}: cannot read the image ({_reason(exc)}; {where})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not an image format PIL reads"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---- caption files ---------------------------------------------------------------------------------------------
def read_json(path: Path, key: str) -> Any:
    """The parsed file; DataError naming it when it is missing or not JSON."""
    if not path.is_file():
        raise DataError(f"{key}: file not found: {path}")
    with utf8_or_error(path, key):
        text = path.read_text(encoding="utf-8-sig")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{key}: {path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None


def is_karpathy(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("images"), list)


def load_karpathy(
    path: Path, images: Path | None, check_images: bool = True, key: str = "task.data.path"
) -> list[CaptionExample]:
    """The images of a Karpathy split JSON (``restval`` is train), in file order."""
    data = read_json(path, key)
    if not is_karpathy(data):
        raise DataError(f'{key}: {path}: expected a Karpathy split JSON {{"images": [...]}}')
    examples = []
    for i, entry in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str) or not entry["filename"]:
            raise DataError(f"{key}: {where} has no 'filename'")
        split = KARPATHY_SPLITS.get(str(entry.get("split")))
        if split is None:
            raise DataError(f"{key}: {where} has split {entry.get('split')!r} (allowed: restval, test, train, val)")
        name = "/".join(p for p in (entry.get("filepath") or "", entry["filename"]) if p)
        sentences = entry.get("sentences")
        if not isinstance(sentences, list) or not sentences:
            raise DataError(f"{key}: {where} ('{name}') has no sentences")
        captions = []
        for j, sentence in enumerate(sentences):
            text = sentence.get("raw") if isinstance(sentence, dict) else None
            if not (isinstance(text, str) and text.strip()) and isinstance(sentence, dict):
                tokens = sentence.get("tokens")
                text = " ".join(t for t in tokens if isinstance(t, str)) if isinstance(tokens, list) else None
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{key}: {where}.sentences[{j}] ('{name}') is an empty caption")
            captions.append(text.strip())
        file = (images / name) if images is not None else Path(name)
        if check_images:
            check_image(file, f"listed in {where}")
        examples.append(CaptionExample(file, captions, split, name))
    if not examples:
        raise DataError(f"{key}: {path}: the JSON lists no images")
    return examples


def read_caption_file(path: Path, key: str = "task.data.path") -> dict[str, tuple[list[str], str]]:
    """``{image name: (captions, where)}`` of a CSV (``image``, ``caption`` columns) or a JSON ``{image: [captions]}``
    in file order; ``where`` is ``file: line N`` / ``file: entry 'name'`` of the image's first caption."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise DataError(f"{key}: {path}: expected a .csv or .json file of captions")
    out: dict[str, tuple[list[str], str]] = {}
    if suffix == ".json":
        data = read_json(path, key)
        if not isinstance(data, dict):
            raise DataError(f'{key}: {path}: expected a JSON object {{"image.png": ["caption", ...]}}')
        for name, captions in data.items():
            where = f"{path}: entry '{name}'"
            captions = [captions] if isinstance(captions, str) else captions
            if not isinstance(captions, list) or not captions:
                raise DataError(f"{key}: {where} has no captions (expected a list of strings)")
            for j, text in enumerate(captions):
                if not isinstance(text, str) or not text.strip():
                    raise DataError(f"{key}: {where} caption {j + 1} is empty")
            out[name] = ([c.strip() for c in captions], where)
    else:
        if not path.is_file():
            raise DataError(f"{key}: file not found: {path}")
        with open(path, encoding="utf-8-sig", newline="") as fh, utf8_or_error(path, key):
            reader = csv.reader(fh)
            header = [h.strip().lower() for h in next(reader, [])]
            if "image" not in header or "caption" not in header:
                raise DataError(f"{key}: {path}: line 1 must name the columns 'image' and 'caption' (got {header})")
            col_image, col_caption = header.index("image"), header.index("caption")
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue
                line = reader.line_num
                name = row[col_image].strip() if col_image < len(row) else ""
                text = row[col_caption].strip() if col_caption < len(row) else ""
                if not name:
                    raise DataError(f"{key}: {path}: line {line} has an empty image")
                if not text:
                    raise DataError(f"{key}: {path}: line {line} has an empty caption")
                out.setdefault(name, ([], f"{path}: line {line}"))[0].append(text)
    if not out:
        raise DataError(f"{key}: {path}: holds no captions")
    return out


def split_images(names: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """``{name: split}``: the names shuffled with ``seed``; the first ``test_fraction`` to test, the next
    ``val_fraction`` to val (at least one each), the rest to train."""
    order = list(names)
    random.Random(seed).shuffle(order)
    _, n_val, n_test = split_sizes(len(order), val_fraction, test_fraction)
    n_val, n_test = max(1, n_val), max(1, n_test)
    if n_val + n_test >= len(order):
        raise DataError(f"task.data.val_fraction: {len(order)} images are too few to split into train, val and test")
    split = {name: "test" for name in order[:n_test]}
    split.update({name: "val" for name in order[n_test : n_test + n_val]})
    return {name: split.get(name, "train") for name in names}


def load_folder(
    images: Path | None,
    captions: Path,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    check_images: bool = True,
    key: str = "task.data.path",
) -> list[CaptionExample]:
    """The images named in a CSV/JSON captions file (relative to ``images``), split by image with ``seed``."""
    table = read_caption_file(captions, key)
    splits = split_images(list(table), val_fraction, test_fraction, seed)
    examples = []
    for name, (texts, where) in table.items():
        file = (images / name) if images is not None else Path(name)
        if check_images:
            check_image(file, f"listed in {where}")
        examples.append(CaptionExample(file, texts, splits[name], name))
    return examples


def default_captions_file(images: Path, key: str = "task.data.path") -> Path:
    """``images/captions.csv``, else ``images/captions.json``."""
    for name in ("captions.csv", "captions.json"):
        if (images / name).is_file():
            return images / name
    raise DataError(f"{key}: no captions file given and neither captions.csv nor captions.json is in {images}")


def scene_examples(scene_set: SceneSet) -> list[CaptionExample]:
    """The generated scenes as examples (ids ``train/000012``)."""
    return [
        CaptionExample(scene_set.images[split][i], list(s.captions), split, f"{split}/{i:06d}", s.objects, s.group)
        for split in SPLITS
        for i, s in enumerate(scene_set.scenes[split])
    ]


# ---- precomputed features --------------------------------------------------------------------------------------
class Features(Mapping[str, np.ndarray]):
    """Features by name (a file stem or an ``.npz`` key), float32, read on access; every shape was checked (from
    the ``.npy`` headers, no data read) when it was loaded."""

    def __init__(self, source: Path, members: dict[str, tuple[Path, str | None]], shape: tuple[int, ...]) -> None:
        self.source, self.members, self.shape = source, members, shape

    def find(self, image: str) -> str | None:
        """The key of an image's features: its name, its stem, or the stem of its base name."""
        for candidate in (image, Path(image).with_suffix("").as_posix(), Path(image).stem):
            if candidate in self.members:
                return candidate
        return None

    def __getitem__(self, name: str) -> np.ndarray:
        file, member = self.members[name]
        where = f"{file}" if member is None else f"{file}: key '{member}'"
        try:
            if member is None:
                array = np.load(file, allow_pickle=False)
            else:
                with np.load(file, allow_pickle=False) as archive:
                    array = archive[member]
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise DataError(f"task.data.features: {where}: cannot read ({_reason(exc)})") from None
        if not np.all(np.isfinite(array)):
            raise DataError(f"task.data.features: {where} holds a value that is not finite")
        return array.astype(np.float32, copy=False)

    def __iter__(self) -> Iterator[str]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


def load_features(path: Path, key: str = "task.data.features") -> Features:
    """A folder of ``.npy``/``.npz`` per image, or one ``.npz`` of all; every array of one shape, of 1-3 dims."""
    members: dict[str, tuple[Path, str | None]] = {}
    headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    wheres: dict[str, str] = {}
    if path.is_dir():
        for file in sorted(path.iterdir()):
            if file.suffix not in (".npy", ".npz"):
                continue
            if file.stem in members:
                raise DataError(f"{key}: {path} holds two feature files for '{file.stem}' (.npy and .npz)")
            wheres[file.stem] = str(file)
            if file.suffix == ".npy":
                members[file.stem], headers[file.stem] = (file, None), _npy_header(file, file, key)
                continue
            names = _npz_members(file, key)
            inner = names[0] if len(names) == 1 else "features" if "features" in names else None
            if inner is None:
                raise DataError(f"{key}: {file}: a per-image .npz holds one array (or 'features'), got {names}")
            members[file.stem], headers[file.stem] = (file, inner), _member_header(file, inner, key)
        if not members:
            raise DataError(f"{key}: {path} holds no .npy or .npz files")
    elif path.is_file() and path.suffix == ".npz":
        for name in _npz_members(path, key):
            members[name], headers[name] = (path, name), _member_header(path, name, key)
            wheres[name] = f"{path}: key '{name}'"
        if not members:
            raise DataError(f"{key}: {path} holds no arrays")
    elif not path.exists():
        raise DataError(f"{key}: not found: {path}")
    else:
        raise DataError(f"{key}: {path}: expected a folder of .npy/.npz files or one .npz")
    first = next(iter(headers))
    shape = headers[first][0]
    for name, (got, dtype) in headers.items():
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise DataError(f"{key}: {wheres[name]} holds {dtype} values (expected numbers)")
        if not 1 <= len(got) <= 3:
            raise DataError(f"{key}: {wheres[name]} has shape {got} (expected (C,), (R, C) or (H, W, C))")
        if got != shape:
            raise DataError(f"{key}: {wheres[name]} has shape {got}, but '{first}' has {shape}")
    return Features(path, members, shape)


def _npz_members(file: Path, key: str) -> list[str]:
    try:
        with zipfile.ZipFile(file) as archive:
            return [n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")]
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{key}: {file}: cannot read ({_reason(exc)})") from None


def _member_header(file: Path, member: str, key: str) -> tuple[tuple[int, ...], np.dtype]:
    try:
        with zipfile.ZipFile(file) as archive, archive.open(f"{member}.npy") as fh:
            return _npy_header(fh, f"{file}: key '{member}'", key)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{key}: {file}: key '{member}': cannot read ({_reason(exc)})") from None


def _npy_header(source: Any, where: Any, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header (a path or an open binary file)."""
    try:
        fh = open(source, "rb") if isinstance(source, Path) else source  # noqa: SIM115 - closed below
        try:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
        finally:
            if isinstance(source, Path):
                fh.close()
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{key}: {where}: cannot read the .npy header ({_reason(exc)})") from None
    return tuple(shape), dtype
