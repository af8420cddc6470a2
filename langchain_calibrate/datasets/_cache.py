"""Location of the on-disk cache shared by the dataset and index helpers."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "LANGCHAIN_CALIBRATE_CACHE"
"""Environment variable that overrides the cache root."""


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return the cache root directory (not created).

    Args:
        cache_dir: Explicit directory; wins over the environment.

    Returns:
        ``cache_dir`` if given, else ``$LANGCHAIN_CALIBRATE_CACHE`` if set and non-empty, else
        ``~/.cache/langchain-calibrate``.

    Example:
        >>> cache_root("/tmp/x")
        PosixPath('/tmp/x')
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "langchain-calibrate"
