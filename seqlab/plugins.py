"""``python -m seqlab.plugins [--json] [--strict] [--load]``: the installed seqlab plugins.

For each distribution that declares seqlab entry points (seqlab's own built-ins first): name, version, whether it
is enabled (``SEQLAB_DISABLE_PLUGINS``; a plugin whose declared plugin-API range leaves out ``seqlab.api.VERSION``
is listed as skipped, with the reason), the models, decoders and tasks it registers, its config package(s), where
their YAML files live on disk, the group options they add, and any problem (import error, name clash, shadowed
option), listed under the plugin at fault (a plugin reusing a built-in name is blamed, never the built-in). A name
clash or a shadowed option stops ``python -m seqlab`` itself, so it exits 1 here too; ``--strict`` also exits 1
when an enabled plugin merely fails to import (for CI). The listing is read from the entry points' metadata without
importing any model or task class (so without torch: about a second); ``--load`` (implied by ``--strict``) also
imports every class to catch the import errors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from seqlab import registry
from seqlab.errors import PluginError


def render(infos: list[registry.PluginInfo]) -> str:
    """The human-readable listing."""
    env = os.environ.get(registry.DISABLE_ENV, "")
    lines = [f"seqlab plugins ({registry.DISABLE_ENV}={env or '<unset>'})", ""]
    for info in infos:
        builtin = registry.normalize(info.dist) == registry.BUILTIN_DIST
        if builtin or info.enabled:
            status = "built-in" if builtin else "enabled"
        else:
            status = "skipped: plugin API" if info.skipped else f"disabled by {registry.DISABLE_ENV}"
        if info.errors:
            status += ", BROKEN" if info.enabled else ""
        lines.append(f"{info.dist} {info.version} [{status}]")
        lines.append(f"  models:  {', '.join(info.models) or '-'}")
        lines.append(f"  decoders: {', '.join(info.decoders) or '-'}")
        lines.append(f"  image encoders: {', '.join(info.image_encoders) or '-'}")
        lines.append(f"  tasks:   {', '.join(info.tasks) or '-'}")
        for i, package in enumerate(info.conf):
            where = info.conf_locations[i] if i < len(info.conf_locations) else "(not loaded)"
            lines.append(f"  configs: pkg://{package} -> {where}")
        if info.options and not builtin:
            lines.append(f"  options: {', '.join(info.options)}")
        if info.skipped:
            lines.append(f"  skipped: {info.skipped}")
        for error in info.errors:
            lines.append(f"  error:   {error}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqlab.plugins", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of text")
    parser.add_argument("--strict", action="store_true", help="exit 1 when an enabled plugin has a problem")
    parser.add_argument(
        "--load",
        action="store_true",
        help="also import every model and task class (slower: imports torch; implied by --strict)",
    )
    args = parser.parse_args(argv)
    infos = registry.plugins(load=args.load or args.strict)
    if args.json:
        print(json.dumps([dataclasses.asdict(i) for i in infos], indent=2))
    else:
        print(render(infos))
    broken = [i.dist for i in infos if i.enabled and i.errors]
    if broken:
        print(f"seqlab: warning: plugins with problems: {', '.join(broken)}", file=sys.stderr)
    try:
        registry.check_plugins()  # what python -m seqlab checks before it starts
    except PluginError as exc:
        print(f"seqlab: error: {exc}", file=sys.stderr)
        return 1
    return 1 if args.strict and broken else 0


if __name__ == "__main__":
    sys.exit(main())
