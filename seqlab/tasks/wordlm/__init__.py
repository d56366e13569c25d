"""Task ``wordlm``: a word-level language model (WikiText-2, PTB or a user's text) with perplexity."""
