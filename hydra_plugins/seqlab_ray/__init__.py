"""Hydra discovers this package (namespace ``hydra_plugins``): the ``hydra/launcher=ray`` option (seqlab's own Ray
launcher, ``pip install 'seqlab[ray]'``)."""
