"""Ensembles of decoders that keep the decoder contract, so every search decodes an ensemble unchanged.

At each step the members' log-probabilities are averaged (Sutskever et al. 2014 decode with five models):
``logits_t = (1/M) sum_m log softmax(logits_t^m)``; the search's ``log softmax`` of these is the renormalised
geometric mean of the members' distributions. An ensemble of one decoder (or of identical ones) equals that decoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.models.base import State
from seqlab.models.decoder import Decoder, DecoderOutput

Members = Sequence[State]  # one entry per member: a memory, a mask, an encoder state or a decoder state


def average_log_probs(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(1/M) sum_m log softmax(logits^m)`` over the last dimension (the members' per-step scores, averaged)."""
    return torch.stack([F.log_softmax(x.float(), dim=-1) for x in logits]).mean(dim=0)


def _average_attention(attention: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """The mean attention when every member returns one of the same shape, else None."""
    if any(a is None for a in attention) or len({tuple(a.shape) for a in attention}) != 1:  # type: ignore[union-attr]
        return None
    return torch.stack(list(attention)).float().mean(dim=0)  # type: ignore[arg-type]


class EnsembleDecoder(Decoder):
    """M decoders as one. ``memory``, ``memory_mask`` and ``encoder_state`` are sequences with one entry per member
    (each member has its own encoder; ``EnsembleDecoder.shared(x, M)`` repeats one value); the state is the tuple of
    the members' states, reordered member by member.
    """

    def __init__(self, decoders: Sequence[Decoder]) -> None:
        if not decoders:
            raise ValueError("an ensemble needs at least one decoder")
        sizes = {d.vocab_size for d in decoders}
        if len(sizes) != 1:
            raise ValueError(f"ensemble members must share one vocabulary, got sizes {sorted(sizes)}")
        super().__init__(sizes.pop())
        self.members = nn.ModuleList(decoders)
        self.uses_memory = any(d.uses_memory for d in decoders)  # type: ignore[misc]

    @staticmethod
    def shared(value: State, count: int) -> tuple[State, ...]:
        """The same memory, mask or encoder state for every member (e.g. one image encoder feeding M decoders)."""
        return (value,) * count

    def _split(self, value: Members | None, what: str) -> Members:
        if value is None:
            return (None,) * len(self.members)
        if not isinstance(value, tuple | list) or len(value) != len(self.members):
            raise ValueError(f"an ensemble of {len(self.members)} takes its {what} as one entry per member")
        return value

    def _combine(self, outs: list[DecoderOutput]) -> DecoderOutput:
        logits = average_log_probs([o[0] for o in outs])
        return logits, tuple(o[1] for o in outs), _average_attention([o[2] for o in outs])

    def init_state(
        self, memory: Members | None, memory_mask: Members | None, encoder_state: Members | None = None
    ) -> tuple[State, ...]:
        """The tuple of the members' initial states."""
        parts = zip(
            self._split(memory, "memory"), self._split(memory_mask, "mask"), self._split(encoder_state, "state")
        )
        return tuple(d.init_state(*p) for d, p in zip(self.members, parts))

    def step(
        self,
        prev_tokens: torch.Tensor,
        state: tuple[State, ...],
        memory: Members | None = None,
        memory_mask: Members | None = None,
    ) -> DecoderOutput:
        """Averaged log-probabilities ``(B, V)``, the members' states, the mean attention (or None)."""
        parts = zip(self.members, state, self._split(memory, "memory"), self._split(memory_mask, "mask"))
        return self._combine([d.step(prev_tokens, s, m, k) for d, s, m, k in parts])

    def forward(
        self,
        tokens: torch.Tensor,
        state: tuple[State, ...],
        memory: Members | None = None,
        memory_mask: Members | None = None,
    ) -> DecoderOutput:
        """Each member's own (possibly fused) teacher-forced pass, averaged as in ``step``."""
        parts = zip(self.members, state, self._split(memory, "memory"), self._split(memory_mask, "mask"))
        return self._combine([d(tokens, s, m, k) for d, s, m, k in parts])

    def reorder_state(self, state: tuple[State, ...], index: torch.Tensor) -> tuple[State, ...]:
        return tuple(d.reorder_state(s, index) for d, s in zip(self.members, state))
