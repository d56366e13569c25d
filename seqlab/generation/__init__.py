"""Generating tokens from a decoder (seqlab/models/decoder.py): greedy, sampling, beam search, ensembles.

Any task with a decoder decodes through these; they import models only, never tasks or training.
"""

from seqlab.generation.ensemble import EnsembleDecoder, average_log_probs
from seqlab.generation.search import (
    Hypotheses,
    beam_search,
    greedy,
    length_penalty,
    sample,
    sample_next,
    score_tokens,
)
from seqlab.generation.seeds import derive_seed
from seqlab.old_paths import keep_old_paths

__all__ = [
    "EnsembleDecoder",
    "Hypotheses",
    "average_log_probs",
    "beam_search",
    "derive_seed",
    "greedy",
    "length_penalty",
    "sample",
    "sample_next",
    "score_tokens",
]


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("EnsembleDecoder", "Hypotheses", "beam_search", "greedy", "sample", "score_tokens"))
