import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.index.filters import Column, Condition, InvalidFilter, evaluate, parse_filter, parse_filters


def test_cli_filter_syntax():
    assert parse_filter("price<=50") == [Condition("price", "lte", (50.0,))]
    assert parse_filter("price > 10") == [Condition("price", "gt", (10.0,))]
    assert parse_filter("brand=HP,Lenovo") == [Condition("brand", "eq", ("HP", "Lenovo"))]
    assert parse_filter("brand!=HP") == [Condition("brand", "ne", ("HP",))]
    assert parse_filter("price=10..50") == [Condition("price", "gte", (10.0,)), Condition("price", "lte", (50.0,))]
    assert parse_filter("price=..50") == [Condition("price", "lte", (50.0,))]


def test_mapping_filter_syntax():
    conditions = parse_filters({"price": {"gte": 10, "lt": 20}, "brand": ["HP", "Dell"], "color": "red"})
    assert Condition("price", "gte", (10,)) in conditions
    assert Condition("price", "lt", (20,)) in conditions
    assert Condition("brand", "eq", ("HP", "Dell")) in conditions
    assert Condition("color", "eq", ("red",)) in conditions


@pytest.mark.parametrize("bad", ["price<=cheap", "price", "=5", "price<=", "price=..", "price=a..b"])
def test_unparsable_filters(bad):
    with pytest.raises(InvalidFilter):
        parse_filter(bad)


@pytest.mark.parametrize("bad", [{"price": {"near": 5}}, {"price": {}}, {"price": {"gt": "x"}}, 42, {"brand": [["HP"]]}, {"brand": None}])
def test_invalid_mapping_filters(bad):
    with pytest.raises(InvalidFilter):
        parse_filters(bad)


def test_equality_ignores_case_width_and_number_spelling():
    column = Column([(0, "HP"), (1, "Lenovo"), (2, "ＨＰ"), (3, 5), (4, "5.0"), (5, ["red", "blue"])])
    assert np.flatnonzero(column.matching(Condition("b", "eq", ("hp",)), 6)).tolist() == [0, 2]
    assert np.flatnonzero(column.matching(Condition("b", "eq", ("5",)), 6)).tolist() == [3, 4]
    assert np.flatnonzero(column.matching(Condition("b", "eq", ("blue",)), 6)).tolist() == [5]
    # ne keeps rows that lack the field, as a must_not would.
    assert np.flatnonzero(column.matching(Condition("b", "ne", ("hp",)), 7)).tolist() == [1, 3, 4, 5, 6]


values = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "B", "c", "3"]), st.none())


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=1, max_size=30), st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), st.integers(-5, 5))
def test_mask_matches_a_plain_python_reference(column_values, op, bound):
    pairs = [(row, v) for row, v in enumerate(column_values) if v is not None]
    size = len(column_values)
    value = bound if op not in ("eq", "ne") else str(bound)
    mask = evaluate([Condition("f", op, (value,))], lambda _: Column(pairs), size)

    def number(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    def reference(v):
        if op in ("eq", "ne"):
            hit = v is not None and str(v).lower() == str(value).lower()
            return hit if op == "eq" else not hit
        n = number(v)
        return n is not None and {"gt": n > bound, "gte": n >= bound, "lt": n < bound, "lte": n <= bound}[op]

    assert mask.tolist() == [reference(v) for v in column_values]


def test_a_column_read_ahead_of_the_readers_rows_matches_only_the_rows_it_covers():
    """A column built during a write holds rows the searching reader's mask does not cover yet."""
    column = Column([(0, 5), (1, 50), (7, 5)])  # row 7: committed by a write not swapped in yet
    assert column.matching(Condition("price", "lte", (10,)), 3).tolist() == [True, False, False]
    assert Column([(0, "a"), (4, "a")]).matching(Condition("brand", "eq", ("a",)), 2).tolist() == [True, False]
