"""Merchandising rules: parsing (every bad field refused, naming it), and the rules stage in searches:
pins, hides, boosts, buries, filters, conditions on the query and what understanding read, activity
windows, versions, and writes that apply all or nothing."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings, strategies as st

from helpers import HashEmbedder
from shopsearch import Engine, InvalidRequest
from shopsearch.search.rules import Query, RuleSet, parse_rules
from shopsearch.text.analyzer import fold

PRODUCTS = [
    {"id": "phone-1", "title": "iPhone 15 smartphone 128 GB", "brand": "Apple", "category": "Phones", "price": 899.0},
    {"id": "phone-2", "title": "Galaxy S24 smartphone", "brand": "Samsung", "category": "Phones", "price": 799.0},
    {"id": "phone-3", "title": "Pixel 8 smartphone", "brand": "Google", "category": "Phones", "price": 699.0},
    {"id": "case-1", "title": "iPhone 15 case in leather", "brand": "Apple", "category": "Cases", "price": 59.0},
    {"id": "case-2", "title": "Clear iPhone case", "brand": "Spigen", "category": "Cases", "price": 15.0},
    {"id": "case-3", "title": "Rugged iPhone case", "brand": "Otterbox", "category": "Cases", "price": 45.0},
    {"id": "cable-1", "title": "USB-C charging cable for iPhone", "brand": "Anker", "category": "Cables", "price": 12.0},
    {"id": "recall-1", "title": "iPhone charger 20W", "brand": "Acme", "category": "Chargers", "price": 9.0},
]
FIELDS = ("brand", "category")


def rule(**fields):
    return {"id": "r", "when": {"query": "iphone"}, "actions": [{"hide": "case-1"}], **fields}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine.open(tmp_path_factory.mktemp("rules") / "data", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    yield engine
    engine.close()


@pytest.fixture
def rules(engine):
    """The engine's rules, cleared after each test."""
    yield engine
    engine.set_rules([])


def ids(response):
    return [h.id for h in response.hits]


# -- parsing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("written, param", [
    ({"when": {"query": "x"}, "actions": [{"hide": "a"}]}, "rules[0].id"),
    (rule(when={}), "rules[0].when"),
    (rule(when={"colour": "red"}), "rules[0].when.colour"),
    (rule(when={"always": False}), "rules[0].when.always"),
    (rule(when={"query": ""}), "rules[0].when.query"),
    (rule(actions=[]), "rules[0].actions"),
    (rule(actions=[{"pin": "a", "hide": "b"}]), "rules[0].actions[0]"),
    (rule(actions=[{"pin": "a", "position": 0}]), "rules[0].actions[0].position"),
    (rule(actions=[{"pin": "a", "factor": 2}]), "rules[0].actions[0].factor"),
    (rule(actions=[{"boost": "price<>3"}]), "rules[0].actions[0].boost"),
    (rule(actions=[{"boost": {"brand": "Apple"}, "factor": 0.5}]), "rules[0].actions[0].factor"),
    (rule(actions=[{"filter": {}}]), "rules[0].actions[0].filter"),
    (rule(active_from="next tuesday"), "rules[0].active_from"),
    (rule(active_from=200, active_until=100), "rules[0].active_until"),
    (rule(enabled="yes"), "rules[0].enabled"),
    (rule(priority=3), "rules[0].priority"),
])
def test_each_bad_field_is_refused_naming_the_rule_and_field(written, param):
    with pytest.raises(InvalidRequest) as caught:
        parse_rules([written], FIELDS)
    assert caught.value.param == param
    if written.get("id"):
        assert "rule 'r'" in str(caught.value)


def test_ids_are_unique_and_the_set_is_a_list():
    with pytest.raises(InvalidRequest, match="given twice") as caught:
        parse_rules([rule(), rule()], FIELDS)
    assert caught.value.param == "rules[1].id"
    with pytest.raises(InvalidRequest):
        parse_rules({"rules": []}, FIELDS)


def test_times_read_as_iso_or_unix_seconds():
    parsed = parse_rules([rule(active_from="2026-01-01T00:00:00Z", active_until=1893456000)], FIELDS).rules[0]
    assert parsed.active_from == 1767225600.0 and parsed.active_until == 1893456000.0
    assert not parsed.active(1767225599.0) and parsed.active(1767225600.0) and not parsed.active(1893456000.0)


def test_stored_rules_read_back_as_written():
    written = [rule(description="launch week"), {"id": "all", "when": {"always": True}, "actions": [{"bury": "brand=Acme"}]}]
    assert [dict(r.written) for r in RuleSet.from_json(parse_rules(written, FIELDS).to_json()).rules] == written


words = st.text(alphabet="abcxyz ", min_size=1, max_size=12).filter(lambda t: t.strip())


@given(query=words, other=words)
@settings(max_examples=200, deadline=None)
def test_query_condition_fires_exactly_on_the_normalised_query(query, other):
    rules = parse_rules([rule(when={"query": query})], FIELDS)

    def fired(text):
        return bool(rules.fired(Query(text, frozenset(text.split()), frozenset()), lambda t: [(w,) for w in t.split()], 0.0))

    assert fired(query) and fired(f"  {query.upper()} ")
    assert fired(other) == (fold(other) == fold(query))


@given(phrase=st.lists(st.sampled_from("abcde"), min_size=1, max_size=3), query=st.lists(st.sampled_from("abcdef"), max_size=5))
@settings(max_examples=200, deadline=None)
def test_contains_fires_when_the_query_has_every_word(phrase, query):
    rules = parse_rules([rule(when={"contains": " ".join(phrase)})], FIELDS)
    fired = rules.fired(Query(" ".join(query) or "q", frozenset(query), frozenset()), lambda t: [(w,) for w in t.split()], 0.0)
    assert bool(fired) == (set(phrase) <= set(query))


# -- in searches -----------------------------------------------------------------------------------
def test_pin_puts_the_item_at_its_position_and_names_the_rule(rules):
    before = ids(rules.search("iphone", mode="keyword"))
    rules.set_rules([{"id": "launch", "when": {"query": "iPhone"}, "actions": [{"pin": "phone-3", "position": 2}]}])
    response = rules.search("iphone", mode="keyword")
    assert ids(response)[1] == "phone-3" and response.rules_fired == ["launch"]
    assert [i for i in ids(response) if i != "phone-3"] == [i for i in before if i != "phone-3"][: len(ids(response)) - 1]
    pinned = response.hits[1]
    assert pinned.explanation.rules == ["launch"]
    assert all(not h.explanation.rules for h in response.hits if h.id != "phone-3")
    scores = [h.score for h in response.hits]
    assert scores == sorted(scores, reverse=True)
    assert rules.search("iphone case", mode="keyword").rules_fired == []  # exact query only
    assert ids(rules.search("iphone", mode="keyword", rules=False)) == before


def test_a_pinned_item_must_pass_the_filters(rules):
    rules.set_rules([{"id": "p", "when": {"always": True}, "actions": [{"pin": "phone-1", "position": 1}]}])
    assert ids(rules.search("case", mode="keyword"))[0] == "phone-1"
    assert "phone-1" not in ids(rules.search("case", mode="keyword", filters="price<100"))


def test_hide_removes_the_item_everywhere_including_facets(rules):
    rules.set_rules([{"id": "recall", "when": {"always": True}, "actions": [{"hide": "recall-1"}]}])
    response = rules.search("iphone charger", mode="keyword", facets=True, k=20)
    assert "recall-1" not in ids(response)
    assert all(value["value"] != "Acme" for value in response.facets["brand"])


def test_boost_and_bury_move_matching_items(rules):
    base = ids(rules.search("iphone case", mode="keyword", k=20))
    rules.set_rules([{"id": "spigen", "when": {"contains": "case"}, "actions": [{"boost": {"brand": "Spigen"}, "factor": 50}]}])
    boosted = rules.search("iphone case", mode="keyword", k=20)
    assert ids(boosted)[0] == "case-2" and boosted.hits[0].explanation.rules == ["spigen"]
    rules.set_rules([{"id": "down", "when": {"contains": "cases"}, "actions": [{"bury": "category=Cases", "factor": 1000}]}])
    buried = ids(rules.search("iphone case", mode="keyword", k=20))
    cases = [i for i in buried if i.startswith("case")]
    assert buried[-len(cases):] == cases and set(buried) == set(base)  # stems: "cases" contains "case"


def test_a_sorted_search_keeps_its_order_under_boosts_but_not_pins(rules):
    rules.set_rules([{"id": "b", "when": {"always": True},
                      "actions": [{"boost": "brand=Otterbox", "factor": 100}, {"pin": "phone-2", "position": 1}]}])
    response = rules.search("iphone", mode="keyword", sort="price:asc", k=20)
    assert ids(response)[0] == "phone-2"
    rest = [h.item["price"] for h in response.hits[1:]]
    assert rest == sorted(rest)


def test_filter_action_narrows_both_legs(rules):
    rules.set_rules([{"id": "cheap", "when": {"contains": "case"}, "actions": [{"filter": {"price": {"lte": 50}}}]}])
    for mode in ("keyword", "vector", "hybrid"):
        assert set(ids(rules.search("iphone case", mode=mode, k=20))) <= {"case-2", "case-3", "cable-1", "recall-1"}


def test_a_brand_understanding_reads_fires_the_rule(rules):
    rules.set_rules([{"id": "apple-week", "when": {"brand": "apple"}, "actions": [{"pin": "cable-1", "position": 1}]}])
    assert rules.search("apple iphone", mode="keyword").rules_fired == ["apple-week"]
    assert rules.search("pixel", mode="keyword").rules_fired == []
    assert rules.search("apple iphone", mode="keyword", understand=False).rules_fired == []


def test_disabled_and_out_of_window_rules_do_not_fire(rules):
    now = time.time()
    rules.set_rules([{"id": "off", "when": {"always": True}, "actions": [{"hide": "phone-1"}], "enabled": False},
                     {"id": "later", "when": {"always": True}, "actions": [{"hide": "phone-1"}], "active_from": now + 3600},
                     {"id": "over", "when": {"always": True}, "actions": [{"hide": "phone-1"}], "active_until": now - 1}])
    response = rules.search("iphone", mode="keyword")
    assert "phone-1" in ids(response) and response.rules_fired == []


def test_a_rule_starting_changes_the_version(rules):
    rules.set_rules([{"id": "soon", "when": {"always": True}, "actions": [{"hide": "phone-1"}], "active_from": time.time() + 0.3}])
    version = rules.version
    assert "phone-1" in ids(rules.search("iphone", mode="keyword"))
    time.sleep(0.4)
    assert rules.version > version and "phone-1" not in ids(rules.search("iphone", mode="keyword"))


def test_writes_are_checked_whole_and_apply_all_or_nothing(rules):
    rules.set_rules([{"id": "keep", "when": {"always": True}, "actions": [{"hide": "phone-1"}]}])
    version = rules.version
    with pytest.raises(InvalidRequest, match="'ghost'") as caught:
        rules.set_rules([{"id": "ok", "when": {"always": True}, "actions": [{"hide": "phone-2"}]},
                         {"id": "bad", "when": {"always": True}, "actions": [{"hide": "phone-3"}, {"pin": "ghost"}]}])
    assert caught.value.param == "rules[1].actions[1].pin"
    assert [r.id for r in rules.rules.rules] == ["keep"] and rules.version == version


def test_a_deleted_item_only_blocks_a_rule_written_after_it(rules):
    rules.upsert([{"id": "gone-soon", "title": "Old iPhone 12 case", "brand": "Acme", "price": 5.0}])
    rules.set_rules([{"id": "old", "when": {"always": True}, "actions": [{"pin": "gone-soon"}]},
                     {"id": "other", "when": {"query": "pixel"}, "actions": [{"hide": "case-1"}]}])
    rules.delete(["gone-soon"])
    assert "gone-soon" not in ids(rules.search("case", mode="keyword"))  # no longer pinned
    stored = [dict(r.written) for r in rules.rules.rules]
    rules.set_rules([stored[0], {**stored[1], "enabled": False}])  # saved back with one rule changed
    assert rules.delete_rule("other") and [r.id for r in rules.rules.rules] == ["old"]
    with pytest.raises(InvalidRequest, match="'gone-soon'") as caught:
        rules.set_rules([{**stored[0], "actions": [{"pin": "gone-soon", "position": 2}]}])  # changed: checked
    assert caught.value.param == "rules[0].actions[0].pin"


def test_delete_one_rule_and_rules_survive_reopening(engine, tmp_path):
    other = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    other.upsert(PRODUCTS)
    other.set_rules([{"id": "a", "when": {"always": True}, "actions": [{"hide": "phone-1"}]},
                     {"id": "b", "when": {"query": "pixel"}, "actions": [{"pin": "case-1"}]}])
    assert other.delete_rule("a") and not other.delete_rule("a")
    version = other.version
    other.close()
    reopened = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    try:
        assert [r.id for r in reopened.rules.rules] == ["b"] and reopened.version == version
        assert ids(reopened.search("pixel", mode="keyword"))[0] == "case-1"
    finally:
        reopened.close()


def test_preview_answers_with_the_rules_in_force_and_the_draft(rules):
    rules.set_rules([{"id": "live", "when": {"always": True}, "actions": [{"hide": "phone-1"}]}])
    draft = [{"id": "draft", "when": {"query": "iphone"}, "actions": [{"pin": "phone-3", "position": 1}]}]
    before, after = rules.preview_rules("iphone", draft, mode="keyword")
    assert "phone-1" not in ids(before) and before.rules_fired == ["live"]
    assert ids(after)[0] == "phone-3" and "phone-1" in ids(after) and after.rules_fired == ["draft"]
    assert [r.id for r in rules.rules.rules] == ["live"]  # nothing stored


# -- similar items ---------------------------------------------------------------------------------
def test_similar_items_leave_the_item_out_and_keep_inside_the_filters(engine):
    response = engine.similar("case-1", k=5)
    found = ids(response)
    assert "case-1" not in found and len(found) == 5 and response.mode == "similar"
    scores = [h.score for h in response.hits]
    assert scores == sorted(scores, reverse=True)
    cheap = ids(engine.similar("case-1", k=10, filters="price<50"))
    assert cheap and all(next(p for p in PRODUCTS if p["id"] == i)["price"] < 50 for i in cheap)
    assert engine.similar("ghost") is None
    with pytest.raises(InvalidRequest) as caught:
        engine.similar("case-1", filters="price<>1")
    assert caught.value.param == "filters"


def test_similar_items_prefer_the_category_when_asked(engine):
    preferred = ids(engine.similar("case-1", k=7, same_category=True))
    assert preferred[:2] and {"case-2", "case-3"} == set(preferred[:2])
    assert set(preferred) == set(ids(engine.similar("case-1", k=7)))  # a preference: the others follow


# -- partial updates -------------------------------------------------------------------------------
def test_a_patch_that_leaves_the_text_keeps_the_vector_and_a_text_change_embeds(engine):
    before = engine.documents_embedded
    vector = engine.backends.store.current([engine.backends.store.rows_by_id(["phone-3"])["phone-3"]])[0][2].copy()

    def own_score():
        hits = engine.search("Pixel 8 smartphone", mode="vector", k=len(PRODUCTS), exact=True).hits
        return next(h.score for h in hits if h.id == "phone-3")

    score = own_score()
    written = engine.patch("phone-3", {"price": 649.0, "in_stock": False, "stock": 0})
    assert written is not None and written.count == 1 and engine.documents_embedded == before
    record = engine.get("phone-3")
    assert record["price"] == 649.0 and record["in_stock"] is False and record["title"] == "Pixel 8 smartphone"
    row = engine.backends.store.rows_by_id(["phone-3"])["phone-3"]
    assert (engine.backends.store.current([row])[0][2] == vector).all()
    assert ids(engine.search("smartphone", mode="keyword", filters={"in_stock": False}, k=20)) == ["phone-3"]
    assert ids(engine.search("smartphone", mode="keyword", filters="stock<1", k=20)) == ["phone-3"]
    assert ids(engine.search("smartphone", mode="keyword", filters="price<650")) == ["phone-3"]
    assert own_score() == score  # the vector index answers with the kept vector
    engine.patch("phone-3", {"in_stock": None, "title": "Pixel 8a smartphone"})
    assert engine.documents_embedded == before + 1 and "in_stock" not in engine.get("phone-3")
    assert engine.patch("ghost", {"price": 1}) is None
    with pytest.raises(InvalidRequest):
        engine.patch("phone-3", {"id": "other"})
    engine.upsert([p for p in PRODUCTS if p["id"] == "phone-3"])
