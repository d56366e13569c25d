"""seqlab from Python: ``seqlab.train(...)`` runs a job in this process, ``seqlab.load(...)`` returns a trained run
with its task's inference methods. Both are re-exported (lazily) by ``seqlab`` itself."""

from seqlab.session.in_process import train
from seqlab.session.loading import load
from seqlab.session.result import Result

__all__ = ["Result", "load", "train"]
