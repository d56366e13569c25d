"""Task-neutral evaluation metrics: pure functions over strings and numbers.

This package imports no task, model or training code, so any task may use it without importing another task.
"""

from seqlab.metrics.captions import BLEU_KEYS, bleu_n, cider_d

__all__ = ["BLEU_KEYS", "bleu_n", "cider_d"]
