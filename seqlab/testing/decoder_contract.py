"""``DecoderContract``: the decoder contract of seqlab/models/decoder.py as pytest tests.

Subclass it in a test module (the class name must start with ``Test``) and implement ``make_decoder``; class
attributes set the sizes. A decoder without memory (``uses_memory = False``) overrides ``memory`` to return its
``(None, None, encoder_state)``. ``decoder_name`` (optional) checks that the ``seqlab.decoders`` entry point of that
name gives the class ``make_decoder`` builds.

    class TestMyDecoder(DecoderContract):
        decoder_name = "mydec"
        memory_size = 8

        def make_decoder(self) -> Decoder:
            return MyDecoder(vocab_size=self.vocab_size, memory_size=self.memory_size, hidden_size=16)
"""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch

from seqlab import registry
from seqlab.api import Decoder, State, beam_search, greedy, score_tokens, select_state, state_tensors

Inputs = tuple[State, State, State]  # memory, memory_mask, encoder_state


class DecoderContract:
    """Stepping equals teacher forcing, rows stay apart under ``reorder_state``, attention is a distribution over
    real positions, beam 1 equals greedy, and the searches' scores are the model's."""

    decoder_name: ClassVar[str] = ""  # its seqlab.decoders entry-point name; "" skips the registration test
    vocab_size: ClassVar[int] = 7
    batch_size: ClassVar[int] = 4
    source_len: ClassVar[int] = 6
    memory_size: ClassVar[int] = 8
    steps: ClassVar[int] = 5
    bos_id: ClassVar[int] = 1
    eos_id: ClassVar[int] = 2
    atol: ClassVar[float] = 1e-5

    # ---- to implement / override -----------------------------------------------------------------------------
    def make_decoder(self) -> Decoder:
        """A fresh decoder with ``vocab_size`` tokens (random weights; the caller seeds torch)."""
        raise NotImplementedError("implement make_decoder() on the DecoderContract subclass")

    def memory(self, seed: int = 1) -> Inputs:
        """Memory ``(B, S, memory_size)``, its mask (row b has ``S - 2b`` real positions, at least 1), no state."""
        gen = torch.Generator().manual_seed(seed)
        memory = torch.randn(self.batch_size, self.source_len, self.memory_size, generator=gen)
        lengths = (self.source_len - 2 * torch.arange(self.batch_size)).clamp(min=1)
        mask = torch.arange(self.source_len)[None, :] < lengths[:, None]
        return memory, mask, None

    # ---- helpers ---------------------------------------------------------------------------------------------
    def build(self, seed: int = 0) -> Decoder:
        torch.manual_seed(seed)
        return self.make_decoder().eval()

    def tokens(self, seed: int = 2) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randint(0, self.vocab_size, (self.batch_size, self.steps), generator=gen)

    def assert_close(self, a: torch.Tensor, b: torch.Tensor, what: str) -> None:
        assert a.shape == b.shape, f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ"
        assert torch.allclose(a, b, atol=self.atol, rtol=1e-4), f"{what}: max diff {(a - b).abs().max():.3g}"

    def stepped(self, decoder: Decoder, tokens: torch.Tensor, state: State, memory: State, mask: State) -> tuple:
        """``step`` over ``tokens[:, t]``: stacked logits, final state, stacked attention (or None)."""
        logits, attention = [], []
        for t in range(tokens.size(1)):
            out, state, attn = decoder.step(tokens[:, t], state, memory, mask)
            logits.append(out)
            attention.append(attn)
        stacked = None if attention[0] is None else torch.stack(attention, dim=1)
        return torch.stack(logits, dim=1), state, stacked

    # ---- the contract ----------------------------------------------------------------------------------------
    def test_registered_under_its_name(self) -> None:
        if not self.decoder_name:
            pytest.skip("set decoder_name to check the seqlab.decoders entry point")
        assert self.decoder_name in registry.names("decoder"), f"no seqlab.decoders entry point '{self.decoder_name}'"
        assert registry.get_decoder(self.decoder_name) is type(self.build()), "the entry point names another class"

    def test_is_a_decoder_with_capabilities(self) -> None:
        decoder = self.build()
        assert isinstance(decoder, Decoder)
        assert decoder.vocab_size == self.vocab_size
        assert decoder.causal is True and isinstance(decoder.uses_memory, bool)

    def test_step_shapes(self) -> None:
        decoder = self.build()
        memory, mask, enc = self.memory()
        state = decoder.init_state(memory, mask, enc)
        prev = torch.full((self.batch_size,), self.bos_id)
        logits, state, attention = decoder.step(prev, state, memory, mask)
        assert logits.shape == (self.batch_size, self.vocab_size) and torch.isfinite(logits).all()
        assert state_tensors(state), "step must return the new state"
        assert attention is None or attention.shape == (self.batch_size, self.source_len)

    def test_stepwise_decoding_equals_teacher_forced_pass(self) -> None:
        decoder = self.build()
        memory, mask, enc = self.memory()
        tokens = self.tokens()
        forced, forced_state, forced_attn = decoder(tokens, decoder.init_state(memory, mask, enc), memory, mask)
        stepped, stepped_state, stepped_attn = self.stepped(
            decoder, tokens, decoder.init_state(memory, mask, enc), memory, mask
        )
        assert forced.shape == (self.batch_size, self.steps, self.vocab_size)
        self.assert_close(forced, stepped, "teacher-forced vs stepwise logits")
        for a, b in zip(state_tensors(forced_state), state_tensors(stepped_state), strict=True):
            self.assert_close(a, b, "teacher-forced vs stepwise final state")
        assert (forced_attn is None) == (stepped_attn is None), "forward and step disagree on returning attention"
        if forced_attn is not None:
            self.assert_close(forced_attn, stepped_attn, "teacher-forced vs stepwise attention")

    def test_is_causal_and_rows_are_independent(self) -> None:
        decoder = self.build()
        memory, mask, enc = self.memory()
        tokens = self.tokens()
        base, _, _ = decoder(tokens, decoder.init_state(memory, mask, enc), memory, mask)
        other = tokens.clone()
        half = self.steps // 2
        other[:, half:] = (other[:, half:] + 1) % self.vocab_size  # change the future of every row
        other[1:, :half] = (other[1:, :half] + 2) % self.vocab_size  # and the past of rows 1..B-1
        changed, _, _ = decoder(other, decoder.init_state(memory, mask, enc), memory, mask)
        self.assert_close(changed[0, :half], base[0, :half], "row 0 before its change (causal, rows independent)")
        assert not torch.allclose(changed[1:], base[1:]), "the input tokens must change the logits"

    def test_reorder_state_keeps_hypotheses_apart(self) -> None:
        """After ``reorder_state(state, index)`` row b continues hypothesis ``index[b]``, and nothing else."""
        decoder = self.build()
        memory, mask, enc = self.memory()
        tokens = self.tokens()
        half = self.steps // 2
        _, state, _ = decoder(tokens[:, :half], decoder.init_state(memory, mask, enc), memory, mask)
        rest, _, rest_attn = decoder(tokens[:, half:], state, memory, mask)
        permutation = torch.arange(self.batch_size).flip(0)
        duplicates = torch.arange(self.batch_size) // 2  # rows 0, 0, 1, 1, ...: a beam keeping two children
        for index in (permutation, duplicates):
            moved = decoder.reorder_state(state, index)
            mem, msk = select_state(memory, index, 0), select_state(mask, index, 0)
            logits, _, attn = self.stepped(decoder, tokens[index, half:], moved, mem, msk)
            self.assert_close(logits, rest[index], f"continuing rows {index.tolist()} after reorder_state")
            if attn is not None:
                self.assert_close(attn, rest_attn[index], f"attention of rows {index.tolist()} after reorder_state")

    def test_attention_is_a_distribution_over_real_positions(self) -> None:
        decoder = self.build()
        memory, mask, enc = self.memory()
        _, _, attention = decoder(self.tokens(), decoder.init_state(memory, mask, enc), memory, mask)
        if attention is None:
            return  # a decoder without attention
        if mask is None:  # no mask: every position is real
            mask = torch.ones(attention.shape[0], attention.shape[-1], dtype=torch.bool, device=attention.device)
        real = mask[:, None, :].expand_as(attention)
        assert (attention[~real] == 0).all(), "attention on padded memory positions must be exactly 0"
        assert (attention >= 0).all()
        self.assert_close(attention.sum(-1), torch.ones_like(attention.sum(-1)), "attention sums to 1 over a row")

    def test_beam_size_one_equals_greedy(self) -> None:
        decoder = self.build()
        memory, mask, enc = self.memory()
        args = (self.bos_id, self.eos_id, self.steps + 2)
        best = greedy(decoder, memory, mask, decoder.init_state(memory, mask, enc), *args, batch_size=self.batch_size)
        beam = beam_search(
            decoder, memory, mask, decoder.init_state(memory, mask, enc), *args, beam_size=1, batch_size=self.batch_size
        )
        assert beam.token_lists() == best.token_lists()
        self.assert_close(beam.scores, best.scores, "beam 1 vs greedy scores")
        if best.attention is not None:
            self.assert_close(beam.attention, best.attention, "beam 1 vs greedy attention")

    def test_search_scores_are_the_models_scores(self) -> None:
        """Rescoring the hypotheses by teacher forcing gives the scores the searches report."""
        decoder = self.build()
        memory, mask, enc = self.memory()
        args = (self.bos_id, self.eos_id, self.steps + 2)
        for hyps in (
            greedy(decoder, memory, mask, decoder.init_state(memory, mask, enc), *args, batch_size=self.batch_size),
            beam_search(
                decoder,
                memory,
                mask,
                decoder.init_state(memory, mask, enc),
                *args,
                beam_size=3,
                alpha=0.6,
                n_best=2,
                batch_size=self.batch_size,
            ),
        ):
            for ranked in hyps.ranked or [hyps]:
                state = decoder.init_state(memory, mask, enc)
                with torch.no_grad():
                    rescored = score_tokens(decoder, ranked.tokens, ranked.lengths, memory, mask, state, self.bos_id)
                found = torch.isfinite(ranked.scores)  # an n-best rank a row could not fill is -inf
                self.assert_close(rescored[found], ranked.scores[found], "teacher-forced rescoring vs search scores")
