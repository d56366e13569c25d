"""``translate``: a trained translation run, alone or as an ensemble with other runs of the same vocabularies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqlab.errors import ConfigError
from seqlab.tasks.inference import Inference, decode_overrides

MAX_PLOTTED = 6  # sentences drawn by attention_plot


class TranslateInference(Inference):
    offers = ("translate",)

    def translate(
        self,
        texts: str | Sequence[str],
        method: str | None = None,
        beam_size: int | None = None,
        alpha: float | None = None,
        temperature: float | None = None,
        ensemble: Sequence[Any] = (),
        attention_plot: str | Path | None = None,
    ) -> list[Any]:
        """Translations (``seqlab.tasks.translate.decode.Translation``: ``.text``, ``.unknown``, ...) of raw source
        sentences. ``method``, ``beam_size``, ``alpha``, ``temperature`` replace the run's ``task.decode``;
        ``ensemble``: more runs (loaded runs, run folders or checkpoints) whose log-probabilities are averaged
        with this one's at each step; ``attention_plot``: a PNG of the first sentences' attention."""
        from seqlab.tasks.translate.config import DECODE_METHODS
        from seqlab.tasks.translate.decode import check_members, translations

        sentences = [texts] if isinstance(texts, str) else list(texts)
        overrides = decode_overrides(DECODE_METHODS, method, beam_size, alpha, temperature)
        members = [self.module, *(self._member(other) for other in ensemble)]
        check_members(members)
        results = translations(members, sentences, **overrides)
        if attention_plot:
            from seqlab.tasks.translate.attention_plot import plot_attention

            maps = [m for m in (r.attention_map() for r in results[:MAX_PLOTTED]) if m is not None]
            if not maps:
                raise ConfigError("attention_plot", "this model has no attention (task.decoder.attention=none)")
            plot_attention(maps, Path(attention_plot), title=f"{len(members)} model(s)")
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
