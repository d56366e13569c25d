"""Task ``word2vec``: skip-gram with negative sampling (Mikolov et al. 2013), word vectors without a sequence model."""
