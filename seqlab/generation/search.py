"""One search module for every decoder (seqlab/models/decoder.py): greedy, sampling and beam search, batched over B.

All three take ``(decoder, memory, memory_mask, init_state, bos_id, eos_id, max_len)``: the memory and its mask as
the decoder's ``step`` takes them (a tuple per member for an ``EnsembleDecoder``, or None), the state from
``decoder.init_state``, the ids of ``<bos>`` (first input) and ``<eos>`` (ends a hypothesis), and ``max_len``: an int,
or a ``(B,)`` tensor of per-row limits (translation: a multiple of each source length). A hypothesis that reaches its
limit without ``<eos>`` ends there. They run under ``torch.no_grad()`` and leave the decoder's train/eval mode alone.

Scores are sums of the model's log-probabilities ``log softmax(logits)``; beam search ranks finished hypotheses by
the GNMT length-normalised score ``score / lp(len)``, ``lp(len) = ((5 + len) / 6) ** alpha``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from seqlab.models.base import State, length_mask, select_state, state_tensors
from seqlab.models.decoder import Decoder

Limit = int | torch.Tensor
NEG_INF = float("-inf")


@dataclass
class Hypotheses:
    """Decoded token sequences of B rows.

    ``tokens`` ``(B, L)`` long, without ``<bos>``, ending with ``<eos>`` where a hypothesis ended with it, padded
    with ``eos_id``; ``lengths`` ``(B,)`` tokens generated (``<eos>`` included); ``scores`` ``(B,)`` sum of
    log-probabilities; ``attention`` ``(B, L, S)`` (0 after each length) or None; ``ranked``: beam search's n-best,
    ``ranked[k]`` the k-th best of every row (``ranked[0]`` equals these tensors), empty for greedy and sampling.
    """

    tokens: torch.Tensor
    lengths: torch.Tensor
    scores: torch.Tensor
    attention: torch.Tensor | None = None
    ranked: list[Hypotheses] = field(default_factory=list)

    def token_lists(self) -> list[list[int]]:
        """Each row's tokens up to its length, ``<eos>`` included when produced."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths.tolist())]


def length_penalty(lengths: torch.Tensor | int, alpha: float) -> torch.Tensor:
    """GNMT (Wu et al. 2016): ``lp(len) = ((5 + len) / 6) ** alpha``; alpha 0 is no normalisation."""
    return ((5.0 + torch.as_tensor(lengths, dtype=torch.float)) / 6.0) ** alpha


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    top_k: int | None = None,
) -> torch.Tensor:
    """Token ids of shape ``logits.shape[:-1]`` drawn from ``softmax(logits / temperature)``.

    ``top_k`` keeps the k largest logits (ties at the k-th kept); temperature 0 is greedy (argmax, no randomness).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits.float() / temperature
    if top_k is not None and top_k < scaled.size(-1):
        kth = scaled.topk(top_k, dim=-1).values[..., -1:]
        scaled = scaled.masked_fill(scaled < kth, NEG_INF)
    probs = torch.softmax(scaled, dim=-1)
    flat = probs.reshape(-1, probs.size(-1))
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def _setup(
    decoder: Decoder, memory: State, memory_mask: State, init_state: State, max_len: Limit, batch_size: int | None
) -> tuple[int, torch.device, torch.Tensor]:
    """Batch size, device and the ``(B,)`` per-row length limit."""
    given = state_tensors((memory_mask, memory))
    found = given or state_tensors(init_state) or list(decoder.parameters()) + list(decoder.buffers())
    device = found[0].device if found else torch.device("cpu")
    if given:
        batch = given[0].size(0)
    elif isinstance(max_len, torch.Tensor):
        batch = max_len.numel()
    elif batch_size is not None:
        batch = batch_size
    else:
        raise ValueError("without a memory, pass batch_size= (or max_len as a (B,) tensor)")
    limit = torch.as_tensor(max_len, device=device).long().reshape(-1).expand(batch).clone()
    if int(limit.min()) < 1:
        raise ValueError("max_len must be >= 1")
    return batch, device, limit


@torch.no_grad()
def _one_path(
    decoder: Decoder,
    memory: State,
    memory_mask: State,
    state: State,
    bos_id: int,
    eos_id: int,
    max_len: Limit,
    choose: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int | None,
) -> Hypotheses:
    """One hypothesis per row, token ``t`` = ``choose(logits_t)``: greedy and sampling."""
    batch, device, limit = _setup(decoder, memory, memory_mask, state, max_len, batch_size)
    prev = torch.full((batch,), bos_id, dtype=torch.long, device=device)
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    scores = torch.zeros(batch, device=device)
    tokens: list[torch.Tensor] = []
    attention: list[torch.Tensor | None] = []
    for t in range(int(limit.max())):
        logits, state, attn = decoder.step(prev, state, memory, memory_mask)
        logp = F.log_softmax(logits.float(), dim=-1)
        token = torch.where(ended, eos_id, choose(logits))
        scores += torch.where(ended, 0.0, logp.gather(1, token[:, None]).squeeze(1))
        lengths += (~ended).long()
        tokens.append(token)
        attention.append(None if attn is None else attn.float().masked_fill(ended[:, None], 0.0))
        ended = ended | (token == eos_id) | (limit <= t + 1)
        prev = token
        if bool(ended.all()):
            break
    stacked = None if any(a is None for a in attention) else torch.stack(attention, dim=1)  # type: ignore[misc]
    return Hypotheses(torch.stack(tokens, dim=1), lengths, scores, stacked)


def greedy(
    decoder: Decoder,
    memory: State,
    memory_mask: State,
    init_state: State,
    bos_id: int,
    eos_id: int,
    max_len: Limit,
    batch_size: int | None = None,
) -> Hypotheses:
    """Each step takes ``argmax_y p(y | y_<t, memory)``. ``batch_size`` is needed only when there is no memory."""
    return _one_path(
        decoder,
        memory,
        memory_mask,
        init_state,
        bos_id,
        eos_id,
        max_len,
        lambda logits: logits.argmax(dim=-1),
        batch_size,
    )


def sample(
    decoder: Decoder,
    memory: State,
    memory_mask: State,
    init_state: State,
    bos_id: int,
    eos_id: int,
    max_len: Limit,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
) -> Hypotheses:
    """Each step draws ``y_t ~ softmax(logits / temperature)`` (``sample_next``); temperature 0 is ``greedy``.

    The same seeded ``generator`` gives the same sample; ``scores`` are the model's log-probabilities (temperature 1).
    """
    return _one_path(
        decoder,
        memory,
        memory_mask,
        init_state,
        bos_id,
        eos_id,
        max_len,
        lambda logits: sample_next(logits, temperature, generator, top_k),
        batch_size,
    )


def _keep_best(keep: torch.Tensor, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """Rows ``keep`` ``(B, n)`` of ``cat([old, new], dim=1)``, both ``(B, *, ...)``."""
    both = torch.cat([old, new], dim=1)
    index = keep.view(*keep.shape, *([1] * (both.dim() - 2))).expand(-1, -1, *both.shape[2:])
    return both.gather(1, index)


@torch.no_grad()
def beam_search(
    decoder: Decoder,
    memory: State,
    memory_mask: State,
    init_state: State,
    bos_id: int,
    eos_id: int,
    max_len: Limit,
    beam_size: int = 5,
    alpha: float = 0.0,
    n_best: int = 1,
    batch_size: int | None = None,
) -> Hypotheses:
    """The ``n_best`` hypotheses of highest ``score / lp(len)`` found with ``beam_size`` (K) beams per row.

    Each row keeps K unfinished hypotheses (B*K decoder rows; the state follows through ``decoder.reorder_state``).
    A step ranks the extensions of all K by score; those ranked among the first K that end (``<eos>``, or the row's
    limit) join the row's finished pool, and the best K that do not end stay alive. A row stops once its
    ``n_best``-th finished normalised score is at least ``best_alive / lp(limit)``, the most a continuation could
    still reach (log-probabilities <= 0, alpha >= 0). So beam 1 with alpha 0 is ``greedy``; a beam of K >= (V-1)^(L-1)*V
    is exhaustive search. Rows with fewer than ``n_best`` hypotheses get score ``-inf`` and length 0 in the missing
    ranks. With alpha > 0, beam 1 may keep going past greedy's ``<eos>`` when a longer hypothesis could still win.
    """
    if beam_size < 1 or not 1 <= n_best <= beam_size:
        raise ValueError(f"need beam_size >= 1 and 1 <= n_best <= beam_size, got {beam_size} and {n_best}")
    if alpha < 0:
        raise ValueError(f"the length penalty alpha must be >= 0, got {alpha}")
    batch, device, limit = _setup(decoder, memory, memory_mask, init_state, max_len, batch_size)
    k, longest = beam_size, int(limit.max())
    rows = torch.arange(batch, device=device).repeat_interleave(k)
    memory, memory_mask = select_state(memory, rows, 0), select_state(memory_mask, rows, 0)
    state = decoder.reorder_state(init_state, rows)
    first_row = torch.arange(batch, device=device)[:, None] * k
    best_possible_lp = length_penalty(limit, alpha).to(device)

    alive = torch.full((batch, k), NEG_INF, device=device)
    alive[:, 0] = 0.0  # one live hypothesis (<bos>) per row at the start
    alive_tokens = torch.zeros(batch * k, 0, dtype=torch.long, device=device)
    alive_attn: torch.Tensor | None = None
    prev = torch.full((batch * k,), bos_id, dtype=torch.long, device=device)
    fin_norm = torch.full((batch, n_best), NEG_INF, device=device)
    fin_raw = fin_norm.clone()
    fin_len = torch.zeros(batch, n_best, dtype=torch.long, device=device)
    fin_tokens = torch.full((batch, n_best, longest), eos_id, dtype=torch.long, device=device)
    fin_attn: torch.Tensor | None = None
    done = torch.zeros(batch, dtype=torch.bool, device=device)

    for t in range(longest):
        length = t + 1
        logits, state, attn = decoder.step(prev, state, memory, memory_mask)
        logp = F.log_softmax(logits.float(), dim=-1)
        vocab = logp.size(-1)
        cand = (alive.view(-1, 1) + logp).view(batch, k * vocab)
        top_raw, top_idx = cand.topk(min(2 * k, k * vocab), dim=1)  # >= k of these do not end in <eos>
        in_first_k = torch.arange(top_raw.size(1), device=device)[None, :] < k
        src = first_row + top_idx // vocab  # (B, 2K) decoder rows the candidates extend
        tok = top_idx % vocab
        if t == 0 and attn is not None:
            alive_attn = attn.new_zeros(batch * k, 0, attn.size(-1)).float()
            fin_attn = attn.new_zeros(batch, n_best, longest, attn.size(-1)).float()
        cand_attn = None
        if attn is not None and alive_attn is not None:
            cand_attn = torch.cat([alive_attn[src.flatten()], attn[src.flatten()][:, None]], dim=1).float()

        # a candidate ranked among the first K that ends (<eos>, or the row's limit) is finished (as in HF's scorer)
        ends = ((tok == eos_id) | (limit[:, None] <= length)) & in_first_k & ~done[:, None] & torch.isfinite(top_raw)
        if bool(ends.any()):
            cand_tokens = torch.cat([alive_tokens[src.flatten()], tok.reshape(-1, 1)], dim=1)
            cand_tokens = F.pad(cand_tokens, (0, longest - length), value=eos_id).view(batch, -1, longest)
            cand_norm = torch.where(ends, top_raw / length_penalty(length, alpha), NEG_INF)
            fin_norm, keep = torch.cat([fin_norm, cand_norm], dim=1).topk(n_best, dim=1)
            fin_raw = _keep_best(keep, fin_raw, torch.where(ends, top_raw, NEG_INF))
            fin_len = _keep_best(keep, fin_len, torch.full_like(tok, length))
            fin_tokens = _keep_best(keep, fin_tokens, cand_tokens)
            if fin_attn is not None and cand_attn is not None:
                padded = F.pad(cand_attn, (0, 0, 0, longest - length)).view(batch, -1, longest, attn.size(-1))
                fin_attn = _keep_best(keep, fin_attn, padded)

        alive, pick = torch.where(tok == eos_id, NEG_INF, top_raw).topk(k, dim=1)
        chosen = src.gather(1, pick).flatten()
        prev = tok.gather(1, pick).flatten()
        alive_tokens = torch.cat([alive_tokens[chosen], prev[:, None]], dim=1)
        if cand_attn is not None:
            alive_attn = (
                cand_attn.view(batch, -1, length, cand_attn.size(-1))
                .gather(1, pick.view(batch, k, 1, 1).expand(-1, -1, length, cand_attn.size(-1)))
                .flatten(0, 1)
            )
        state = decoder.reorder_state(state, chosen)
        bound = alive.max(dim=1).values / best_possible_lp
        done = done | (limit <= length) | (fin_norm[:, -1] >= bound)
        alive = alive.masked_fill(done[:, None], NEG_INF)
        if bool(done.all()):
            break

    fin_len = torch.where(torch.isfinite(fin_raw), fin_len, 0)
    width = max(int(fin_len.max()), 1)
    ranked = [
        Hypotheses(
            fin_tokens[:, r, :width], fin_len[:, r], fin_raw[:, r], None if fin_attn is None else fin_attn[:, r, :width]
        )
        for r in range(n_best)
    ]
    best = ranked[0]
    return Hypotheses(best.tokens, best.lengths, best.scores, best.attention, ranked)


def score_tokens(
    decoder: Decoder,
    tokens: torch.Tensor,
    lengths: torch.Tensor,
    memory: State,
    memory_mask: State,
    init_state: State,
    bos_id: int,
) -> torch.Tensor:
    """``sum_{t < length} log p(tokens_t | <bos>, tokens_<t, memory)`` per row, by one teacher-forced pass.

    Differentiable (no ``no_grad``): e.g. to train on sampled captions, or to check a search's reported scores.
    """
    inputs = torch.cat([torch.full_like(tokens[:, :1], bos_id), tokens[:, :-1]], dim=1)
    logits, _, _ = decoder(inputs, init_state, memory, memory_mask)
    logp = F.log_softmax(logits.float(), dim=-1).gather(2, tokens.unsqueeze(2)).squeeze(2)
    real = length_mask(lengths.to(tokens.device), tokens.size(1))
    return torch.where(real, logp, 0.0).sum(dim=1)
