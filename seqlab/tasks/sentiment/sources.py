"""The sentiment data sources (``task.data.source``), named apart from the data module so that the task's check
reads them without importing Lightning (seqlab/tasks/sentiment/data.py describes each)."""

SOURCES = ("imdb", "uci", "csv")
