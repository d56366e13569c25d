"""``key=value`` command lines for seqlab's small tools (generate, predict, ...): typed, with one-line errors;
``--help`` / ``-h`` prints the tool's docstring and its keys with their defaults, and exits 0."""

from __future__ import annotations

from typing import Any

from seqlab.errors import ConfigError

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def parse_key_values(
    argv: list[str], spec: dict[str, tuple[type, Any]], positional: str | None = None, doc: str | None = None
) -> dict[str, Any]:
    """``spec`` maps key -> (type, default); a default of ``...`` marks a required key. A bare word goes to
    ``positional`` when given. ``-h``/``--help`` prints :func:`usage` (``doc``: the tool's docstring) and exits 0."""
    if any(arg in ("-h", "--help") for arg in argv):
        print(usage(doc or "", spec, positional))
        raise SystemExit(0)
    values: dict[str, Any] = {k: d for k, (_, d) in spec.items()}
    for arg in argv:
        key, sep, raw = arg.partition("=")
        if not sep or key not in spec:
            if positional and not (sep and key.isidentifier()):
                values[positional] = arg
                continue
            raise ConfigError(key if sep else arg, "unknown argument", allowed=[f"{k}=" for k in spec])
        kind = spec[key][0]
        values[key] = _convert(key, raw, kind)
    missing = [k for k, v in values.items() if v is ...]
    if missing:
        raise ConfigError(missing[0], "is required")
    return values


def usage(doc: str, spec: dict[str, tuple[type, Any]], positional: str | None = None) -> str:
    """The tool's docstring and one line per key: its type and default."""
    lines = [doc.strip(), "", "keys:"] if doc.strip() else ["keys:"]
    if positional:
        lines.append(f"  {positional} (a bare word)")
    for key, (kind, default) in spec.items():
        shown = "required" if default is ... else f"default {default!r}"
        lines.append(f"  {key}=<{kind.__name__}>  ({shown})")
    return "\n".join(lines)


def _convert(key: str, raw: str, kind: type) -> Any:
    if raw.lower() in {"null", "none"}:
        return None
    if kind is bool:
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise ConfigError(key, f"'{raw}' is not a boolean", allowed=["true", "false"])
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(key, f"'{raw}' is not a valid {kind.__name__}") from None
