"""Where iamrefine keeps what it can rebuild: the compact catalog and the built
grammar tables. Nothing here is trusted: every cached file is keyed by a digest of
what it was built from and checked against it when read."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$IAMREFINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/iamrefine``, else ``~/.cache/iamrefine``."""
    env = os.environ.get("IAMREFINE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iamrefine"
