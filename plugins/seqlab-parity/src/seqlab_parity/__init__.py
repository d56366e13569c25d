"""seqlab plugin: the parity task (``task=parity``), per-step (sequence labelling) or at the end (many-to-one)."""

__version__ = "0.1.0"
