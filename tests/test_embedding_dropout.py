"""Embedding dropout drops whole words: one mask per forward over the vocabulary, kept rows scaled by 1 / (1 - p),
every position of a word treated alike, identity in eval."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqlab.models.embedding_dropout import EmbeddingWithDropout, embedding_dropout


def test_whole_words_dropped_consistently_and_scaled() -> None:
    torch.manual_seed(0)
    weight = torch.randn(8, 5) + 3.0  # no zero entries
    ids = torch.tensor([[1, 2, 3, 1, 4], [3, 1, 5, 6, 2], [7, 7, 1, 0, 3]])
    p = 0.5
    out = embedding_dropout(weight, ids, p, training=True)
    dropped = out.eq(0).all(dim=-1)
    kept = out.ne(0).all(dim=-1)
    assert (dropped | kept).all()  # whole rows, never single features
    torch.testing.assert_close(out[kept], weight[ids][kept] / (1 - p))
    for word in ids.unique().tolist():
        assert dropped[ids == word].unique().numel() == 1  # the same fate at every position of a word
    assert dropped.any() and kept.any()


def test_drop_rate_and_expectation() -> None:
    torch.manual_seed(1)
    weight = torch.ones(2000, 3)
    ids = torch.arange(2000)
    out = embedding_dropout(weight, ids, 0.3, training=True)
    assert abs(out[:, 0].eq(0).float().mean().item() - 0.3) < 0.04
    assert abs(out.mean().item() - 1.0) < 0.06


def test_new_mask_each_call_and_identity_in_eval() -> None:
    torch.manual_seed(2)
    layer = EmbeddingWithDropout(50, 4, p=0.5)
    ids = torch.arange(50)
    first, second = layer(ids).eq(0).all(-1), layer(ids).eq(0).all(-1)
    assert not torch.equal(first, second)
    layer.eval()
    torch.testing.assert_close(layer(ids), layer.weight, rtol=0, atol=0)
    plain = embedding_dropout(layer.weight, ids, 0.5, training=False)
    torch.testing.assert_close(plain, layer.weight, rtol=0, atol=0)
    layer.train()
    layer.p = 0.0
    torch.testing.assert_close(layer(ids), layer.weight, rtol=0, atol=0)


def test_padding_idx_and_gradients() -> None:
    torch.manual_seed(3)
    layer = EmbeddingWithDropout(10, 4, p=0.4, padding_idx=0)
    assert isinstance(layer, nn.Embedding) and layer.weight[0].eq(0).all()
    ids = torch.tensor([[0, 1, 2, 3, 0], [4, 5, 6, 0, 7]])
    out = layer(ids)
    assert out[ids == 0].eq(0).all()
    out.sum().backward()
    grad = layer.weight.grad
    assert grad[0].eq(0).all()  # no gradient into padding
    rows_out = out.eq(0).all(-1)
    for word in range(1, 8):
        positions = ids == word
        dropped = bool(rows_out[positions].all())
        assert grad[word].eq(0).all() == dropped  # dropped words get no gradient
        if not dropped:
            torch.testing.assert_close(grad[word], torch.full((4,), positions.sum().item() / 0.6))


def test_bad_probability_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        EmbeddingWithDropout(5, 2, p=1.0)
    with pytest.raises(ValueError):
        embedding_dropout(torch.ones(3, 2), torch.tensor([0]), -0.1, training=True)
