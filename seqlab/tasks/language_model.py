"""One language model for characters and words: embedding -> sequence model -> output layer over the vocabulary.

Trained with teacher forcing on a contiguous stream (hidden state carried, truncated BPTT as the task says); the loss
is the mean negative log-likelihood per token (nats), ``ppl = exp(loss)`` over the whole evaluated stream (and
``bpc = loss / ln 2`` for characters). What characters and words differ in is a *codec* (text <-> ids) and the keys a
word task adds, each off by default so that the char LM is unchanged:

- ``tie_weights``: the output layer's weight is the input embedding (Press & Wolf 2017, Inan et al. 2017), with a
  projection from the encoder's size to the embedding's when they differ;
- ``softmax=full|adaptive`` (``cutoffs``): a full softmax or an adaptive one (Grave et al. 2017);
- ``embedding_dropout``: whole words dropped from the embedding matrix per batch (Gal & Ghahramani; AWD-LSTM);
- ``ar`` / ``tar``: activation regularization ``ar * mean(h_t^2)`` and temporal activation regularization
  ``tar * mean((h_t - h_{t-1})^2)`` on the encoder's (last layer's) outputs (Merity et al. 2017);
- ``word_input=lookup|chars``: a lookup table, or word vectors built from their characters (C2W / char-CNN);
- ``init_range``: every weight drawn from ``U(-r, r)`` (Zaremba et al. 2014) instead of PyTorch's defaults.

Generation samples from the model's distribution token by token (``sample_next``, the shared search code).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Protocol

import torch
from omegaconf import DictConfig
from torch import nn

from seqlab.config.job import JobConfig
from seqlab.generation.search import sample_next
from seqlab.models.base import State
from seqlab.models.capabilities import Capabilities
from seqlab.models.embedding_dropout import embedding_dropout
from seqlab.models.output_layer import OutputLayer
from seqlab.tasks.base import build_model
from seqlab.tasks.language_model_options import LanguageModelOptions
from seqlab.training.loggers import log_table
from seqlab.training.tbptt import StepResult, TBPTTModule


class Codec(Protocol):
    """Text <-> token ids of one vocabulary."""

    def encode(self, text: str) -> torch.Tensor: ...

    def decode(self, ids: torch.Tensor | list[int]) -> str: ...


class LanguageModelModule(TBPTTModule):
    """Subclasses set ``codec`` (text <-> ids) and may build another input embedding (``make_embedding``)."""

    unit: str = "token"  # what one step of the stream is: "char" adds bits per character to the metrics

    def __init__(self, config: JobConfig | DictConfig | dict, vocab: list[str], codec: Codec, **extras: Any) -> None:
        super().__init__(config, vocab=list(vocab), **extras)
        self.codec = codec
        task = self.task
        options = task if isinstance(task, LanguageModelOptions) else LanguageModelOptions()
        self.embedding = self.make_embedding(list(vocab))
        input_size = int(getattr(self.embedding, "embedding_dim", task.embedding_dim))
        self.encoder = build_model(self.job.model, input_size)
        if options.tie_weights and not isinstance(self.embedding, nn.Embedding):
            raise ValueError("tie_weights needs a lookup-table embedding (task.word_input=lookup)")
        self.head = OutputLayer(
            self.encoder.output_size,
            len(vocab),
            kind=options.softmax,
            cutoffs=list(options.cutoffs),
            tie_to=self.embedding if options.tie_weights else None,
        )
        self.embedding_dropout = float(options.embedding_dropout)
        self.ar, self.tar = float(options.ar), float(options.tar)
        init_range = options.init_range
        if init_range is not None:
            for parameter in self.parameters():  # a tied weight is one tensor and is drawn once
                nn.init.uniform_(parameter, -float(init_range), float(init_range))
        self._val_count = 0
        self._samples: list[list] = []

    def upgrade_state_dict(self, state_dict: dict[str, Any]) -> dict[str, Any]:
        """Checkpoints written before the output layer was a component kept ``head.weight``/``head.bias``."""
        for name in ("weight", "bias"):
            if f"head.{name}" in state_dict and f"head.decoder.{name}" not in state_dict:
                state_dict[f"head.decoder.{name}"] = state_dict.pop(f"head.{name}")
        return state_dict

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "state_dict" in checkpoint:
            self.upgrade_state_dict(checkpoint["state_dict"])

    def make_embedding(self, vocab: list[str]) -> nn.Module:
        """The input embedding: a lookup table (a subclass may spell words from their characters)."""
        return nn.Embedding(len(vocab), self.task.embedding_dim)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        if isinstance(self.embedding, nn.Embedding) and self.embedding_dropout > 0:
            return embedding_dropout(self.embedding.weight, ids, self.embedding_dropout, self.training)
        return self.embedding(ids)

    def hidden(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """The encoder's outputs ``(B, T, H)`` for token ids ``(B, T)`` and the state after the last step."""
        return self.encoder(self.embed(ids), state)

    def forward(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """Log-probabilities ``(B, T, V)`` of the next token and the state after the last step."""
        out, state = self.hidden(ids, state)
        return self.head.log_prob(out.reshape(-1, out.size(-1))).view(*out.shape[:2], -1), state

    def _loss(self, batch: Any, state: State) -> tuple[StepResult, torch.Tensor]:
        inputs, targets = batch
        out, state = self.hidden(inputs, state)
        loss = self.head.loss(out.reshape(-1, out.size(-1)), targets.reshape(-1))
        return StepResult(loss=loss, count=targets.numel(), state=state, tokens=inputs.numel()), out

    def train_chunk(self, chunk: Any, state: State) -> StepResult:
        result, out = self._loss(chunk, state)
        penalty = 0.0
        if self.ar > 0:
            penalty = penalty + self.ar * out.pow(2).mean()
        if self.tar > 0 and out.size(1) > 1:
            penalty = penalty + self.tar * (out[:, 1:] - out[:, :-1]).pow(2).mean()
        if self.ar > 0 or self.tar > 0:
            result.loss = result.loss + penalty  # the logged training loss includes AR/TAR; val/test never do
        return result

    def eval_batch(self, batch: Any, state: State, stage: str) -> StepResult:
        return self._loss(batch, state)[0]

    def derived_metrics(self, loss: float) -> dict[str, float]:
        metrics = {"ppl": math.exp(min(loss, 50.0))}
        if self.unit == "char":
            metrics = {"bpc": loss / math.log(2), **metrics}
        return metrics

    # ---- samples -----------------------------------------------------------------------------------------------
    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        every = self.task.sample.every_n_val
        if self.trainer.sanity_checking or not every:
            return
        self._val_count += 1
        if self._val_count % every == 0:
            sample = self.task.sample
            text = self.generate(sample.prompt, sample.length, sample.temperature, seed=self._val_count)
            self.print(
                f"\n----- sample (step {self.global_step}, temperature {sample.temperature}) -----\n{text}\n-----"
            )
            self._samples.append([self.global_step, sample.temperature, text])
            if self.trainer.is_global_zero:  # the HTML report (python -m seqlab.report --html) shows these
                record = {"step": self.global_step, "temperature": sample.temperature, "text": text}
                with open(Path(self.trainer.default_root_dir) / "samples.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
            # W&B: every sample so far, as one table; TensorBoard: this one, at its step
            log_table(self.trainer, "samples", ["step", "temperature", "text"], self._samples, self.global_step, True)

    @torch.no_grad()
    def generate(self, prompt: str, length: int, temperature: float = 1.0, seed: int | None = None) -> str:
        """``prompt`` followed by ``length`` sampled tokens; the same seed gives the same text."""
        was_training = self.training
        self.eval()
        generator = torch.Generator(device=self.device)
        generator.manual_seed(0 if seed is None else seed)
        ids = self.codec.encode(prompt or "\n").to(self.device).unsqueeze(0)
        logp, state = self(ids)
        stateless = not Capabilities.of(type(self.encoder), self.encoder.config).carries_state
        window = int(getattr(self.encoder.config, "max_len", 0) or 512)
        out = []
        for _ in range(length):
            token = sample_next(logp[:, -1], temperature, generator)
            out.append(int(token))
            if stateless:  # no state to continue from (a Transformer): read the last `window` tokens again
                ids = torch.cat([ids, token.view(1, 1)], dim=1)[:, -window:]
                logp, _ = self(ids)
            else:
                logp, state = self(token.view(1, 1), state)
        self.train(was_training)
        text = self.codec.decode(out)
        separator = getattr(self.codec, "separator", "")  # words: a space between the prompt and what follows
        if separator and prompt and not prompt.endswith(("\n", separator)) and not text.startswith("\n"):
            return prompt + separator + text
        return prompt + text
