"""``predict``: a trained text classifier labels raw texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqlab.tasks.inference import Inference, vocabularies


class SentimentInference(Inference):
    offers = ("predict", "evaluate")

    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        """The run's vocabulary and its label classes (in the run's order)."""
        from seqlab.tasks.sentiment import data

        return [vocabularies(self.module.hparams["vocab"]), (data, "label_classes", [list(self.module.labels)])]

    def predict(self, texts: str | Sequence[str]) -> list[tuple[str, float]]:
        """``(label, probability)`` of the most likely class for each text (tokenised as in training)."""
        return self.module.predict_texts([texts] if isinstance(texts, str) else list(texts))
