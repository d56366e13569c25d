"""The data side of task ``caption``'s config schema: where the images and captions come from (a generated scene
set, the Karpathy split JSON of Flickr8k/Flickr30k/COCO, a folder with a CSV or JSON of captions, or precomputed
CNN features), the image size, the vocabulary and the batches. The task adds its encoder and decoder keys."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCES = ("synthetic", "karpathy", "folder", "features")


@dataclass
class SceneConfig:
    """``task.data.scenes``: the generated scene set (the image size is ``task.data.image_size``)."""

    max_objects: int = 2  # each image holds 1..max_objects shapes at non-overlapping positions
    shapes: list[str] = field(default_factory=lambda: ["circle", "square", "triangle"])  # or diamond
    colours: list[str] = field(default_factory=lambda: ["red", "green", "blue", "yellow", "purple"])
    sizes: list[str] = field(default_factory=lambda: ["small", "large"])  # or medium
    num_train: int = 5000  # images per split
    num_val: int = 500
    num_test: int = 500
    seed: int = 1234
    held_out_fraction: float = 0.2  # of the (colour, shape) pairs: never in train; half of val/test shows one


@dataclass
class CaptionDataConfig:
    source: str = "synthetic"  # synthetic | karpathy | folder | features
    # karpathy: the dataset_*.json; folder: the captions CSV/JSON (null = images/captions.csv or .json);
    # features: the captions (a Karpathy JSON, or a CSV/JSON of captions split like a folder)
    path: str | None = None
    images: str | None = None  # karpathy, folder: the image folder
    features: str | None = None  # features: a folder of .npy/.npz per image (same stem) or one .npz (keys = names)
    image_size: int = 64  # images are center-cropped to a square and resized to this; scenes are drawn at it
    val_fraction: float = 0.1  # folder, features with a CSV/JSON: of the images, split with split_seed
    test_fraction: float = 0.1
    split_seed: int = 1234
    cache_images: bool = True  # keep each decoded, resized image in memory after its first read
    scenes: SceneConfig = field(default_factory=SceneConfig)


@dataclass
class CaptionVocabConfig:
    min_freq: int = 1  # rarer words (in the train captions) become <unk>
    max_size: int | None = None


@dataclass
class CaptionConfig:
    name: str = "caption"
    data: CaptionDataConfig = field(default_factory=CaptionDataConfig)
    vocab: CaptionVocabConfig = field(default_factory=CaptionVocabConfig)
    max_caption_len: int = 40  # training captions of more words are left out (references keep all)
    batch_size: int = 64
    # training batches of similar caption length come from pools of this many batches. 1 (no pooling) by default:
    # caption length follows the scene (one object: short, two: long), and batches grouped by length would give the
    # image encoder's BatchNorm one kind of scene per batch and running statistics that fit neither at evaluation
    bucket_batches: int = 1
