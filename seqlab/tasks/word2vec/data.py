"""Skip-gram training pairs from a word corpus, as word2vec.c draws them.

- **Vocabulary**: the training split's words seen at least ``vocab.min_freq`` times (at most ``vocab.max_size``);
  other words are dropped from the text (not mapped to ``<unk>``), and ``<eos>`` ends a sentence: no window crosses
  it. The corpus's own ``<unk>`` token is dropped too.
- **Subsampling** (Mikolov et al. 2013, word2vec.c): each occurrence of word ``w`` with frequency ``f(w) =
  count / total`` is kept with probability ``min(1, (sqrt(f/t) + 1) t/f)`` for threshold ``t = task.subsample``
  (0: keep all), before windows are taken, so a window reaches past dropped words.
- **Dynamic window**: each kept centre draws ``b ~ U{1..window}`` and pairs with the words up to ``b`` positions to
  either side in its sentence.
- **Negatives**: ``task.negatives`` words per pair from the noise distribution ``P_n(w) ~ count(w)^0.75``.

Training pairs are drawn anew each epoch (seed, epoch) and shuffled; validation and test pairs (with their
negatives) are drawn once with fixed seeds, so ``val/loss`` compares across epochs and runs. Each DDP rank takes
every ``world``-th batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset

from seqlab.data.vocab import Vocab
from seqlab.data.word_corpus import EOS, load_word_corpus
from seqlab.errors import DataError
from seqlab.training.ddp import RankAwareData, rank_and_world

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # centres (B,), contexts (B,), negatives (B, K)
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


def sentences(tokens: list[str]) -> list[list[str]]:
    """The token stream cut at ``<eos>``; empty sentences dropped."""
    out: list[list[str]] = [[]]
    for token in tokens:
        if token == EOS:
            out.append([])
        else:
            out[-1].append(token)
    return [s for s in out if s]


def encode(tokens: list[str], vocab: Vocab) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, sentence)`` of the in-vocabulary words (specials and unknown words dropped), each with the number
    of its sentence."""
    ids, sentence, number, get = [], [], 0, vocab.stoi.get
    for token in tokens:
        if token == EOS:
            number += 1
            continue
        i = get(token, Vocab.unk_id)
        if i > Vocab.unk_id:
            ids.append(i)
            sentence.append(number)
    return torch.tensor(ids, dtype=torch.long), torch.tensor(sentence, dtype=torch.long)


def keep_probabilities(counts: torch.Tensor, threshold: float) -> torch.Tensor:
    """word2vec's ``p_keep(w) = min(1, (sqrt(f/t) + 1) t/f)``, ``f = count/total``; all ones for ``t = 0``."""
    if threshold <= 0:
        return torch.ones(len(counts))
    freq = counts.double() / counts.sum()
    keep = ((freq / threshold).sqrt() + 1) * threshold / freq.clamp_min(1e-300)
    return keep.clamp(max=1.0).float()


def noise_cdf(counts: torch.Tensor, power: float) -> torch.Tensor:
    """Cumulative noise distribution ``P_n(w) ~ count(w)^power`` (zero for the specials, whose count is 0)."""
    weights = counts.double().pow(power) * (counts > 0)
    return (weights.cumsum(0) / weights.sum()).float()


def draw_negatives(cdf: torch.Tensor, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Words drawn from the noise distribution (inverse CDF)."""
    u = torch.rand(shape, generator=generator)
    return torch.searchsorted(cdf, u).clamp_(max=len(cdf) - 1)


def skipgram_pairs(
    ids: torch.Tensor, sentence: torch.Tensor, keep: torch.Tensor, window: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(centres, contexts)``: subsample, then pair each centre with the words up to its drawn ``b <= window``
    positions away in the same sentence."""
    kept = torch.rand(len(ids), generator=generator) < keep[ids]
    ids, sentence = ids[kept], sentence[kept]
    reach = torch.randint(1, window + 1, (len(ids),), generator=generator)
    centres, contexts = [], []
    for offset in range(1, min(window, len(ids) - 1) + 1):
        same = sentence[:-offset] == sentence[offset:]
        right = same & (reach[:-offset] >= offset)  # centre i, context i + offset
        left = same & (reach[offset:] >= offset)  # centre i + offset, context i
        centres += [ids[:-offset][right], ids[offset:][left]]
        contexts += [ids[offset:][right], ids[:-offset][left]]
    if not centres:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return torch.cat(centres), torch.cat(contexts)


class TrainPairs(IterableDataset):
    """Shuffled batches of fresh pairs each epoch; ``len`` = the first epoch's batches for this rank, and every
    epoch yields that many full batches (the pair count varies a little from draw to draw: the pairs beyond are
    left out, or the first ones used twice)."""

    def __init__(self, ids: torch.Tensor, sentence: torch.Tensor, keep: torch.Tensor, cdf: torch.Tensor,
                 cfg: Any, seed: int, rank: int, world: int, epoch: Callable[[], int]) -> None:  # fmt: skip
        super().__init__()
        self.ids, self.sentence, self.keep, self.cdf, self.cfg = ids, sentence, keep, cdf, cfg
        self.seed, self.rank, self.world, self.epoch = seed, rank, world, epoch
        self.skip_batches = 0  # set by ExactResume: batches of the current epoch already trained on
        self._first: tuple[torch.Tensor, torch.Tensor] | None = self._draw(0)  # it sizes len()
        pairs = len(self._first[0])
        self.batches = pairs // (cfg.batch_size * world)
        if self.batches < 1:
            raise DataError(
                f"the training split gives {pairs} (centre, context) pairs: too few for "
                f"task.batch_size={cfg.batch_size} x {world} process(es); use a longer text or a smaller batch"
            )

    def _draw(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The epoch's pairs, shuffled (the same on every rank; each takes its own batches)."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        centres, contexts = skipgram_pairs(self.ids, self.sentence, self.keep, self.cfg.window, generator)
        order = torch.randperm(len(centres), generator=generator)
        return centres[order], contexts[order]

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.epoch()
        first_draw, self._first = self._first, None
        centres, contexts = first_draw if first_draw and epoch == 0 else self._draw(epoch)
        noise = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 1024 + self.rank)  # per rank
        first, self.skip_batches = self.skip_batches, 0
        size, k = self.cfg.batch_size, self.cfg.negatives
        for b in range(self.batches):
            negatives = draw_negatives(self.cdf, (size, k), noise)  # drawn for skipped batches too: same stream
            if b < first:
                continue
            # a draw with fewer pairs than the first epoch's wraps around to its start
            index = torch.arange((b * self.world + self.rank) * size, (b * self.world + self.rank + 1) * size)
            index %= len(centres)
            yield centres[index], contexts[index], negatives


def fixed_batches(ids: torch.Tensor, sentence: torch.Tensor, keep: torch.Tensor, cdf: torch.Tensor, cfg: Any,
                  seed: int, rank: int, world: int, name: str) -> list[Batch]:  # fmt: skip
    """The held-out batches of this rank, drawn once (pairs and negatives) with a fixed seed."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + 7919 * SPLIT_SEEDS[name])
    centres, contexts = skipgram_pairs(ids, sentence, keep, cfg.window, generator)
    negatives = draw_negatives(cdf, (len(centres), cfg.negatives), generator)
    if not len(centres):
        raise DataError(f"the {name} split gives no (centre, context) pair: use a longer text or larger fractions")
    batches = list(zip(*(t.split(cfg.batch_size) for t in (centres, contexts, negatives))))
    return batches[rank::world]


class Word2VecDataModule(RankAwareData):
    """Reads the corpus and builds the vocabulary once (``prepare``), then serves this rank's pair batches."""

    shards_itself = True

    def __init__(self, cfg: Any, seed: int) -> None:
        super().__init__()
        self.cfg, self.seed = cfg, seed
        self.vocab: Vocab | None = None

    def prepare(self) -> Vocab:
        """Read the corpus and build the vocabulary on the training split (needed before the module is built)."""
        if self.vocab is None:
            data = self.cfg.data
            corpus = load_word_corpus(data.corpus, data.path, data.val_fraction, data.test_fraction)
            vocab_cfg = self.cfg.vocab
            self.vocab = Vocab.build(sentences(corpus.train), vocab_cfg.max_size, vocab_cfg.min_freq)
            if len(self.vocab) < 4:
                raise DataError(
                    f"task.vocab.min_freq: only {len(self.vocab) - 2} word(s) of {corpus.sources['train']} appear "
                    f"at least {vocab_cfg.min_freq} times; lower task.vocab.min_freq or use a longer text"
                )
            counts = Counter(corpus.train)
            self.counts = torch.tensor([0, 0] + [counts[w] for w in self.vocab.itos[2:]], dtype=torch.long)
            self.keep = keep_probabilities(self.counts, self.cfg.subsample)
            self.cdf = noise_cdf(self.counts, self.cfg.noise_power)
            self.splits = {name: encode(corpus.split(name), self.vocab) for name in ("train", "val", "test")}
        return self.vocab

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def train_dataloader(self) -> DataLoader:
        self.prepare()
        rank, world = rank_and_world(self.trainer)
        ids, sentence = self.splits["train"]
        pairs = TrainPairs(ids, sentence, self.keep, self.cdf, self.cfg, self.seed, rank, world, self._epoch)
        self.shard = {"rank": rank, "batches": len(pairs), "batch_size": self.cfg.batch_size}
        return DataLoader(pairs, batch_size=None)

    def _held_out(self, name: str) -> DataLoader:
        self.prepare()
        rank, world = rank_and_world(self.trainer)
        ids, sentence = self.splits[name]
        batches = fixed_batches(ids, sentence, self.keep, self.cdf, self.cfg, self.seed, rank, world, name)
        return DataLoader(batches, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return self._held_out("val")

    def test_dataloader(self) -> DataLoader:
        return self._held_out("test")
