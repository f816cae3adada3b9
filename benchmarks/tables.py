"""What the benchmarks print: timestamped progress on stderr, result tables on stdout (rich when
installed, plain text otherwise)."""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

try:  # optional
    from rich.console import Console
    from rich.table import Table as RichTable

    _console: Any = Console(width=200)
except ImportError:  # pragma: no cover - plain text fallback
    _console = None


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[fmt(c) for c in row] for row in rows]
    if _console is not None:
        table = RichTable(title=title)
        for i, h in enumerate(headers):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in cells:
            table.add_row(*row)
        _console.print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n== {title} ==")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    sys.stdout.flush()


def fmt(value: Any) -> str:
    """A cell: None as "-", a boolean as PASS/FAIL, numbers to a few significant digits."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "PASS" if value else "FAIL"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def cpu_flags() -> str:
    """The CPU's model and its SIMD flags that decide vector speed (AVX2, AVX-512, VNNI), from /proc/cpuinfo."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    simd = [name for name in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_int8")
            if name in flags]
    return f"{model}: {' '.join(simd) or 'no AVX2'}"


AVX2_ENV = {
    # OpenBLAS (numpy's matrix products): Haswell is its AVX2 kernel set.
    "OPENBLAS_CORETYPE": "Haswell",
    # numpy's own SIMD loops (read when numpy is imported).
    "NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
}


def avx2_only_if_asked() -> bool:
    """With `--simd avx2` on the command line, run as on an AVX2-only CPU where the libraries let us choose:
    OpenBLAS and numpy by their environment (so the process re-executes itself with it set, before numpy
    loads), faiss by its SIMD level (set here). ONNX Runtime, hnswlib (built for this CPU) and tantivy keep
    what the CPU has; the tables say so. Call before importing numpy."""
    argv = sys.argv[1:]
    wanted = any(a == "--simd=avx2" for a in argv) or any(a == "--simd" and b == "avx2" for a, b in zip(argv, argv[1:]))
    if not wanted:
        return False
    import os

    if any(os.environ.get(k) != v for k, v in AVX2_ENV.items()):
        os.environ.update(AVX2_ENV)
        os.execv(sys.executable, [sys.executable, *sys.argv])
    try:
        import faiss

        faiss.SIMDConfig.set_level(faiss.SIMDLevel_AVX2)
    except (ImportError, AttributeError):
        pass
    return True


def simd_note() -> str:
    """What the vector kernels run with: faiss's SIMD level and OpenBLAS's core type."""
    import os

    try:
        import faiss

        level = faiss.SIMDConfig.get_level_name()
    except (ImportError, AttributeError):
        level = "n/a"
    return f"faiss {level}, OpenBLAS {os.environ.get('OPENBLAS_CORETYPE', 'auto')}"
