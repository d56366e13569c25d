"""The captioning model: image encoder -> (image-to-state | soft attention) -> recurrent decoder -> next word.

Training minimises the mean cross-entropy of the reference caption words (``<eos>`` included, padding excluded)
under teacher forcing, plus ``doubly_stochastic * mean_i (1 - sum_t alpha_ti)^2`` with soft attention (Xu et al.:
every region attended about once over the caption; the mean over the regions, not their sum, so the term keeps the
scale of the per-word loss). Evaluation logs ``loss`` and ``perplexity`` (teacher forcing),
then captions a fixed subset of the validation images (every test image at test) through the shared search and logs
BLEU-1..4 and CIDEr-D, also per group (``seen`` / ``heldout`` attribute combinations of the generated scenes), the
share of captions naming exactly the right attribute words, and with attention the mass inside the named object's box.
At each validation a few fixed images are drawn with their captions (and per-word attention) to ``run_dir/captions/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from seqlab.data.vocab import Vocab
from seqlab.generation.search import beam_search, greedy, sample
from seqlab.models.soft_attention_decoder import doubly_stochastic_penalty
from seqlab.tasks.caption.plots import plot_captions
from seqlab.tasks.caption.roles import ImageToState, build_decoder, build_image_encoder
from seqlab.tasks.caption.scoring import (
    attributes_match,
    box_share,
    caption_scores,
    mass_in_box,
    named_boxes,
    region_boxes,
)
from seqlab.tasks.decoding_module import DecodingModule
from seqlab.training.loggers import log_image
from seqlab.training.sharded_decode import decode_stage_once
from seqlab.training.tbptt import StepResult


class CaptionModule(DecodingModule):
    """``itos`` (the caption vocabulary) and ``attributes`` (the scene words, may be empty) are saved in hparams."""

    def __init__(self, config: DictConfig | dict, itos: list[str], attributes: list[str]) -> None:
        super().__init__(config, itos=list(itos), attributes=list(attributes))
        self.vocab = Vocab(list(itos))
        self.attribute_vocabulary = set(attributes)
        self.image_encoder = build_image_encoder(self.task.image_encoder)
        size = self.image_encoder.output_size
        self.soft = self.task.decoder.attention == "soft"
        self.decoder = build_decoder(self.cfg.model, self.task.decoder, len(self.vocab), size)
        lstm = self.cfg.model.name == "lstm" or getattr(self.decoder, "lstm", False)
        self.image_to_state = None
        if not self.soft:
            model = self.cfg.model
            self.image_to_state = ImageToState(size, int(model.hidden_size), int(model.num_layers), lstm)
        self.last_scores: dict[str, dict[str, float]] = {}

    # ---- the model ---------------------------------------------------------------------------------------------
    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor | None, Any]:
        """``(memory (B, R, C) or None, decoder state)`` of a batch of images."""
        grid, pooled = self.image_encoder(images)
        if self.soft:
            return grid, self.decoder.init_state(grid, None, None)
        return None, self.decoder.init_state(None, None, self.image_to_state(pooled))

    def forward(self, images: torch.Tensor, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits ``(B, T, V)`` after each input word, and the attention ``(B, T, R)`` (soft) or None."""
        memory, state = self.encode(images)
        logits, _, attention = self.decoder(inputs, state, memory, None)
        return logits, attention

    def sequence_loss(self, batch: Any, training: bool) -> StepResult:
        """Cross-entropy of the caption words; in training plus the doubly stochastic attention penalty."""
        images, captions, _, _ = batch
        logits, attention = self(images, captions[:, :-1])
        target = captions[:, 1:]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=Vocab.pad_id)
        count = int((target != Vocab.pad_id).sum())
        if training and self.soft and self.task.decoder.doubly_stochastic > 0 and attention is not None:
            penalty = doubly_stochastic_penalty(attention, target != Vocab.pad_id, per_region=True)
            loss = loss + self.task.decoder.doubly_stochastic * penalty
        return StepResult(loss=loss, count=count, tokens=count)

    # ---- captioning --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def caption(self, images: torch.Tensor, **overrides: Any) -> list[dict[str, Any]]:
        """Captions of ``images`` (B, ...) with ``task.decode`` (``overrides`` replace its keys): for each image
        ``{"text", "tokens", "score", "attention" (steps, R) or None}``."""
        decode = {**vars(self.task.decode), **overrides}
        was = self.training
        self.eval()
        try:
            memory, state = self.encode(images.to(self.device))
            args = (self.decoder, memory, None, state, self.vocab.bos_id, self.vocab.eos_id, decode["max_len"])
            batch = images.size(0)
            if decode["method"] == "greedy":
                hyps = greedy(*args, batch_size=batch)
            elif decode["method"] == "sample":
                hyps = sample(*args, temperature=decode["temperature"], batch_size=batch)
            else:
                hyps = beam_search(*args, beam_size=decode["beam_size"], alpha=decode["alpha"], batch_size=batch)
        finally:
            self.train(was)
        out = []
        for row, ids in enumerate(hyps.token_lists()):
            words = self.vocab.decode([i for i in ids if i != self.vocab.eos_id])
            weights = hyps.attention[row, : len(ids)].cpu() if hyps.attention is not None and ids else None
            out.append(
                {"text": " ".join(words), "tokens": words, "score": float(hyps.scores[row]), "attention": weights}
            )
        return out

    def _caption_items(self, items: list[Any], **overrides: Any) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        size = self.task.decode.batch_size
        for start in range(0, len(items), size):
            images = torch.stack([item.image for item in items[start : start + size]])
            results += self.caption(images, **overrides)
        return results

    def score_images(self, items: list[Any], **overrides: Any) -> dict[str, float]:
        """Caption ``items`` (``references(stage)`` entries) in this process and score them as evaluation does;
        ``overrides`` replace ``task.decode`` keys (e.g. ``method="greedy"``)."""
        captions = self._caption_items(items, **overrides)
        return self._score(items, {i: (c["text"], c["tokens"], c["attention"]) for i, c in enumerate(captions)})

    def _caption_outputs(self, items: list[Any]) -> list[tuple]:
        return [(c["text"], c["tokens"], c["attention"]) for c in self._caption_items(items)]

    def decode_stage(self, stage: str) -> None:
        limit = self.task.decode.val_images if stage == "val" else None
        decoded = decode_stage_once(self, stage, limit, self._caption_outputs)
        if decoded is None:
            return
        items, by_index = decoded.items, decoded.outputs
        metrics = {**self._score(items, by_index), "captioned": float(decoded.decoded)}  # each once: len(items)
        self.last_scores[stage] = metrics
        for name, value in metrics.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "bleu4", sync_dist=False)
        if stage == "val" and self.trainer.is_global_zero:
            self._draw(
                items[: self.task.decode.show], [by_index[i] for i in range(min(len(items), self.task.decode.show))]
            )

    def _score(self, items: list[Any], by_index: dict[int, tuple]) -> dict[str, float]:
        texts = [by_index[i][0] for i in range(len(items))]
        refs = [item.references for item in items]
        metrics = caption_scores(texts, refs)
        groups = sorted({item.group for item in items if item.group})
        for group in groups:
            chosen = [i for i, item in enumerate(items) if item.group == group]
            for name, value in caption_scores([texts[i] for i in chosen], [refs[i] for i in chosen]).items():
                metrics[f"{group}_{name}"] = value
        if self.attribute_vocabulary:
            hits = [attributes_match(t, r, self.attribute_vocabulary) for t, r in zip(texts, refs)]
            metrics["attributes"] = sum(hits) / len(hits)
            for group in groups:
                chosen = [h for h, item in zip(hits, items) if item.group == group]
                metrics[f"{group}_attributes"] = sum(chosen) / len(chosen)
        masses, chances = self._attention_in_box(items, by_index)
        if masses:
            metrics["attention_in_box"] = sum(masses) / len(masses)
            metrics["attention_in_box_chance"] = sum(chances) / len(chances)
        return metrics

    def _attention_in_box(self, items: list[Any], by_index: dict[int, tuple]) -> tuple[list[float], list[float]]:
        """Per word naming a drawn object: the attention mass in its box, and that box's share of the image."""
        if not self.soft or not items or items[0].boxes is None:
            return [], []
        image = items[0].image
        size = int(image.shape[-1])
        regions = region_boxes(self.image_encoder.grid_shape_for(tuple(image.shape)), size)
        masses: list[float] = []
        chances: list[float] = []
        for i, item in enumerate(items):
            _, tokens, attention = by_index[i]
            if attention is not None and item.boxes:
                for t, obj in named_boxes(tokens, item.boxes, attention.size(0)):
                    masses.append(mass_in_box(attention[t], regions, obj.box))
                    chances.append(box_share(obj.box, size))
        return masses, chances

    def _draw(self, items: list[Any], outputs: list[tuple]) -> None:
        step = self.trainer.global_step
        path = Path(self.trainer.default_root_dir) / "captions" / f"val_step_{step:06d}.png"
        images = [item.image for item in items]
        grid = self.image_encoder.grid_shape_for(tuple(images[0].shape)) if self.soft and images[0].dim() == 3 else None
        plot_captions(images, [o[0] for o in outputs], [o[1] for o in outputs], [o[2] for o in outputs], grid, path)
        log_image(self.trainer, "captions", path, step)

    def extra_results(self) -> dict[str, Any]:
        return {"caption_decoding": {k: v for k, v in vars(self.task.decode).items()}} if self.last_scores else {}
