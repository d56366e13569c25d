"""Hydra discovers this package (namespace ``hydra_plugins``): the ``hydra/launcher=submitit_slurm_seqlab`` and
``submitit_local_seqlab`` options (hydra-submitit-launcher's, with a preempted job requeued into its own folder;
``pip install 'seqlab[slurm]'``)."""
