"""What a trained char LM offers: ``generate``, and ``evaluate`` on a text read with the run's characters."""

from __future__ import annotations

from typing import Any

from seqlab.errors import DataError
from seqlab.tasks.inference import LanguageModelInference


class CharLMInference(LanguageModelInference):
    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        from seqlab.tasks.charlm.data import CharVocab

        class RunVocab(CharVocab):
            """The run's characters; a text with others is refused (a char LM has no <unk>)."""

            def encode(self, text: str) -> Any:
                missing = sorted({c for c in text if c not in self.index})
                if missing:
                    raise DataError(f"task.data.path: characters the run never saw: {''.join(missing)!r}")
                return super().encode(text)

        return [(CharVocab, "from_text", [RunVocab(list(self.module.hparams["vocab"]))])]
