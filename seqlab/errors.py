"""Errors that end a run with one clear line instead of a traceback."""

from __future__ import annotations

from seqlab.old_paths import keep_old_paths


class SeqlabError(Exception):
    """Base class: the message is the whole story, printed as one line. ``key``: the config key or file the line
    starts with (``<key>: <problem>``), or None."""

    @property
    def key(self) -> str | None:
        explicit = self.__dict__.get("_key")
        if explicit is not None:
            return explicit
        head, sep, _ = str(self).partition(": ")
        return head if sep and " " not in head else None

    @key.setter
    def key(self, value: str) -> None:
        self._key = value


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


def _yaml(value: object) -> str:
    """A value as a user types it on the command line (``true``, ``null``)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


class TrainingFailed(SeqlabError):
    """Training started and then could not go on; the run folder is kept with failed.json (reason, step, last good
    checkpoint)."""

    def __init__(self, message: str, step: int | None = None, last_checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.last_checkpoint = last_checkpoint

    def record(self) -> dict[str, object]:
        return {"error": str(self), "step": self.step, "last_checkpoint": self.last_checkpoint}


class RunInterrupted(Exception):  # noqa: N818 - not an error: the user asked for it
    """Ctrl-C or SIGTERM (``by``: the signal's name): fit stopped at a batch border after saving ``checkpoint`` at
    optimizer step ``step``."""

    def __init__(self, checkpoint: str, step: int, by: str = "SIGINT") -> None:
        super().__init__(f"interrupted by {by} at step {step}; saved {checkpoint}")
        self.checkpoint = checkpoint
        self.step = step
        self.by = by


class TrainingDiverged(TrainingFailed):
    """The loss became non-finite; the last good checkpoint is kept."""


# the 0.1 docs showed plugins these names here: they warn when read from outside seqlab (seqlab/old_paths.py)
keep_old_paths(__name__, ("ConfigError", "DataError"))
