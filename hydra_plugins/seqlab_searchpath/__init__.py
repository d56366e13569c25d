"""Hydra discovers this package (namespace ``hydra_plugins``) and asks it for config search paths."""
