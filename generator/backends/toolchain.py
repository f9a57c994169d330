"""Facts about the host's build tools that the views' build caches are keyed by."""

from __future__ import annotations

import subprocess

_VERSION_CACHE: dict[str, str] = {}


def compiler_version(cxx: str) -> str:
    """The first line of ``cxx --version`` (``cxx`` itself when it prints nothing); one
    call per compiler and process."""
    if cxx not in _VERSION_CACHE:
        r = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
        _VERSION_CACHE[cxx] = r.stdout.splitlines()[0] if r.stdout else cxx
    return _VERSION_CACHE[cxx]
