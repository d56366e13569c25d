"""Query the word vectors of a trained model.

``python -m seqlab.embeddings ckpt_path=RUN [nearest=king,france] [k=10] [analogy="king - man + woman"]
[evaluate=true] [data_dir=DIR] [export=vectors.txt]``

``ckpt_path`` is a .ckpt file or a run folder (its last checkpoint); the task's module must offer
``word_vectors() -> seqlab.vectors.WordVectors``. ``nearest``: comma-separated words, each with its ``k`` nearest
neighbours by cosine. ``analogy``: comma-separated expressions, answered by 3CosAdd. ``evaluate``: analogy accuracy
and word-similarity Spearman (files in ``data_dir`` or ``$SEQLAB_DATA_DIR/word-similarity-analogy``). ``export``:
the vectors as a word2vec text file (its path checked before the checkpoint is read). Words are looked up exactly,
else case-insensitively. Errors are one line, exit 2.
"""

from __future__ import annotations

import sys
from typing import Any

from seqlab.cli.args import parse_key_values
from seqlab.cli.tool import load_offering, one_line_errors
from seqlab.errors import ConfigError, SeqlabError

SPEC = {
    "ckpt_path": (str, ...),
    "nearest": (str, None),
    "k": (int, 10),
    "analogy": (str, None),
    "evaluate": (bool, False),
    "data_dir": (str, None),
    "export": (str, None),
    "device": (str, "cpu"),
}


def _items(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _ranked(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{word} {score:.3f}" for word, score in pairs)


def embeddings(
    ckpt_path: str,
    nearest: str | None = None,
    k: int = 10,
    analogy: str | None = None,
    evaluate: bool = False,
    data_dir: str | None = None,
    export: str | None = None,
    device: str = "cpu",
) -> list[str]:
    """The lines to print (every query is answered before anything is printed, so an error comes alone)."""
    from seqlab import vectors as wv
    from seqlab.output_paths import check_output_file, writing

    if k < 1:
        raise ConfigError("k", f"must be >= 1, got {k}")
    export_path = check_output_file("export", export) if export else None  # before any work
    run = load_offering(ckpt_path, device, "embeddings", "task '{task}' has no word vectors")
    vectors = run.embeddings()
    lines: list[str] = []
    for key, queries, answer in (
        ("nearest", _items(nearest), lambda q: wv.nearest(vectors, q, k)),
        ("analogy", _items(analogy), lambda q: wv.analogy(vectors, q, k)),
    ):
        for query in queries:
            try:
                lines.append(f"{query}: {_ranked(answer(query))}")
            except SeqlabError as exc:
                raise ConfigError(key, str(exc)) from None
    if evaluate:
        results = run.evaluate(data_dir)
        lines += [f"{name}: {_number(value)}" for name, value in results.items()]
    if export_path is not None:
        with writing("export", export_path):
            path = wv.export_word2vec_text(vectors, export_path)
        lines.append(f"wrote {len(vectors)} vectors of {vectors.dim} dimensions to {path}")
    if not lines:
        lines.append(
            f"{len(vectors)} words, {vectors.dim} dimensions (task {run.task}); ask nearest=WORD[,WORD] "
            "analogy='a - b + c' evaluate=true or export=PATH"
        )
    return lines


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> None:
    with one_line_errors("embeddings"):
        args = parse_key_values(sys.argv[1:] if argv is None else argv, SPEC, doc=__doc__)
        print("\n".join(embeddings(**args)))


if __name__ == "__main__":
    main()
