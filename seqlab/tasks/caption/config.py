"""The config schema of task ``caption``. ``CaptionConfig`` is its data side, which the data modules read: where the
images and captions come from (a generated scene set, the Karpathy split JSON of Flickr8k/Flickr30k/COCO, a folder
with a CSV or JSON of captions, or precomputed CNN features), the image size, the vocabulary and the batches;
``CaptionTaskConfig`` (the task's ``Config``) adds the image encoder, the decoder and decoding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.generation.checks import DECODE_METHODS as CHECKED_METHODS

SOURCES = ("synthetic", "karpathy", "folder", "features")
DECODE_METHODS = CHECKED_METHODS  # seqlab/generation/checks.py


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


def default_image_encoder() -> dict[str, Any]:
    """The keys ``task.image_encoder`` lists (conf/task/caption.yaml): ``name`` and the built-in encoders' keys at
    their defaults; each encoder takes its own (seqlab/config/role_node.py)."""
    return {
        "name": "small_cnn",
        "width": 32,
        "depth": 3,
        "batch_norm": False,
        "feature_size": 2048,
        "model": "resnet18",
        "pretrained": True,
        "freeze": True,
    }


@dataclass
class CaptionDecoderConfig:
    attention: str = "soft"  # none (Show and Tell: the image vector starts the state) | soft (Show, Attend and Tell)
    embedding_dim: int = 64  # word embedding size
    attention_size: int = 64  # soft: the additive attention's hidden size
    gating: bool = True  # soft: the gating scalar beta_t = sigmoid(f(h_{t-1})) on the context
    init: str = "mean"  # soft: h_0 (c_0) = tanh(W mean_i a_i) | zero (the image reaches the decoder only by attention)
    doubly_stochastic: float = 1.0  # soft: lambda of mean_i (1 - sum_t alpha_ti)^2 (0 = off)


@dataclass
class CaptionDecodeConfig:
    method: str = "beam"  # greedy | beam | sample
    beam_size: int = 3
    alpha: float = 0.0  # GNMT length penalty
    max_len: int = 20  # words (with <eos>)
    temperature: float = 1.0  # method=sample
    val_images: int = 200  # captioned at each validation (a fixed subset); test: all
    show: int = 4  # val images drawn with their captions (and attention) at each validation
    batch_size: int = 64


@dataclass
class CaptionTaskConfig(CaptionConfig):
    image_encoder: dict[str, Any] = field(default_factory=default_image_encoder)
    decoder: CaptionDecoderConfig = field(default_factory=CaptionDecoderConfig)
    decode: CaptionDecodeConfig = field(default_factory=CaptionDecodeConfig)
    tbptt_steps: int | None = None  # refused: a caption is one sequence
