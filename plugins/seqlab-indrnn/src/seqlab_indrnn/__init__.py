"""seqlab plugin: the independently recurrent neural network (IndRNN, Li et al. 2018) as model ``indrnn``."""

__version__ = "0.1.0"
SEQLAB_API = ">=1,<2"  # the seqlab.api versions this plugin supports (entry point group seqlab.api)
