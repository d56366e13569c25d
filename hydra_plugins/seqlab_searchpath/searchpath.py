"""Append every enabled seqlab plugin's config package (entry point group ``seqlab.conf``) to Hydra's search path,
so its YAML files become options of the ``model``, ``task``, ... groups."""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SeqlabPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        try:
            from seqlab.registry import config_packages
        except ImportError:  # seqlab itself is not importable: nothing to add
            return
        for dist, package in config_packages():
            search_path.append(provider=f"seqlab-plugin:{dist}", path=f"pkg://{package}")
