"""Facet counts and query-term highlighting: the pure functions behind the web page's sidebar and <mark>s."""

from __future__ import annotations

import math

from hypothesis import given, strategies as st

from shopsearch.search.facets import PRICE_EDGES, facet_counts
from shopsearch.text import Analyzer
from shopsearch.text.highlight import highlight_spans

records = st.lists(st.fixed_dictionaries({}, optional={
    "brand": st.sampled_from(["HP", "Lenovo", "Sony", ""]),
    "category": st.sampled_from(["laptops", "bags"]),
    "price": st.one_of(st.floats(0, 5000, allow_nan=False), st.integers(0, 5000), st.just("n/a")),
}), max_size=60)


@given(records)
def test_facet_counts_add_up_and_bands_hold_their_prices(rows):
    facets = facet_counts(rows)
    for field in ("brand", "category"):
        with_value = [r[field] for r in rows if r.get(field)]
        assert sum(f["count"] for f in facets[field]) == len(with_value)
        counts = [f["count"] for f in facets[field]]
        assert counts == sorted(counts, reverse=True)
        assert all(f["count"] == with_value.count(f["value"]) for f in facets[field])
    prices = [r["price"] for r in rows if isinstance(r.get("price"), (int, float))]
    assert sum(b["count"] for b in facets["price"]) == len(prices)
    for band in facets["price"]:
        inside = [p for p in prices if band["from"] <= p < (band["to"] if band["to"] is not None else math.inf)]
        assert band["count"] == len(inside) > 0
        assert band["from"] in (0.0, *PRICE_EDGES)


def test_facets_keep_the_most_frequent_values():
    rows = [{"brand": f"b{i % 30}"} for i in range(300)] + [{"brand": "big"}] * 50
    facets = facet_counts(rows, top=5)
    assert facets["brand"][0] == {"value": "big", "count": 50} and len(facets["brand"]) == 5


ANALYZER = Analyzer()


def marked(text, query):
    terms = {t for group in ANALYZER.groups(query) for t in group}
    return [text[s:e] for s, e in highlight_spans(text, terms, ANALYZER)]


def test_highlights_follow_the_analyzer_stems_accents_and_chinese():
    assert marked("Zapatillas de running para papá", "zapatilla papa") == ["Zapatillas", "papá"]
    assert marked("HP 15-inch Laptops, black", "laptop") == ["Laptops"]
    assert marked("Sony WH-1000XM4 headphones", "wh-1000xm4") == ["WH-1000XM4"]
    assert marked("夏季运动鞋，轻便透气", "运动鞋") == ["运动鞋"]
    assert marked("a red kettle", "laptop") == []


@given(st.text(max_size=80), st.text(max_size=20))
def test_highlight_spans_are_sorted_disjoint_and_inside_the_text(text, query):
    terms = {t for group in ANALYZER.groups(query) for t in group}
    spans = highlight_spans(text, terms, ANALYZER)
    for (_s1, e1), (s2, _e2) in zip(spans, spans[1:]):
        assert e1 < s2
    assert all(0 <= s < e <= len(text) for s, e in spans)
