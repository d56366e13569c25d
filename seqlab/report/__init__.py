"""Comparing finished runs: ``python -m seqlab.report`` (command.py) reads run folders (runs.py), groups repeats over
seeds (seeds.py) and writes a table, curves and, with ``--html``, one self-contained page (html.py, whose CSS and
script are the files in assets/)."""
