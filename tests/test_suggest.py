import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from shopsearch.text.analyzer import fold_accents, normalize
from shopsearch.text.suggest import SuggestIndex, Suggestion, index as suggest_module, title_phrases
from shopsearch.text.typos import TypoCorrector

PRODUCTS = [
    ("Sony WH-1000XM4 Wireless Headphones Black", "Sony", "Headphones"),
    ("Sony WH-CH520 Wireless Headphones Blue", "Sony", "Headphones"),
    ("Bose QuietComfort 45 Wireless Headphones", "Bose", "Headphones"),
    ("Logitech K380 Wireless Keyboard", "Logitech", "Keyboards"),
    ("Logitech MX Keys Wireless Keyboard Graphite", "Logitech", "Keyboards"),
    ("Targus Laptop Bag 15.6 inch Black", "Targus", "Laptop Bags"),
    ("Case Logic Laptop Bag, Grey", "Case Logic", "Laptop Bags"),
    ("Rain Design mStand Laptop Stand Silver", "Rain Design", "Laptop Stands"),
    ("HP Pavilion Gaming Laptop 15 Intel Core i5", "HP", "Gaming Laptops"),
    ("华为 FreeBuds 蓝牙耳机 降噪", "华为", "蓝牙耳机"),
    ("罗技 G610 机械键盘 青轴", "罗技", "机械键盘"),
    ("Écouteurs sans fil JBL Tune", "JBL", "Écouteurs sans fil"),
]


def build(products=PRODUCTS, corrector=None, **kwargs) -> SuggestIndex:
    index = SuggestIndex(corrector, **kwargs)
    for title, brand, category in products:
        index.add(title, "title")
        index.add(brand, "brand")
        index.add(category, "category")
    return index


def texts(results: list[Suggestion]) -> list[str]:
    return [s.text for s in results]


def norm(text: str) -> str:
    return " ".join(fold_accents(normalize(text)).split())


@pytest.fixture(scope="module")
def index() -> SuggestIndex:
    corrector = TypoCorrector()
    for title, brand, category in PRODUCTS:
        for word in set(norm(f"{title} {brand} {category}").split()):
            corrector.add(word)
    return build(corrector=corrector)


def test_brands_and_categories_complete_whole(index):
    results = index.complete("log")
    assert results[0] == Suggestion("Logitech", "brand", 2 * 1.25)
    assert "Keyboards" in texts(index.complete("key"))
    # A word inside a brand or category matches too.
    assert "Gaming Laptops" in texts(index.complete("lap", k=20))
    assert "Case Logic" in texts(index.complete("logic"))


def test_title_phrases(index):
    assert texts(index.complete("wireless h"))[0] == "Wireless Headphones"
    assert "Laptop Bag" in texts(index.complete("laptop ba"))
    assert texts(index.complete("laptop b")) == ["Laptop Bags", "Laptop Bag"]  # the category scores a little higher
    assert "Intel Core i5" in texts(index.complete("intel c"))
    # Whole titles are not suggested, and phrases stop at punctuation.
    assert not any(len(t.split()) > 3 for t in texts(index.complete("t", k=100)))
    assert "Bag, Grey" not in texts(index.complete("bag", k=100))


def test_title_phrase_rules():
    phrases = title_phrases('HP 15-dw1000na Laptop 15.6" Intel® Core™ i3, Case for iPhone 15 Pro 512GB')
    assert {"hp", "laptop", "intel core", "intel core i3", "core i3", "case for iphone", "iphone 15", "15-dw1000na"} <= set(phrases)
    assert phrases["intel core i3"] == "Intel® Core™ i3"  # the title's own form
    assert not {"laptop 15.6", "for iphone", "case for", "pro 512gb", "i3 case", "15.6"} & set(phrases)


def test_case_width_and_accents_do_not_matter(index):
    assert texts(index.complete("ＳＯＮＹ"))[0] == "Sony"
    assert texts(index.complete("SONY W")) == texts(index.complete("sony w"))
    assert "Écouteurs sans fil" in texts(index.complete("ecouteurs"))
    assert "Écouteurs sans fil" in texts(index.complete("sans f"))


def test_multi_word_and_trailing_space(index):
    assert texts(index.complete("sony wireless")) == []  # no product has that phrase
    assert texts(index.complete("wireless k")) == ["Wireless Keyboard", "Wireless Keyboard Graphite"]
    # A trailing space closes the last word: "laptop " is not "laptops".
    closed = texts(index.complete("laptop ", k=20))
    assert "Laptop Bag" in closed and "Laptop Stands" in closed and "Gaming Laptops" not in closed
    assert "Gaming Laptops" in texts(index.complete("laptop", k=20))


def test_cjk_prefixes(index):
    assert "蓝牙耳机" in texts(index.complete("蓝牙"))
    assert "机械键盘" in texts(index.complete("机械"))
    assert "蓝牙耳机" in texts(index.complete("耳机"))  # a word inside a category
    assert "罗技 G610" in texts(index.complete("罗技 g"))


def test_typos(index):
    results = index.complete("headphnes")
    assert results and all(s.fuzzy for s in results)
    assert results[0].text == "Headphones" and any("Wireless Headphones" != t and "Headphones" in t for t in texts(results))
    assert texts(index.complete("keybaord"))[0] == "Keyboards"
    assert "Wireless Headphones" in texts(index.complete("wirless hea"))  # a complete word corrected
    assert texts(index.complete("logitehc k"))[0] == "Logitech K380"


def test_typos_without_a_corrector():
    index = build()
    # One edit on the last, partial word (here a deletion and a transposition).
    assert texts(index.complete("headphnes"))[0] == "Headphones"
    assert texts(index.complete("laptpo"))[0] == "Laptop"
    assert index.complete("hea") and not any(s.fuzzy for s in index.complete("hea"))
    assert index.complete("xqzw") == []


def test_exact_before_fuzzy_and_frequent_first():
    corrector = TypoCorrector()
    corrector.add("cable", 1)
    corrector.add("table", 100)
    index = SuggestIndex(corrector)
    index.add("Cable", "title")
    for _ in range(100):
        index.add("Table", "title")
    # "cable" is a real but far rarer word: "table" is offered, after it.
    results = index.complete("cable ")
    assert texts(results) == ["Cable", "Table"] and [s.fuzzy for s in results] == [False, True]
    assert results[1].score > results[0].score
    for _ in range(3):
        index.add("Laptop Bag", "title")
    index.add("Laptop Stand", "title")
    assert texts(index.complete("laptop "))[:3] == ["Laptop", "Laptop Bag", "Laptop Stand"]


def test_brands_rank_a_little_above_title_phrases():
    index = SuggestIndex()
    index.add("Acme", "brand")
    index.add("Acmeister Drill", "title")
    index.add("Acmeister Drill Pro", "title")
    assert texts(index.complete("acme")) == ["Acmeister", "Acmeister Drill", "Acme", "Acmeister Drill Pro"]
    index.add("Acme", "brand")
    assert texts(index.complete("acme"))[0] == "Acme"


def test_deduplicated_and_shown_in_the_most_frequent_form():
    index = SuggestIndex()
    index.add("Sony", "brand")
    index.add("SONY Headphones", "title")
    index.add("Sony Speaker", "title")
    index.add("sony", "query", weight=0.5)
    results = index.complete("so")
    assert [s.text for s in results].count("Sony") == 1 and len({norm(s.text) for s in results}) == len(results)
    # Two titles carry "sony": as a title phrase it outscores the one brand value (1.25).
    assert results[0] == Suggestion("Sony", "title", 2.0)
    index.add("HP Laptop", "title")
    index.add("hp Mouse", "title")
    index.add("HP Printer", "title")
    assert index.complete("hp")[0].text == "HP"


def test_removal():
    index = build()
    assert "Laptop Stand" in texts(index.complete("laptop s"))
    index.remove("Rain Design mStand Laptop Stand Silver", "title")
    index.remove("Laptop Stands", "category")
    assert texts(index.complete("laptop s")) == []
    assert index.complete("mstand") == []
    # A phrase two products carry stays while one of them does.
    before = {s.text: s.score for s in index.complete("laptop b")}
    index.remove("Targus Laptop Bag 15.6 inch Black", "title")
    after = {s.text: s.score for s in index.complete("laptop b")}
    assert after["Laptop Bag"] == before["Laptop Bag"] - 1
    index.remove("Case Logic Laptop Bag, Grey", "title")
    assert texts(index.complete("laptop b")) == ["Laptop Bags"]
    index.remove("Laptop Bags", "category")
    index.remove("Laptop Bags", "category")  # twice: ignored
    index.remove("Never Added", "title")
    assert index.complete("laptop b") == []
    # Removing everything leaves nothing behind.
    index = build()
    for title, brand, category in PRODUCTS:
        index.remove(title, "title")
        index.remove(brand, "brand")
        index.remove(category, "category")
    assert len(index) == 0 and len(index._sorted) == 0 and not index._title_counts


def test_bounds_and_errors(index):
    for k in (0, 101, -1, 2.5, "8", True):
        with pytest.raises(ValueError, match="k must be"):
            index.complete("so", k=k)
    assert len(index.complete("", k=100)) == 0
    assert index.complete("   ") == [] and index.complete("!!") == []
    assert len(index.complete("s", k=1)) == 1
    with pytest.raises(ValueError, match="kind"):
        index.add("x", "colour")
    with pytest.raises(ValueError, match="weight"):
        index.add("x", "brand", weight=0)
    with pytest.raises(ValueError, match="weight"):
        index.add("x", "brand", weight=float("nan"))


def test_singletons_are_dropped_when_the_index_is_large():
    index = SuggestIndex(singleton_limit=40)
    index.add("Alpha Widget", "title")
    index.add("Alpha Widget", "title")
    assert texts(index.complete("alpha")) == ["Alpha", "Alpha Widget"]
    index.add("Gadget Zeta", "title")
    for i in range(30):
        index.add(f"Unique{i} Thing{i} Item{i}", "title")
    assert index.complete("unique") == []  # carried by one product each
    assert texts(index.complete("alpha")) == ["Alpha", "Alpha Widget"]
    assert index.complete("gadget") == []
    index.add("Gadget Zeta Mini", "title")  # a second product: suggestible again
    assert texts(index.complete("gadget")) == ["Gadget", "Gadget Zeta"]
    assert index.complete("gadget")[0].score == 2


def test_warm_caches_short_prefixes(monkeypatch):
    monkeypatch.setattr(suggest_module, "_SCAN_LIMIT", 3)
    index = build()
    expected = {p: index.complete(p, 5) for p in ("l", "la", "lap", "s", "w", "蓝")}
    index._cache.clear()
    assert index.warm() > 0 and "l" in index._cache
    assert {p: index.complete(p, 5) for p in expected} == expected


# -- properties ------------------------------------------------------------------

WORDS = ["laptop", "laptops", "bag", "bags", "wireless", "mouse", "pad", "gaming", "keyboard", "black", "blue", "sony", "stand", "lamp"]
values = st.tuples(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
    st.sampled_from(["title", "brand", "category", "query"]),
)


def prefixes_of(items):
    out = []
    for text, _ in items:
        words = text.split()
        for i in range(len(words)):
            rest = " ".join(words[i:])
            out.extend(rest[:n] for n in (1, 2, 3, 5, 8, 12))
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(values, min_size=1, max_size=25), st.lists(st.text(st.sampled_from("labsmkwgy "), min_size=1, max_size=8), max_size=5), st.integers(1, 12))
def test_exact_suggestions_start_with_the_prefix(items, extra, k):
    index = SuggestIndex()
    for text, kind in items:
        index.add(text, kind)
    for prefix in prefixes_of(items)[:20] + extra:
        results = index.complete(prefix, k)
        assert len(results) <= k
        shown = [norm(s.text) for s in results]
        assert len(set(shown)) == len(shown)
        p = norm(prefix)
        for s, text in zip(results, shown):
            if s.fuzzy or not p:
                continue
            words = text.split(" ")
            assert any(" ".join(words[i:]).startswith(p) for i in range(len(words))), (prefix, s)


def fingerprint(index: SuggestIndex, prefixes, k: int):
    return {p: [(norm(s.text), s.kind, round(s.score, 6), s.fuzzy) for s in index.complete(p, k)] for p in prefixes}


@settings(max_examples=40, deadline=None)
@given(st.lists(values, min_size=1, max_size=30), st.data())
def test_cached_top_lists_stay_exact_through_writes(items, data):
    """Tiny scan limit, so that nearly every prefix goes through the cached lists
    and their updates; after random removals and re-adds the answers must equal
    those of an index built from scratch from what is left."""
    monkey = pytest.MonkeyPatch()
    monkey.setattr(suggest_module, "_SCAN_LIMIT", 2)
    monkey.setattr(suggest_module, "_MIN_DEPTH", 2)
    try:
        k = data.draw(st.integers(1, 6))
        prefixes = sorted(set(prefixes_of(items)))[:30] + ["l", "la", "b", "s", "w"]
        index = SuggestIndex()
        for text, kind in items:
            index.add(text, kind)
        index.warm()
        fingerprint(index, prefixes, k)  # fills the caches
        live = list(items)
        for _ in range(data.draw(st.integers(1, 15))):
            if live and data.draw(st.booleans()):
                text, kind = live.pop(data.draw(st.integers(0, len(live) - 1)))
                index.remove(text, kind)
            else:
                value = data.draw(values)
                live.append(value)
                index.add(*value)
        fresh = SuggestIndex()
        for text, kind in live:
            fresh.add(text, kind)
        assert fingerprint(index, prefixes, k) == fingerprint(fresh, prefixes, k)
    finally:
        monkey.undo()


def test_concurrent_readers_and_a_writer():
    index = build()
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader():
        try:
            while not stop.is_set():
                for p in ("l", "laptop b", "wireless", "蓝牙", "headphnes", "s"):
                    assert len(index.complete(p, 5)) <= 5
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(300):
        title = f"Laptop Bag Model{i % 7} Wireless Speaker"
        index.add(title, "title")
        index.add("Laptop Bags", "category")
        if i % 2:
            index.remove(title, "title")
            index.remove("Laptop Bags", "category")
    stop.set()
    for t in threads:
        t.join()
    assert not errors


# -- popular queries: which ones, how they join the catalogue's completions, and their refresh --

from shopsearch.search.popular import PopularQueries  # noqa: E402
from shopsearch.text.suggest.popular import MAX_CHARS, merge, phrase_key, suggestible  # noqa: E402


@pytest.mark.parametrize("query, ok", [
    ("laptop bag", True), ("iphone 15 pro 256gb", True), ("蓝牙耳机", True), ("dv7-1211ea", True),
    ("x", False), ("jane.doe@example.com", False), ("+34 612 345 678", False), ("4006381333931", False),
    ("a" * (MAX_CHARS + 1), False), ("rtx 4090 laptop", True)])
def test_suggestible_queries(query, ok):
    assert suggestible(query) is ok


@given(st.text(max_size=80))
def test_no_suggested_query_holds_an_address_or_is_long(text):
    if suggestible(text):
        assert "@" not in text and 2 <= len(text.strip()) <= MAX_CHARS


def ranked(items):
    """A list in an index's own order: exact first, then score descending, then normalised text."""
    return sorted(items, key=lambda s: (s.fuzzy, -s.score, phrase_key(s.text)))


suggestions = st.builds(Suggestion, st.sampled_from(["Laptop", "laptop bag", "Laptop Bag", "USB-C", "usb c", "蓝牙 耳机",
                                                     "蓝牙耳机", "Bag", "hat", "Hat"]),
                        st.sampled_from(["title", "brand", "query"]), st.sampled_from([1.0, 1.1, 2.5, 3.0, 7.7]), st.booleans())


def unique(items):
    seen: dict[str, Suggestion] = {}
    for s in items:
        seen.setdefault(phrase_key(s.text), s)
    return list(seen.values())


@given(st.lists(suggestions, max_size=10), st.lists(suggestions, max_size=10), st.integers(1, 8))
def test_merging_two_top_lists_is_the_top_of_merging_everything(catalogue, popular, k):
    catalogue, popular = ranked(unique(catalogue)), ranked(unique(popular))
    merged = merge(catalogue[:k], popular[:k], k)
    # The same, but for the text of a phrase the catalogue ranks below its own top k (then the query's).
    assert [(phrase_key(s.text), s.kind, s.score, s.fuzzy) for s in merged] == [
        (phrase_key(s.text), s.kind, s.score, s.fuzzy) for s in merge(catalogue, popular, k)]
    catalogue, popular = catalogue[:k], popular[:k]
    keys = [phrase_key(s.text) for s in merged]
    assert len(keys) == len(set(keys)) and len(merged) <= k  # one per normalised text
    assert merged == ranked(merged)  # exact before fuzzy, by score
    everything = {phrase_key(s.text): s for s in popular} | {phrase_key(s.text): s for s in catalogue}
    for s in merged:
        key = phrase_key(s.text)
        if key in {phrase_key(c.text) for c in catalogue}:
            assert s.text == next(c.text for c in catalogue if phrase_key(c.text) == key)  # the shop's spelling
        found = [x for x in catalogue + popular if phrase_key(x.text) == key]
        assert s.fuzzy == all(x.fuzzy for x in found)  # exact where either found it exactly, with that score
        assert s.score == max(x.score for x in found if x.fuzzy == s.fuzzy)
        assert key in everything


def test_a_popular_query_lifts_or_joins_the_catalogue_completions():
    catalogue = [Suggestion("Laptop Bags", "category", 5.0), Suggestion("Laptop Bag", "title", 3.0)]
    popular = [Suggestion("laptop bag", "query", 11.0), Suggestion("laptop bag for 15 inch", "query", 2.2)]
    assert merge(catalogue, popular, 8) == [Suggestion("Laptop Bag", "query", 11.0), Suggestion("Laptop Bags", "category", 5.0),
                                            Suggestion("laptop bag for 15 inch", "query", 2.2)]


class FakeLog:
    """popular_queries from a list, optionally holding every call until `gate` is set."""

    def __init__(self, rows, gate=None, fail=False):
        self.rows, self.gate, self.fail, self.calls = rows, gate, fail, []

    def popular_queries(self, since, until, min_searches, min_clicked, limit):
        self.calls.append((since, until, min_searches, min_clicked, limit))
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the log is closed")
        return self.rows[:limit]


ROWS = [("laptop bag", 9, 6), ("usb charger", 4, 2), ("jane@example.com", 5, 3), ("lamp", 2, 1)]


def test_popular_queries_are_read_in_the_background_and_never_waited_for():
    gate = threading.Event()
    log = FakeLog(ROWS, gate)
    popular = PopularQueries(lambda: log, days=30, min_searches=2, min_clicked=1, clock=lambda: 100 * 86400.0)
    started = time.perf_counter()
    assert popular.current() is None  # the first call starts the read and returns at once
    assert popular.current() is None and len(log.calls) == 1  # one read at a time
    assert time.perf_counter() - started < 0.5
    gate.set()
    popular.refresh()  # waits for the read in flight
    index = popular.current()
    assert log.calls[0] == (70 * 86400.0, None, 2, 1, 5000)
    assert texts(index.complete("la")) == ["laptop bag", "lamp"]  # by clicked searches
    assert index.complete("lap")[0] == Suggestion("laptop bag", "query", 6 * 1.1)
    assert index.complete("bag")[0].text == "laptop bag"  # a word inside a query, as for categories
    assert index.complete("jane") == []  # an e-mail address is never offered
    popular.close()


def test_a_stale_snapshot_is_replaced_and_a_failed_read_keeps_it(caplog):
    log = FakeLog(ROWS[:1])
    popular = PopularQueries(lambda: log, refresh_s=0.05)
    popular.refresh()
    assert texts(popular.current().complete("l")) == ["laptop bag"]
    log.rows = ROWS
    time.sleep(0.06)
    popular.current()  # stale: a new read starts
    popular.refresh()
    assert texts(popular.current().complete("l")) == ["laptop bag", "lamp"]
    log.fail = True
    popular.refresh()
    assert "popular queries not refreshed: the log is closed" in caplog.text
    assert texts(popular.current().complete("l")) == ["laptop bag", "lamp"]
    popular.close()
    reads = len(log.calls)
    popular.refresh()
    popular.current()
    assert len(log.calls) == reads  # closed: no more reads


def test_popular_queries_off_or_without_a_log():
    calls = []
    off = PopularQueries(lambda: calls.append(1), days=0)
    assert off.current() is None and not off.enabled
    off.refresh()
    assert calls == []
    nothing = PopularQueries(lambda: None)
    nothing.refresh()
    assert nothing.current() is None
    with pytest.raises(ValueError, match="days"):
        PopularQueries(lambda: None, days=-1)
    with pytest.raises(ValueError, match="min_searches"):
        PopularQueries(lambda: None, min_searches=0)
