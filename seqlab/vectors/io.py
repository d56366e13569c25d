"""Word vectors as word2vec text files: a header line ``N d``, then ``word v1 ... vd`` per line (what gensim's
``KeyedVectors.load_word2vec_format(path, binary=False)`` reads, and the sentiment task's ``embeddings.path``)."""

from __future__ import annotations

from pathlib import Path

import torch

from seqlab.errors import DataError
from seqlab.vectors.core import WordVectors


def export_word2vec_text(vectors: WordVectors, path: str | Path) -> Path:
    """Write ``vectors`` (the vocabulary only: unseen words have no row) in word2vec text format; values with 9
    significant digits, so float32 round-trips exactly."""
    path = Path(path).expanduser()
    bad = next((w for w in vectors.words if not w or any(c.isspace() for c in w)), None)
    if bad is not None:
        raise DataError(f"export: the word {bad!r} is empty or holds white space, which word2vec text cannot store")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{len(vectors)} {vectors.dim}\n")
        for word, row in zip(vectors.words, vectors.matrix.tolist()):
            fh.write(word + " " + " ".join(f"{v:.9g}" for v in row) + "\n")
    return path


def load_word2vec_text(path: str | Path) -> WordVectors:
    """Read a word2vec text file (with its ``N d`` header) into :class:`WordVectors`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().split()
        if len(header) != 2 or not all(h.isdigit() for h in header):
            raise DataError(f"{path}:1: expected the header 'count dim', got '{' '.join(header)}'")
        count, dim = int(header[0]), int(header[1])
        words, rows = [], []
        for number, line in enumerate(fh, start=2):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if len(parts) != dim + 1:
                raise DataError(f"{path}:{number}: expected a word and {dim} values, got {len(parts) - 1} values")
            words.append(parts[0])
            rows.append([float(v) for v in parts[1:]])
    if len(words) != count:
        raise DataError(f"{path}: the header says {count} words, the file holds {len(words)}")
    return WordVectors(words, torch.tensor(rows, dtype=torch.float32).reshape(len(words), dim))
