"""A language model's output layer: hidden states -> a distribution over the vocabulary, with its loss.

- ``full``: ``logits = W h + b``, ``log p = log_softmax(logits)``, the loss is exactly ``F.cross_entropy``. With
  ``tie_to`` (an ``nn.Embedding`` of the same vocabulary) ``W`` *is* the embedding's weight, one tensor (Press & Wolf
  2017; Inan et al. 2017). When the hidden size differs from the embedding size, a linear projection without bias
  comes first, ``logits = E (P h) + b`` with ``P`` ``(embedding_dim, input_size)``: the standard way to tie across
  sizes (its bias would only add a constant ``E b_P`` to the output bias). AWD-LSTM instead sizes its last layer to
  the embedding; that is the model's choice, not this layer's.
- ``adaptive``: ``torch.nn.AdaptiveLogSoftmaxWithLoss`` (Grave et al. 2017): the ``cutoffs[0]`` most frequent words
  (ids below it, as a frequency-sorted vocabulary gives) and one entry per cluster form the head; cluster i holds
  ids ``[cutoffs[i], cutoffs[i + 1])`` and is predicted from a ``input_size / div_value^(i + 1)`` projection.
  ``log p(w) = log p_head(cluster(w)) + log p_cluster(w)``, normalised over the whole vocabulary. Tying is refused
  (the head's and the clusters' weights are not the embedding's shape).

``loss(hidden, target)`` is the mean negative log-likelihood (``reduction="sum"`` or ``"none"`` for sums or per-token
values), ``log_prob(hidden)`` the ``(..., V)`` log-probabilities for sampling and evaluation; ``forward`` is ``loss``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import ConfigError

__all__ = ["OUTPUT_KINDS", "OutputLayer", "check_cutoffs"]

OUTPUT_KINDS = ("full", "adaptive")
REDUCTIONS = ("mean", "sum", "none")


def check_cutoffs(cutoffs: Sequence[int] | None, vocab_size: int, key: str = "task.cutoffs") -> list[int]:
    """``cutoffs`` as a list: integers, strictly increasing, each in ``[1, vocab_size)``; else a ConfigError."""
    if cutoffs is None or isinstance(cutoffs, str | bytes) or len(cutoffs) == 0:
        raise ConfigError(
            key, f"adaptive softmax needs a non-empty list of cutoffs below the vocabulary size {vocab_size}"
        )
    if any(isinstance(c, bool) or not isinstance(c, int) for c in cutoffs):
        raise ConfigError(key, f"cutoffs must be integers, got {list(cutoffs)}")
    values = list(cutoffs)
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ConfigError(key, f"cutoffs must be strictly increasing, got {values}")
    if values[0] < 1 or values[-1] >= vocab_size:
        raise ConfigError(key, f"cutoffs must lie in [1, {vocab_size}) (the vocabulary size), got {values}")
    return values


class OutputLayer(nn.Module):
    """``full`` or ``adaptive`` softmax over ``vocab_size`` words from ``input_size`` features (module docstring)."""

    def __init__(
        self,
        input_size: int,
        vocab_size: int,
        kind: str = "full",
        cutoffs: Sequence[int] | None = None,
        div_value: float = 4.0,
        tie_to: nn.Embedding | None = None,
        head_bias: bool = True,
    ) -> None:
        super().__init__()
        if kind not in OUTPUT_KINDS:
            raise ConfigError("task.softmax", f"unknown output layer '{kind}'", allowed=OUTPUT_KINDS)
        self.kind = kind
        self.tied = tie_to is not None
        self.input_size = input_size
        self.vocab_size = vocab_size
        self.project: nn.Linear | None = None
        self.decoder: nn.Linear | None = None
        self.adaptive: nn.AdaptiveLogSoftmaxWithLoss | None = None
        self.cutoffs: list[int] = []
        if kind == "adaptive":
            if tie_to is not None:
                raise ConfigError(
                    "task.tie_weights",
                    "tied weights need the full softmax (the adaptive softmax's clusters are not the embedding's "
                    "shape); set task.softmax=full or task.tie_weights=false",
                )
            if div_value <= 0:
                raise ConfigError("task.div_value", f"must be positive, got {div_value}")
            self.cutoffs = check_cutoffs(cutoffs, vocab_size)
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(
                input_size, vocab_size, self.cutoffs, div_value=div_value, head_bias=head_bias
            )
            return
        if tie_to is None:
            self.decoder = nn.Linear(input_size, vocab_size)
            return
        if tie_to.num_embeddings != vocab_size:
            raise ValueError(
                f"cannot tie to an embedding of {tie_to.num_embeddings} words: the vocabulary has {vocab_size}"
            )
        dim = tie_to.embedding_dim
        if dim != input_size:
            self.project = nn.Linear(input_size, dim, bias=False)
        self.decoder = nn.Linear(dim, vocab_size)
        self.decoder.weight = tie_to.weight  # one Parameter, shared

    @property
    def weight(self) -> Tensor:
        """The ``(V, D)`` output matrix of the full softmax (the embedding's weight when tied)."""
        if self.decoder is None:
            raise AttributeError("the adaptive softmax has no single output matrix")
        return self.decoder.weight

    def logits(self, hidden: Tensor) -> Tensor:
        """Unnormalised scores ``(..., V)`` (full); the log-probabilities for adaptive (equal under a softmax)."""
        if self.adaptive is not None:
            return self.log_prob(hidden)
        assert self.decoder is not None
        return self.decoder(self.project(hidden) if self.project is not None else hidden)

    def log_prob(self, hidden: Tensor) -> Tensor:
        """``(..., H)`` -> ``(..., V)`` log-probabilities (each row's ``exp`` sums to 1)."""
        if self.adaptive is not None:
            flat = self.adaptive.log_prob(hidden.reshape(-1, self.input_size))
            return flat.reshape(*hidden.shape[:-1], self.vocab_size)
        return torch.log_softmax(self.logits(hidden), dim=-1)

    def loss(self, hidden: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        """Negative log-likelihood of ``target`` ``(...)`` under ``hidden`` ``(..., H)``: mean, sum or per token."""
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        flat_hidden = hidden.reshape(-1, self.input_size)
        flat_target = target.reshape(-1)
        if self.adaptive is not None:
            nll = -self.adaptive(flat_hidden, flat_target).output
            if reduction == "mean":
                return nll.mean()
            return nll.sum() if reduction == "sum" else nll.reshape(target.shape)
        nll = F.cross_entropy(self.logits(flat_hidden), flat_target, reduction=reduction)
        return nll.reshape(target.shape) if reduction == "none" else nll

    def forward(self, hidden: Tensor, target: Tensor) -> Tensor:
        return self.loss(hidden, target)

    def extra_repr(self) -> str:
        extra = f", cutoffs={self.cutoffs}" if self.cutoffs else ""
        return f"kind={self.kind}, input_size={self.input_size}, vocab_size={self.vocab_size}{extra}"
