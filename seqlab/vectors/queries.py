"""Queries on word vectors: nearest neighbours by cosine, and analogies by 3CosAdd.

``nearest``: the words ``x`` of the vocabulary ranked by ``cos(x, q)``. ``analogy("king - man + woman")``: 3CosAdd
(Mikolov et al. 2013; Levy and Goldberg 2014), ``argmax_x cos(x, t)`` with ``t = sum_p x_p/||x_p|| - sum_n
x_n/||x_n||`` over the positive and negative words, the query words excluded as word2vec and gensim do. Exclusion is
case-insensitive: excluding ``king`` also excludes ``King``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from seqlab.errors import SeqlabError
from seqlab.vectors.core import WordVectors, unit

OPERATORS = ("+", "-")


class ExpressionError(SeqlabError):
    """An analogy expression that is not ``word (+|- word)*``."""


def parse_expression(expression: str) -> tuple[list[str], list[str]]:
    """``"king - man + woman"`` -> ``(["king", "woman"], ["man"])``: words joined by ``+`` and ``-`` with spaces
    around them (a word may hold a hyphen: ``well-known``); a leading ``-`` negates the first word."""
    tokens = expression.split()
    positive: list[str] = []
    negative: list[str] = []
    sign = "+"
    if tokens and tokens[0] in OPERATORS:
        sign, tokens = tokens[0], tokens[1:]
    expect_word = True
    for token in tokens:
        if (token in OPERATORS) == expect_word:
            raise ExpressionError(
                f"cannot read '{expression}': write words joined by ' + ' and ' - ' (spaces around them), "
                "e.g. 'king - man + woman'"
            )
        if expect_word:
            (positive if sign == "+" else negative).append(token)
        else:
            sign = token
        expect_word = not expect_word
    if expect_word:  # empty, or ends with an operator
        raise ExpressionError(f"cannot read '{expression}': it ends without a word (e.g. 'king - man + woman')")
    return positive, negative


def combine(vectors: WordVectors, positive: list[str], negative: list[str]) -> torch.Tensor:
    """3CosAdd's target ``sum_p unit(x_p) - sum_n unit(x_n)`` ``(d,)``."""
    units = unit(vectors.vectors([*positive, *negative]))
    signs = torch.tensor([1.0] * len(positive) + [-1.0] * len(negative))
    return (signs[:, None] * units).sum(0)


def excluded_rows(vectors: WordVectors, words: Iterable[str]) -> torch.Tensor:
    """Boolean ``(len(vectors),)``: rows that are a case variant of one of ``words``."""
    groups = vectors.fold_groups()
    ids = [vectors.find(w) for w in words]
    wanted = torch.tensor([int(groups[i]) for i in ids if i is not None], dtype=torch.long)
    return torch.isin(groups, wanted)


def nearest(
    vectors: WordVectors, query: str | torch.Tensor, k: int = 10, exclude: Iterable[str] | None = None
) -> list[tuple[str, float]]:
    """The ``k`` words most cosine-similar to ``query`` (a word or a ``(d,)`` vector), best first, as
    ``(word, cosine)``. ``exclude`` (default: the query word itself, in every case) is left out."""
    if isinstance(query, str):
        target = vectors.vector(query)
        exclude = [query] if exclude is None else exclude
    else:
        target = torch.as_tensor(query, dtype=torch.float32).reshape(-1)
        if target.numel() != vectors.dim:
            raise ValueError(f"query vector has {target.numel()} values, the vectors have {vectors.dim}")
    scores = vectors.unit_matrix() @ unit(target)
    scores[excluded_rows(vectors, exclude or ())] = -float("inf")
    k = min(k, int(torch.isfinite(scores).sum()))
    best = scores.topk(k)
    return [(vectors.words[int(i)], float(s)) for s, i in zip(best.values, best.indices)]


def analogy(vectors: WordVectors, expression: str, k: int = 10) -> list[tuple[str, float]]:
    """The ``k`` best answers of ``"a - b + c"`` by 3CosAdd (cosine to the target), the query words excluded."""
    positive, negative = parse_expression(expression)
    return nearest(vectors, combine(vectors, positive, negative), k, exclude=[*positive, *negative])
