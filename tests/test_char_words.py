"""Character-aware word vectors: the char table, C2W and char-CNN equations, padding invariance, unseen words, and a
weights_only checkpoint round trip."""

from __future__ import annotations

import io
import math

import pytest
import torch
from torch import nn

from seqlab.errors import ConfigError
from seqlab.models.char_words import (
    CharAwareEmbedding,
    CharTable,
    CharWordConfig,
    CharWordEncoder,
    Highway,
)

WORDS = ["<pad>", "<unk>", "<eos>", "the", "cat", "sat", "on", "a", "mat", "increased", "reduced"]
KINDS = {
    "bilstm": CharWordConfig(kind="bilstm", char_dim=5, hidden=6, output_dim=7, max_word_len=8),
    "cnn": CharWordConfig(
        kind="cnn", char_dim=5, widths=[1, 2, 3, 4], filters_per_width=2, max_filters=6, output_dim=7, max_word_len=8
    ),
}


@pytest.fixture(params=sorted(KINDS))
def embedding(request: pytest.FixtureRequest) -> CharAwareEmbedding:
    torch.manual_seed(0)
    return CharAwareEmbedding.from_words(WORDS, KINDS[request.param]).eval()


def test_table_spells_words_specials_and_unseen_words() -> None:
    table = CharTable(WORDS, max_word_len=4)
    assert table.itos[:4] == ["<pad>", "<unk>", "<bow>", "<eow>"]
    assert table.ids.shape == (len(WORDS), 6) and table.lengths.tolist()[:4] == [1, 1, 1, 5]
    eos = table.ids[WORDS.index("<eos>")]
    assert eos[0] == table.itos.index("word:<eos>") and eos[1:].eq(0).all()  # one symbol of its own
    cat = table.spelling("cat")
    assert cat[0] == 2 and cat[-1] == 3 and [table.itos[i] for i in cat[1:-1]] == ["c", "a", "t"]
    assert len(table.spelling("increased")) == 4 + 2  # truncated to max_word_len characters
    ids, lengths = table.spell(["dog", "zebra!", ""])  # unseen words; 'z' and 'b' are unknown characters
    assert lengths.tolist() == [5, 6, 2] and ids.shape == (3, 6)
    assert ids[1].tolist() == [2, 1, table.itos.index("e"), 1, table.itos.index("r"), 3]  # "zebr", truncated
    assert ids[2, :2].tolist() == [2, 3] and ids[2, 2:].eq(0).all()
    assert CharTable(**table.hparams()).itos == table.itos


def test_vectors_for_unseen_words_and_equal_for_identical_spellings(embedding: CharAwareEmbedding) -> None:
    with torch.no_grad():
        unseen = embedding.embed_words(["dog", "reduce", "xylophone"])
        assert unseen.shape == (3, 7) and torch.isfinite(unseen).all()
        ids = torch.tensor([[WORDS.index("cat"), 3, 9], [WORDS.index("cat"), 2, 0]])
        out = embedding(ids)
        assert out.shape == (2, 3, 7)
        torch.testing.assert_close(out[0, 0], out[1, 0], rtol=0, atol=0)
        alone = embedding.embed_words(["cat"])[0]
        torch.testing.assert_close(out[0, 0], alone, rtol=1e-6, atol=1e-6)
        mixed = embedding.embed_words(["a", "cat", "increased", "cat"])
        torch.testing.assert_close(mixed[1], mixed[3], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(mixed[1], alone, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(embedding.vocabulary_vectors(batch_size=4), embedding(torch.arange(len(WORDS))))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_padding_never_changes_a_word(kind: str) -> None:
    torch.manual_seed(1)
    encoder = CharWordEncoder(20, KINDS[kind]).eval()
    lengths = torch.tensor([1, 2, 3, 6])  # shorter than the widest filter, too
    ids = torch.randint(1, 20, (4, 6))
    ids[torch.arange(6)[None, :] >= lengths[:, None]] = 0
    with torch.no_grad():
        base = encoder(ids, lengths)
        wider = encoder(torch.cat([ids, torch.zeros(4, 9, dtype=torch.long)], dim=1), lengths)
        garbage = encoder(torch.cat([ids, torch.randint(1, 20, (4, 3))], dim=1), lengths)
        singles = torch.cat([encoder(ids[i : i + 1, : lengths[i]], lengths[i : i + 1]) for i in range(4)])
    for other in (wider, garbage, singles):
        torch.testing.assert_close(other, base, rtol=1e-5, atol=1e-6)


def test_highway_equation_by_hand() -> None:
    layer = Highway(2)
    assert layer.gate.bias.tolist() == [-2.0, -2.0]
    with torch.no_grad():
        layer.transform.weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 2.0]]))
        layer.transform.bias.copy_(torch.tensor([0.0, -1.0]))
        layer.gate.weight.copy_(torch.tensor([[0.0, 1.0], [-1.0, 0.0]]))
    x = torch.tensor([[2.0, 1.0]])
    # W_H x + b_H = [1, 1 + 2 - 1] = [1, 2]; W_T x + b_T = [1 - 2, -2 - 2] = [-1, -4]
    t = [1 / (1 + math.exp(1.0)), 1 / (1 + math.exp(4.0))]
    expected = [t[0] * 1.0 + (1 - t[0]) * 2.0, t[1] * 2.0 + (1 - t[1]) * 1.0]
    torch.testing.assert_close(layer(x), torch.tensor([expected]))


def _lstm_by_hand(xs: list[torch.Tensor], w_ih: torch.Tensor, w_hh: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The LSTM equations (gates i, f, g, o in torch's order) over ``xs``; the final hidden state."""
    hidden = w_hh.size(1)
    h, c = torch.zeros(hidden), torch.zeros(hidden)
    for x in xs:
        i, f, g, o = (w_ih @ x + w_hh @ h + b).split(hidden)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
    return h


def test_c2w_equation_by_hand() -> None:
    config = CharWordConfig(kind="bilstm", char_dim=2, hidden=2, output_dim=3)
    encoder = CharWordEncoder(6, config)
    torch.manual_seed(2)
    with torch.no_grad():
        for p in encoder.lstm.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        encoder.w_f.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        encoder.w_f.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
        encoder.w_b.weight.copy_(torch.tensor([[0.0, 2.0], [-1.0, 0.0], [0.5, 0.5]]))
        chars = [encoder.embed.weight[i] for i in (2, 4, 5, 3)]
        lstm = encoder.lstm
        h_f = _lstm_by_hand(chars, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0)
        h_b = _lstm_by_hand(
            chars[::-1],
            lstm.weight_ih_l0_reverse,
            lstm.weight_hh_l0_reverse,
            lstm.bias_ih_l0_reverse + lstm.bias_hh_l0_reverse,
        )
        expected = encoder.w_f.weight @ h_f + encoder.w_b.weight @ h_b + encoder.w_f.bias
        got = encoder(torch.tensor([[2, 4, 5, 3, 0, 0]]), torch.tensor([4]))[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_char_cnn_max_over_time_by_hand() -> None:
    config = CharWordConfig(kind="cnn", char_dim=1, widths=[1, 2], filters_per_width=1, max_filters=1, highway_layers=0)
    config.output_dim = None  # no projection: the pooled filters are the vector
    encoder = CharWordEncoder(4, config)
    assert encoder.output_dim == 2 and encoder.project is None
    with torch.no_grad():
        encoder.embed.weight.copy_(torch.tensor([[0.0], [1.0], [-2.0], [3.0]]))
        encoder.convs[0].weight.fill_(0.5)
        encoder.convs[0].bias.fill_(0.0)
        encoder.convs[1].weight.copy_(torch.tensor([[[1.0, -1.0]]]))
        encoder.convs[1].bias.fill_(0.1)
        got = encoder(torch.tensor([[1, 2, 3, 0], [3, 0, 0, 0]]), torch.tensor([3, 1]))
    # word 1 = [1, -2, 3]: width 1: max(0.5, -1, 1.5); width 2: max(1 + 2, -2 - 3) + 0.1
    # word 2 = [3]: width 1: 1.5; width 2: one window [3, 0] -> 3 + 0.1
    expected = torch.tanh(torch.tensor([[1.5, 3.1], [1.5, 3.1]]))
    torch.testing.assert_close(got, expected)


def test_cnn_filter_counts_highways_and_projection() -> None:
    config = CharWordConfig(kind="cnn", widths=[1, 2, 3, 4, 5, 6], filters_per_width=50, max_filters=200)
    assert config.filter_counts() == [50, 100, 150, 200, 200, 200]
    config.highway_layers, config.output_dim = 2, 64
    encoder = CharWordEncoder(30, config)
    assert len(encoder.highways) == 2 and encoder.project is not None and encoder.output_dim == 64


def test_gradients_reach_char_parameters(embedding: CharAwareEmbedding) -> None:
    embedding.train()
    embedding(torch.tensor([[3, 4, 4, 9]])).sum().backward()
    assert embedding.encoder.embed.weight.grad is not None
    assert embedding.encoder.embed.weight.grad[0].eq(0).all()  # <pad> never learns
    assert all(p.grad is not None for p in embedding.parameters())


def test_weights_only_checkpoint_rebuilds_it(embedding: CharAwareEmbedding) -> None:
    buffer = io.BytesIO()
    torch.save({"hparams": embedding.hparams(), "state_dict": embedding.state_dict()}, buffer)
    assert not any(k.startswith("char_") for k in embedding.state_dict())  # the table is rebuilt, not stored
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    rebuilt = CharAwareEmbedding.from_hparams(saved["hparams"])
    rebuilt.load_state_dict(saved["state_dict"])
    rebuilt.eval()
    ids = torch.tensor([[3, 4, 10], [1, 2, 0]])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(ids), embedding(ids), rtol=0, atol=0)
        torch.testing.assert_close(rebuilt.embed_words(["dog"]), embedding.embed_words(["dog"]), rtol=0, atol=0)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ConfigError, match="kind"):
        CharWordEncoder(10, CharWordConfig(kind="gru"))
    with pytest.raises(ConfigError, match="widths"):
        CharWordEncoder(10, CharWordConfig(kind="cnn", widths=[]))
    with pytest.raises(ValueError, match="characters per word"):
        CharAwareEmbedding(CharTable(WORDS, max_word_len=5), CharWordConfig(max_word_len=30))
    assert isinstance(CharAwareEmbedding.from_words(WORDS, CharWordConfig(output_dim=None)).encoder.w_f, nn.Linear)
