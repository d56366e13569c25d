"""RNNDecoder under the decoder contract, the attention modules, and a tiny memorisation task."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F

from seqlab.errors import ConfigError
from seqlab.generation import greedy
from seqlab.models.attention import AdditiveAttention, DotAttention, GeneralAttention, build_attention
from seqlab.models.decoder import Decoder
from seqlab.models.rnn_decoder import RNNDecoder, RNNDecoderConfig
from seqlab.testing.decoder_contract import DecoderContract


def config(**overrides) -> RNNDecoderConfig:
    base = dict(cell="gru", hidden_size=8, num_layers=2, dropout=0.1, embedding_dim=6, attention="bahdanau")
    return RNNDecoderConfig(**{**base, **overrides})


# ---- the contract ---------------------------------------------------------------------------------------------------
class TestGRUBahdanauInputFeeding(DecoderContract):
    def make_decoder(self) -> Decoder:
        return RNNDecoder(self.vocab_size, self.memory_size, config(attention="bahdanau", input_feeding=True))


class TestLSTMLuongGeneral(DecoderContract):
    memory_size = 5
    batch_size = 3

    def make_decoder(self) -> Decoder:
        return RNNDecoder(self.vocab_size, self.memory_size, config(cell="lstm", attention="luong_general"))


class TestGRULuongDot(DecoderContract):
    def make_decoder(self) -> Decoder:
        return RNNDecoder(self.vocab_size, self.memory_size, config(attention="luong_dot", num_layers=1, dropout=0.0))


class TestRNNWithoutAttention(DecoderContract):
    def make_decoder(self) -> Decoder:
        return RNNDecoder(self.vocab_size, None, config(cell="rnn", attention="none"))

    def memory(self, seed: int = 1):
        gen = torch.Generator().manual_seed(seed)
        return None, None, torch.randn(2, self.batch_size, 8, generator=gen)  # (layers, B, hidden)

    def test_uses_no_memory(self) -> None:
        decoder = self.build()
        assert decoder.uses_memory is False and RNNDecoder.uses_memory is True  # the class default is untouched
        _, _, enc = self.memory()
        assert torch.equal(decoder.init_state(None, None, enc)["rnn"], enc)


# ---- init_state -------------------------------------------------------------------------------------------------
def test_init_state_uses_a_fitting_encoder_state_and_zeros_otherwise():
    memory = torch.randn(3, 4, 8)
    gru = RNNDecoder(7, 8, config())
    fits = torch.randn(2, 3, 8)
    assert torch.equal(gru.init_state(memory, None, fits)["rnn"], fits)
    assert not gru.init_state(memory, None, torch.randn(4, 3, 8))["rnn"].any()  # bidirectional-like: ignored
    assert not gru.init_state(memory, None, None)["rnn"].any()
    lstm = RNNDecoder(7, 8, config(cell="lstm", input_feeding=True))
    h, c = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    state = lstm.init_state(memory, None, (h, c))
    assert state["rnn"][0] is h and state["rnn"][1] is c and state["feed"].shape == (1, 3, 8)
    assert not lstm.init_state(memory, None, h)["rnn"][1].any()  # a GRU encoder's h: c starts at zero
    with pytest.raises(ValueError):
        RNNDecoder(7, None, config(attention="none")).init_state(None, None, None)


def test_config_errors():
    with pytest.raises(ConfigError):
        RNNDecoder(7, 8, config(cell="transformer"))
    with pytest.raises(ConfigError):
        RNNDecoder(7, 8, config(attention="none", input_feeding=True))
    with pytest.raises(ConfigError):
        RNNDecoder(7, None, config(attention="bahdanau"))
    with pytest.raises(ConfigError):
        RNNDecoder(7, 5, config(attention="luong_dot"))  # hidden 8 != memory 5
    with pytest.raises(ConfigError):
        build_attention("cosine", 4, 4, 4)
    assert build_attention("none", 4, 4, 4) is None


# ---- attention --------------------------------------------------------------------------------------------------
ATTENTIONS = [
    pytest.param(lambda: AdditiveAttention(6, 5, 7), 6, id="bahdanau"),
    pytest.param(lambda: DotAttention(5, 5), 5, id="luong_dot"),
    pytest.param(lambda: GeneralAttention(6, 5), 6, id="luong_general"),
]


def padded(batch: int = 4, source: int = 6, size: int = 5):
    torch.manual_seed(0)
    memory = torch.randn(batch, source, size)
    lengths = torch.tensor([6, 3, 1, 0])[:batch]  # the last row is all padding
    mask = torch.arange(source)[None, :] < lengths[:, None]
    return memory, mask


@pytest.mark.parametrize(("make", "query_size"), ATTENTIONS)
def test_attention_is_a_masked_distribution_and_context_is_the_weighted_memory(make, query_size):
    attention = make()
    memory, mask = padded()
    query = torch.randn(4, query_size, requires_grad=True)
    context, weights = attention(query, memory, mask)
    assert context.shape == (4, 5) and weights.shape == (4, 6)
    assert (weights[~mask] == 0).all(), "padding gets exactly 0"
    assert (weights >= 0).all() and torch.isfinite(weights).all()
    sums = weights.sum(-1)
    assert torch.allclose(sums[:3], torch.ones(3)) and sums[3] == 0  # all-padding row: zeros, not NaN
    assert torch.allclose(context, torch.einsum("bs,bsm->bm", weights, memory), atol=1e-6)
    context.sum().backward()
    assert torch.isfinite(query.grad).all()
    # several queries at once equal one at a time; no mask means every position is real
    queries = torch.randn(4, 3, query_size)
    many, many_weights = attention(queries, memory, mask)
    for t in range(3):
        one, one_weights = attention(queries[:, t], memory, mask)
        assert torch.allclose(many[:, t], one, atol=1e-6) and torch.allclose(many_weights[:, t], one_weights)
    _, unmasked = attention(query, memory, None)
    assert torch.allclose(unmasked.sum(-1), torch.ones(4))


def test_attention_scores_follow_their_equations():
    memory, mask = padded(batch=3)
    query = torch.randn(3, 5)
    _, weights = DotAttention(5, 5)(query, memory, mask)
    scores = torch.einsum("bm,bsm->bs", query, memory).masked_fill(~mask, float("-inf"))
    assert torch.allclose(weights, torch.softmax(scores, -1), atol=1e-6)
    general = GeneralAttention(5, 5)
    _, weights = general(query, memory, mask)
    w = general.weight.weight.T  # (Hq, Hm): e_s = q^T W m_s
    scores = torch.einsum("bq,qm,bsm->bs", query, w, memory).masked_fill(~mask, float("-inf"))
    assert torch.allclose(weights, torch.softmax(scores, -1), atol=1e-6)
    additive = AdditiveAttention(5, 5, 7)
    _, weights = additive(query, memory, mask)
    hidden = torch.tanh(additive.query_proj(query)[:, None] + additive.memory_proj(memory))
    scores = additive.v(hidden).squeeze(-1).masked_fill(~mask, float("-inf"))
    assert torch.allclose(weights, torch.softmax(scores, -1), atol=1e-6)
    _, again = additive(query, memory, mask, projected=additive.project_memory(memory))
    assert torch.equal(again, weights)


# ---- learning ---------------------------------------------------------------------------------------------------
def test_decoder_learns_a_target_sequence_per_memory():
    """4 fixed random memories -> 4 target sequences (length 5, vocab 8): greedy reproduces all after training."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        torch.manual_seed(0)
        bos, eos, vocab = 0, 1, 8
        memory = torch.randn(4, 3, 8)
        mask = torch.ones(4, 3, dtype=torch.bool)
        targets = torch.cat([torch.randint(2, vocab, (4, 4)), torch.full((4, 1), eos)], dim=1)  # (4, 5)
        inputs = torch.cat([torch.full((4, 1), bos), targets[:, :-1]], dim=1)
        decoder = RNNDecoder(vocab, 8, config(hidden_size=32, embedding_dim=16, num_layers=1, dropout=0.0))
        optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-2)
        for _ in range(200):
            logits, _, _ = decoder(inputs, decoder.init_state(memory, mask), memory, mask)
            loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        decoder.eval()
        best = greedy(decoder, memory, mask, decoder.init_state(memory, mask), bos, eos, 8)
        assert best.token_lists() == targets.tolist()
        assert time.perf_counter() - start < 10
    finally:
        torch.set_num_threads(threads)


def test_rnn_decoder_imports_neither_tasks_nor_training():
    import subprocess
    import sys

    code = (
        "import sys, seqlab.models.rnn_decoder\n"
        "bad = [m for m in sys.modules if m.startswith(('seqlab.tasks', 'seqlab.training'))]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_built_in_decoder_is_registered_like_a_plugin_would_be():
    from seqlab import registry

    assert "rnn" in registry.names("decoder") and registry.get_decoder("rnn") is RNNDecoder
    assert registry.owner("decoder", "rnn") == "seqlab"
