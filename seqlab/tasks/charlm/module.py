"""The character LM: embedding -> sequence model -> linear softmax over characters.

Trained with teacher forcing on a contiguous stream; loss in nats/char, ``bpc = loss / ln 2``,
``ppl = exp(loss)``. Prints a sample at validation and generates text from a prompt.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from seqlab.generation.search import sample_next
from seqlab.models.base import State
from seqlab.tasks.base import build_model
from seqlab.tasks.charlm.data import CharVocab
from seqlab.training.tbptt import StepResult, TBPTTModule


class CharLMModule(TBPTTModule):
    """``vocab`` is the list of characters (saved in the checkpoint's hparams)."""

    def __init__(self, config: DictConfig | dict, vocab: list[str]) -> None:
        super().__init__(config, vocab=list(vocab))
        self.vocab = CharVocab(vocab)
        task = self.cfg.task
        self.embedding = nn.Embedding(len(self.vocab), task.embedding_dim)
        self.encoder = build_model(self.cfg.model, task.embedding_dim)
        self.head = nn.Linear(self.encoder.output_size, len(self.vocab))
        self._val_count = 0
        self._samples: list[list] = []

    def forward(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """Logits ``(batch, time, vocab)`` and the state after the last step."""
        out, state = self.encoder(self.embedding(ids), state)
        return self.head(out), state

    def _loss(self, batch: Any, state: State) -> StepResult:
        inputs, targets = batch
        logits, state = self(inputs, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return StepResult(loss=loss, count=targets.numel(), state=state, tokens=inputs.numel())

    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        return self._loss(chunk, state)

    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        return self._loss(batch, state)

    def derived_metrics(self, loss: float) -> dict[str, float]:
        return {"bpc": loss / math.log(2), "ppl": math.exp(min(loss, 50.0))}

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        every = self.cfg.task.sample.every_n_val
        if self.trainer.sanity_checking or not every:
            return
        self._val_count += 1
        if self._val_count % every == 0:
            sample = self.cfg.task.sample
            text = self.generate(sample.prompt, sample.length, sample.temperature, seed=self._val_count)
            self.print(
                f"\n----- sample (step {self.global_step}, temperature {sample.temperature}) -----\n{text}\n-----"
            )
            self._samples.append([self.global_step, sample.temperature, text])
            for logger in self.loggers:
                if hasattr(logger, "log_text"):  # W&B: every sample so far, as one table
                    logger.log_text("samples", columns=["step", "temperature", "text"], data=self._samples)

    @torch.no_grad()
    def generate(self, prompt: str, length: int, temperature: float = 1.0, seed: int | None = None) -> str:
        """``prompt`` followed by ``length`` sampled characters; the same seed gives the same text."""
        was_training = self.training
        self.eval()
        generator = torch.Generator(device=self.device)
        generator.manual_seed(0 if seed is None else seed)
        ids = self.vocab.encode(prompt or "\n").to(self.device).unsqueeze(0)
        logits, state = self(ids)
        out = []
        for _ in range(length):
            token = sample_next(logits[:, -1], temperature, generator)
            out.append(int(token))
            logits, state = self(token.view(1, 1), state)
        self.train(was_training)
        return prompt + self.vocab.decode(out)
