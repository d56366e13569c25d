"""Character-aware word vectors: a word's vector is built from its spelling, so every word, seen or not, has one.

A word is spelled ``<bow> c_1 ... c_n <eow>`` (its first ``max_word_len`` characters; an unknown character is the
char ``<unk>``); a special token of the word vocabulary (``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``) is one symbol
of its own. Characters are embedded (``char_dim``, ``<pad>`` = 0 is a zero vector), then encoded by:

- ``bilstm`` (C2W, Ling et al. 2015): a forward and a backward LSTM (``hidden`` units each) over the characters;
  ``e_w = W_f h_fwd + W_b h_bwd + b`` with ``h_fwd`` the forward state after the last character and ``h_bwd`` the
  backward state after the first.
- ``cnn`` (Kim et al. 2016): for each width w, ``min(filters_per_width * w, max_filters)`` filters ``H``;
  ``f[j] = tanh(<C[j:j+w], H> + b)``, ``y = max_j f[j]``; the concatenated ``y`` go through ``highway_layers`` highway
  layers ``z = t * relu(W_H y + b_H) + (1 - t) * y``, ``t = sigmoid(W_T y + b_T)`` (``b_T`` starts at -2: carry
  mostly), then a linear map to ``output_dim`` when that differs from the number of filters.

Padding never changes a word's vector: the LSTMs run on packed sequences, and the CNN's max runs over the windows
that start inside the word (a word shorter than a filter has one window, filled with zero vectors on the right).

:class:`CharAwareEmbedding` maps word ids like ``nn.Embedding`` does, encoding each distinct word of a batch once.
Its state is parameters, non-persistent buffers rebuilt from the word list, and :meth:`CharAwareEmbedding.hparams`
(strings and numbers), so a checkpoint read with ``torch.load(weights_only=True)`` rebuilds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from seqlab.errors import ConfigError

__all__ = [
    "CHAR_KINDS",
    "SPECIALS",
    "CharAwareEmbedding",
    "CharTable",
    "CharWordConfig",
    "CharWordEncoder",
    "Highway",
]

CHAR_KINDS = ("bilstm", "cnn")
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")  # word tokens spelled as one symbol each
CHAR_PAD, CHAR_UNK, BOW, EOW = "<pad>", "<unk>", "<bow>", "<eow>"
KEY = "task.char_words"  # the config group these keys are reported under


@dataclass
class CharWordConfig:
    """How words are built from characters (see the module docstring)."""

    kind: str = "bilstm"  # bilstm (C2W) | cnn (Kim et al.)
    char_dim: int = 15
    hidden: int = 100  # bilstm: units per direction
    widths: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])  # cnn filter widths
    filters_per_width: int = 25  # cnn: width w has min(filters_per_width * w, max_filters) filters
    max_filters: int = 200
    highway_layers: int = 1  # cnn
    output_dim: int | None = 200  # the word vector size; None: 2 * hidden (bilstm) or the number of filters (cnn)
    max_word_len: int = 30  # characters kept per word (longer words are truncated)

    def filter_counts(self) -> list[int]:
        return [min(self.filters_per_width * w, self.max_filters) for w in self.widths]

    def validate(self) -> None:
        if self.kind not in CHAR_KINDS:
            raise ConfigError(f"{KEY}.kind", f"unknown char encoder '{self.kind}'", allowed=CHAR_KINDS)
        for name in ("char_dim", "hidden", "filters_per_width", "max_filters", "max_word_len"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{KEY}.{name}", f"must be at least 1, got {getattr(self, name)}")
        if self.output_dim is not None and self.output_dim < 1:
            raise ConfigError(f"{KEY}.output_dim", f"must be at least 1 or null, got {self.output_dim}")
        if self.highway_layers < 0:
            raise ConfigError(f"{KEY}.highway_layers", f"must be at least 0, got {self.highway_layers}")
        if self.kind == "cnn" and (not self.widths or min(self.widths) < 1):
            raise ConfigError(f"{KEY}.widths", f"needs positive filter widths, got {list(self.widths)}")


class CharTable:
    """The character vocabulary of a word list and every word's spelling.

    ``itos``: ``<pad>`` = 0, ``<unk>`` = 1, ``<bow>``, ``<eow>``, one symbol ``word:<tok>`` per special token, then the
    characters of the (non-special) words, sorted. ``ids`` ``(V, L_max)`` and ``lengths`` ``(V,)`` spell ``words``.
    """

    def __init__(self, words: Sequence[str], max_word_len: int = 30, specials: Sequence[str] = SPECIALS) -> None:
        if max_word_len < 1:
            raise ConfigError(f"{KEY}.max_word_len", f"must be at least 1, got {max_word_len}")
        self.words = list(words)
        self.max_word_len = int(max_word_len)
        self.specials = list(dict.fromkeys(specials))
        special_set = set(self.specials)
        chars = sorted({c for w in self.words if w not in special_set for c in w})
        self.itos = [CHAR_PAD, CHAR_UNK, BOW, EOW, *(f"word:{s}" for s in self.specials), *chars]
        self._special_id = {s: 4 + k for k, s in enumerate(self.specials)}
        self._char_id = {c: i for i, c in enumerate(chars, start=4 + len(self.specials))}
        self.ids, self.lengths = self.spell(self.words)

    @property
    def num_chars(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def spelling(self, word: str) -> list[int]:
        """Char ids of one word: ``[<bow>, c_1, ..., c_n, <eow>]``, or ``[word:<tok>]`` for a special token."""
        if word in self._special_id:
            return [self._special_id[word]]
        get = self._char_id.get
        return [2, *(get(c, 1) for c in word[: self.max_word_len]), 3]

    def spell(self, words: Sequence[str]) -> tuple[Tensor, Tensor]:
        """``(ids (N, L) long, padded with 0, lengths (N,) long)`` for any words, unseen ones included."""
        spellings = [self.spelling(w) for w in words]
        lengths = torch.tensor([len(s) for s in spellings], dtype=torch.long)
        ids = torch.zeros(len(spellings), max((len(s) for s in spellings), default=1), dtype=torch.long)
        for row, s in enumerate(spellings):
            ids[row, : len(s)] = torch.tensor(s, dtype=torch.long)
        return ids, lengths

    def hparams(self) -> dict[str, Any]:
        """What rebuilds this table: ``CharTable(**hparams)``."""
        return {"words": list(self.words), "max_word_len": self.max_word_len, "specials": list(self.specials)}


class Highway(nn.Module):
    """``y = t * relu(W_H x + b_H) + (1 - t) * x``, ``t = sigmoid(W_T x + b_T)``; ``b_T`` starts at ``gate_bias``."""

    def __init__(self, size: int, gate_bias: float = -2.0) -> None:
        super().__init__()
        self.transform = nn.Linear(size, size)
        self.gate = nn.Linear(size, size)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, x: Tensor) -> Tensor:
        t = torch.sigmoid(self.gate(x))
        return t * torch.relu(self.transform(x)) + (1.0 - t) * x


class CharWordEncoder(nn.Module):
    """Spellings ``(N, L)`` with ``lengths`` ``(N,)`` -> word vectors ``(N, output_dim)`` (C2W or char CNN)."""

    def __init__(self, num_chars: int, config: CharWordConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.kind = config.kind
        self.embed = nn.Embedding(num_chars, config.char_dim, padding_idx=0)
        if config.kind == "bilstm":
            self.output_dim = config.output_dim or 2 * config.hidden
            self.lstm = nn.LSTM(config.char_dim, config.hidden, batch_first=True, bidirectional=True)
            self.w_f = nn.Linear(config.hidden, self.output_dim)  # W_f and b
            self.w_b = nn.Linear(config.hidden, self.output_dim, bias=False)  # W_b
        else:
            counts = config.filter_counts()
            self.widths = list(config.widths)
            self.convs = nn.ModuleList(nn.Conv1d(config.char_dim, n, w) for n, w in zip(counts, self.widths))
            total = sum(counts)
            self.highways = nn.ModuleList(Highway(total) for _ in range(config.highway_layers))
            self.output_dim = config.output_dim or total
            self.project = nn.Linear(total, self.output_dim) if self.output_dim != total else None

    def forward(self, char_ids: Tensor, lengths: Tensor) -> Tensor:
        if char_ids.dim() != 2:
            raise ValueError(f"char_ids must be (N, L), got shape {tuple(char_ids.shape)}")
        n, width = char_ids.shape
        if n == 0:
            return self.embed.weight.new_zeros(0, self.output_dim)
        lengths = lengths.to(device=char_ids.device, dtype=torch.long)
        real = torch.arange(width, device=char_ids.device)[None, :] < lengths[:, None]
        x = self.embed(char_ids) * real.unsqueeze(-1)  # padding is exactly zero
        return self._lstm(x, lengths) if self.kind == "bilstm" else self._cnn(x, lengths)

    def _lstm(self, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)  # h: (2, N, hidden), forward then backward, in the input's order
        return self.w_f(h[0]) + self.w_b(h[1])

    def _cnn(self, x: Tensor, lengths: Tensor) -> Tensor:
        x = x.transpose(1, 2)  # (N, char_dim, L)
        if x.size(2) < max(self.widths):
            x = F.pad(x, (0, max(self.widths) - x.size(2)))
        pooled = []
        for conv, w in zip(self.convs, self.widths):
            out = conv(x)  # (N, filters, L - w + 1)
            last = (lengths - w).clamp(min=0)  # the last window that starts inside the word
            valid = torch.arange(out.size(2), device=x.device)[None, :] <= last[:, None]
            pooled.append(torch.tanh(out.masked_fill(~valid[:, None, :], float("-inf")).amax(dim=2)))
        y = torch.cat(pooled, dim=1)
        for highway in self.highways:
            y = highway(y)
        return self.project(y) if self.project is not None else y


class CharAwareEmbedding(nn.Module):
    """Word ids ``(B, T)`` -> ``(B, T, output_dim)`` built from spellings: a drop-in for ``nn.Embedding``.

    Each distinct word of a batch is encoded once (``torch.unique``) and the vectors are gathered back, so the cost
    follows the batch's distinct words, not the vocabulary. :meth:`embed_words` embeds any words, unseen ones too.
    """

    def __init__(self, table: CharTable, config: CharWordConfig) -> None:
        super().__init__()
        if table.max_word_len != config.max_word_len:
            raise ValueError(
                f"the char table keeps {table.max_word_len} characters per word but the config says "
                f"{config.max_word_len}; build it with CharAwareEmbedding.from_words"
            )
        self.table = table
        self.config = config
        self.encoder = CharWordEncoder(table.num_chars, config)
        # rebuilt from the word list: kept out of the state dict
        self.register_buffer("char_ids", table.ids.clone(), persistent=False)
        self.register_buffer("char_lengths", table.lengths.clone(), persistent=False)

    @classmethod
    def from_words(
        cls, words: Sequence[str], config: CharWordConfig, specials: Sequence[str] = SPECIALS
    ) -> CharAwareEmbedding:
        """The embedding of the word vocabulary ``words`` (its itos), the table capped at ``config.max_word_len``."""
        return cls(CharTable(words, config.max_word_len, specials), config)

    @classmethod
    def from_hparams(cls, hparams: dict[str, Any]) -> CharAwareEmbedding:
        """Rebuild from :meth:`hparams` (then ``load_state_dict`` the weights)."""
        return cls.from_words(hparams["words"], CharWordConfig(**hparams["config"]), hparams["specials"])

    def hparams(self) -> dict[str, Any]:
        """Plain values (strings, numbers, lists) that rebuild this module: safe for ``weights_only`` checkpoints."""
        return {"words": list(self.table.words), "specials": list(self.table.specials), "config": asdict(self.config)}

    @property
    def num_embeddings(self) -> int:
        return len(self.table.words)

    @property
    def embedding_dim(self) -> int:
        return self.encoder.output_dim

    @property
    def output_dim(self) -> int:
        return self.encoder.output_dim

    def forward(self, ids: Tensor) -> Tensor:
        unique, inverse = torch.unique(ids, return_inverse=True)
        lengths = self.char_lengths[unique]
        width = int(lengths.max()) if unique.numel() else 1
        vectors = self.encoder(self.char_ids[unique, :width], lengths)
        return vectors[inverse]

    def embed_words(self, words: Sequence[str], batch_size: int = 4096) -> Tensor:
        """``(N, output_dim)`` vectors of any words (spelled with this table; unknown characters are ``<unk>``)."""
        ids, lengths = self.table.spell(words)
        return self._encode(ids.to(self.char_ids.device), lengths.to(self.char_ids.device), batch_size)

    def vocabulary_vectors(self, batch_size: int = 4096) -> Tensor:
        """``(V, output_dim)``: every word of the vocabulary, in id order (for nearest words, analogies, export)."""
        return self._encode(self.char_ids, self.char_lengths, batch_size)

    def _encode(self, ids: Tensor, lengths: Tensor, batch_size: int) -> Tensor:
        if ids.size(0) == 0:
            return self.encoder.embed.weight.new_zeros(0, self.output_dim)
        parts = []
        for start in range(0, ids.size(0), batch_size):
            chunk = lengths[start : start + batch_size]
            parts.append(self.encoder(ids[start : start + batch_size, : int(chunk.max())], chunk))
        return torch.cat(parts)
