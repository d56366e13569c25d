"""Config package of seqlab-parity (entry point group ``seqlab.conf``); Hydra reads its YAML files."""
