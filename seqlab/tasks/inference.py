"""What a trained run of a task can do: the inference methods a task declares for ``seqlab.load``.

Each task class names its inference class (``Task.inference``); the class lists the methods it offers in
``offers``. Asking a loaded run for a method its task does not offer is one :class:`MethodUnavailable` line naming
the method, the task and what it offers (it is also an AttributeError, so ``hasattr`` stays honest). The shared
capabilities of several tasks live here: scoring on a test set (``evaluate`` / ``test_metrics``, every task with a
test step), text generation for language models and word vectors.

``test_metrics(**data_keys)`` is the one name every task has: the ``test/*`` metrics of the run on the test split of
its data, with ``task.data.<key>`` replaced by the keyword arguments (``path="new.txt"``). ``evaluate`` is the same for
every task except the word-vector ones, where it keeps its meaning (analogy and similarity on vector files):
``word2vec`` and ``wordlm`` score their test split (loss, perplexity) through ``test_metrics``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from seqlab.errors import ConfigError, DataError, SeqlabError

GENERATE_STREAM = "generate"  # seed stream of generate(), apart from the validation samples'


class MethodUnavailable(SeqlabError, AttributeError):
    """A loaded run was asked for an inference method its task does not offer."""


class Inference:
    """A task's trained module with its inference methods. ``module``: the LightningModule (eval mode),
    ``config``: its composed config, ``checkpoint``: the file it came from, ``run_dir``: the run folder (or None)."""

    offers: ClassVar[tuple[str, ...]] = ("evaluate",)  # the inference methods this task's runs have

    def __init__(self, module: Any, checkpoint: Path, run_dir: Path | None = None, device: str = "cpu") -> None:
        self.module = module
        self.config = module.cfg
        self.checkpoint = Path(checkpoint)
        self.run_dir = run_dir
        self.device = device

    @property
    def task(self) -> str:
        return str(self.config.task.name)

    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        """What the task's DataModule learns from its data and must take from the run when it scores one:
        ``(owner, builder, the run's objects in the order the DataModule builds them)`` (seqlab/tasks/evaluation.py).
        Empty for a task whose data module learns nothing (synthetic tasks)."""
        return []

    def test_metrics(self, **data: Any) -> dict[str, float]:
        """The run's ``test/*`` metrics on the test split of its data, ``task.data.<key>`` replaced by ``data``
        (e.g. ``path="new.txt"``); encoded with the run's vocabularies (unknown words read as ``<unk>``)."""
        from seqlab.tasks.evaluation import test_metrics

        return test_metrics(self, {f"task.data.{k}": v for k, v in data.items()})

    def evaluate(self, **data: Any) -> dict[str, float]:
        """:meth:`test_metrics` (word-vector tasks evaluate their vectors instead)."""
        return self.test_metrics(**data)

    def __getattr__(self, name: str) -> Any:  # only called for names the class does not have
        if name.startswith("_") or "config" not in self.__dict__:
            raise AttributeError(name)
        offered = ", ".join(self.offers) if self.offers else "no inference methods"
        raise MethodUnavailable(f"{name}: task '{self.task}' has no {name}() (it offers: {offered})")

    def __repr__(self) -> str:
        model = self.config.model.name
        return f"<seqlab run: task {self.task}, model {model}, {self.checkpoint}; offers {self.offers}>"


def vocabularies(*lists: list[str]) -> tuple[Any, str, list[Any]]:
    """``Vocab.build`` returning the run's vocabularies (``itos`` lists), in order."""
    from seqlab.data.vocab import Vocab

    return (Vocab, "build", [Vocab(list(itos)) for itos in lists])


class TextGeneration:
    """``generate``: a language model continues a prompt."""

    def generate(self: Any, prompt: str = "\n", length: int = 500, temperature: float = 1.0, seed: int = 0) -> str:
        """``prompt`` followed by ``length`` sampled tokens; the same seed gives the same text; ``temperature=0`` is
        greedy. ``seed`` draws from its own stream, so it never repeats the run's validation samples."""
        from seqlab.generation.checks import check_decode
        from seqlab.generation.seeds import derive_seed

        if length < 0:
            raise ConfigError("length", f"must be >= 0, got {length}")
        check_decode({"temperature": temperature})
        return self.module.generate(prompt, length, temperature, seed=derive_seed(seed, GENERATE_STREAM))


class WordVectorQueries:
    """``embeddings`` (the trained word vectors) and ``evaluate`` (analogy accuracy and similarity Spearman)."""

    def embeddings(self: Any) -> Any:
        """The word vectors (``seqlab.vectors.WordVectors``: nearest, analogy, export through seqlab.vectors)."""
        return self.module.word_vectors()

    def evaluate(self: Any, data_dir: str | None = None) -> dict[str, Any]:
        """:meth:`evaluate_vectors` (the test split's loss and perplexity: ``test_metrics``)."""
        return self.evaluate_vectors(data_dir)

    def evaluate_vectors(self: Any, data_dir: str | None = None) -> dict[str, Any]:
        """Analogy accuracy and word-similarity Spearman on the files in ``data_dir`` (default
        ``$SEQLAB_DATA_DIR/word-similarity-analogy``); DataError when there are none."""
        from seqlab import vectors as wv
        from seqlab.vectors.evaluate import FILES

        results = wv.evaluate_all(self.embeddings(), data_dir)
        if not results:
            where = data_dir or "$SEQLAB_DATA_DIR/word-similarity-analogy"
            raise DataError(f"evaluate: no evaluation files ({', '.join(FILES.values())}) in {where}")
        return results


class LanguageModelInference(Inference, TextGeneration):
    offers = ("generate", "evaluate")


class WordVectorInference(WordVectorQueries, Inference):
    offers = ("embeddings", "evaluate")

    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        return [vocabularies(self.module.hparams["vocab"])]


class WordLanguageModelInference(WordVectorQueries, Inference, TextGeneration):
    offers = ("generate", "embeddings", "evaluate")

    def trained_builds(self) -> list[tuple[Any, str, list[Any]]]:
        return [vocabularies(self.module.hparams["vocab"])]


def decode_overrides(
    methods: tuple[str, ...],
    method: str | None,
    beam_size: int | None,
    alpha: float | None,
    temperature: float | None,
) -> dict[str, Any]:
    """The ``task.decode`` keys a caller replaces, checked by the one shared check (seqlab/generation/checks.py;
    a ``beam_size`` alone means beam search)."""
    from seqlab.generation.checks import check_decode

    if method is not None and method not in methods:
        raise ConfigError("method", f"unknown method '{method}'", allowed=methods)
    overrides = {
        k: v
        for k, v in (("method", method), ("beam_size", beam_size), ("alpha", alpha), ("temperature", temperature))
        if v is not None
    }
    check_decode(overrides)
    if beam_size is not None and method is None:
        overrides["method"] = "beam"
    return overrides
