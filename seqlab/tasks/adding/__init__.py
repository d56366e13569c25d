"""Adding problem: the sum of the two marked numbers of a long sequence."""
