"""``translate``: a trained translation run, alone or as an ensemble with other runs of the same vocabularies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from seqlab.errors import ConfigError
from seqlab.tasks.inference import Inference, decode_overrides, vocabularies

MAX_PLOTTED = 6  # sentences drawn by attention_plot
MAX_SOURCE_TOKENS = 250  # longest source sentence translated (decoding time grows with its square)


def check_request(
    method: str | None,
    beam_size: int | None,
    alpha: float | None,
    temperature: float | None,
    attention_plot: str | Path | None,
    max_source_tokens: int,
) -> tuple[dict[str, Any], Path | None]:
    """The checked ``task.decode`` overrides and attention-plot path of a translate call (nothing loaded yet)."""
    from seqlab.output_paths import check_output_file
    from seqlab.tasks.translate.config import DECODE_METHODS

    overrides = decode_overrides(DECODE_METHODS, method, beam_size, alpha, temperature)
    if max_source_tokens < 1:
        raise ConfigError("max_source_tokens", f"must be >= 1, got {max_source_tokens}")
    plot_path = check_output_file("attention_plot", attention_plot) if attention_plot else None
    return overrides, plot_path


class TranslateInference(Inference):
    offers = ("translate", "evaluate")

    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        """Both vocabularies and both tokenizers of the run (source first, as the DataModule builds them)."""
        from seqlab.tasks.translate import data

        hp = self.module.hparams
        tokenizers = [self.module.src_tokenizer, self.module.tgt_tokenizer]
        return [vocabularies(hp["src_itos"], hp["tgt_itos"]), (data, "build_tokenizer", tokenizers)]

    def translate(
        self,
        texts: str | Sequence[str],
        method: str | None = None,
        beam_size: int | None = None,
        alpha: float | None = None,
        temperature: float | None = None,
        ensemble: Sequence[Any] = (),
        attention_plot: str | Path | None = None,
        max_source_tokens: int = MAX_SOURCE_TOKENS,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Any]:
        """Translations (``seqlab.tasks.translate.decode.Translation``: ``.text``, ``.unknown``, ...) of raw source
        sentences. ``method``, ``beam_size``, ``alpha``, ``temperature`` replace the run's ``task.decode``;
        ``ensemble``: more runs (loaded runs, run folders or checkpoints) whose log-probabilities are averaged
        with this one's at each step; ``attention_plot``: a PNG of the first sentences' attention (its path checked
        before anything is decoded); a sentence of more than ``max_source_tokens`` tokens is refused before any is
        decoded; ``progress(done, total)`` is called after each decoded batch."""
        from seqlab.output_paths import writing
        from seqlab.tasks.translate.decode import check_members, translations

        sentences = [texts] if isinstance(texts, str) else list(texts)
        overrides, plot_path = check_request(method, beam_size, alpha, temperature, attention_plot, max_source_tokens)
        members = [self.module, *(self._member(other) for other in ensemble)]
        check_members(members)
        if plot_path is not None and members[0].task.decoder.get("attention") == "none":
            raise ConfigError("attention_plot", "this model has no attention (task.decoder.attention=none)")
        results = translations(members, sentences, max_source_tokens=max_source_tokens, progress=progress, **overrides)
        if plot_path is not None:
            from seqlab.tasks.translate.attention_plot import plot_attention

            maps = [m for m in (r.attention_map() for r in results[:MAX_PLOTTED]) if m is not None]
            if not maps:
                raise ConfigError("attention_plot", "this model has no attention (task.decoder.attention=none)")
            with writing("attention_plot", plot_path):
                plot_attention(maps, plot_path, title=f"{len(members)} model(s)")
        return results

    def _member(self, other: Any) -> Any:
        if not isinstance(other, Inference):
            from seqlab.checkpoint import load_module

            other = load_module(other, map_location=self.device)
        else:
            other = other.module
        if other.cfg.task.name != "translate":
            raise ConfigError("ckpt_path", f"a '{other.cfg.task.name}' checkpoint does not translate")
        return other
