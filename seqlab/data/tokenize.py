"""Word tokenization (sentiment, and the word-level tasks to come): HTML line breaks removed, optional
lower-casing, words and punctuation split.

``"Great film!<br /><br />Loved it."`` -> ``["great", "film", "!", "loved", "it", "."]``
"""

from __future__ import annotations

import re

_BREAKS = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKENS = re.compile(r"[\w]+(?:'[\w]+)*|[^\w\s]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words (with inner apostrophes, e.g. ``don't``) and single punctuation marks."""
    text = _BREAKS.sub(" ", text)
    if lowercase:
        text = text.lower()
    return _TOKENS.findall(text)
