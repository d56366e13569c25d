"""``predict``: a trained text classifier labels raw texts."""

from __future__ import annotations

from collections.abc import Sequence

from seqlab.tasks.inference import Inference


class SentimentInference(Inference):
    offers = ("predict",)

    def predict(self, texts: str | Sequence[str]) -> list[tuple[str, float]]:
        """``(label, probability)`` of the most likely class for each text (tokenised as in training)."""
        return self.module.predict_texts([texts] if isinstance(texts, str) else list(texts))
