"""The LM output layer: full softmax = cross-entropy, adaptive log-probabilities normalised, loss = -log p(target),
tied weights one tensor (through an optimizer step and a checkpoint), the projection path, refused cutoffs."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.embedding_dropout import EmbeddingWithDropout
from seqlab.models.output_layer import OutputLayer, check_cutoffs

V, H = 50, 12


def make(kind: str) -> OutputLayer:
    torch.manual_seed(0)
    if kind == "adaptive":
        return OutputLayer(H, V, kind="adaptive", cutoffs=[5, 20], div_value=2.0)
    return OutputLayer(H, V)


@pytest.mark.parametrize("kind", ["full", "adaptive"])
def test_log_probs_sum_to_one_and_loss_is_their_mean_nll(kind: str) -> None:
    layer = make(kind)
    hidden = torch.randn(3, 7, H)
    target = torch.randint(0, V, (3, 7))
    log_p = layer.log_prob(hidden)
    assert log_p.shape == (3, 7, V)
    torch.testing.assert_close(log_p.logsumexp(-1), torch.zeros(3, 7), rtol=0, atol=1e-5)
    torch.testing.assert_close(log_p.exp().sum(-1), torch.ones(3, 7), rtol=0, atol=1e-5)
    picked = -log_p.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(layer.loss(hidden, target), picked.mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer(hidden, target), picked.mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.loss(hidden, target, reduction="sum"), picked.sum(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(layer.loss(hidden, target, reduction="none"), picked, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.logits(hidden).log_softmax(-1), log_p, rtol=1e-5, atol=1e-5)


def test_full_loss_is_exactly_cross_entropy() -> None:
    layer = make("full")
    hidden, target = torch.randn(20, H), torch.randint(0, V, (20,))
    expected = F.cross_entropy(hidden @ layer.weight.T + layer.decoder.bias, target)
    torch.testing.assert_close(layer.loss(hidden, target), expected, rtol=0, atol=0)


@pytest.mark.parametrize("embedding_dim", [H, 8])
def test_tied_weights_are_one_tensor_through_a_step_and_a_checkpoint(embedding_dim: int) -> None:
    torch.manual_seed(1)
    embedding = EmbeddingWithDropout(V, embedding_dim, p=0.1)
    layer = OutputLayer(H, V, tie_to=embedding)
    assert layer.tied and layer.weight is embedding.weight
    assert (layer.project is not None) == (embedding_dim != H)
    if layer.project is not None:
        assert layer.project.weight.shape == (embedding_dim, H) and layer.project.bias is None
    model = nn.ModuleDict({"embedding": embedding, "output": layer})
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == V * embedding_dim + V + (embedding_dim * H if embedding_dim != H else 0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    ids, target = torch.randint(0, V, (4, 6)), torch.randint(0, V, (4, 6))
    before = embedding.weight.detach().clone()
    hidden = torch.tanh(embedding(ids) @ torch.ones(embedding_dim, H) / embedding_dim)
    layer.loss(hidden, target).backward()
    optimizer.step()
    assert layer.weight is embedding.weight and layer.weight.data_ptr() == embedding.weight.data_ptr()
    assert not torch.equal(before, embedding.weight)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["output.decoder.weight"].data_ptr() == state["embedding.weight"].data_ptr()
    torch.manual_seed(2)
    fresh_embedding = nn.Embedding(V, embedding_dim)
    fresh = nn.ModuleDict({"embedding": fresh_embedding, "output": OutputLayer(H, V, tie_to=fresh_embedding)})
    fresh.load_state_dict(state)
    assert fresh["output"].weight is fresh_embedding.weight
    torch.testing.assert_close(fresh_embedding.weight, embedding.weight, rtol=0, atol=0)


def test_projection_path_gives_distributions() -> None:
    embedding = nn.Embedding(V, 5)
    layer = OutputLayer(H, V, tie_to=embedding)
    hidden = torch.randn(9, H, requires_grad=True)
    log_p = layer.log_prob(hidden)
    torch.testing.assert_close(log_p.logsumexp(-1), torch.zeros(9), rtol=0, atol=1e-5)
    expected = (layer.project(hidden) @ embedding.weight.T + layer.decoder.bias).log_softmax(-1)
    torch.testing.assert_close(log_p, expected)
    layer.loss(hidden, torch.randint(0, V, (9,))).backward()
    assert hidden.grad is not None and embedding.weight.grad is not None and layer.project.weight.grad is not None


def test_adaptive_trains_and_refuses_tying() -> None:
    layer = make("adaptive")
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    hidden, target = torch.randn(64, H), torch.randint(0, V, (64,))
    first = layer.loss(hidden, target).item()
    for _ in range(20):
        optimizer.zero_grad()
        layer.loss(hidden, target).backward()
        optimizer.step()
    assert layer.loss(hidden, target).item() < first
    with pytest.raises(ConfigError, match="tie_weights"):
        OutputLayer(H, V, kind="adaptive", cutoffs=[5], tie_to=nn.Embedding(V, H))
    with pytest.raises(AttributeError):
        _ = layer.weight


@pytest.mark.parametrize(
    "cutoffs",
    [None, [], [20, 5], [5, 5], [0, 10], [10, V], [10, 60], [2.5], [True], "10"],
    ids=["none", "empty", "decreasing", "repeated", "zero", "vocab", "beyond", "float", "bool", "string"],
)
def test_bad_cutoffs_raise(cutoffs: object) -> None:
    with pytest.raises(ConfigError, match="task.cutoffs"):
        OutputLayer(H, V, kind="adaptive", cutoffs=cutoffs)  # type: ignore[arg-type]


def test_cutoffs_accepted_and_unknown_kind() -> None:
    assert check_cutoffs([1, V - 1], V) == [1, V - 1]
    assert check_cutoffs((10,), V) == [10]
    with pytest.raises(ConfigError, match="task.softmax"):
        OutputLayer(H, V, kind="hierarchical")
    with pytest.raises(ValueError, match="vocabulary"):
        OutputLayer(H, V, tie_to=nn.Embedding(V + 1, H))
