"""Config package of seqlab-indrnn (entry point group ``seqlab.conf``); Hydra reads its YAML files."""
