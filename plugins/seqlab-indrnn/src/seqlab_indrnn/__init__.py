"""seqlab plugin: the independently recurrent neural network (IndRNN, Li et al. 2018) as model ``indrnn``."""

__version__ = "0.1.0"
