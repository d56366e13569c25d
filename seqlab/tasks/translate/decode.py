"""Decoding one model or an ensemble (Sutskever et al. 2014: average the members' log-probabilities at each step)
through the shared search (seqlab/generation/search.py), and turning hypotheses back into text.

The length limit of each row is ``ceil(max_len_ratio * source length) + max_len_extra`` tokens (``<eos>`` included).
Attention weights come back in the source's reading order even when the model reads it reversed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from seqlab.data.batching import pad_sequences, reverse_padded
from seqlab.data.normalize import normalize
from seqlab.errors import ConfigError
from seqlab.generation.ensemble import EnsembleDecoder
from seqlab.generation.search import Hypotheses, beam_search, greedy, sample
from seqlab.tasks.translate.attention_plot import AttentionMap


@dataclass
class Translation:
    """One decoded sentence: tokens without ``<eos>``, the detokenised text, the model's log-probability."""

    source_tokens: list[str]
    tokens: list[str]
    text: str
    score: float
    weights: torch.Tensor | None = None  # (output steps, source tokens), <eos>'s row included when produced
    unknown: list[str] = field(default_factory=list)  # source tokens outside the vocabulary (read as <unk>)

    def attention_map(self) -> AttentionMap | None:
        if self.weights is None:
            return None
        target = self.tokens + ["<eos>"] * (self.weights.size(0) - len(self.tokens))
        return AttentionMap(self.source_tokens, target, self.weights)


def check_members(members: list[Any]) -> None:
    """An ensemble must share its vocabularies, tokenisation and source direction (one line naming what differs)."""
    first = members[0]
    for other in members[1:]:
        for what, a, b in (
            ("the source vocabulary", first.src_vocab.itos, other.src_vocab.itos),
            ("the target vocabulary", first.tgt_vocab.itos, other.tgt_vocab.itos),
            ("task.tokens", first.task.tokens, other.task.tokens),
            ("task.data.normalize", first.task.data.normalize, other.task.data.normalize),
            ("task.reverse_source", first.task.reverse_source, other.task.reverse_source),
        ):
            if a != b:
                raise ConfigError("ckpt_path", f"the ensemble's checkpoints differ in {what}; they must share it")


@torch.no_grad()
def search(members: list[Any], src: torch.Tensor, lengths: torch.Tensor, decode: Any) -> Hypotheses:
    """Hypotheses for padded source ids ``(B, S)`` from one module or the ensemble of ``members``."""
    encoded = [m.encode(src, lengths) for m in members]
    if len(members) == 1:
        decoder: Any = members[0].decoder
        memory, mask, bridged = encoded[0]
    else:
        decoder = EnsembleDecoder([m.decoder for m in members])
        memory, mask, bridged = (tuple(e[i] for e in encoded) for i in range(3))
    state = decoder.init_state(memory, mask, bridged)
    first = members[0].tgt_vocab
    limit = (lengths.to(src.device).float() * decode.max_len_ratio).ceil().long() + decode.max_len_extra
    args = (decoder, memory, mask, state, first.bos_id, first.eos_id, limit.clamp(min=1))
    if decode.method == "greedy":
        return greedy(*args)
    if decode.method == "sample":
        return sample(*args, temperature=decode.temperature)
    return beam_search(*args, beam_size=decode.beam_size, alpha=decode.alpha)


def decode_batch(
    members: list[Any],
    source_ids: list[torch.Tensor],
    decode: Any,
    progress: Callable[[int, int], None] | None = None,
) -> list[Translation]:
    """Translations of encoded sources (1-D id tensors), in their order; sorted by length internally.
    ``progress(done, total)`` is called after each batch."""
    first = members[0]
    device = next(first.parameters()).device
    modes = [m.training for m in members]
    for m in members:
        m.eval()
    order = sorted(range(len(source_ids)), key=lambda i: len(source_ids[i]))
    out: dict[int, Translation] = {}
    try:
        for start in range(0, len(order), decode.batch_size):
            rows = order[start : start + decode.batch_size]
            src, lengths = pad_sequences([source_ids[i] for i in rows], first.src_vocab.pad_id)
            hyps = search(members, src.to(device), lengths, decode)
            attention = hyps.attention
            if attention is not None and first.task.reverse_source:
                attention = reverse_padded(attention.transpose(1, 2), lengths.to(attention.device)).transpose(1, 2)
            for k, (i, ids) in enumerate(zip(rows, hyps.token_lists())):
                out[i] = _translation(first, source_ids[i], ids, float(hyps.scores[k]), attention, k)
            if progress is not None:
                progress(len(out), len(order))
    finally:
        for m, mode in zip(members, modes):
            m.train(mode)
    return [out[i] for i in range(len(source_ids))]


def _translation(
    module: Any, src: torch.Tensor, ids: list[int], score: float, attention: torch.Tensor | None, row: int
) -> Translation:
    eos = module.tgt_vocab.eos_id
    tokens = module.tgt_vocab.decode([i for i in ids if i != eos])
    source = module.src_vocab.decode(src.tolist())
    weights = attention[row, : len(ids), : len(source)].detach().cpu() if attention is not None and ids else None
    return Translation(source, tokens, module.tgt_tokenizer.decode(tokens), score, weights)


def translations(
    members: list[Any],
    texts: list[str],
    max_source_tokens: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> list[Translation]:
    """Raw source texts -> translations; ``overrides`` replace ``task.decode`` keys (e.g. ``beam_size=1``).

    A text of more than ``max_source_tokens`` tokens is refused (ConfigError naming that key and the text's line)
    before anything is decoded: decoding time grows with the square of the source length."""
    first = members[0]
    decode = dataclasses.replace(first.task.decode, **overrides)
    encoded, unknown, empty, read = [], [], [], []
    for number, text in enumerate(texts, 1):
        tokens = first.src_tokenizer.encode(normalize(text, first.task.data.normalize))
        if max_source_tokens is not None and len(tokens) > max_source_tokens:
            raise ConfigError(
                "max_source_tokens",
                f"line {number} has {len(tokens)} tokens, more than this limit ({max_source_tokens}); split it into "
                "sentences, one a line, or raise max_source_tokens",
            )
        read.append(tokens)
        unknown.append([t for t in tokens if t not in first.src_vocab])
        empty.append(not tokens)
        encoded.append(first.src_vocab.encode(tokens or ["<unk>"]))
    results = decode_batch(members, encoded, decode, progress)
    for result, unk, is_empty, tokens in zip(results, unknown, empty, read):
        result.unknown, result.source_tokens = unk, tokens  # the words as written, not <unk>
        if is_empty:
            result.tokens, result.text, result.source_tokens, result.weights = [], "", [], None
            result.score = math.nan
    return results
