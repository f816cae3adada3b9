"""The bounds one constraint sets, before the constraints of a query are intersected."""

from __future__ import annotations

# A constraint: (low, low exclusive, high, high exclusive).
_Bounds = tuple[float | None, bool, float | None, bool]


def _around(x: float, tol: float) -> _Bounds:
    return (round(max(0.0, x - x * tol), 6), False, round(x + x * tol, 6), False)
