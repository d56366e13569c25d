"""Append every enabled seqlab plugin's config package (entry point group ``seqlab.conf``) to Hydra's search path,
so its YAML files become options of the ``model``, ``task``, ... groups.

Before anything is appended, :func:`seqlab.registry.check_plugins` refuses (PluginError) two packages registering
one name and a plugin YAML that shadows an option another package ships (Hydra would silently use the first one
found). A plugin whose config package fails to import is reported and left out.
"""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SeqlabPluginSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        try:
            from seqlab import registry
        except ImportError:  # seqlab itself is not importable: nothing to add
            return
        registry.check_plugins()
        for dist, package in registry.config_packages():
            search_path.append(provider=f"seqlab-plugin:{dist}", path=f"pkg://{package}")
