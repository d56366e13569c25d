"""seqlab plugin: the parity task (``task=parity``), per-step (sequence labelling) or at the end (many-to-one)."""

__version__ = "0.1.0"
SEQLAB_API = ">=1,<2"  # the seqlab.api versions this plugin supports (entry point group seqlab.api)
