import unicodedata

from hypothesis import given, settings, strategies as st

from shopsearch.text import Analyzer, surface_tokens

analyzer = Analyzer()


def test_model_numbers_sizes_and_skus_stay_findable():
    assert {"dv7-1211ea", "dv7", "1211ea"} <= set(analyzer.terms("HP Pavilion dv7-1211ea Notebook"))
    assert {"usb-c", "usb", "c"} <= set(analyzer.terms("USB-C charger"))
    assert {"350ml", "350", "ml"} <= set(analyzer.terms("Bottle 350ml"))
    assert {"iphone15", "15"} <= set(analyzer.terms("iPhone15 case"))
    assert "3.5" in analyzer.terms("3.5mm jack")
    # Long letter/digit alternations are codes: their pieces would only match noise.
    assert "aa" not in analyzer.terms("HP FA831AA battery charger")
    assert "aa" in analyzer.terms("AA batteries")


def test_full_width_and_case_fold_to_the_same_terms():
    assert analyzer.terms("ＵＳＢ－Ｃ ＣＨＡＲＧＥＲ") == analyzer.terms("usb-c charger")


def test_english_and_spanish_stems_and_accents():
    groups = dict((g[0], g) for g in analyzer.groups("batteries"))
    assert "batteri" in analyzer.terms("batteries")  # English Snowball
    assert analyzer.terms("papá") == analyzer.terms("papa")
    assert "zapatill" in analyzer.terms("zapatillas")  # Spanish Snowball
    assert groups  # one group per surface token


def test_chinese_is_segmented_with_jieba_search_mode():
    tokens = surface_tokens("轻便透气的夏季运动鞋")
    assert "运动鞋" in tokens and "运动" in tokens and "夏季" in tokens
    # Mixed scripts: Latin model numbers inside Chinese text survive.
    assert "iphone15" in surface_tokens("苹果iPhone15手机壳")


def test_possessive_is_dropped():
    assert surface_tokens("Men's shoes") == ["men", "shoes"]


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_terms_are_non_empty_and_whitespace_free(text):
    for term in analyzer.terms(text):
        assert term and not any(ch.isspace() for ch in term)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_analysis_ignores_case_and_width(text):
    assert analyzer.terms(text.upper().lower()) == analyzer.terms(text.lower())
    assert analyzer.terms(unicodedata.normalize("NFKC", text)) == analyzer.terms(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12), min_size=1, max_size=6))
def test_every_word_of_a_document_matches_itself_as_a_query(words):
    doc_terms = set(analyzer.terms(" ".join(words)))
    for word in words:
        for group in analyzer.groups(word):
            assert doc_terms.intersection(group)
