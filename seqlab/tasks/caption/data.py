"""Captioning data: images (or precomputed features) with their reference captions, a vocabulary on train only,
and batches of (image, one caption) pairs.

Sources (``task.data.source``, seqlab/tasks/caption/sources.py): ``synthetic`` (generated scenes, cached in the data
directory), ``karpathy`` (``task.data.path`` = dataset_*.json, ``task.data.images`` = the image folder), ``folder``
(``task.data.images`` + a CSV/JSON of captions), ``features`` (``task.data.features`` + the captions in
``task.data.path``). Captions are lower-cased and split into words and punctuation (``seqlab.data.tokenize``); the
normalised text is the words joined by single spaces.

Training sees every (image, reference) pair whose caption has at most ``max_caption_len`` words; val and test keep
every pair (their loss) and every reference (:meth:`CaptionDataModule.references`, for BLEU and CIDEr-D). Batches:
``(images (B, 3, S, S) float in [0, 1], captions (B, T) = <bos> ids <eos> padded with 0, caption_lengths (B,),
index (B,))``, ``index`` being the image's position in its split (= in ``references(stage)`` for val and test).
With ``source=features`` the images are the features, ``(B, C)``, ``(B, R, C)`` or ``(B, H, W, C)``.
Batches hold captions of similar length; under DDP rank ``r`` takes batches ``r::world`` (training drops at most
``world - 1`` batches so every rank gets as many; evaluation keeps every batch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from seqlab.data.batching import pad_sequences
from seqlab.data.tokenize import tokenize
from seqlab.data.vocab import GENERATE, Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.caption.config import SOURCES, CaptionConfig, CaptionDataConfig
from seqlab.tasks.caption.scenes import SceneObject, load_or_generate
from seqlab.tasks.caption.sources import (
    SPLITS,
    CaptionExample,
    Features,
    default_captions_file,
    image_array,
    is_karpathy,
    load_features,
    load_folder,
    load_karpathy,
    read_json,
    scene_examples,
)
from seqlab.training.ddp import BucketedSplits

log = logging.getLogger(__name__)

STAGES = ("val", "test")


def normalise(caption: str) -> str:
    """Lower-cased words and punctuation joined by single spaces."""
    return " ".join(tokenize(caption))


class ImageStore:
    """The images of one split by index: ``(3, S, S)`` uint8 (decoded once, kept when ``cache``), or features."""

    def __init__(self, items: list[Callable[[], torch.Tensor]], cache: bool) -> None:
        self.items, self.cache = items, cache
        self.kept: dict[int, torch.Tensor] = {}

    def raw(self, index: int) -> torch.Tensor:
        if index in self.kept:
            return self.kept[index]
        tensor = self.items[index]()
        if self.cache:
            self.kept[index] = tensor
        return tensor

    def tensor(self, index: int) -> torch.Tensor:
        """Float: images in [0, 1], features as they are."""
        return as_float(self.raw(index))

    def __len__(self) -> int:
        return len(self.items)


def as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


@dataclass
class ImageReferences:
    """A val/test image: its position, id, all distinct reference captions (normalised), boxes and group."""

    index: int
    id: str
    references: list[str]
    boxes: list[SceneObject] | None
    group: str | None
    store: ImageStore = field(repr=False, compare=False)

    @property
    def image(self) -> torch.Tensor:
        """``(3, S, S)`` float in [0, 1] (or the features); read on access."""
        return self.store.tensor(self.index)


class CaptionPairs(Dataset):
    """(image, caption ids framed by ``<bos>``/``<eos>``, image index) pairs of one split."""

    def __init__(self, store: ImageStore, pairs: list[tuple[int, torch.Tensor]]) -> None:
        self.store, self.pairs = store, pairs
        self.lengths = [len(ids) for _, ids in pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        index, ids = self.pairs[i]
        return self.store.raw(index), ids, index


def collate_captions(items: list[tuple[torch.Tensor, torch.Tensor, int]]) -> tuple[torch.Tensor, ...]:
    """``(images (B, ...) float, captions (B, T) padded with 0, caption_lengths (B,), index (B,))``."""
    images = as_float(torch.stack([image for image, _, _ in items]))
    captions, lengths = pad_sequences([ids for _, ids, _ in items], Vocab.pad_id)
    return images, captions, lengths, torch.tensor([index for _, _, index in items], dtype=torch.long)


def load_examples(data: CaptionDataConfig) -> tuple[list[CaptionExample], Features | None]:
    """The examples of ``task.data.source`` (images checked readable), and the features when the source has them."""
    if data.source not in SOURCES:
        raise ConfigError("task.data.source", f"unknown source '{data.source}'", allowed=SOURCES)
    if data.image_size < 1:
        raise ConfigError("task.data.image_size", f"must be at least 1, got {data.image_size}")
    split = (data.val_fraction, data.test_fraction, data.split_seed)
    if data.source == "synthetic":
        return scene_examples(load_or_generate(data.scenes, data.image_size)), None
    if data.source == "features":
        if not data.features or not data.path:
            missing = "task.data.features" if not data.features else "task.data.path"
            raise ConfigError(missing, "source=features needs task.data.features and task.data.path (the captions)")
        features = load_features(Path(data.features).expanduser())
        captions = Path(data.path).expanduser()
        if captions.suffix.lower() == ".json" and is_karpathy(read_json(captions, "task.data.path")):
            examples = load_karpathy(captions, None, check_images=False)
        else:
            examples = load_folder(None, captions, *split, check_images=False)
        for example in examples:
            if features.find(example.id) is None:
                raise DataError(
                    f"task.data.features: {features.source} has no features for image '{example.id}' "
                    f"(listed in {captions})"
                )
        return examples, features
    if not data.images:
        raise ConfigError("task.data.images", f"source={data.source} needs the image folder")
    images = Path(data.images).expanduser()
    if not images.is_dir():
        raise DataError(f"task.data.images: not a folder: {images}")
    if data.source == "karpathy":
        if not data.path:
            raise ConfigError("task.data.path", "source=karpathy needs the split JSON (e.g. dataset_flickr8k.json)")
        return load_karpathy(Path(data.path).expanduser(), images), None
    captions = Path(data.path).expanduser() if data.path else default_captions_file(images)
    return load_folder(images, captions, *split), None


def _loader_of(example: CaptionExample, features: Features | None, size: int) -> Callable[[], torch.Tensor]:
    """A picklable call that reads the example's image (uint8 ``(3, S, S)``) or features."""
    if features is not None:
        return partial(_features_tensor, features, features.find(example.id))
    if isinstance(example.image, np.ndarray):
        return partial(_array_tensor, example.image)
    return partial(_image_tensor, example.image, size)


def _features_tensor(features: Features, key: str) -> torch.Tensor:
    return torch.from_numpy(features[key])


def _array_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(2, 0, 1)


def _image_tensor(path: Path, size: int) -> torch.Tensor:
    return _array_tensor(image_array(path, size))


class CaptionDataModule(BucketedSplits):
    """Loads and encodes once (:meth:`prepare`, before the model is built), then serves loaders and the val/test
    images with all their references (:meth:`references`). Its batch sampler shards by rank itself."""

    collate = staticmethod(collate_captions)

    def __init__(self, cfg: CaptionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self._vocab: Vocab | None = None
        self.features: Features | None = None
        self.stores: dict[str, ImageStore] = {}
        self.splits: dict[str, CaptionPairs] = {}
        self.examples: dict[str, list[CaptionExample]] = {}
        self._references: dict[str, list[ImageReferences]] = {}
        self.summary: dict[str, int] = {}

    @property
    def vocab(self) -> Vocab:
        return self.prepare()

    @property
    def image_shape(self) -> tuple[int, ...]:
        """``(3, S, S)``, or the features' shape."""
        self.prepare()
        if self.features is not None:
            return self.features.shape
        return (3, self.cfg.data.image_size, self.cfg.data.image_size)

    def prepare(self) -> Vocab:
        """Read the source, build the vocabulary on the train captions, encode; idempotent."""
        if self._vocab is not None:
            return self._vocab
        cfg = self.cfg
        for key, value in (("task.batch_size", cfg.batch_size), ("task.max_caption_len", cfg.max_caption_len)):
            if value < 1:
                raise ConfigError(key, f"must be at least 1, got {value}")
        examples, self.features = load_examples(cfg.data)
        for split in SPLITS:
            self.examples[split] = [e for e in examples if e.split == split]
            if not self.examples[split]:
                raise DataError(f"task.data: the {cfg.data.source} source has no {split} images")
        tokens = {s: [[tokenize(c) for c in e.captions] for e in self.examples[s]] for s in SPLITS}
        kept = [[t for t in per_image if len(t) <= cfg.max_caption_len] for per_image in tokens["train"]]
        long = sum(len(a) - len(b) for a, b in zip(tokens["train"], kept))
        tokens["train"] = kept
        if not any(kept):
            raise DataError(f"task.max_caption_len: no training caption has at most {cfg.max_caption_len} words")
        vocab = Vocab.build((t for per in kept for t in per), cfg.vocab.max_size, cfg.vocab.min_freq, GENERATE)
        bos, eos = torch.tensor([vocab.bos_id]), torch.tensor([vocab.eos_id])
        for split in SPLITS:
            loaders = [_loader_of(e, self.features, cfg.data.image_size) for e in self.examples[split]]
            store = self.stores[split] = ImageStore(loaders, cfg.data.cache_images)
            pairs = [(i, torch.cat([bos, vocab.encode(t), eos])) for i, per in enumerate(tokens[split]) for t in per]
            self.splits[split] = CaptionPairs(store, pairs)
            if split in STAGES:
                self._references[split] = [
                    ImageReferences(
                        i, e.id, list(dict.fromkeys(normalise(c) for c in e.captions)), e.boxes, e.group, store
                    )
                    for i, e in enumerate(self.examples[split])
                ]
        self.summary = {
            **{f"{s}_images": len(self.examples[s]) for s in SPLITS},
            **{f"{s}_pairs": len(self.splits[s]) for s in SPLITS},
            "train_captions_too_long": long,
            "vocab": len(vocab),
        }
        if long:
            log.info("caption data: left out %d training caption(s) longer than %d words", long, cfg.max_caption_len)
        log.info("caption data: %s", ", ".join(f"{k}={v}" for k, v in self.summary.items()))
        self._vocab = vocab
        return vocab

    def references(self, stage: str) -> list[ImageReferences]:
        """The images of ``stage`` (val or test) in source order, each with all its distinct references."""
        if stage not in STAGES:
            raise ValueError(f"references of stage '{stage}' (allowed: {', '.join(STAGES)})")
        self.prepare()
        return self._references[stage]
