"""Translation data: read sentence pairs, filter, normalise, split by source sentence, tokenise, and batch.

The file (``task.data.path``, else ``$SEQLAB_DATA_DIR/eng-fra/eng-fra.txt``) is UTF-8 TSV, one pair a line:
``english<TAB>french[<TAB>extra...]``; extra columns (Tatoeba's attribution) are ignored, blank lines skipped.
``direction=eng-fra`` translates column 1 into column 2, ``fra-eng`` the other way.

The filters compare the tutorial-normalised text whatever ``task.data.normalize`` is: ``max_len`` words on each side,
and ``prefixes`` on the English side (the tutorial's ``i am``, ``he is``, ... subset, 11,445 pairs of eng-fra).
The split puts whole groups of pairs sharing a normalised source sentence into train, val or test, so no val or test
source is seen in training, and BLEU gets every reference of a source. Tokenizers (sentencepiece included) and the
vocabularies are built on train only.

Batches: ``(src (B, S), src_lengths (B,), tgt (B, T), tgt_lengths (B,))`` padded with 0; ``src`` holds the source
tokens only, ``tgt`` is ``<bos> target <eos>`` (its lengths count both). Reversing the source is the model's job.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from seqlab.data.batching import pad_sequences
from seqlab.data.locate import locate
from seqlab.data.normalize import NORMALIZATIONS, normalize, tutorial
from seqlab.data.splits import split_sizes
from seqlab.data.text_files import utf8_or_error
from seqlab.data.tokenizers import Tokenizer, build_tokenizer
from seqlab.data.vocab import GENERATE, Vocab
from seqlab.errors import ConfigError, DataError
from seqlab.tasks.translate.config import DIRECTIONS, TranslateConfig
from seqlab.tasks.translate.synthetic import SYNTHETIC, digit_pairs
from seqlab.training.ddp import BucketedSplits

log = logging.getLogger(__name__)

DEFAULT_FILE = "eng-fra/eng-fra.txt"
Pair = tuple[str, str]  # (source, target)
STAGES = ("val", "test")


def read_pairs(path: Path, direction: str) -> list[Pair]:
    """(source, target) pairs of a ``column1<TAB>column2[<TAB>...]`` file; ``fra-eng`` swaps the two columns."""
    if direction not in DIRECTIONS:
        raise ConfigError("task.data.direction", f"unknown direction '{direction}'", allowed=DIRECTIONS)
    pairs: list[Pair] = []
    number = 0
    with open(path, encoding="utf-8-sig") as fh, utf8_or_error(path, "task.data.path"):
        for number, line in enumerate(fh, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise DataError(f"task.data.path: {path}: line {number} has no tab (expected 'source<TAB>target')")
            for column in (0, 1):
                if not fields[column].strip():
                    raise DataError(f"task.data.path: {path}: line {number} has an empty column {column + 1}")
            first, second = fields[0].strip(), fields[1].strip()
            pairs.append((first, second) if direction == "eng-fra" else (second, first))
    if not pairs:
        where = "the file is empty" if number == 0 else f"its {number} line(s) are blank"
        raise DataError(f"task.data.path: {path}: no sentence pairs ({where}); expected 'source<TAB>target' lines")
    return pairs


def check_prefixes(prefixes: list[str] | None) -> None:
    """A prefix that tutorial-normalised text can never start with is a typo, not an empty subset."""
    for prefix in prefixes or []:
        if not prefix or any(not (c.islower() and c.isascii()) and c not in " !?" for c in prefix):
            raise ConfigError(
                "task.data.prefixes",
                f"'{prefix}' can never match: the English side is compared after the tutorial normalisation "
                "(lower-case ASCII letters, single spaces, ! and ?)",
            )


def filter_pairs(pairs: list[Pair], direction: str, max_len: int | None, prefixes: list[str] | None) -> list[Pair]:
    """Pairs with at most ``max_len`` words on each side and an English side starting with one of ``prefixes``,
    both judged on the tutorial-normalised text (``None`` or empty: no such filter)."""
    if max_len is not None and max_len < 1:
        raise ConfigError("task.data.max_len", f"must be at least 1 (or null), got {max_len}")
    check_prefixes(prefixes)
    if max_len is None and not prefixes:
        return list(pairs)
    english = 0 if direction == "eng-fra" else 1
    starts = tuple(prefixes or ())
    kept = []
    for pair in pairs:
        eng = tutorial(pair[english])
        if starts and not eng.startswith(starts):
            continue
        if max_len is not None and (len(eng.split()) > max_len or len(tutorial(pair[1 - english]).split()) > max_len):
            continue
        kept.append(pair)
    return kept


def subsample(pairs: list[Pair], limit: int | None, seed: int) -> list[Pair]:
    """At most ``limit`` pairs chosen at random with ``seed``, in file order."""
    if limit is not None and limit < 1:
        raise ConfigError("task.data.max_pairs", f"must be at least 1 (or null), got {limit}")
    if limit is None or limit >= len(pairs):
        return pairs
    return [pairs[i] for i in sorted(random.Random(seed).sample(range(len(pairs)), limit))]


def split_by_source(
    pairs: list[Pair], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(train, val, test): the distinct source sentences are shuffled with ``seed``; the first ``test_fraction`` of
    them go to test, the next ``val_fraction`` to val, the rest to train, each with all its pairs. Every pair is
    kept. Train keeps file order; val and test list their sources' groups in the shuffled order."""
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair[0], []).append(pair)
    sources = list(groups)
    random.Random(seed).shuffle(sources)
    _, n_val, n_test = split_sizes(len(sources), val_fraction, test_fraction)
    n_val, n_test = max(1, n_val), max(1, n_test)
    if n_val + n_test >= len(sources):
        raise DataError(
            f"task.data.val_fraction: {len(sources)} distinct source sentences are too few to split into "
            "train, val and test"
        )
    test_sources, val_sources = sources[:n_test], sources[n_test : n_test + n_val]
    held = set(test_sources) | set(val_sources)
    train = [pair for pair in pairs if pair[0] not in held]
    val = [pair for source in val_sources for pair in groups[source]]
    test = [pair for source in test_sources for pair in groups[source]]
    return train, val, test


@dataclass
class SourceReferences:
    """A val/test source sentence (normalised), its ids (no ``<bos>``/``<eos>``), and all its references."""

    source: str
    ids: torch.Tensor
    references: list[str]


@dataclass
class Prepared:
    """What the model needs of the data: both vocabularies and both tokenizers (train only)."""

    src_vocab: Vocab
    tgt_vocab: Vocab
    src_tokenizer: Tokenizer
    tgt_tokenizer: Tokenizer

    def tokenizer_states(self) -> dict[str, dict[str, Any]]:
        """``{"source": state, "target": state}``, safe for ``torch.load(weights_only=True)``."""
        return {"source": self.src_tokenizer.state(), "target": self.tgt_tokenizer.state()}


class PairDataset(Dataset):
    """Encoded pairs: source ids, and target ids framed by ``<bos>`` and ``<eos>``."""

    def __init__(self, src: list[torch.Tensor], tgt: list[torch.Tensor]) -> None:
        self.src, self.tgt = src, tgt
        self.lengths = [len(x) for x in src]

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.src[i], self.tgt[i]


def collate_pairs(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
    """``(src (B, S), src_lengths (B,), tgt (B, T), tgt_lengths (B,))``, padded with 0."""
    src, src_lengths = pad_sequences([s for s, _ in items], Vocab.pad_id)
    tgt, tgt_lengths = pad_sequences([t for _, t in items], Vocab.pad_id)
    return src, src_lengths, tgt, tgt_lengths


class TranslationDataModule(BucketedSplits):
    """Reads, filters, splits and encodes once (:meth:`prepare`, before the model is built), then serves loaders
    and the val/test source sentences with their references (:meth:`references`) for BLEU.

    Its batch sampler shards by rank itself (``shards_itself``), as in sentiment."""

    collate = staticmethod(collate_pairs)

    def __init__(self, cfg: TranslateConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.prepared: Prepared | None = None
        self.splits: dict[str, PairDataset] = {}
        self._references: dict[str, list[SourceReferences]] = {}
        self.summary: dict[str, int] = {}

    @property
    def src_vocab(self) -> Vocab:
        return self.prepare().src_vocab

    @property
    def tgt_vocab(self) -> Vocab:
        return self.prepare().tgt_vocab

    @property
    def src_tokenizer(self) -> Tokenizer:
        return self.prepare().src_tokenizer

    @property
    def tgt_tokenizer(self) -> Tokenizer:
        return self.prepare().tgt_tokenizer

    def prepare(self) -> Prepared:
        """Vocabularies and tokenizers (built on train only); idempotent."""
        if self.prepared is not None:
            return self.prepared
        cfg, data = self.cfg, self.cfg.data
        if data.normalize not in NORMALIZATIONS:
            raise ConfigError("task.data.normalize", f"unknown normalisation '{data.normalize}'", NORMALIZATIONS)
        if data.synthetic is not None:
            if data.synthetic not in SYNTHETIC:
                raise ConfigError("task.data.synthetic", f"unknown pairs '{data.synthetic}'", SYNTHETIC)
            path = Path(f"<synthetic {data.synthetic} pairs>")
            read = digit_pairs(data.synthetic, data.synthetic_pairs, seed=data.split_seed)
        else:
            path = locate(DEFAULT_FILE, explicit=data.path, key="task.data.path")
            read = read_pairs(path, data.direction)
        kept = filter_pairs(read, data.direction, data.max_len, data.prefixes)
        if not kept:
            raise DataError(
                f"task.data: no pair of {path} passes the filters (max_len={data.max_len}, prefixes={data.prefixes})"
            )
        kept = subsample(kept, data.max_pairs, data.split_seed)
        normed = [(normalize(s, data.normalize), normalize(t, data.normalize)) for s, t in kept]
        pairs = [(s, t) for s, t in normed if s and t]
        empty = len(normed) - len(pairs)
        if not pairs:
            raise DataError(f"task.data.normalize: every pair of {path} is empty after normalize={data.normalize}")
        train, val, test = split_by_source(pairs, data.val_fraction, data.test_fraction, data.split_seed)
        src_tok = build_tokenizer(cfg.tokens, [s for s, _ in train], cfg.sentencepiece)
        tgt_tok = build_tokenizer(cfg.tokens, [t for _, t in train], cfg.sentencepiece)
        tokens = {}
        for name, rows in (("train", train), ("val", val), ("test", test)):
            both = [(s, t, src_tok.encode(s), tgt_tok.encode(t)) for s, t in rows]
            tokens[name] = [row for row in both if row[2] and row[3]]
            empty += len(both) - len(tokens[name])
        if not tokens["train"]:
            raise DataError(f"task.data: no training pair of {path} is left after tokenisation")
        vocab = cfg.vocab
        src_vocab = Vocab.build((r[2] for r in tokens["train"]), vocab.max_size, vocab.min_freq, specials=GENERATE)
        tgt_vocab = Vocab.build((r[3] for r in tokens["train"]), vocab.max_size, vocab.min_freq, specials=GENERATE)
        bos, eos = torch.tensor([tgt_vocab.bos_id]), torch.tensor([tgt_vocab.eos_id])
        for name, rows in tokens.items():
            src = [src_vocab.encode(r[2]) for r in rows]
            tgt = [torch.cat([bos, tgt_vocab.encode(r[3]), eos]) for r in rows]
            self.splits[name] = PairDataset(src, tgt)
            if name in STAGES:
                self._references[name] = _group_references(rows, src)
        self.summary = {
            "pairs_read": len(read),
            "pairs_filtered": len(kept),
            "pairs_empty_dropped": empty,
            **{f"{name}_pairs": len(ds) for name, ds in self.splits.items()},
            **{f"{name}_sources": len(refs) for name, refs in self._references.items()},
            "src_vocab": len(src_vocab),
            "tgt_vocab": len(tgt_vocab),
        }
        if empty:
            log.info("translate data: dropped %d pair(s) empty after normalisation or tokenisation", empty)
        log.info("translate data: %s", ", ".join(f"{k}={v}" for k, v in self.summary.items()))
        self.prepared = Prepared(src_vocab, tgt_vocab, src_tok, tgt_tok)
        return self.prepared

    def references(self, stage: str) -> list[SourceReferences]:
        """The distinct source sentences of ``stage`` (val or test) in a fixed, seeded random order (the first N
        are a random sample of lengths), each with all its distinct references."""
        if stage not in STAGES:
            raise ValueError(f"references of stage '{stage}' (allowed: {', '.join(STAGES)})")
        self.prepare()
        return self._references[stage]


def _group_references(
    rows: list[tuple[str, str, list[str], list[str]]], src: list[torch.Tensor]
) -> list[SourceReferences]:
    """One :class:`SourceReferences` per distinct source, in order of first appearance, references deduplicated."""
    groups: dict[str, SourceReferences] = {}
    for (source, target, _, _), ids in zip(rows, src):
        item = groups.setdefault(source, SourceReferences(source, ids, []))
        if target not in item.references:
            item.references.append(target)
    return list(groups.values())
