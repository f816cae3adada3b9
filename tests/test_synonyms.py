"""The synonyms file: parsed whole or refused naming the line; phrases found in queries as the analyzer folds them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.text.synonyms import InvalidSynonyms, SynonymRule, SynonymSet, parse_synonyms

FILE = """# shop synonyms
tv, television, 电视
laptop => notebook, ultrabook

cell phone, mobile phone
"""


def test_a_file_parses_into_multi_way_and_one_way_rules():
    rules = parse_synonyms(FILE)
    assert rules == (SynonymRule(("tv", "television", "电视")), SynonymRule(("laptop",), ("notebook", "ultrabook")),
                     SynonymRule(("cell phone", "mobile phone")))
    assert parse_synonyms(SynonymSet(rules).to_text()) == rules  # what list prints, set reads back


@pytest.mark.parametrize("text, line", [
    ("tv, television\nlaptop\n", 2),  # one phrase alone
    ("a => b => c\n", 1),
    ("tv, , television\n", 1),
    ("# ok\n\n => notebook\n", 3),
    ("laptop =>\n", 1),
])
def test_a_malformed_line_is_refused_with_its_number(text, line):
    with pytest.raises(InvalidSynonyms) as err:
        parse_synonyms(text)
    assert err.value.line == line and f"line {line}:" in str(err.value)


def test_multi_way_phrases_find_each_other_and_one_way_only_forwards():
    synonyms = SynonymSet(parse_synonyms(FILE))
    [tv] = synonyms.expand("Samsung TV 55")
    assert tv.phrase == "tv" and set(tv.alternatives) == {"television", "电视"}
    [zh] = synonyms.expand("小米电视机")  # CJK phrases match inside a word run
    assert set(zh.alternatives) == {"tv", "television"}
    [laptop] = synonyms.expand("LAPTOP bag")
    assert laptop.alternatives == ("notebook", "ultrabook")
    assert synonyms.expand("notebook bag") == []  # one way
    [phone] = synonyms.expand("Cell  Phone case")  # multi-word, spacing and case folded
    assert phone.alternatives == ("mobile phone",)
    assert synonyms.expand("tvs and televisions") == []  # whole words only for Latin phrases


WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(WORD, min_size=2, max_size=4, unique=True), min_size=1, max_size=5), st.lists(WORD, max_size=6))
def test_every_expansion_is_a_phrase_of_the_query_with_its_rule_partners(groups, query_words):
    rules = tuple(SynonymRule(tuple(g)) for g in groups)
    synonyms = SynonymSet(rules)
    query = " ".join(query_words)
    previous_end = -1
    for expansion in synonyms.expand(query):
        assert query[expansion.start:expansion.end] == expansion.phrase and expansion.start > previous_end
        previous_end = expansion.end - 1
        partners = {p for g in groups if expansion.phrase in g for p in g} - {expansion.phrase}
        assert set(expansion.alternatives) == partners
