"""Facet counts over a result list: brands, categories and price ranges, as a shop's sidebar shows them.

Counted over the ranked candidates of a query (after its filters), not the
whole catalogue: semantic search has no crisp "matching set", so the
candidates the page could show are what the counts describe, as in
Elasticsearch's aggregations over a sampled top-N of hits.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

FACET_FIELDS = ("brand", "category")
# Round shop-style price bands; the first starts at 0 and the last is open-ended.
PRICE_EDGES = (10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)


def facet_counts(records: Iterable[Mapping[str, Any]], fields: Sequence[str] = FACET_FIELDS,
                 price_edges: Sequence[float] = PRICE_EDGES, top: int = 20) -> dict[str, list[dict[str, Any]]]:
    """{field: [{value, count}] most frequent first (ties by value), "price": [{from, to, count}] non-empty bands}.

    A price band is [from, to): `to` is None for the last band. Values are
    counted as stored (string form); records without a field are not counted.
    """
    records = list(records)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in fields:
        counts = Counter(str(r[name]) for r in records if r.get(name) not in (None, ""))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        out[name] = [{"value": value, "count": count} for value, count in ranked]
    prices = np.array([r["price"] for r in records if _is_number(r.get("price"))], dtype=np.float64)
    edges = np.asarray(price_edges, dtype=np.float64)
    per_band = np.bincount(np.searchsorted(edges, prices, side="right"), minlength=len(edges) + 1)
    lows = [0.0, *edges.tolist()]
    highs = [*edges.tolist(), None]
    out["price"] = [{"from": lo, "to": hi, "count": int(n)} for lo, hi, n in zip(lows, highs, per_band) if n]
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
