"""Character-level language model (Karpathy's char-rnn) with sampling."""
