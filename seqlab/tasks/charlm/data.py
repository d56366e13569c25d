"""Character data: a vocabulary, an in-order train/val/test split of one text, and stream batches."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from seqlab.data.locate import Remote, locate
from seqlab.data.splits import split_sizes
from seqlab.data.text_files import utf8_or_error
from seqlab.errors import DataError
from seqlab.training.ddp import RankAwareData, rank_and_world
from seqlab.training.stream import StreamBatches

TINY_SHAKESPEARE = Remote(
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
)


class CharVocab:
    """Characters of the corpus, sorted; ids are positions (char-rnn builds it on the whole file)."""

    def __init__(self, chars: list[str]) -> None:
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        missing = sorted({c for c in text if c not in self.index})
        if missing:
            raise DataError(f"prompt: characters not in the model's vocabulary: {''.join(missing)!r}")
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def read_corpus(path: str | None) -> tuple[str, Path]:
    """The corpus text and where it came from (tiny Shakespeare unless ``path`` is given)."""
    source = locate("tinyshakespeare/input.txt", explicit=path, remote=TINY_SHAKESPEARE, key="task.data.path")
    with utf8_or_error(source, "task.data.path"):
        text = source.read_text(encoding="utf-8")
    if not text.strip():
        raise DataError(f"task.data.path: file is empty: {source}")
    return text, source


def split_stream(n: int, val_fraction: float, test_fraction: float) -> tuple[slice, slice, slice]:
    """In-order split of ``n`` tokens: train | val | test."""
    n_train, n_val, _ = split_sizes(n, val_fraction, test_fraction)
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)


def check_split_sizes(splits: tuple[slice, slice, slice], batch_size: int, source: Path) -> None:
    """Fail before training when a split is too short to make one batch of ``batch_size`` streams (a stream
    needs at least two steps after its first token), with the advice that fits: a longer text, a larger fraction,
    or a smaller batch."""
    sizes = [
        (split.stop - split.start, name, key)
        for split, name, key in zip(splits, ("train", "val", "test"), ("", "val_fraction", "test_fraction"))
    ]
    # first what no batch size can fix, then the batch size
    for tokens, name, key in sorted(sizes, key=lambda s: (s[0] - 1) // 2 >= 1):
        most = (tokens - 1) // 2  # the largest batch_size this split can serve
        if most >= batch_size:
            continue
        larger = f" or a larger task.data.{key}" if key else ""
        advice = f"use a longer text{larger}" if most < 1 else f"use task.batch_size <= {most}, a longer text{larger}"
        raise DataError(
            f"task.data.path: {source}: the {name} split has {tokens} characters, too few for "
            f"task.batch_size={batch_size}; {advice}"
        )


class CharDataModule(RankAwareData):
    """Reads the corpus once (``prepare``), then serves per-rank stream batches."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        self.vocab: CharVocab | None = None
        self.ids: torch.Tensor | None = None
        self.source: Path | None = None

    def prepare(self) -> CharVocab:
        """Read the text and build the vocabulary (needed before the model is built)."""
        if self.vocab is None:
            text, self.source = read_corpus(self.cfg.data.path)
            self.vocab = CharVocab.from_text(text)
            self.ids = self.vocab.encode(text)
            self.splits = split_stream(len(self.ids), self.cfg.data.val_fraction, self.cfg.data.test_fraction)
            check_split_sizes(self.splits, self.cfg.batch_size, self.source)
        return self.vocab

    def _loader(self, part: int, name: str) -> DataLoader:
        self.prepare()
        rank, world = rank_and_world(self.trainer)
        stream = StreamBatches(self.ids[self.splits[part]], self.cfg.batch_size, self.cfg.seq_len, rank, world, name)
        if name == "train":
            self.shard = stream.shard
        return DataLoader(stream, batch_size=None)

    def train_dataloader(self) -> DataLoader:
        return self._loader(0, "train")

    def val_dataloader(self) -> DataLoader:
        return self._loader(1, "val")

    def test_dataloader(self) -> DataLoader:
        return self._loader(2, "test")
