"""Many-to-one sentiment classification: a review in, a label out (IMDB, UCI sentences, or a user's CSV/TSV)."""
