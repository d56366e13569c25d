"""Task ``translate``: sequence-to-sequence translation (encoder, bridge, decoder with attention; beam search)."""
