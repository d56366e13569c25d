"""The decoder contract on toy decoders, and the search module against exhaustive search."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections import namedtuple

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from seqlab.generation import (
    EnsembleDecoder,
    beam_search,
    derive_seed,
    greedy,
    length_penalty,
    sample,
    sample_next,
    score_tokens,
)
from seqlab.models.base import State, detach_state, select_state, state_tensors
from seqlab.models.decoder import Decoder
from seqlab.testing.decoder_contract import DecoderContract

BOS, EOS = 0, 1


class ToyAttentionDecoder(Decoder):
    """A GRU or LSTM cell with input feeding and dot attention over the memory; state ``{"rnn", "feed"}``."""

    def __init__(self, vocab_size: int, memory_size: int, hidden_size: int = 12, cell: str = "gru") -> None:
        super().__init__(vocab_size)
        self.embed = nn.Embedding(vocab_size, 6)
        self.bridge = nn.Linear(memory_size, hidden_size)
        self.cell = (nn.GRUCell if cell == "gru" else nn.LSTMCell)(6 + memory_size, hidden_size)
        self.query = nn.Linear(hidden_size, memory_size, bias=False)
        self.out = nn.Linear(hidden_size + memory_size, vocab_size)
        self.lstm = cell == "lstm"

    def init_state(self, memory: torch.Tensor, memory_mask: torch.Tensor, encoder_state: State = None) -> State:
        mean = (memory * memory_mask[..., None]).sum(1) / memory_mask.sum(1, keepdim=True)
        h = torch.tanh(self.bridge(mean))[None]  # (1, B, H): the batch is dimension 1 of every state tensor
        return {"rnn": (h, torch.zeros_like(h)) if self.lstm else h, "feed": torch.zeros_like(mean)[None]}

    def step(self, prev_tokens, state, memory=None, memory_mask=None):
        x = torch.cat([self.embed(prev_tokens), state["feed"][0]], dim=-1)
        if self.lstm:
            h, c = self.cell(x, (state["rnn"][0][0], state["rnn"][1][0]))
            rnn = (h[None], c[None])
        else:
            h = self.cell(x, state["rnn"][0])
            rnn = h[None]
        scores = torch.einsum("bsm,bm->bs", memory, self.query(h)).masked_fill(~memory_mask, float("-inf"))
        attention = torch.softmax(scores, dim=-1)
        context = torch.einsum("bs,bsm->bm", attention, memory)
        return self.out(torch.cat([h, context], dim=-1)), {"rnn": rnn, "feed": context[None]}, attention


class TableDecoder(Decoder):
    """``log p(y_t | y_<t) = log softmax(table[y_{t-1}])``: no memory; the state counts steps."""

    uses_memory = False

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__(table.size(-1))
        self.register_buffer("table", table.float())

    def init_state(self, memory=None, memory_mask=None, encoder_state: State = None) -> State:
        return encoder_state  # (1, B, 1) zeros: the step count

    def step(self, prev_tokens, state, memory=None, memory_mask=None):
        return self.table[prev_tokens], state + 1, None


def counter(batch: int) -> torch.Tensor:
    return torch.zeros(1, batch, 1)


# ---- the contract on the toy decoders -----------------------------------------------------------------------------
class TestToyGRUDecoder(DecoderContract):
    def make_decoder(self) -> Decoder:
        return ToyAttentionDecoder(self.vocab_size, self.memory_size)


class TestToyLSTMDecoder(DecoderContract):
    batch_size = 3

    def make_decoder(self) -> Decoder:
        return ToyAttentionDecoder(self.vocab_size, self.memory_size, cell="lstm")


class TestTableDecoder(DecoderContract):
    vocab_size = 5
    bos_id, eos_id = BOS, EOS

    def make_decoder(self) -> Decoder:
        return TableDecoder(torch.randn(self.vocab_size, self.vocab_size))

    def memory(self, seed: int = 1):
        return None, None, counter(self.batch_size)


# ---- exhaustive search ------------------------------------------------------------------------------------------
def exhaustive(table: torch.Tensor, max_len: int, alpha: float) -> list[tuple[float, float, list[int]]]:
    """Every hypothesis (ends with <eos>, or reaches max_len), as (normalised score, score, tokens), best first."""
    logp = F.log_softmax(table.double(), dim=-1)
    found = []
    for length in range(1, max_len + 1):
        for seq in itertools.product(range(table.size(0)), repeat=length):
            if EOS in seq[:-1] or (length < max_len and seq[-1] != EOS):
                continue
            score = sum(float(logp[prev, tok]) for prev, tok in zip((BOS, *seq[:-1]), seq))
            found.append((score / float(length_penalty(length, alpha)), score, list(seq)))
    return sorted(found, key=lambda f: -f[0])


def run_beam(table: torch.Tensor, max_len, beam: int, alpha: float = 0.0, n_best: int = 1, batch: int = 1):
    decoder = TableDecoder(table)
    return beam_search(decoder, None, None, counter(batch), BOS, EOS, max_len, beam, alpha, n_best, batch_size=batch)


# a hand-built model where greedy is wrong: <bos> -> a (0.5) -> <eos> (0.3) loses to <bos> -> b (0.4) -> <eos> (0.9)
HAND = torch.log(
    torch.tensor(
        [  # next:  <bos>  <eos>  a     b     c
            [0.001, 0.001, 0.50, 0.40, 0.098],  # after <bos>
            [0.2, 0.2, 0.2, 0.2, 0.2],  # after <eos> (never used)
            [0.001, 0.30, 0.25, 0.249, 0.20],  # after a
            [0.001, 0.90, 0.03, 0.03, 0.039],  # after b
            [0.001, 0.50, 0.20, 0.20, 0.099],  # after c
        ]
    )
)


def test_hand_built_model_beam_finds_the_exhaustive_best_and_greedy_does_not():
    best = exhaustive(HAND, 4, 0.0)[0]
    assert best[2] == [3, EOS]
    assert greedy(TableDecoder(HAND), None, None, counter(1), BOS, EOS, 4, batch_size=1).token_lists() == [[2, EOS]]
    for beam in (2, 3, 5):
        hyps = run_beam(HAND, 4, beam)
        assert hyps.token_lists() == [best[2]]
        assert hyps.scores.item() == pytest.approx(best[1], abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_larger_beams_never_score_worse_on_the_hand_built_model(alpha):
    """True here, not a theorem: on random models a larger beam scores worse now and then (docs/architecture.md)."""
    scores = []
    for beam in range(1, 9):
        hyps = run_beam(HAND, 4, beam, alpha)
        scores.append(hyps.scores.item() / float(length_penalty(hyps.lengths.item(), alpha)))
    assert scores == sorted(scores) and scores[-1] == pytest.approx(exhaustive(HAND, 4, alpha)[0][0], abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5])
@pytest.mark.parametrize("seed", range(6))
def test_beam_search_never_beats_exhaustive_search_and_a_full_beam_equals_it(seed, alpha):
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(5, 5, generator=gen) * 2
    ranked = exhaustive(table, 4, alpha)
    for beam in (1, 2, 3, 4, 8, 16, 64, 320):  # 320 = 4^3 prefixes x 5 tokens: exhaustive at max_len 4
        hyps = run_beam(table, 4, beam, alpha)
        normalised = hyps.scores.item() / float(length_penalty(hyps.lengths.item(), alpha))
        assert normalised <= ranked[0][0] + 1e-6
    assert hyps.token_lists() == [ranked[0][2]]
    assert normalised == pytest.approx(ranked[0][0], abs=1e-5)


def test_n_best_are_the_exhaustive_top_n_in_order():
    table = torch.randn(5, 5, generator=torch.Generator().manual_seed(11)) * 2
    ranked = exhaustive(table, 4, 0.6)
    hyps = run_beam(table, 4, 320, alpha=0.6, n_best=5)
    assert [r.token_lists()[0] for r in hyps.ranked] == [r[2] for r in ranked[:5]]
    assert torch.equal(hyps.tokens, hyps.ranked[0].tokens)


def test_per_row_max_len_and_batched_rows_match_single_rows():
    table = torch.randn(5, 5, generator=torch.Generator().manual_seed(3)) * 2
    limits = torch.tensor([2, 4, 3])
    hyps = run_beam(table, limits, 320, alpha=0.6, batch=3)
    for row, limit in enumerate(limits.tolist()):
        assert hyps.lengths[row] <= limit
        assert hyps.token_lists()[row] == exhaustive(table, limit, 0.6)[0][2]
    one = greedy(TableDecoder(table), None, None, counter(3), BOS, EOS, limits)
    assert (one.lengths <= limits).all()


# ---- searches on the attention decoder ----------------------------------------------------------------------------
def toy(seed: int = 0, vocab: int = 9) -> tuple[ToyAttentionDecoder, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    decoder = ToyAttentionDecoder(vocab, 8).eval()
    memory = torch.randn(5, 7, 8)
    mask = torch.arange(7)[None] < torch.tensor([7, 5, 3, 6, 1])[:, None]
    return decoder, memory, mask


def test_sampling_with_temperature_zero_is_greedy_and_seeds_repeat():
    decoder, memory, mask = toy()
    init = decoder.init_state(memory, mask)
    best = greedy(decoder, memory, mask, init, BOS, EOS, 8)
    assert sample(decoder, memory, mask, init, BOS, EOS, 8, temperature=0).token_lists() == best.token_lists()
    assert sample(decoder, memory, mask, init, BOS, EOS, 8, top_k=1).token_lists() == best.token_lists()

    def draw(seed: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(seed)
        return sample(decoder, memory, mask, init, BOS, EOS, 8, temperature=1.5, generator=generator).token_lists()

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_sample_next():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]] * 200)
    assert sample_next(logits, 0).tolist() == [1] * 200
    drawn = sample_next(logits, 5.0, torch.Generator().manual_seed(0), top_k=2)
    assert set(drawn.tolist()) == {1, 3}
    again = sample_next(logits, 5.0, torch.Generator().manual_seed(0), top_k=2)
    assert torch.equal(drawn, again)
    with pytest.raises(ValueError, match="temperature"):
        sample_next(logits, -1.0)


def test_an_ensemble_of_one_or_of_identical_decoders_equals_the_decoder():
    decoder, memory, mask = toy()
    init = decoder.init_state(memory, mask)
    single_greedy = greedy(decoder, memory, mask, init, BOS, EOS, 8)
    single_beam = beam_search(decoder, memory, mask, init, BOS, EOS, 8, beam_size=4, alpha=0.6)
    for count in (1, 2):
        ensemble = EnsembleDecoder([decoder] * count)
        mem, msk = EnsembleDecoder.shared(memory, count), EnsembleDecoder.shared(mask, count)
        state = ensemble.init_state(mem, msk)
        for got, want in (
            (greedy(ensemble, mem, msk, state, BOS, EOS, 8), single_greedy),
            (beam_search(ensemble, mem, msk, state, BOS, EOS, 8, beam_size=4, alpha=0.6), single_beam),
        ):
            assert got.token_lists() == want.token_lists()
            assert torch.allclose(got.scores, want.scores, atol=1e-5)
            assert torch.allclose(got.attention, want.attention, atol=1e-6)


def test_an_ensemble_averages_log_probabilities_and_keeps_the_contract():
    (a, memory, mask), (b, _, _) = toy(0), toy(1)
    ensemble = EnsembleDecoder([a, b])
    mem, msk = (memory, memory), (mask, mask)
    tokens = torch.randint(0, 9, (5, 4), generator=torch.Generator().manual_seed(0))
    logits, _, attention = ensemble(tokens, ensemble.init_state(mem, msk), mem, msk)
    la, _, attn_a = a(tokens, a.init_state(memory, mask), memory, mask)
    lb, _, attn_b = b(tokens, b.init_state(memory, mask), memory, mask)
    assert torch.allclose(logits, (F.log_softmax(la, -1) + F.log_softmax(lb, -1)) / 2, atol=1e-6)
    assert torch.allclose(attention, (attn_a + attn_b) / 2, atol=1e-6)
    stepped, _, _ = Decoder.forward(ensemble, tokens, ensemble.init_state(mem, msk), mem, msk)
    assert torch.allclose(stepped, logits, atol=1e-5)
    hyps = beam_search(ensemble, mem, msk, ensemble.init_state(mem, msk), BOS, EOS, 6, beam_size=3, alpha=0.6)
    rescored = score_tokens(ensemble, hyps.tokens, hyps.lengths, mem, msk, ensemble.init_state(mem, msk), BOS)
    assert torch.allclose(rescored, hyps.scores, atol=1e-5)
    with pytest.raises(ValueError, match="one entry per member"):
        ensemble.init_state(memory, mask)


# ---- the nested-state walker --------------------------------------------------------------------------------------
def test_state_walker_handles_tensors_tuples_namedtuples_and_dicts():
    Pair = namedtuple("Pair", "h c")
    x = torch.arange(12.0).view(1, 4, 3).requires_grad_(True)
    state = {"rnn": Pair(x * 1, x * 2), "feed": [x * 3], "none": None}
    index = torch.tensor([3, 3, 0])
    picked = select_state(state, index)
    assert isinstance(picked["rnn"], Pair) and picked["none"] is None
    assert torch.equal(picked["rnn"].c, (x * 2)[:, index])
    assert len(state_tensors(picked)) == 3
    assert not any(t.requires_grad for t in state_tensors(detach_state(state)))


def test_generate_draws_from_its_own_seed_stream(monkeypatch):
    """``generate seed=N`` must not repeat validation sample N (drawn with seed N)."""
    import seqlab.checkpoint
    from seqlab.generate import generate

    seeds = []

    class Fake:
        cfg = OmegaConf.create({"task": {"name": "charlm"}})  # what seqlab.load reads to find the task's methods

        def generate(self, prompt, length, temperature, seed):
            seeds.append(seed)
            return prompt

    monkeypatch.setattr(seqlab.checkpoint, "load_module", lambda *a, **k: Fake())
    generate("x.ckpt", seed=1)
    generate("x.ckpt", seed=1)
    generate("x.ckpt", seed=2)
    assert seeds[0] == seeds[1] == derive_seed(1, "generate") and seeds[0] not in range(10_000)
    assert seeds[2] != seeds[0]


def test_models_and_generation_import_neither_tasks_nor_training():
    code = (
        "import sys, seqlab.generation, seqlab.models.decoder\n"
        "bad = [m for m in sys.modules if m.startswith(('seqlab.tasks', 'seqlab.training'))]\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
