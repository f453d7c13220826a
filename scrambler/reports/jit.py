"""anonymeter's distance kernels are numba functions compiled without ``cache=True``: every process that runs
the attacks compiled them again, about 9 s of a 12 s report on a 600-person panel. Here they are compiled once
per machine into a cache folder and loaded from there afterwards (numba checks the source file's stamp, so a
new anonymeter version compiles again)."""

from __future__ import annotations

import os
from pathlib import Path

KERNELS = ("gower_distance", "_nearest_neighbors")  # anonymeter.neighbors.mixed_types_kneighbors


def cache_dir() -> Path:
    """``$SCRAMBLER_CACHE``, else ``$XDG_CACHE_HOME/scrambler``, else ``~/.cache/scrambler``; plus ``numba``."""
    if os.environ.get("SCRAMBLER_CACHE"):
        return Path(os.environ["SCRAMBLER_CACHE"]) / "numba"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scrambler" / "numba"


def cache_anonymeter_kernels() -> list[str]:
    """Turn on numba's disk cache for anonymeter's kernels before their first call; the names it turned on.
    Nothing happens where the cache folder cannot be made (a read-only home): they then compile as before."""
    try:
        import numba
        from anonymeter.neighbors import mixed_types_kneighbors as kernels
    except ImportError:
        return []
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return []
    # read when a function's cache is set up, so it applies after numba's import too
    setattr(numba.config, "CACHE_DIR", str(folder))  # noqa: B010
    done = []
    for name in KERNELS:
        kernel = getattr(kernels, name, None)
        if kernel is not None and hasattr(kernel, "enable_caching") and getattr(kernel, "_cache", None) is not None:
            if type(kernel._cache).__name__ == "NullCache":
                kernel.enable_caching()
            done.append(name)
    return done
