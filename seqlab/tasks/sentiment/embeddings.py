"""Pretrained word vectors from a word2vec text file: first line ``count dim``, then ``word v1 ... v_dim``.

Rows of words found in the file are copied into the embedding matrix; the others keep their random init and
``<pad>`` stays zero. A file without the header line is accepted when every line has the same width.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from seqlab.errors import DataError

log = logging.getLogger(__name__)


def load_word2vec_text(path: str | Path, vocab: dict[str, int], weight: torch.Tensor) -> int:
    """Copy the vectors of ``vocab``'s words into ``weight`` (in place); return how many were found."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"task.embeddings.path: file not found: {path}")
    dim = weight.size(1)
    found = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().rstrip("\n").split(" ")
        lines = fh if len(first) == 2 else _chain([" ".join(first)], fh)
        if len(first) == 2 and int(first[1]) != dim:
            raise DataError(f"task.embeddings.path: vectors have {first[1]} dimensions but task.embedding_dim={dim}")
        with torch.no_grad():
            for number, line in enumerate(lines, start=2):
                parts = line.rstrip().split(" ")
                if len(parts) < 2:
                    continue
                if len(parts) != dim + 1:
                    raise DataError(
                        f"task.embeddings.path: line {number} has {len(parts) - 1} values, expected "
                        f"{dim} (task.embedding_dim)"
                    )
                index = vocab.get(parts[0])
                if index is not None and index != 0:
                    weight[index] = torch.tensor([float(v) for v in parts[1:]])
                    found += 1
    log.info("pretrained embeddings: %d of %d vocabulary words found in %s", found, len(vocab), path)
    return found


def _chain(head: list[str], tail):
    yield from head
    yield from tail
