"""Errors that end a run with one clear line instead of a traceback."""

from __future__ import annotations


class SeqlabError(Exception):
    """Base class: the message is the whole story, printed as one line."""


class ConfigError(SeqlabError):
    """A config value is unknown, of the wrong type, or impossible in combination with another."""

    def __init__(self, key: str, message: str, allowed: object | None = None) -> None:
        self.key = key
        self.allowed = allowed
        text = f"{key}: {message}"
        if allowed is not None:
            if isinstance(allowed, list | tuple | set | frozenset):
                allowed = ", ".join(_yaml(a) for a in sorted(allowed, key=str))
            text += f" (allowed: {allowed})"
        super().__init__(text)


class DataError(SeqlabError):
    """A data file is missing, empty or malformed."""


class PluginError(SeqlabError):
    """Plugins conflict (two packages register one name, or a plugin shadows a built-in)."""


class TrainingDiverged(SeqlabError):
    """The loss became non-finite; the last good checkpoint is kept."""


def _yaml(value: object) -> str:
    """A value as a user types it on the command line (``true``, ``null``)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)
