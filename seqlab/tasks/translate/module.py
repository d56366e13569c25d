"""The translation model: source embedding -> sequence encoder (the ``model`` role) -> bridge -> decoder (the
``decoder`` role, with attention over the encoder's outputs) -> next-token logits.

Training minimises the mean cross-entropy of the reference target tokens (``<eos>`` included, padding excluded)
under teacher forcing: with ``task.teacher_forcing = p < 1`` each input token is the reference one with probability
p and the model's own previous argmax otherwise (Bengio et al. 2015). Evaluation logs ``{val,test}/loss`` and
``perplexity = exp(loss)`` under teacher forcing, then decodes (``task.decode``) a fixed subset of the validation
sources (all test sources at test) and logs corpus ``bleu`` and ``chrf`` against every reference (sacrebleu) and
``exact_match`` (the share of sentences whose translation is one of their references). At each
validation it prints a few fixed sentences with their translations and draws their attention maps to
``run_dir/attention/``; under DDP every rank decodes its share of the sentences and the scores are computed on all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from seqlab.data.batching import reverse_padded
from seqlab.data.tokenizers import tokenizer_from_state
from seqlab.data.vocab import Vocab
from seqlab.models.base import length_mask
from seqlab.models.bridge import Bridge
from seqlab.tasks.base import build_model
from seqlab.tasks.decoder_role import build_decoder
from seqlab.tasks.decoding_module import DecodingModule
from seqlab.tasks.translate.attention_plot import plot_attention
from seqlab.tasks.translate.decode import Translation, decode_batch, translations
from seqlab.tasks.translate.scoring import Scores, score
from seqlab.training.loggers import log_image, log_table
from seqlab.training.sharded_decode import decode_stage_once
from seqlab.training.tbptt import StepResult

log = logging.getLogger(__name__)


class TranslationModule(DecodingModule):
    """``src_itos``/``tgt_itos`` (vocabularies) and ``tokenizers`` (their states) are saved in the checkpoint."""

    def __init__(
        self, config: DictConfig | dict, src_itos: list[str], tgt_itos: list[str], tokenizers: dict[str, Any]
    ) -> None:
        super().__init__(config, src_itos=list(src_itos), tgt_itos=list(tgt_itos), tokenizers=dict(tokenizers))
        self.src_vocab, self.tgt_vocab = Vocab(src_itos), Vocab(tgt_itos)
        self.src_tokenizer = tokenizer_from_state(tokenizers["source"])
        self.tgt_tokenizer = tokenizer_from_state(tokenizers["target"])
        self.embedding = nn.Embedding(len(self.src_vocab), self.task.embedding_dim, padding_idx=Vocab.pad_id)
        self.embedding_dropout = nn.Dropout(self.task.dropout)
        self.encoder = build_model(self.job.model, self.task.embedding_dim)
        self.decoder = build_decoder(self.task.decoder, len(self.tgt_vocab), self.encoder.output_size)
        self.bridge = Bridge(
            self.task.bridge,
            self.encoder.output_size,
            self.encoder.bidirectional,
            int(getattr(self.decoder, "hidden_size", self.encoder.output_size)),
            int(getattr(self.decoder, "num_layers", 1)),
            bool(getattr(self.decoder, "lstm", False)),
        )
        self.last_scores: dict[str, Scores] = {}

    # ---- the model ---------------------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """``(memory (B, S, H), memory_mask (B, S), bridged encoder state)`` of padded source ids."""
        if self.task.reverse_source:
            src = reverse_padded(src, src_lengths)
        x = self.embedding_dropout(self.embedding(src))
        memory, state = self.encoder(x, lengths=src_lengths)
        return memory, length_mask(src_lengths.to(src.device), src.size(1)), self.bridge(state)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` of the next target token after each input token ``tgt_in`` ``(B, T)``."""
        memory, mask, bridged = self.encode(src, src_lengths)
        state = self.decoder.init_state(memory, mask, bridged)
        ratio = self.task.teacher_forcing
        if not self.training or ratio >= 1.0:
            return self.decoder(tgt_in, state, memory, mask)[0]
        logits, prev = [], tgt_in[:, 0]
        for t in range(tgt_in.size(1)):
            step_logits, state, _ = self.decoder.step(prev, state, memory, mask)
            logits.append(step_logits)
            if t + 1 < tgt_in.size(1):
                gold = torch.rand(prev.shape, device=prev.device) < ratio
                prev = torch.where(gold, tgt_in[:, t + 1], step_logits.argmax(-1))
        return torch.stack(logits, dim=1)

    def sequence_loss(self, batch: Any, training: bool) -> StepResult:
        """Cross-entropy of the target tokens (teacher forcing with ``task.teacher_forcing`` in training)."""
        src, src_lengths, tgt, _ = batch
        logits = self(src, src_lengths, tgt[:, :-1])
        target = tgt[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=Vocab.pad_id)
        count = int((target != Vocab.pad_id).sum())
        return StepResult(loss=loss, count=count, tokens=int(src_lengths.sum()) + count)

    # ---- decoding ----------------------------------------------------------------------------------------------
    def translate(self, texts: list[str], **decode: Any) -> list[Translation]:
        """Translations of raw source ``texts`` (normalised and tokenised as in training)."""
        return translations([self], texts, **decode)

    # ---- evaluation with decoding --------------------------------------------------------------------------------
    def _hypotheses(self, items: list[Any]) -> list[str]:
        return [out.text for out in decode_batch([self], [item.ids for item in items], self.task.decode)]

    def decode_stage(self, stage: str) -> None:
        limit = self.task.decode.val_sentences if stage == "val" else None
        decoded = decode_stage_once(self, stage, limit, self._hypotheses)
        if decoded is None:
            return
        items, hypotheses = decoded.items, decoded.outputs
        scores = score([hypotheses[i] for i in range(len(items))], [item.references for item in items])
        self.last_scores[stage] = scores
        self.log(f"{stage}/bleu", scores.bleu, prog_bar=True, sync_dist=False)
        self.log(f"{stage}/chrf", scores.chrf, sync_dist=False)
        exact = sum(hypotheses[i] in item.references for i, item in enumerate(items)) / len(items)
        self.log(f"{stage}/exact_match", exact, sync_dist=False)
        if stage == "val" and self.trainer.is_global_zero:
            self._show(items[: self.task.decode.show], [hypotheses[i] for i in range(len(items))])

    def _show(self, items: list[Any], hypotheses: list[str]) -> None:
        """Print a few fixed val sentences, draw their attention, and log a W&B table."""
        if not items:
            return
        shown = decode_batch([self], [item.ids for item in items], self.task.decode)
        for item, out in zip(items, shown):
            out.source_tokens = self.src_tokenizer.encode(item.source)  # the words, not <unk>
        step = self.trainer.global_step
        lines = [f"  {item.source}\n    -> {out.text}\n    ref {item.references[0]}" for item, out in zip(items, shown)]
        print(f"seqlab: translations at step {step}:\n" + "\n".join(lines), flush=True)
        maps = [out.attention_map() for out in shown]
        if all(m is not None for m in maps):
            path = Path(self.trainer.default_root_dir) / "attention" / f"val_step_{step:06d}.png"
            decoder = self.task.decoder
            title = (
                f"{self.cfg.model.name} encoder, {decoder.get('cell', decoder['name'])} decoder, "
                f"{decoder.get('attention', '')} attention, step {step}"
            )
            plot_attention(maps, path, title=title)
            log_image(self.trainer, "attention", path, step)
        rows = [[item.source, out.text, " | ".join(item.references)] for item, out in zip(items, shown)]
        log_table(self.trainer, "translations", ["source", "output", "references"], rows, step)

    def extra_results(self) -> dict[str, Any]:
        """sacrebleu's signatures and the number of sentences scored per stage, for results.json."""
        if not self.last_scores:
            return {}
        return {
            "sacrebleu": {
                stage: {"bleu": s.bleu_signature, "chrf": s.chrf_signature, "sentences": s.sentences}
                for stage, s in self.last_scores.items()
            }
        }
