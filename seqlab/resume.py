"""Where a resumed run continues from: a checkpoint file, a run folder (its last.ckpt) or ``latest``."""

from __future__ import annotations

from pathlib import Path

from seqlab.errors import ConfigError

LAST = Path("checkpoints") / "last.ckpt"


def resolve_resume(resume: str | None, run_dir: Path | None = None, outputs: Path = Path("outputs")) -> str | None:
    """The checkpoint file to continue from, or None for a fresh run."""
    if not resume:
        return None
    if resume == "latest":
        candidates = [p for p in outputs.glob("**/" + str(LAST)) if run_dir is None or run_dir not in p.parents]
        if not candidates:
            raise ConfigError("resume", f"no run folder with {LAST} under {outputs.resolve()}")
        return str(max(candidates, key=lambda p: p.stat().st_mtime))
    path = Path(resume).expanduser()
    if path.is_dir():
        path = path / LAST
    if not path.is_file():
        raise ConfigError("resume", f"no checkpoint at {path} (give a .ckpt file, a run folder, or 'latest')")
    return str(path)
