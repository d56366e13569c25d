"""Word vectors to query, evaluate and export: :class:`WordVectors` (a vocabulary, its matrix, optionally a function
that embeds any word), nearest neighbours and 3CosAdd analogies, the analogy and word-similarity benchmarks, and the
word2vec text format. Imports no task, model or training code: a task's module hands out ``WordVectors`` and
``python -m seqlab.embeddings`` queries them."""

from seqlab.vectors.core import UnknownWordError, WordVectors
from seqlab.vectors.evaluate import (
    evaluate_all,
    evaluate_analogies,
    evaluate_word_pairs,
    find_eval_files,
    read_analogies,
    read_word_pairs,
)
from seqlab.vectors.io import export_word2vec_text, load_word2vec_text
from seqlab.vectors.queries import ExpressionError, analogy, nearest, parse_expression

__all__ = [
    "ExpressionError",
    "UnknownWordError",
    "WordVectors",
    "analogy",
    "evaluate_all",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "export_word2vec_text",
    "find_eval_files",
    "load_word2vec_text",
    "nearest",
    "parse_expression",
    "read_analogies",
    "read_word_pairs",
]
