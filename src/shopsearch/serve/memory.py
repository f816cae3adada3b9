"""The server's memory: glibc malloc arenas.

glibc gives each thread that allocates at once an arena of its own, up to 8 per core, and returns
little of an arena's freed memory to the system. A server whose request threads, model threads and
batcher threads all allocate grew its RSS without end under mixed load: +34% between minutes 5 and
30 of the soak (benchmarks/bench_soak.py), while the Python heap stayed flat (tracemalloc). With
two arenas the same load grew +1.1% over minutes 5 to 10. The limit has to be set before the
threads start: the serve commands set it first thing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # mallopt's parameter number for the arena limit (glibc malloc.h)


def limit_malloc_arenas(arenas: int, environ=None) -> bool:
    """Cap glibc's malloc arenas at `arenas` (0: leave glibc's default). Whether it was set: not when the
    process environment already sets MALLOC_ARENA_MAX (the operator's choice stands), nor off glibc."""
    env = os.environ if environ is None else environ
    if arenas <= 0 or "MALLOC_ARENA_MAX" in env:
        return False
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
        return False
    return bool(mallopt(_M_ARENA_MAX, arenas))
